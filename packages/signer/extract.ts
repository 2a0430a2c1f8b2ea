/**
 * Taking signed files apart, like Linux's `scripts/extract-module-sig.pl`:
 * the unsigned payload (`-0`), the raw signature (`-s`; the PKCS#7 DER for
 * the current format) and the header fields (`-d`). Works for both the
 * current and the legacy layout; only the bounds are checked, not the
 * signature.
 *
 * @module
 */
import { type ModuleSignatureHeader, PKEY_ID_PKCS7, PKEY_ID_X509 } from "./trailer.ts";
import { parseLegacySignature } from "./legacy.ts";

/** The parts of a signed file (views of the input, not copies). */
export interface ExtractedSignature {
  /** `pkcs7` (id_type 2), `legacy` (id_type 1) or `unknown` (any other id_type). */
  readonly format: "pkcs7" | "legacy" | "unknown";
  /** The header fields. */
  readonly header: ModuleSignatureHeader;
  /** The unsigned payload. */
  readonly payload: Uint8Array;
  /** The signer's name (legacy; empty for PKCS#7). */
  readonly signerName: Uint8Array;
  /** The key identifier (legacy; empty for PKCS#7). */
  readonly keyId: Uint8Array;
  /** The signature data: the PKCS#7 DER, or the legacy be16-length-prefixed signature. */
  readonly signature: Uint8Array;
  /** Number of trailer bytes after the payload. */
  readonly trailerLength: number;
}

/**
 * Splits a signed file into payload, signer name, key id, signature and
 * header. Throws `UNSIGNED`, `TRUNCATED` or `BAD_SIG_LEN`.
 *
 * @example
 * ```ts
 * import {
 *   extractSignature, parseCertificate, parsePrivateKey, signingCredentials, signPayload,
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
 * const parts = extractSignature(signPayload(payload, creds));
 * assert.deepEqual(parts.payload, payload);
 * assert.equal(parts.header.sigLen, parts.signature.length);
 * ```
 */
export function extractSignature(file: Uint8Array): ExtractedSignature {
  // The legacy split is the general one: with signer_len = key_id_len = 0 it is the PKCS#7 split.
  const parts = parseLegacySignature(file);
  const idType = parts.header.idType;
  return {
    format: idType === PKEY_ID_PKCS7 ? "pkcs7" : idType === PKEY_ID_X509 ? "legacy" : "unknown",
    header: parts.header,
    payload: parts.payload,
    signerName: parts.signerName,
    keyId: parts.keyId,
    signature: parts.signatureData,
    trailerLength: file.length - parts.payload.length,
  };
}

/**
 * The unsigned payload of a signed file (a view, not a copy), like
 * `extract-module-sig.pl -0`. Throws `UNSIGNED` for a file without a signature.
 *
 * @example
 * ```ts
 * import { MODULE_SIG_MAGIC, encodeModuleSignatureHeader, stripSignature } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const file = new Uint8Array([9, 9, 0xaa, ...encodeModuleSignatureHeader({ sigLen: 1 }), ...MODULE_SIG_MAGIC]);
 * assert.deepEqual(stripSignature(file), new Uint8Array([9, 9]));
 * ```
 */
export function stripSignature(file: Uint8Array): Uint8Array {
  return extractSignature(file).payload;
}
