/**
 * Appended signatures for live-patch payloads in the Linux module-signature
 * format, interoperable with the kernel's `sign-file` and OpenSSL:
 * `payload || PKCS#7 || header || "~Module signature appended~\n"`.
 *
 * - Sign ({@linkcode signPayload}, {@linkcode createPkcs7} for a detached
 *   `.p7s`, {@linkcode attachPkcs7} for a PKCS#7 made elsewhere) with RSA
 *   2048–4096 or ECDSA P-256/P-384 and SHA-256/384/512. RSA output is
 *   byte-identical to sign-file's.
 * - Verify ({@linkcode verifyPayload}, {@linkcode verifyDetached}) against a
 *   {@linkcode TrustStore} with the kernel's rules; every failure is a
 *   {@linkcode SignatureError} with a distinct code.
 * - Take files apart ({@linkcode extractSignature}, {@linkcode stripSignature}).
 * - Enforce on a host ({@linkcode checkPayloadSignature}: the payload to load, or
 *   a {@linkcode SignatureError} with a Xen errno; {@linkcode removeSignatureTrailer}
 *   when not enforcing).
 * - Large files in chunks, never whole in memory ({@linkcode verifyPayloadFile},
 *   {@linkcode signPayloadFile}, or any {@linkcode ByteSource}).
 * - The **legacy** Linux 3.7–4.2 layout of the design document
 *   ({@linkcode signPayloadLegacy}, {@linkcode verifyPayloadLegacy}).
 *
 * Hashing and signature math are node:crypto's; ASN.1, X.509, PKCS#7 and PEM
 * structure are node-forge's. No Deno API is used, so this runs on Node too.
 *
 * @example Signing and verifying
 * ```ts
 * import {
 *   loadTrustStore, parseCertificate, parsePrivateKey, signingCredentials, signPayload, verifyPayload,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)),
 *   parseCertificate(readFileSync(`${dir}/rsa2048.crt`)),
 * );
 * const signed = signPayload(new TextEncoder().encode("payload"), creds, { hash: "sha512" });
 * const result = verifyPayload(signed, loadTrustStore(dir + "/rsa2048.crt"));
 * assert.equal(result.hash, "sha512");
 * assert.match(result.signer.issuer, /CN=lpkit test signing key/);
 * ```
 *
 * @module
 */
export * from "./algorithms.ts";
export * from "./certificate.ts";
export * from "./enforcement.ts";
export * from "./errors.ts";
export * from "./extract.ts";
export * from "./file.ts";
export * from "./keys.ts";
export {
  LEGACY_HASH_ALGO,
  type LegacySignature,
  legacySignerName,
  type LegacySignOptions,
  parseLegacySignature,
  PKEY_ALGO_DSA,
  PKEY_ALGO_RSA,
  readLegacySignature,
  signPayloadLegacy,
  verifyPayloadLegacy,
} from "./legacy.ts";
export * from "./pkcs7.ts";
export * from "./sign.ts";
export * from "./source.ts";
export * from "./trailer.ts";
export * from "./trust_store.ts";
export * from "./trust_store_fs.ts";
export * from "./verify.ts";
