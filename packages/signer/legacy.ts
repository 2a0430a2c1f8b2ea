/**
 * **Legacy** signatures: the layout of Linux 3.7–4.2 that the design
 * document's `struct elf_payload_signature` describes. Kernels since 4.3
 * reject it (`id_type` must be PKCS#7), so use it only for payloads aimed at
 * a verifier that still expects it.
 *
 * Byte order, from Linux 3.7's `kernel/module_signing.c` and `scripts/sign-file`
 * (the design document has the order reversed and calls the marker a prefix;
 * it is the last 28 bytes):
 *
 * ```text
 * payload
 * signer's name            signer_len bytes, no NUL: x509_fabricate_name(subject)
 * key identifier           key_id_len bytes: the certificate's subjectKeyIdentifier
 * signature data           sig_len bytes: be16 length n, then n bytes of RSA
 *                          PKCS#1 v1.5 signature (EMSA with DigestInfo) of the payload
 * struct module_signature  algo=1 (RSA), hash=HASH_ALGO_*, id_type=1 (X.509),
 *                          signer_len, key_id_len, __pad[3]=0, be32 sig_len
 * "~Module signature appended~\n"
 * ```
 *
 * The kernel found the key by the description `"<signer>: <hex key id>"`, which
 * is the certificate's fabricated subject name and its SKID; lpkit matches
 * both. Only RSA with X.509 identifiers was ever accepted.
 *
 * @module
 */
import { sign as cryptoSign } from "node:crypto";
import { type HashAlgorithm, OID, type SigningHash } from "./algorithms.ts";
import { bytesEqual, concatBytes, toHex } from "./_bytes.ts";
import type { Certificate } from "./certificate.ts";
import { chainLink } from "./_chain.ts";
import { SignatureError } from "./errors.ts";
import type { SigningCredentials } from "./keys.ts";
import {
  encodeModuleSignatureHeader,
  MODULE_SIG_MAGIC,
  type ModuleSignatureHeader,
  PKEY_ID_X509,
  readModuleSignatureHeaderTail,
  TRAILER_SIZE,
} from "./trailer.ts";
import type { TrustStore } from "./trust_store.ts";
import type { SignatureInfo, VerifiedSignature, VerifyOptions } from "./verify.ts";
import { verifyRawSignature } from "./_verify_signature.ts";
import { payloadBytes, type PayloadData } from "./_payload.ts";
import { type ByteSource, readSourceRange } from "./source.ts";

/** `enum pkey_algo` of Linux 3.7: DSA (never accepted). */
export const PKEY_ALGO_DSA = 0;
/** `enum pkey_algo` of Linux 3.7: RSA. */
export const PKEY_ALGO_RSA = 1;

/** `enum pkey_hash_algo` of Linux 3.7 (the design document's `HASH_ALGO_*` 0–7). */
export const LEGACY_HASH_ALGO: Readonly<Record<string, number>> = {
  md4: 0,
  md5: 1,
  sha1: 2,
  rmd160: 3,
  sha256: 4,
  sha384: 5,
  sha512: 6,
  sha224: 7,
};

const LEGACY_HASH_BY_ID: readonly string[] = Object.keys(LEGACY_HASH_ALGO);

/** Options of {@linkcode signPayloadLegacy}. */
export interface LegacySignOptions {
  /** Digest: `sha256` (default), `sha384` or `sha512`. */
  hash?: SigningHash;
}

/** A parsed legacy trailer. */
export interface LegacySignature {
  /** The header. */
  readonly header: ModuleSignatureHeader;
  /** The payload (a view of the input). */
  readonly payload: Uint8Array;
  /** The signer's name bytes. */
  readonly signerName: Uint8Array;
  /** The key identifier. */
  readonly keyId: Uint8Array;
  /** The signature data: be16 length, then the RSA signature. */
  readonly signatureData: Uint8Array;
  /** Offset of the signature data in the file. */
  readonly signatureOffset: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The signer's name the legacy kernel derived from a subject (its
 * `x509_fabricate_name()`): the CN alone if it starts with the O (or shares
 * its first 7 bytes), else `"O: CN"`; failing those the CN, O or email alone.
 *
 * @example
 * ```ts
 * import { legacySignerName, parseCertificate } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const cert = parseCertificate(readFileSync("packages/signer/testdata/rsa3072.crt"));
 * assert.equal(new TextDecoder().decode(legacySignerName(cert)), "lpkit tests: RSA-3072 signer");
 * ```
 */
