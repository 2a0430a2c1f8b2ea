/**
 * Verifying module signatures against a trust store with the kernel's rules,
 * in the kernel's order (signing.md §1.3): trailer, PKCS#7 structure and
 * algorithms, detached content, no authenticated attributes, a trusted
 * signer, then the signature itself. Everything before the last step is
 * cheap parsing; only the last step hashes the payload.
 *
 * When the signer's certificate is embedded in the PKCS#7, the kernel's
 * chain rules apply instead (pkcs7_verify.c, pkcs7_trust.c): the payload
 * signature is checked with the embedded certificate's key, the embedded
 * certificates are walked up by authority key identifier, each signature
 * checked, and the chain must meet the trust store (README "Certificate
 * chains").
 *
 * @module
 */
import type { HashAlgorithm, KeyAlgorithm } from "./algorithms.ts";
import { toHex } from "./_bytes.ts";
import type { Certificate } from "./certificate.ts";
import { checkDerHeader } from "./_der.ts";
import { SignatureError } from "./errors.ts";
import { parsePkcs7, type Pkcs7Signature } from "./pkcs7.ts";
import {
  parseSignatureTrailer,
  parseSignatureTrailerTail,
  PKEY_ID_X509,
  readModuleSignatureHeader,
  readModuleSignatureHeaderTail,
  TRAILER_SIZE,
} from "./trailer.ts";
import type { TrustStore } from "./trust_store.ts";
import { readLegacySignature, verifyLegacyParts, verifyPayloadLegacy } from "./legacy.ts";
import { verifyRawSignature } from "./_verify_signature.ts";
import { chainLink, embeddedSignerIndex, verifyEmbeddedChain } from "./_chain.ts";
import { payloadBytes, type PayloadData, payloadFromSource } from "./_payload.ts";
import { type ByteSource, readSourceRange } from "./source.ts";

/** Options of the verify functions. */
export interface VerifyOptions {
  /** Accept SHA-1 digests (deprecated; off by default). MD4/MD5 are never accepted. */
  allowSha1?: boolean;
  /**
   * In {@linkcode verifyPayload}, verify a legacy (id_type X.509, Linux
   * 3.7–4.2) trailer instead of rejecting it with `BAD_ID_TYPE`.
   */
  allowLegacy?: boolean;
}

/**
 * Who signed, as identified in the signature and by the signer's
 * certificate: the trusted certificate itself (sign-file's case), or the
 * certificate embedded in the PKCS#7 that chains to a trusted one
 * ({@linkcode SignatureInfo.chain}).
 */
export interface SignerDescription {
  /** Issuer of the signer's certificate, for display. */
  readonly issuer: string;
  /** Subject of the signer's certificate, for display. */
  readonly subject: string;
  /** The signer's certificate's serial number (lowercase hex of the INTEGER contents). */
  readonly serialHex: string;
  /**
   * Key id (lowercase hex): the one the signature names (`sign-file -k`, legacy),
   * else the signer's certificate's subject key identifier, if it has one.
   */
  readonly keyIdHex: string | undefined;
  /**
   * How the signature named its signer: `issuerAndSerialNumber` (sign-file's
   * default), `subjectKeyIdentifier` (`sign-file -k`) or `legacy` (signer name and key id).
   */
  readonly identifiedBy: "issuerAndSerialNumber" | "subjectKeyIdentifier" | "legacy";
  /** The legacy layout's signer name. */
  readonly name: string | undefined;
}

