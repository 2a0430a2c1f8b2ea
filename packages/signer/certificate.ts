/**
 * X.509 certificates, PEM or DER: the fields that identify a signer
 * (issuer and serial, subject key identifier, subject) and its public key.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPublicKey, type KeyObject } from "node:crypto";
import { curveFromOid, type EcCurve, type KeyAlgorithm, OID } from "./algorithms.ts";
import { toHex } from "./_bytes.ts";
import { CLASS, decodeDer, type DerNode, isTag, oidOf, TAG } from "./_der.ts";
import { SignatureError } from "./errors.ts";
import { formatName, type NameAttribute, parseName } from "./_name.ts";
import { isPemInput, pemBlocks, pemText } from "./_pem.ts";

export { formatName };
export type { NameAttribute };

/** A parsed X.509 certificate. */
export interface Certificate {
  /** The whole certificate, DER. */
  readonly der: Uint8Array;
  /** The serial number's INTEGER contents octets, as encoded (leading 0x00 kept). */
  readonly serial: Uint8Array;
  /** The serial number as lowercase hex of {@linkcode Certificate.serial}. */
  readonly serialHex: string;
  /** The issuer, for display: `O=..., CN=...` in DER order. */
  readonly issuer: string;
  /** The issuer Name, DER (what issuerAndSerialNumber must match byte for byte). */
  readonly issuerDer: Uint8Array;
  /** The subject, for display. */
  readonly subject: string;
  /** The subject Name, DER. */
  readonly subjectDer: Uint8Array;
  /** The subject's attributes in DER order. */
  readonly subjectAttributes: readonly NameAttribute[];
  /** The subjectKeyIdentifier extension's key id, if present. */
  readonly subjectKeyId: Uint8Array | undefined;
  /** The SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  /** The key's algorithm, or `"unsupported"` (e.g. Ed25519, an unknown curve). */
  readonly keyAlgorithm: KeyAlgorithm | "unsupported";
  /** RSA modulus bits, or the curve size for ECDSA. */
  readonly keyBits: number | undefined;
  /** The ECDSA curve, when supported. */
  readonly curve: EcCurve | undefined;
  /** Human-readable key type: `RSA-2048`, `ECDSA P-256`, `EC 1.3.132.0.35`, `Ed25519`... */
  readonly keyDescription: string;
  /** The public key, when node:crypto can load it. */
  readonly publicKey: KeyObject | undefined;
}

/**
 * Decodes an X.509 Name (DER) into its attributes.
 *
 * @example
 * ```ts
 * import { decodeName, formatName, parseCertificate } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const cert = parseCertificate(readFileSync("packages/signer/testdata/rsa2048.crt"));
 * assert.equal(formatName(decodeName(cert.issuerDer)), cert.issuer);
 * ```
 */
export function decodeName(der: Uint8Array): NameAttribute[] {
  return parseName(decodeDer(der, "BAD_CERTIFICATE", "name"));
}

function bad(message: string, offset?: number): never {
  throw new SignatureError("BAD_CERTIFICATE", message, offset);
}

function findSubjectKeyId(extensions: DerNode | undefined): Uint8Array | undefined {
  if (extensions === undefined) return undefined;
  const seq = extensions.children[0];
  if (extensions.children.length !== 1 || !isTag(seq, CLASS.UNIVERSAL, TAG.SEQUENCE, true)) {
    bad("malformed extensions", extensions.offset);
  }
  for (const ext of seq.children) {
    const id = ext.children[0];
    const value = ext.children[ext.children.length - 1];
    if (
      !isTag(ext, CLASS.UNIVERSAL, TAG.SEQUENCE, true) || ext.children.length < 2 ||
      !isTag(id, CLASS.UNIVERSAL, TAG.OID, false) ||
      !isTag(value, CLASS.UNIVERSAL, TAG.OCTET_STRING, false)
    ) {
      bad("malformed extension", ext.offset);
    }
    if (oidOf(id) !== OID.subjectKeyIdentifier) continue;
    const inner = decodeDer(value.contents, "BAD_CERTIFICATE", "subjectKeyIdentifier");
    if (!isTag(inner, CLASS.UNIVERSAL, TAG.OCTET_STRING, false)) {
      bad("subjectKeyIdentifier is not an OCTET STRING", value.offset);
    }
    return inner.contents.slice();
  }
  return undefined;
}