export function legacySignerName(certificate: Certificate): Uint8Array {
  // The kernel keeps the last CN, O and email it meets.
  let cn: Uint8Array | undefined;
  let o: Uint8Array | undefined;
  let email: Uint8Array | undefined;
  for (const a of certificate.subjectAttributes) {
    if (a.oid === OID.commonName) cn = a.raw;
    else if (a.oid === OID.organizationName) o = a.raw;
    else if (a.oid === OID.emailAddress) email = a.raw;
  }
  if (cn?.length && o?.length) {
    if (cn.length >= o.length && bytesEqual(cn.subarray(0, o.length), o)) return cn;
    if (cn.length >= 7 && o.length >= 7 && bytesEqual(cn.subarray(0, 7), o.subarray(0, 7))) {
      return cn;
    }
    return concatBytes(o, encoder.encode(": "), cn);
  }
  return (cn?.length ? cn : o?.length ? o : email) ?? new Uint8Array(0);
}

/**
 * Signs a payload in the **legacy** (Linux 3.7–4.2) layout. RSA keys only;
 * the certificate must have a subject key identifier.
 *
 * @example
 * ```ts
 * import {
 *   parseCertificate, parsePrivateKey, signingCredentials, signPayloadLegacy, TrustStore,
 *   verifyPayloadLegacy,
 * } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/rsa2048.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)), cert);
 * const signed = signPayloadLegacy(new Uint8Array([1, 2, 3]), creds);
 * const result = verifyPayloadLegacy(signed, new TrustStore([cert]));
 * assert.equal(result.format, "legacy");
 * ```
 */
export function signPayloadLegacy(
  payload: Uint8Array,
  credentials: SigningCredentials,
  options: LegacySignOptions = {},
): Uint8Array {
  const hash = options.hash ?? "sha256";
  if (!["sha256", "sha384", "sha512"].includes(hash)) {
    throw new SignatureError(
      "UNSUPPORTED_DIGEST",
      `cannot sign with ${hash}; use sha256, sha384 or sha512`,
    );
  }
  const { key, certificate } = credentials;
  if (key.algorithm !== "rsa") {
    throw new SignatureError("BAD_KEY", "the legacy layout supports RSA keys only");
  }
  const keyId = certificate.subjectKeyId;
  if (keyId === undefined) {
    throw new SignatureError("BAD_CERTIFICATE", "the legacy layout needs a subjectKeyIdentifier");
  }
  const name = legacySignerName(certificate);
  if (name.length > 255 || keyId.length > 255) {
    throw new SignatureError("BAD_CERTIFICATE", "signer name or key id longer than 255 bytes");
  }
  const sig = new Uint8Array(cryptoSign(hash, payload, key.keyObject));
  const sigData = concatBytes(new Uint8Array([sig.length >> 8, sig.length & 0xff]), sig);
  const header = encodeModuleSignatureHeader({
    algo: PKEY_ALGO_RSA,
    hash: LEGACY_HASH_ALGO[hash],
    idType: PKEY_ID_X509,
    signerLen: name.length,
    keyIdLen: keyId.length,
    sigLen: sigData.length,
  });
  return concatBytes(payload, name, keyId, sigData, header, MODULE_SIG_MAGIC);
}

/** Where the parts of a legacy trailer lie in a file of `size` bytes. */
interface LegacyLayout {
  header: ModuleSignatureHeader;
  headerOffset: number;
  payloadLength: number;
}

function locateLegacy(tail: Uint8Array, size: number): LegacyLayout {
  const { header, headerOffset } = readModuleSignatureHeaderTail(tail, size);
  // Kernel 3.7: if (sig_len >= modlen) ...; if (signer_len + key_id_len >= modlen) -EBADMSG.
  let modlen = headerOffset;
  if (header.sigLen >= modlen) {
    throw new SignatureError(
      "BAD_SIG_LEN",
      `sig_len ${header.sigLen} leaves no payload`,
      headerOffset + 8,
    );
  }
  modlen -= header.sigLen;
  if (header.signerLen + header.keyIdLen >= modlen) {
    throw new SignatureError(
      "BAD_SIG_LEN",
      `signer_len ${header.signerLen} + key_id_len ${header.keyIdLen} leave no payload`,
      headerOffset + 3,
    );
  }
  return { header, headerOffset, payloadLength: modlen - header.signerLen - header.keyIdLen };
}