/**
 * One certificate of the chain from the signer to the trusted certificate
 * that anchored it ({@linkcode SignatureInfo.chain}).
 *
 * @example A chain of three: leaf and intermediate from the PKCS#7, the root from the trust store
 * ```ts
 * import { attachPkcs7, parseCertificate, TrustStore, verifyPayload } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const payload = readFileSync(`${dir}/chain-payload.bin`);
 * // openssl cms -sign -noattr ... -signer chain-leaf.crt -certfile chain-intermediate.crt
 * const signed = attachPkcs7(payload, readFileSync(`${dir}/chain-leaf.p7s`));
 * const root = parseCertificate(readFileSync(`${dir}/chain-root.crt`));
 * const { chain } = verifyPayload(signed, new TrustStore([root]));
 * assert.deepEqual(chain.map((l) => [l.embedded, l.trusted]), [
 *   [true, false], // the signer
 *   [true, false], // the intermediate CA
 *   [false, true], // the trusted root, which signed the intermediate
 * ]);
 * assert.equal(chain[2].serialHex, root.serialHex);
 * ```
 */
export interface ChainLink {
  /** The certificate's subject, for display. */
  readonly subject: string;
  /** Its issuer, for display. */
  readonly issuer: string;
  /** Its serial number (lowercase hex of the INTEGER contents). */
  readonly serialHex: string;
  /** Its subject key identifier (lowercase hex), if it has one. */
  readonly keyIdHex: string | undefined;
  /** Whether the certificate came in the PKCS#7 (for the trusted one: a copy of it did). */
  readonly embedded: boolean;
  /** Whether this is the trusted certificate that anchored the chain (the last link). */
  readonly trusted: boolean;
}

/** What a verified signature says, without the payload bytes. */
export interface SignatureInfo {
  /** `pkcs7` (Linux ≥ 4.3, sign-file) or `legacy` (Linux 3.7–4.2). */
  readonly format: "pkcs7" | "legacy";
  /** Length of the signed payload (the file without its trailer). */
  readonly payloadLength: number;
  /** Who signed. */
  readonly signer: SignerDescription;
  /**
   * The signer's certificate, whose key verified the payload signature: the
   * trusted certificate itself (sign-file's case), or the certificate embedded
   * in the PKCS#7 that chains to {@linkcode SignatureInfo.anchor}.
   */
  readonly certificate: Certificate;
  /**
   * The trusted certificate (from the trust store) that anchored the
   * signature: {@linkcode SignatureInfo.certificate} itself when the signer is
   * trusted directly, else the trusted CA the embedded chain leads to.
   */
  readonly anchor: Certificate;
  /**
   * The certificates from the signer's up to {@linkcode SignatureInfo.anchor},
   * signer first, anchor last; one link when the signer is trusted directly.
   */
  readonly chain: readonly ChainLink[];
  /** The digest algorithm. */
  readonly hash: HashAlgorithm;
  /** The public-key algorithm. */
  readonly keyAlgorithm: KeyAlgorithm;
  /** The key, e.g. `RSA-2048` or `ECDSA P-256`. */
  readonly keyDescription: string;
}

/** A signature that verified, with the payload it covers. */
export interface VerifiedSignature extends SignatureInfo {
  /** The signed payload (a view of the input, not a copy). */
  readonly payload: Uint8Array;
}

/** A signed file, parsed and checked but not yet verified. */
export interface SignedPayload {
  /** The payload (a view of the input). */
  readonly payload: Uint8Array;
  /** The PKCS#7 message. */
  readonly pkcs7: Pkcs7Signature;
}

/**
 * Parses a PKCS#7-signed file and applies every kernel rule that needs no
 * key: trailer, header, PKCS#7 structure, algorithms, detached content and
 * no authenticated attributes. Throws {@linkcode SignatureError}.
 *
 * @example
 * ```ts
 * import { inspectSignedPayload, SignatureError } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => inspectSignedPayload(new Uint8Array(8)), SignatureError);
 * ```
 */
export function inspectSignedPayload(file: Uint8Array, options: VerifyOptions = {}): SignedPayload {
  const trailer = parseSignatureTrailer(file);
  const pkcs7 = parsePkcs7(file.subarray(trailer.signatureOffset, trailer.headerOffset), {
    allowSha1: options.allowSha1,
    offset: trailer.signatureOffset,
  });
  return { payload: file.subarray(0, trailer.payloadLength), pkcs7 };
}

