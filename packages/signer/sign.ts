/**
 * Signing in the current module-signature format, as `sign-file` does: a
 * detached PKCS#7 appended to the payload with the 12-byte header and the
 * marker. For RSA the output is byte-identical to sign-file's (PKCS#1 v1.5
 * is deterministic); ECDSA signatures are randomised.
 *
 * @module
 */
import { createSign } from "node:crypto";
import { ecdsaSignatureOid, hashOid, OID, type SigningHash } from "./algorithms.ts";
import { concatBytes } from "./_bytes.ts";
import type { SigningCredentials } from "./keys.ts";
import { SignatureError } from "./errors.ts";
import { encodePkcs7, parsePkcs7 } from "./pkcs7.ts";
import { encodeSignatureTrailer } from "./trailer.ts";
import { payloadBytes, type PayloadData, payloadFromSource } from "./_payload.ts";
import type { ByteSource } from "./source.ts";

/** Options of {@linkcode createPkcs7} and {@linkcode signPayload}. */
export interface SignOptions {
  /** Digest: `sha256` (default), `sha384` or `sha512`. */
  hash?: SigningHash;
  /** Name the signer by subject key identifier, like `sign-file -k` (SignedData v3). */
  useKeyId?: boolean;
  /**
   * Embed the signer's certificate (sign-file never does). The kernel then
   * verifies with it and walks up from it; a self-signed one must be trusted
   * itself, as without it.
   */
  includeCertificate?: boolean;
}

/** Options of {@linkcode attachPkcs7}. */
export interface AttachOptions {
  /**
   * Check that the PKCS#7 has the shape the kernel accepts before appending it
   * (default true). `false` appends any bytes, as `sign-file -s` does.
   */
  check?: boolean;
}

const SIGNING_HASHES: readonly string[] = ["sha256", "sha384", "sha512"];

/**
 * Signs a payload and returns the detached PKCS#7 (DER), like `sign-file -d`
 * writes to `<module>.p7s`. The payload is hashed by node:crypto in place.
 *
 * @example
 * ```ts
 * import { createPkcs7, parseCertificate, parsePrivateKey, signingCredentials } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)),
 *   parseCertificate(readFileSync(`${dir}/rsa2048.crt`)),
 * );
 * const p7s = createPkcs7(new TextEncoder().encode("payload"), creds);
 * assert.equal(p7s[0], 0x30);
 * ```
 */
export function createPkcs7(
  payload: Uint8Array,
  credentials: SigningCredentials,
  options: SignOptions = {},
): Uint8Array {
  return signFed(payloadBytes(payload), credentials, options);
}

/**
 * {@linkcode createPkcs7} for a payload read on demand (see
 * {@linkcode openFileSource}): the source is hashed in chunks through one
 * buffer, and each chunk is also passed to `onChunk` (to copy the payload to
 * the output in the same pass; the chunk's buffer is reused afterwards).
 *
 * @example
 * ```ts
 * import {
 *   bytesSource, createPkcs7, createPkcs7FromSource, parseCertificate, parsePrivateKey,
 *   signingCredentials,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)),
 *   parseCertificate(readFileSync(`${dir}/rsa2048.crt`)),
 * );
 * const payload = new Uint8Array(5000).fill(7);
 * assert.deepEqual(createPkcs7FromSource(bytesSource(payload), creds), createPkcs7(payload, creds));
 * ```
 */
export function createPkcs7FromSource(
  source: ByteSource,
  credentials: SigningCredentials,
  options: SignOptions = {},
  onChunk?: (chunk: Uint8Array) => void,
): Uint8Array {
  const payload = payloadFromSource(source, source.size);
  return signFed(
    onChunk === undefined ? payload : {
      length: payload.length,
      feed: (update) =>
        payload.feed((chunk) => {
          update(chunk);
          onChunk(chunk);
        }),
    },
    credentials,
    options,
  );
}

function signFed(
  payload: PayloadData,
  credentials: SigningCredentials,
  options: SignOptions,
): Uint8Array {
  const hash = options.hash ?? "sha256";
  if (!SIGNING_HASHES.includes(hash)) {
    throw new SignatureError(
      "UNSUPPORTED_DIGEST",
      `cannot sign with ${hash}; use sha256, sha384 or sha512`,
    );
  }
  const { key, certificate } = credentials;
  let signer: { issuerDer: Uint8Array; serial: Uint8Array } | { keyId: Uint8Array };
  if (options.useKeyId) {
    if (certificate.subjectKeyId === undefined) {
      throw new SignatureError(
        "BAD_CERTIFICATE",
        "the certificate has no subjectKeyIdentifier to sign by key id",
      );
    }
    signer = { keyId: certificate.subjectKeyId };
  } else {
    signer = { issuerDer: certificate.issuerDer, serial: certificate.serial };
  }
  // No signed attributes: the signature covers the payload itself (signing.md §1.2).
  const signing = createSign(hash);
  payload.feed((chunk) => signing.update(chunk));
  const signature = new Uint8Array(signing.sign({ key: key.keyObject, dsaEncoding: "der" }));
  return encodePkcs7({
    digestOid: hashOid(hash),
    signatureAlgorithmOid: key.algorithm === "rsa" ? OID.rsaEncryption : ecdsaSignatureOid(hash),
    signatureAlgorithmNull: key.algorithm === "rsa",
    signer,
    signature,
    certificates: options.includeCertificate ? [certificate.der] : [],
  });
}

/**
 * Signs a payload: `payload || PKCS#7 || header || "~Module signature appended~\n"`.
 * Like sign-file it does not look for an earlier signature; strip one first.
 *
 * @example
 * ```ts
 * import {
 *   parseCertificate, parsePrivateKey, signingCredentials, signPayload, TrustStore, verifyPayload,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/ecp256.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/ecp256.key`)), cert);
 * const signed = signPayload(new TextEncoder().encode("\x7fELF..."), creds, { hash: "sha384" });
 * const result = verifyPayload(signed, new TrustStore([cert]));
 * assert.equal(result.hash, "sha384");
 * ```
 */
export function signPayload(
  payload: Uint8Array,
  credentials: SigningCredentials,
  options: SignOptions = {},
): Uint8Array {
  return concatBytes(payload, encodeSignatureTrailer(createPkcs7(payload, credentials, options)));
}

/**
 * Appends a PKCS#7 made elsewhere, like `sign-file -s`. By default the
 * message is first checked for the shape the kernel accepts (no signature
 * verification: that needs the trust store).
 *
 * @example
 * ```ts
 * import {
 *   attachPkcs7, createPkcs7, parseCertificate, parsePrivateKey, signingCredentials, signPayload,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)),
 *   parseCertificate(readFileSync(`${dir}/rsa2048.crt`)),
 * );
 * const payload = new Uint8Array([1, 2, 3]);
 * assert.deepEqual(attachPkcs7(payload, createPkcs7(payload, creds)), signPayload(payload, creds));
 * ```
 */
export function attachPkcs7(
  payload: Uint8Array,
  pkcs7: Uint8Array,
  options: AttachOptions = {},
): Uint8Array {
  if (options.check ?? true) parsePkcs7(pkcs7, { allowSha1: true });
  return concatBytes(payload, encodeSignatureTrailer(pkcs7));
}