/** Splits `region` (the bytes from the end of the payload to the header) into its parts. */
function split(layout: LegacyLayout, region: Uint8Array, payload: Uint8Array): LegacySignature {
  const { header, payloadLength } = layout;
  const keyIdAt = header.signerLen;
  const sigAt = keyIdAt + header.keyIdLen;
  return {
    header,
    payload,
    signerName: region.subarray(0, keyIdAt),
    keyId: region.subarray(keyIdAt, sigAt),
    signatureData: region.subarray(sigAt),
    signatureOffset: payloadLength + sigAt,
  };
}

/**
 * Splits a **legacy** trailer with Linux 3.7's bounds checks (`TRUNCATED`,
 * `BAD_SIG_LEN`), without judging the header's fields.
 *
 * @example
 * ```ts
 * import { parseLegacySignature, SignatureError } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => parseLegacySignature(new Uint8Array(50)), SignatureError);
 * ```
 */
export function parseLegacySignature(file: Uint8Array): LegacySignature {
  const layout = locateLegacy(file.subarray(Math.max(0, file.length - TRAILER_SIZE)), file.length);
  const region = file.subarray(layout.payloadLength, layout.headerOffset);
  return split(layout, region, file.subarray(0, layout.payloadLength));
}

/**
 * {@linkcode parseLegacySignature} for a file read on demand: only the trailer
 * is read; `payload` is empty and `payloadLength` says how long it is.
 *
 * @example
 * ```ts
 * import { bytesSource, parseCertificate, parsePrivateKey, readLegacySignature, signingCredentials, signPayloadLegacy } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)),
 *   parseCertificate(readFileSync(`${dir}/rsa2048.crt`)),
 * );
 * const parts = readLegacySignature(bytesSource(signPayloadLegacy(new Uint8Array(9), creds)));
 * assert.equal(parts.payloadLength, 9);
 * ```
 */
export function readLegacySignature(
  source: ByteSource,
): LegacySignature & { payloadLength: number } {
  const tailLength = Math.min(source.size, TRAILER_SIZE);
  const tail = readSourceRange(source, source.size - tailLength, tailLength);
  const layout = locateLegacy(tail, source.size);
  const region = readSourceRange(
    source,
    layout.payloadLength,
    layout.headerOffset - layout.payloadLength,
  );
  return { ...split(layout, region, new Uint8Array(0)), payloadLength: layout.payloadLength };
}

function checkHeader(
  sig: LegacySignature,
  headerOffset: number,
  options: VerifyOptions,
): HashAlgorithm {
  const h = sig.header;
  if (h.idType !== PKEY_ID_X509) {
    throw new SignatureError(
      "BAD_ID_TYPE",
      `legacy id_type ${h.idType} is not X.509 (1)`,
      headerOffset + 2,
    );
  }
  if (h.algo !== PKEY_ALGO_RSA) {
    throw new SignatureError(
      "UNSUPPORTED_ALGORITHM",
      `legacy algo ${h.algo} is not RSA (1)`,
      headerOffset,
    );
  }
  // Linux 3.7 did not look at __pad; lpkit insists on zeros.
  h.pad.forEach((p, i) => {
    if (p !== 0) {
      throw new SignatureError(
        "NONZERO_HEADER",
        `legacy __pad[${i}] is ${p}, not 0`,
        headerOffset + 5 + i,
      );
    }
  });
  const name = LEGACY_HASH_BY_ID[h.hash];
  if (name === "md4" || name === "md5") {
    throw new SignatureError("WEAK_DIGEST", `${name} digests are never accepted`, headerOffset + 1);
  }
  if (name === "sha1" && !options.allowSha1) {
    throw new SignatureError(
      "WEAK_DIGEST",
      "SHA-1 digests are deprecated and need an explicit opt-in",
      headerOffset + 1,
    );
  }
  if (name === undefined || name === "rmd160") {
    throw new SignatureError(
      "UNSUPPORTED_DIGEST",
      `unsupported legacy hash ${name ?? h.hash}`,
      headerOffset + 1,
    );
  }
  return name as HashAlgorithm;
}