/** The trusted certificates matching the SignerInfo's identifier. */
function candidates(pkcs7: Pkcs7Signature, trust: TrustStore): Certificate[] {
  const id = pkcs7.signer;
  const found = id.kind === "issuerAndSerialNumber"
    ? trust.findByIssuerAndSerial(id.issuerDer, id.serial)
    : trust.findBySubjectKeyId(id.keyId);
  if (found.length === 0) {
    const who = id.kind === "issuerAndSerialNumber"
      ? `issuer "${id.issuer}" serial ${id.serialHex}`
      : `subject key id ${id.keyIdHex}`;
    throw new SignatureError("UNTRUSTED", `no trusted certificate for ${who}`);
  }
  return found;
}

/** The signer's certificate trusted directly (issuer+serial or SKID): sign-file's case. */
function verifyDirect(
  payload: PayloadData,
  pkcs7: Pkcs7Signature,
  trust: TrustStore,
): SignatureInfo {
  const found = candidates(pkcs7, trust);
  let firstError: unknown;
  for (const certificate of found) {
    try {
      verifyRawSignature(
        payload,
        pkcs7.signature,
        pkcs7.hash,
        pkcs7.keyAlgorithm,
        certificate,
        pkcs7.signatureOffset,
      );
    } catch (e) {
      if (!(e instanceof SignatureError)) throw e;
      firstError ??= e;
      continue;
    }
    return describeVerified(payload, pkcs7, certificate, certificate, [
      chainLink(certificate, false, true),
    ]);
  }
  throw firstError;
}

function describeVerified(
  payload: PayloadData,
  pkcs7: Pkcs7Signature,
  certificate: Certificate,
  anchor: Certificate,
  chain: readonly ChainLink[],
): SignatureInfo {
  const id = pkcs7.signer;
  const keyId = id.kind === "subjectKeyIdentifier" ? id.keyId : certificate.subjectKeyId;
  return {
    format: "pkcs7",
    payloadLength: payload.length,
    signer: {
      issuer: certificate.issuer,
      subject: certificate.subject,
      serialHex: certificate.serialHex,
      keyIdHex: keyId === undefined ? undefined : toHex(keyId),
      identifiedBy: id.kind,
      name: undefined,
    },
    certificate,
    anchor,
    chain,
    hash: pkcs7.hash,
    keyAlgorithm: pkcs7.keyAlgorithm,
    keyDescription: certificate.keyDescription,
  };
}

function verifyParsed(
  payload: PayloadData,
  pkcs7: Pkcs7Signature,
  trust: TrustStore,
  options: VerifyOptions,
): SignatureInfo {
  // Embedded certificates are not covered by the signature; the kernel uses
  // them only when the signer's is among them, and then walks the chain.
  const index = embeddedSignerIndex(pkcs7);
  if (index < 0) return verifyDirect(payload, pkcs7, trust);
  const r = verifyEmbeddedChain(payload, pkcs7, index, trust, { allowSha1: options.allowSha1 });
  return describeVerified(payload, pkcs7, r.signer, r.anchor, r.chain);
}

/**
 * Verifies a signed file against a trust store and returns who signed it.
 * Every failure is a {@linkcode SignatureError} whose `code` says which rule
 * failed: `UNSIGNED`, `TRUNCATED`, `BAD_SIG_LEN`, `BAD_ID_TYPE`,
 * `NONZERO_HEADER`, `MALFORMED_PKCS7`, `UNSUPPORTED_DIGEST`, `WEAK_DIGEST`,
 * `UNSUPPORTED_ALGORITHM`, `EMBEDDED_CONTENT`, `SIGNED_ATTRIBUTES`,
 * `UNTRUSTED`, `BAD_KEY`, `BAD_SIGNATURE` or (a certificate chain embedded
 * in the PKCS#7) `BAD_CHAIN`.
 *
 * @example
 * ```ts
 * import { loadTrustStore, verifyPayload } from "@lpkit/signer";
 * import { signPayload, parseCertificate, parsePrivateKey, signingCredentials } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)),
 *   parseCertificate(readFileSync(`${dir}/rsa2048.crt`)),
 * );
 * const signed = signPayload(new Uint8Array([1, 2, 3]), creds, { useKeyId: true });
 * const result = verifyPayload(signed, loadTrustStore(`${dir}/rsa2048.crt`));
 * assert.equal(result.keyDescription, "RSA-2048");
 * assert.equal(result.signer.keyIdHex !== undefined, true);
 * assert.deepEqual(result.payload, new Uint8Array([1, 2, 3]));
 * ```
 */
