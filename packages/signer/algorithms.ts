/**
 * The digest, signature and key algorithms the signer knows, with their
 * object identifiers (OIDs) and the kernel's rules about them (signing.md §1.3, §4).
 *
 * @module
 */

/** A digest algorithm the verifier can check (SHA-1 only with an opt-in). */
export type HashAlgorithm = "sha1" | "sha224" | "sha256" | "sha384" | "sha512";

/** A digest algorithm the signer emits: SHA-256, SHA-384 or SHA-512. */
export type SigningHash = "sha256" | "sha384" | "sha512";

/** A public-key algorithm: RSA (PKCS#1 v1.5) or ECDSA. */
export type KeyAlgorithm = "rsa" | "ecdsa";

/** An ECDSA curve the signer supports. */
export type EcCurve = "P-256" | "P-384";

/** Object identifiers used in certificates and PKCS#7 messages. */
export const OID = {
  signedData: "1.2.840.113549.1.7.2",
  data: "1.2.840.113549.1.7.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  secp384r1: "1.3.132.0.34",
  subjectKeyIdentifier: "2.5.29.14",
  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",
  emailAddress: "1.2.840.113549.1.9.1",
} as const;

interface HashInfo {
  readonly oid: string;
  readonly ecdsaOid: string;
  readonly size: number;
}

const HASHES: Readonly<Record<HashAlgorithm, HashInfo>> = {
  sha1: { oid: "1.3.14.3.2.26", ecdsaOid: "1.2.840.10045.4.1", size: 20 },
  sha224: { oid: "2.16.840.1.101.3.4.2.4", ecdsaOid: "1.2.840.10045.4.3.1", size: 28 },
  sha256: { oid: "2.16.840.1.101.3.4.2.1", ecdsaOid: "1.2.840.10045.4.3.2", size: 32 },
  sha384: { oid: "2.16.840.1.101.3.4.2.2", ecdsaOid: "1.2.840.10045.4.3.3", size: 48 },
  sha512: { oid: "2.16.840.1.101.3.4.2.3", ecdsaOid: "1.2.840.10045.4.3.4", size: 64 },
};

// Digests the kernel's parser knows (or that are common) but lpkit refuses, by OID.
const WEAK_DIGESTS: Readonly<Record<string, string>> = {
  "1.2.840.113549.2.4": "md4",
  "1.2.840.113549.2.5": "md5",
};
const OTHER_DIGESTS: Readonly<Record<string, string>> = {
  "2.16.840.1.101.3.4.2.8": "sha3-256",
  "2.16.840.1.101.3.4.2.9": "sha3-384",
  "2.16.840.1.101.3.4.2.10": "sha3-512",
  "1.2.156.10197.1.401": "sm3",
  "1.2.643.7.1.1.2.2": "streebog256",
  "1.2.643.7.1.1.2.3": "streebog512",
  "1.3.36.3.2.1": "ripemd160",
};

// Signature OIDs that the kernel rejects in a SignerInfo (signing.md §1.3 step 3).
const REJECTED_SIGNATURE_OIDS: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
  "1.2.156.10197.1.501": "SM2-with-SM3",
  "1.3.101.112": "Ed25519",
};

const CURVES: Readonly<Record<string, EcCurve>> = {
  [OID.prime256v1]: "P-256",
  [OID.secp384r1]: "P-384",
};

/**
 * The OID of a digest algorithm.
 *
 * @example
 * ```ts
 * import { hashOid } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.equal(hashOid("sha256"), "2.16.840.1.101.3.4.2.1");
 * ```
 */
export function hashOid(hash: HashAlgorithm): string {
  return HASHES[hash].oid;
}

/**
 * The size in bytes of a digest.
 *
 * @example
 * ```ts
 * import { hashSize } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.equal(hashSize("sha512"), 64);
 * ```
 */
export function hashSize(hash: HashAlgorithm): number {
  return HASHES[hash].size;
}

/**
 * The `ecdsa-with-SHA*` OID that pairs with a digest.
 *
 * @example
 * ```ts
 * import { ecdsaSignatureOid } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ecdsaSignatureOid("sha384"), "1.2.840.10045.4.3.3");
 * ```
 */
export function ecdsaSignatureOid(hash: HashAlgorithm): string {
  return HASHES[hash].ecdsaOid;
}

/**
 * What a digest OID is: a supported digest, a weak one lpkit never accepts
 * (MD4, MD5), or an unsupported one (named when known).
 *
 * @example
 * ```ts
 * import { classifyDigestOid } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(classifyDigestOid("2.16.840.1.101.3.4.2.3"), { kind: "supported", hash: "sha512" });
 * assert.deepEqual(classifyDigestOid("1.2.840.113549.2.5"), { kind: "weak", name: "md5" });
 * ```
 */
export function classifyDigestOid(
  oid: string,
):
  | { kind: "supported"; hash: HashAlgorithm }
  | { kind: "weak"; name: string }
  | { kind: "unsupported"; name: string } {
  for (const [hash, info] of Object.entries(HASHES)) {
    if (info.oid === oid) return { kind: "supported", hash: hash as HashAlgorithm };
  }
  if (oid in WEAK_DIGESTS) return { kind: "weak", name: WEAK_DIGESTS[oid] };
  return { kind: "unsupported", name: OTHER_DIGESTS[oid] ?? oid };
}

/**
 * What a SignerInfo signature-algorithm OID is: `rsaEncryption`, an
 * `ecdsa-with-SHA*` (with its digest), or something the kernel rejects.
 *
 * @example
 * ```ts
 * import { classifySignatureOid } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(classifySignatureOid("1.2.840.113549.1.1.1"), { kind: "rsa" });
 * assert.deepEqual(classifySignatureOid("1.2.840.10045.4.3.2"), { kind: "ecdsa", hash: "sha256" });
 * assert.equal(classifySignatureOid("1.2.840.113549.1.1.11").kind, "unsupported");
 * ```
 */
export function classifySignatureOid(
  oid: string,
):
  | { kind: "rsa" }
  | { kind: "ecdsa"; hash: HashAlgorithm }
  | { kind: "unsupported"; name: string } {
  if (oid === OID.rsaEncryption) return { kind: "rsa" };
  for (const [hash, info] of Object.entries(HASHES)) {
    if (info.ecdsaOid === oid) return { kind: "ecdsa", hash: hash as HashAlgorithm };
  }
  return { kind: "unsupported", name: REJECTED_SIGNATURE_OIDS[oid] ?? oid };
}

/**
 * The curve named by a named-curve OID, if lpkit supports it.
 *
 * @example
 * ```ts
 * import { curveFromOid } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.equal(curveFromOid("1.3.132.0.34"), "P-384");
 * assert.equal(curveFromOid("1.3.132.0.35"), undefined); // P-521
 * ```
 */
export function curveFromOid(oid: string): EcCurve | undefined {
  return CURVES[oid];
}
