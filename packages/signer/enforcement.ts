/**
 * What a live-patch host calls when it receives an upload: the signature
 * check of an enforcing host ({@linkcode checkPayloadSignature}) and the
 * trailer removal of a host that does not enforce
 * ({@linkcode removeSignatureTrailer}). Both are pure functions of the
 * uploaded bytes, run before any ELF parsing; the host gets them through an
 * injected callback, so it does not import the signer. Errors are
 * {@linkcode SignatureError}s, which carry the Xen errno to return
 * ({@linkcode SIGNATURE_ERRNO}).
 *
 * @module
 */
import type { HashAlgorithm, KeyAlgorithm } from "./algorithms.ts";
import { extractSignature } from "./extract.ts";
import { hasSignatureMarker } from "./trailer.ts";
import type { TrustStore } from "./trust_store.ts";
import { type SignatureInfo, type VerifyOptions, verifyPayload } from "./verify.ts";

/** Options of {@linkcode checkPayloadSignature}: the host's policy. */
export interface PayloadSignatureOptions {
  /** Accept SHA-1 digests (off by default). MD4 and MD5 are never accepted. */
  allowSha1?: boolean;
  /** Accept the legacy (Linux 3.7–4.2, id_type X.509) layout too (off by default). */
  allowLegacy?: boolean;
}

/** Who signed an accepted upload, as plain data (no certificate objects). */
export interface PayloadSigner {
  /**
   * The signer's certificate's issuer, e.g. `O=lpkit test, CN=...`: the
   * trusted certificate's, or the embedded one's that chains to it.
   */
  readonly issuer: string;
  /** The signer's certificate's subject. */
  readonly subject: string;
  /** The signer's certificate's serial number, lowercase hex. */
  readonly serial: string;
  /** The key id, lowercase hex (the signature's, else the certificate's SKID), or null. */
  readonly keyId: string | null;
  /** How the signature named the signer. */
  readonly identifiedBy: "issuerAndSerialNumber" | "subjectKeyIdentifier" | "legacy";
  /** The legacy layout's signer name, or null. */
  readonly name: string | null;
}

/**
 * One certificate of the chain from the signer to the trusted certificate
 * that anchored it, as plain data ({@linkcode CheckedPayload.chain}).
 *
 * @example The sign-file case: the signer's own certificate is trusted, a chain of one
 * ```ts
 * import {
 *   checkPayloadSignature, parseCertificate, parsePrivateKey, signingCredentials, signPayload,
 *   TrustStore,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/rsa2048.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)), cert);
 * const ok = checkPayloadSignature(signPayload(new Uint8Array(8), creds), new TrustStore([cert]));
 * assert.equal(ok.chain.length, 1);
 * assert.deepEqual(ok.chain[0], ok.anchor);
 * assert.deepEqual(
 *   [ok.anchor.serial, ok.anchor.embedded, ok.anchor.trusted],
 *   [cert.serialHex, false, true],
 * );
 * ```
 */
export interface PayloadCertificate {
  /** The certificate's subject, e.g. `O=lpkit test, CN=...`. */
  readonly subject: string;
  /** Its issuer. */
  readonly issuer: string;
  /** Its serial number, lowercase hex. */
  readonly serial: string;
  /** Its subject key identifier, lowercase hex, or null. */
  readonly keyId: string | null;
  /** Whether it came embedded in the PKCS#7 (for the trusted one: a copy of it did). */
  readonly embedded: boolean;
  /** Whether it is the trusted certificate that anchored the chain (the last one). */
  readonly trusted: boolean;
}

/** An upload whose signature verified: the payload to load and who signed it. */
export interface CheckedPayload {
  /** The ELF payload: the upload without its signature trailer (a view, not a copy). */
  readonly payload: Uint8Array;
  /** `pkcs7` (sign-file's format) or `legacy`. */
  readonly format: "pkcs7" | "legacy";
  /** Who signed. */
  readonly signer: PayloadSigner;
  /**
   * The trusted certificate that anchored the signature: the signer's own
   * (sign-file's case) or the trusted CA its embedded chain leads to.
   */
  readonly anchor: PayloadCertificate;
  /** The certificates from the signer's to {@linkcode CheckedPayload.anchor}, signer first. */
  readonly chain: readonly PayloadCertificate[];
  /** Shorthand for `signer.keyId ?? signer.serial`: what identifies the key. */
  readonly keyId: string;
  /** The digest algorithm. */
  readonly hash: HashAlgorithm;
  /** The key, e.g. `RSA-2048` or `ECDSA P-256`. */
  readonly algorithm: string;
  /** `rsa` or `ecdsa`. */
  readonly keyAlgorithm: KeyAlgorithm;
  /** Bytes of trailer removed (signature, header, marker). */
  readonly trailerLength: number;
}