export function verifyPayload(
  file: Uint8Array,
  trust: TrustStore,
  options: VerifyOptions = {},
): VerifiedSignature {
  if (options.allowLegacy) {
    const { header } = readModuleSignatureHeader(file);
    if (header.idType === PKEY_ID_X509) return verifyPayloadLegacy(file, trust, options);
  }
  const { payload, pkcs7 } = inspectSignedPayload(file, options);
  return { ...verifyParsed(payloadBytes(payload), pkcs7, trust, options), payload };
}

/**
 * {@linkcode verifyPayload} for a file read on demand (see
 * {@linkcode openFileSource}): the trailer is read first and checked, then
 * the payload is hashed in chunks through one buffer, so a large file is
 * never held in memory. Same checks, same codes.
 *
 * @example
 * ```ts
 * import {
 *   bytesSource, parseCertificate, parsePrivateKey, signingCredentials, signPayload, TrustStore,
 *   verifySource,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/rsa2048.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)), cert);
 * const signed = signPayload(new Uint8Array(3000), creds);
 * assert.equal(verifySource(bytesSource(signed), new TrustStore([cert])).payloadLength, 3000);
 * ```
 */
export function verifySource(
  source: ByteSource,
  trust: TrustStore,
  options: VerifyOptions = {},
): SignatureInfo {
  const tailLength = Math.min(source.size, TRAILER_SIZE);
  const tail = readSourceRange(source, source.size - tailLength, tailLength);
  if (
    options.allowLegacy &&
    readModuleSignatureHeaderTail(tail, source.size).header.idType === PKEY_ID_X509
  ) {
    const sig = readLegacySignature(source);
    const payload = payloadFromSource(source, sig.payloadLength);
    return verifyLegacyParts(sig, payload, source.size, trust, options);
  }
  const trailer = parseSignatureTrailerTail(tail, source.size);
  const length = trailer.headerOffset - trailer.signatureOffset;
  // The DER header first: a bogus sig_len must not make us read (and allocate) megabytes.
  const head = readSourceRange(source, trailer.signatureOffset, Math.min(length, 6));
  checkDerHeader(head, length, "MALFORMED_PKCS7", "PKCS#7 message", trailer.signatureOffset);
  const pkcs7 = parsePkcs7(readSourceRange(source, trailer.signatureOffset, length), {
    allowSha1: options.allowSha1,
    offset: trailer.signatureOffset,
  });
  return verifyParsed(payloadFromSource(source, trailer.payloadLength), pkcs7, trust, options);
}

/**
 * Verifies a detached PKCS#7 (a `.p7s` from `sign-file -d`) over a payload.
 *
 * @example
 * ```ts
 * import {
 *   createPkcs7, parseCertificate, parsePrivateKey, signingCredentials, TrustStore, verifyDetached,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/ecp384.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/ecp384.key`)), cert);
 * const payload = new Uint8Array(1000);
 * const p7s = createPkcs7(payload, creds, { hash: "sha384" });
 * assert.equal(verifyDetached(payload, p7s, new TrustStore([cert])).keyDescription, "ECDSA P-384");
 * ```
 */
export function verifyDetached(
  payload: Uint8Array,
  pkcs7: Uint8Array,
  trust: TrustStore,
  options: VerifyOptions = {},
): VerifiedSignature {
  const parsed = parsePkcs7(pkcs7, { allowSha1: options.allowSha1 });
  return { ...verifyParsed(payloadBytes(payload), parsed, trust, options), payload };
}