function findLegacySigner(sig: LegacySignature, trust: TrustStore): Certificate[] {
  const who = `"${decoder.decode(sig.signerName)}: ${toHex(sig.keyId)}"`;
  const bySkid = trust.findBySubjectKeyId(sig.keyId);
  const found = bySkid.filter((c) => bytesEqual(legacySignerName(c), sig.signerName));
  if (found.length === 0) {
    const why = bySkid.length > 0 ? " (the key id matches but the signer name does not)" : "";
    throw new SignatureError("UNTRUSTED", `no trusted certificate for ${who}${why}`);
  }
  return found;
}

/** The RSA signature inside the legacy signature data (be16 length, then bytes). */
function unwrapSignature(sig: LegacySignature): Uint8Array {
  const data = sig.signatureData;
  if (data.length < 3 || ((data[0] << 8) | data[1]) !== data.length - 2) {
    throw new SignatureError(
      "MALFORMED_SIGNATURE",
      "legacy signature data is not a 2-byte length followed by that many bytes",
      sig.signatureOffset,
    );
  }
  return data.subarray(2);
}

/** Fits an MPI (leading zeros may be stripped or present) to the modulus size. */
function fitToModulus(mpi: Uint8Array, size: number): Uint8Array {
  let start = 0;
  while (start < mpi.length - size && mpi[start] === 0) start++;
  const trimmed = mpi.subarray(start);
  if (trimmed.length >= size) return trimmed;
  const out = new Uint8Array(size);
  out.set(trimmed, size - trimmed.length);
  return out;
}

/**
 * Verifies a **legacy** (Linux 3.7–4.2) signature against a trust store, with
 * that kernel's checks in its order (plus zero padding): `TRUNCATED`,
 * `BAD_SIG_LEN`, `BAD_ID_TYPE`, `UNSUPPORTED_ALGORITHM`, `NONZERO_HEADER`,
 * `WEAK_DIGEST`/`UNSUPPORTED_DIGEST`, `UNTRUSTED`, `MALFORMED_SIGNATURE`,
 * `BAD_KEY`, `BAD_SIGNATURE`.
 *
 * @example
 * ```ts
 * import { SignatureError, TrustStore, verifyPayloadLegacy } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => verifyPayloadLegacy(new Uint8Array(10), new TrustStore()),
 *   (e) => e instanceof SignatureError && e.code === "UNSIGNED",
 * );
 * ```
 */
export function verifyPayloadLegacy(
  file: Uint8Array,
  trust: TrustStore,
  options: VerifyOptions = {},
): VerifiedSignature {
  const sig = parseLegacySignature(file);
  const info = verifyLegacyParts(sig, payloadBytes(sig.payload), file.length, trust, options);
  return { ...info, payload: sig.payload };
}

/**
 * The checks of {@linkcode verifyPayloadLegacy} on a split trailer, with the
 * payload in memory or read in chunks; `size` is the whole file's length.
 * Internal (not exported from mod.ts): verify.ts uses it for sources.
 */
export function verifyLegacyParts(
  sig: LegacySignature,
  payload: PayloadData,
  size: number,
  trust: TrustStore,
  options: VerifyOptions,
): SignatureInfo {
  const headerOffset = size - TRAILER_SIZE;
  const hash = checkHeader(sig, headerOffset, options);
  const found = findLegacySigner(sig, trust);
  const mpi = unwrapSignature(sig);
  let firstError: unknown;
  for (const certificate of found) {
    try {
      const bytes = Math.ceil((certificate.keyBits ?? 0) / 8);
      const signature = certificate.keyAlgorithm === "rsa" ? fitToModulus(mpi, bytes) : mpi;
      verifyRawSignature(payload, signature, hash, "rsa", certificate, sig.signatureOffset + 2);
    } catch (e) {
      if (!(e instanceof SignatureError)) throw e;
      firstError ??= e;
      continue;
    }
    return {
      format: "legacy",
      payloadLength: payload.length,
      signer: {
        issuer: certificate.issuer,
        subject: certificate.subject,
        serialHex: certificate.serialHex,
        keyIdHex: toHex(sig.keyId),
        identifiedBy: "legacy",
        name: decoder.decode(sig.signerName),
      },
      certificate,
      anchor: certificate,
      chain: [chainLink(certificate, false, true)],
      hash,
      keyAlgorithm: "rsa",
      keyDescription: certificate.keyDescription,
    };
  }
  throw firstError;
}