function describeKey(spki: DerNode): {
  keyAlgorithm: KeyAlgorithm | "unsupported";
  keyBits: number | undefined;
  curve: EcCurve | undefined;
  keyDescription: string;
  publicKey: KeyObject | undefined;
} {
  const algo = spki.children[0];
  if (
    !isTag(spki, CLASS.UNIVERSAL, TAG.SEQUENCE, true) || spki.children.length !== 2 ||
    !isTag(algo, CLASS.UNIVERSAL, TAG.SEQUENCE, true) || algo.children.length < 1 ||
    !isTag(algo.children[0], CLASS.UNIVERSAL, TAG.OID, false)
  ) {
    bad("malformed subjectPublicKeyInfo", spki.offset);
  }
  const oid = oidOf(algo.children[0]);
  let publicKey: KeyObject | undefined;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki.der), format: "der", type: "spki" });
  } catch {
    publicKey = undefined;
  }
  if (oid === OID.rsaEncryption && publicKey?.asymmetricKeyType === "rsa") {
    const bits = publicKey.asymmetricKeyDetails?.modulusLength;
    return {
      keyAlgorithm: "rsa",
      keyBits: bits,
      curve: undefined,
      keyDescription: `RSA-${bits}`,
      publicKey,
    };
  }
  if (oid === OID.ecPublicKey) {
    const params = algo.children[1];
    const curveOid = params && isTag(params, CLASS.UNIVERSAL, TAG.OID, false)
      ? oidOf(params)
      : "(no named curve)";
    const curve = curveFromOid(curveOid);
    if (curve !== undefined && publicKey?.asymmetricKeyType === "ec") {
      return {
        keyAlgorithm: "ecdsa",
        keyBits: curve === "P-256" ? 256 : 384,
        curve,
        keyDescription: `ECDSA ${curve}`,
        publicKey,
      };
    }
    return {
      keyAlgorithm: "unsupported",
      keyBits: undefined,
      curve: undefined,
      keyDescription: `EC ${curveOid}`,
      publicKey,
    };
  }
  const named = publicKey?.asymmetricKeyType;
  return {
    keyAlgorithm: "unsupported",
    keyBits: undefined,
    curve: undefined,
    keyDescription: named === "ed25519" ? "Ed25519" : named === "ed448" ? "Ed448" : oid,
    publicKey,
  };
}

function certificateFromDer(der: Uint8Array): Certificate {
  const cert = decodeDer(der, "BAD_CERTIFICATE", "certificate");
  const tbs = cert.children[0];
  if (
    !isTag(cert, CLASS.UNIVERSAL, TAG.SEQUENCE, true) || cert.children.length !== 3 ||
    !isTag(tbs, CLASS.UNIVERSAL, TAG.SEQUENCE, true)
  ) {
    bad("not an X.509 certificate", cert.offset);
  }
  // tbsCertificate: [0] version OPTIONAL, serial, signature, issuer, validity, subject, spki, ...
  const f = tbs.children;
  const i = f.length > 0 && isTag(f[0], CLASS.CONTEXT, 0, true) ? 1 : 0;
  if (f.length < i + 6) bad("tbsCertificate has too few fields", tbs.offset);
  const [serial, , issuer, , subject, spki] = f.slice(i, i + 6);
  if (!isTag(serial, CLASS.UNIVERSAL, TAG.INTEGER, false) || serial.contents.length === 0) {
    bad("serialNumber is not an INTEGER", serial.offset);
  }
  const extensions = f.slice(i + 6).find((n) => isTag(n, CLASS.CONTEXT, 3, true));
  const subjectAttributes = parseName(subject);
  return {
    der,
    serial: serial.contents,
    serialHex: toHex(serial.contents),
    issuer: formatName(parseName(issuer)),
    issuerDer: issuer.der,
    subject: formatName(subjectAttributes),
    subjectDer: subject.der,
    subjectAttributes,
    subjectKeyId: findSubjectKeyId(extensions),
    spki: spki.der,
    ...describeKey(spki),
  };
}

/**
 * Parses every certificate of a PEM bundle, or the one certificate of a DER file.
 *
 * @example
 * ```ts
 * import { parseCertificates } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const pem = ["rsa2048.crt", "ecp256.crt"]
 *   .map((f) => readFileSync(`packages/signer/testdata/${f}`, "utf8")).join("");
 * assert.equal(parseCertificates(pem).length, 2);
 * ```
 */
export function parseCertificates(input: Uint8Array | string): Certificate[] {
  // A copy: callers may pass a Buffer, and certificates outlive the input.
  if (!isPemInput(input)) return [certificateFromDer(new Uint8Array(input as Uint8Array))];
  const blocks = pemBlocks(pemText(input), ["CERTIFICATE", "X509 CERTIFICATE"]);
  return blocks.map(certificateFromDer);
}

/**
 * Parses one certificate, PEM or DER. Like OpenSSL, a PEM bundle yields its
 * first certificate.
 *
 * @example
 * ```ts
 * import { parseCertificate } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const cert = parseCertificate(readFileSync("packages/signer/testdata/ecp256.crt"));
 * assert.equal(cert.keyDescription, "ECDSA P-256");
 * assert.ok(cert.subjectKeyId !== undefined);
 * ```
 */
export function parseCertificate(input: Uint8Array | string): Certificate {
  const certs = parseCertificates(input);
  if (certs.length === 0) bad("no CERTIFICATE block in PEM input");
  return certs[0];
}