/**
 * Describes a verified signature as the plain data of {@linkcode CheckedPayload}
 * (without the payload).
 *
 * @example
 * ```ts
 * import {
 *   describeSignature, parseCertificate, parsePrivateKey, signingCredentials, signPayload,
 *   TrustStore, verifyPayload,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/rsa2048.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)), cert);
 * const d = describeSignature(verifyPayload(signPayload(new Uint8Array(8), creds), new TrustStore([cert])));
 * assert.equal(d.signer.serial, cert.serialHex);
 * ```
 */
export function describeSignature(
  info: SignatureInfo,
): Omit<CheckedPayload, "payload" | "trailerLength"> {
  const s = info.signer;
  const signer: PayloadSigner = {
    issuer: s.issuer,
    subject: s.subject,
    serial: s.serialHex,
    keyId: s.keyIdHex ?? null,
    identifiedBy: s.identifiedBy,
    name: s.name ?? null,
  };
  const chain = info.chain.map((l): PayloadCertificate => ({
    subject: l.subject,
    issuer: l.issuer,
    serial: l.serialHex,
    keyId: l.keyIdHex ?? null,
    embedded: l.embedded,
    trusted: l.trusted,
  }));
  return {
    format: info.format,
    signer,
    anchor: chain[chain.length - 1],
    chain,
    keyId: signer.keyId ?? signer.serial,
    hash: info.hash,
    algorithm: info.keyDescription,
    keyAlgorithm: info.keyAlgorithm,
  };
}

/**
 * The check of a host that enforces signatures: verifies an upload against
 * the host's trusted certificates with the kernel's rules and returns the
 * payload to load (the trailer removed) and who signed it. Anything else
 * throws a {@linkcode SignatureError}: `code` says which rule failed,
 * `errno` is the Xen errno to return, negative (`-EACCES` for unsigned, untrusted or
 * tampered uploads, `-EBADMSG` for malformed trailers) and `message` is one
 * line. Nothing else is thrown for any input. Pure: no I/O, no state.
 *
 * @example
 * ```ts
 * import {
 *   checkPayloadSignature, parseCertificate, parsePrivateKey, SignatureError, signingCredentials,
 *   signPayload, TrustStore,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/rsa2048.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)), cert);
 * const elf = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
 * const trust = new TrustStore([cert]);
 *
 * const ok = checkPayloadSignature(signPayload(elf, creds), trust);
 * assert.deepEqual(ok.payload, elf);
 * assert.equal(ok.algorithm, "RSA-2048");
 *
 * assert.throws(
 *   () => checkPayloadSignature(elf, trust),
 *   (e) => e instanceof SignatureError && e.code === "UNSIGNED" && e.errno === -13,
 * );
 * ```
 */
export function checkPayloadSignature(
  file: Uint8Array,
  trust: TrustStore,
  options: PayloadSignatureOptions = {},
): CheckedPayload {
  const verifyOptions: VerifyOptions = {
    allowSha1: options.allowSha1 === true,
    allowLegacy: options.allowLegacy === true,
  };
  const result = verifyPayload(file, trust, verifyOptions);
  return {
    payload: result.payload,
    ...describeSignature(result),
    trailerLength: file.length - result.payload.length,
  };
}

/**
 * {@linkcode checkPayloadSignature} bound to a trust store and policy: the
 * callback to inject into a host.
 *
 * @example
 * ```ts
 * import { payloadSignatureChecker, TrustStore } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const check = payloadSignatureChecker(new TrustStore(), { allowSha1: false });
 * assert.throws(() => check(new Uint8Array(4)));
 * ```
 */
export function payloadSignatureChecker(
  trust: TrustStore,
  options: PayloadSignatureOptions = {},
): (file: Uint8Array) => CheckedPayload {
  const policy = { ...options };
  return (file) => checkPayloadSignature(file, trust, policy);
}

/**
 * What a host that does not enforce signatures loads: an unsigned upload as
 * it is, a signed one without its trailer (not verified). A marker whose
 * trailer does not fit the file (`TRUNCATED`, `BAD_SIG_LEN`, errno
 * `EBADMSG`) throws, as Linux fails a malformed trailer even without
 * enforcement.
 *
 * @example
 * ```ts
 * import { removeSignatureTrailer } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const elf = new Uint8Array([0x7f, 0x45, 0x4c, 0x46]);
 * assert.deepEqual(removeSignatureTrailer(elf), { payload: elf, signed: false });
 * ```
 */
export function removeSignatureTrailer(file: Uint8Array): { payload: Uint8Array; signed: boolean } {
  if (!hasSignatureMarker(file)) return { payload: file, signed: false };
  return { payload: extractSignature(file).payload, signed: true };
}
