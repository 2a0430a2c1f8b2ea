/**
 * The module-signature trailer (signing.md §1.1):
 * `payload || signature || struct module_signature (12 bytes) || "~Module signature appended~\n"`.
 *
 * ```c
 * struct module_signature {
 *   u8 algo, hash, id_type, signer_len, key_id_len, __pad[3];
 *   __be32 sig_len;
 * };
 * ```
 *
 * @module
 */
import { SignatureError } from "./errors.ts";

/** The marker that ends every signed file: `"~Module signature appended~\n"` (28 bytes, no NUL). */
export const MODULE_SIG_STRING = "~Module signature appended~\n";

/** {@linkcode MODULE_SIG_STRING} as bytes. */
export const MODULE_SIG_MAGIC: Uint8Array = new TextEncoder().encode(MODULE_SIG_STRING);

/** Size of `struct module_signature`. */
export const MODULE_SIGNATURE_HEADER_SIZE = 12;

/** Size of the fixed part of the trailer: header plus marker (40 bytes). */
export const TRAILER_SIZE = MODULE_SIGNATURE_HEADER_SIZE + MODULE_SIG_STRING.length;

/** `enum pkey_id_type`: OpenPGP key id (never mainline). */
export const PKEY_ID_PGP = 0;
/** `enum pkey_id_type`: X.509 subject key id (the legacy layout, Linux 3.7–4.2). */
export const PKEY_ID_X509 = 1;
/** `enum pkey_id_type`: PKCS#7 message (the only value Linux ≥ 4.3 accepts). */
export const PKEY_ID_PKCS7 = 2;

/** The fields of `struct module_signature`. */
export interface ModuleSignatureHeader {
  /** Public-key algorithm (legacy; 0 for PKCS#7). */
  algo: number;
  /** Digest algorithm (legacy; 0 for PKCS#7). */
  hash: number;
  /** Key identifier type: 0 PGP, 1 X.509, 2 PKCS#7. */
  idType: number;
  /** Length of the signer's name (legacy; 0 for PKCS#7). */
  signerLen: number;
  /** Length of the key identifier (legacy; 0 for PKCS#7). */
  keyIdLen: number;
  /** The three padding bytes. */
  pad: [number, number, number];
  /** Length of the signature data (big-endian on disk). */
  sigLen: number;
}

/** Where the parts of a signed file lie (all offsets from the start of the file). */
export interface SignatureTrailer {
  /** The decoded header. */
  header: ModuleSignatureHeader;
  /** Length of the payload, which starts at offset 0. */
  payloadLength: number;
  /** Offset of the signature data (PKCS#7, or the legacy signer name). */
  signatureOffset: number;
  /** Offset of the 12-byte header. */
  headerOffset: number;
}

/**
 * Encodes a header; fields default to the PKCS#7 form sign-file writes
 * (`00 00 02 00 00 00 00 00 <be32 sig_len>`).
 *
 * @example
 * ```ts
 * import { encodeModuleSignatureHeader } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   encodeModuleSignatureHeader({ sigLen: 462 }),
 *   new Uint8Array([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xce]),
 * );
 * ```
 */
export function encodeModuleSignatureHeader(
  header: Partial<ModuleSignatureHeader> & Pick<ModuleSignatureHeader, "sigLen">,
): Uint8Array {
  const out = new Uint8Array(MODULE_SIGNATURE_HEADER_SIZE);
  out[0] = header.algo ?? 0;
  out[1] = header.hash ?? 0;
  out[2] = header.idType ?? PKEY_ID_PKCS7;
  out[3] = header.signerLen ?? 0;
  out[4] = header.keyIdLen ?? 0;
  out.set(header.pad ?? [0, 0, 0], 5);
  new DataView(out.buffer).setUint32(8, header.sigLen, false);
  return out;
}

/**
 * Decodes the 12 bytes of a header.
 *
 * @example
 * ```ts
 * import { decodeModuleSignatureHeader } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const h = decodeModuleSignatureHeader(new Uint8Array([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xce]));
 * assert.equal(h.idType, 2);
 * assert.equal(h.sigLen, 462);
 * ```
 */
export function decodeModuleSignatureHeader(bytes: Uint8Array): ModuleSignatureHeader {
  if (bytes.length !== MODULE_SIGNATURE_HEADER_SIZE) {
    throw new RangeError(`A module signature header is 12 bytes, not ${bytes.length}`);
  }
  return {
    algo: bytes[0],
    hash: bytes[1],
    idType: bytes[2],
    signerLen: bytes[3],
    keyIdLen: bytes[4],
    pad: [bytes[5], bytes[6], bytes[7]],
    sigLen: ((bytes[8] << 24) | (bytes[9] << 16) | (bytes[10] << 8) | bytes[11]) >>> 0,
  };
}

/**
 * Whether a file ends with the signature marker.
 *
 * @example
 * ```ts
 * import { hasSignatureMarker, MODULE_SIG_MAGIC } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.equal(hasSignatureMarker(new Uint8Array(100)), false);
 * assert.equal(hasSignatureMarker(MODULE_SIG_MAGIC), true);
 * ```
 */
export function hasSignatureMarker(file: Uint8Array): boolean {
  const n = MODULE_SIG_MAGIC.length;
  if (file.length < n) return false;
  const base = file.length - n;
  for (let i = 0; i < n; i++) if (file[base + i] !== MODULE_SIG_MAGIC[i]) return false;
  return true;
}

/**
 * Locates the marker and header and decodes the header, applying only the
 * checks every layout shares: the marker (`UNSIGNED`) and room for the
 * header (`TRUNCATED`).
 *
 * @example
 * ```ts
 * import { readModuleSignatureHeader, SignatureError } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => readModuleSignatureHeader(new Uint8Array(64)), SignatureError);
 * ```
 */
export function readModuleSignatureHeader(
  file: Uint8Array,
): { header: ModuleSignatureHeader; headerOffset: number } {
  return readModuleSignatureHeaderTail(
    file.subarray(Math.max(0, file.length - TRAILER_SIZE)),
    file.length,
  );
}

/**
 * {@linkcode readModuleSignatureHeader} for a file that is not in memory:
 * `tail` is its last `min(size, 40)` bytes (header and marker), `size` its length.
 *
 * @example
 * ```ts
 * import { encodeSignatureTrailer, readModuleSignatureHeaderTail } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const tail = encodeSignatureTrailer(new Uint8Array([0x30, 0])).subarray(2);
 * assert.equal(readModuleSignatureHeaderTail(tail, 1000).headerOffset, 960);
 * ```
 */
export function readModuleSignatureHeaderTail(
  tail: Uint8Array,
  size: number,
): { header: ModuleSignatureHeader; headerOffset: number } {
  if (tail.length !== Math.min(size, TRAILER_SIZE)) {
    throw new RangeError(`the tail must be the last ${Math.min(size, TRAILER_SIZE)} bytes`);
  }
  if (!hasSignatureMarker(tail)) {
    throw new SignatureError("UNSIGNED", "no module signature marker at the end of the file");
  }
  // Kernel: len -= 28; if (len <= sizeof(ms)) return -EBADMSG.
  const len = size - MODULE_SIG_MAGIC.length;
  if (len <= MODULE_SIGNATURE_HEADER_SIZE) {
    throw new SignatureError("TRUNCATED", "file too short for the signature header", 0);
  }
  return {
    header: decodeModuleSignatureHeader(tail.subarray(0, MODULE_SIGNATURE_HEADER_SIZE)),
    headerOffset: len - MODULE_SIGNATURE_HEADER_SIZE,
  };
}

/**
 * Parses the trailer of a PKCS#7-signed file with the kernel's
 * `mod_check_sig()` rules, in its order (signing.md §1.3 step 2):
 * `sig_len` must leave at least one payload byte (`BAD_SIG_LEN`), `id_type`
 * must be PKCS#7 (`BAD_ID_TYPE`) and every other field must be 0
 * (`NONZERO_HEADER`).
 *
 * @example
 * ```ts
 * import { encodeModuleSignatureHeader, MODULE_SIG_MAGIC, parseSignatureTrailer } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const file = new Uint8Array(10 + 5 + 40);
 * file.set(encodeModuleSignatureHeader({ sigLen: 5 }), 15);
 * file.set(MODULE_SIG_MAGIC, 27);
 * const t = parseSignatureTrailer(file);
 * assert.equal(t.payloadLength, 10);
 * assert.equal(t.signatureOffset, 10);
 * ```
 */
export function parseSignatureTrailer(file: Uint8Array): SignatureTrailer {
  return parseSignatureTrailerTail(
    file.subarray(Math.max(0, file.length - TRAILER_SIZE)),
    file.length,
  );
}

/**
 * {@linkcode parseSignatureTrailer} for a file that is not in memory: `tail`
 * is its last `min(size, 40)` bytes, `size` its length.
 *
 * @example
 * ```ts
 * import { encodeSignatureTrailer, parseSignatureTrailerTail } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const tail = encodeSignatureTrailer(new Uint8Array(100)).subarray(100);
 * assert.equal(parseSignatureTrailerTail(tail, 5000).payloadLength, 5000 - 40 - 100);
 * ```
 */
export function parseSignatureTrailerTail(tail: Uint8Array, size: number): SignatureTrailer {
  const { header, headerOffset } = readModuleSignatureHeaderTail(tail, size);
  // Kernel: if (be32(sig_len) >= len - 12) return -EBADMSG (len excludes the marker).
  if (header.sigLen >= headerOffset) {
    throw new SignatureError(
      "BAD_SIG_LEN",
      `sig_len ${header.sigLen} leaves no payload (${headerOffset} bytes precede the header)`,
      headerOffset + 8,
    );
  }
  if (header.idType !== PKEY_ID_PKCS7) {
    const legacy = header.idType === PKEY_ID_X509 ? " (legacy X.509 layout of Linux 3.7–4.2)" : "";
    throw new SignatureError(
      "BAD_ID_TYPE",
      `id_type ${header.idType} is not PKCS#7 (2)${legacy}`,
      headerOffset + 2,
    );
  }
  const fields: [string, number, number][] = [
    ["algo", header.algo, 0],
    ["hash", header.hash, 1],
    ["signer_len", header.signerLen, 3],
    ["key_id_len", header.keyIdLen, 4],
    ["__pad[0]", header.pad[0], 5],
    ["__pad[1]", header.pad[1], 6],
    ["__pad[2]", header.pad[2], 7],
  ];
  for (const [name, value, at] of fields) {
    if (value !== 0) {
      throw new SignatureError(
        "NONZERO_HEADER",
        `PKCS#7 signature header field ${name} is ${value}, not 0`,
        headerOffset + at,
      );
    }
  }
  const signatureOffset = headerOffset - header.sigLen;
  return { header, payloadLength: signatureOffset, signatureOffset, headerOffset };
}

/**
 * The bytes appended after the payload for a PKCS#7 signature:
 * `pkcs7 || header || marker`. Write the payload then these to avoid copying
 * a large payload.
 *
 * @example
 * ```ts
 * import { encodeSignatureTrailer } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const t = encodeSignatureTrailer(new Uint8Array([0x30, 0x00]));
 * assert.equal(t.length, 2 + 40);
 * assert.equal(t[2 + 2], 2); // id_type
 * ```
 */
export function encodeSignatureTrailer(pkcs7: Uint8Array): Uint8Array {
  const out = new Uint8Array(pkcs7.length + TRAILER_SIZE);
  out.set(pkcs7, 0);
  out.set(encodeModuleSignatureHeader({ sigLen: pkcs7.length }), pkcs7.length);
  out.set(MODULE_SIG_MAGIC, pkcs7.length + MODULE_SIGNATURE_HEADER_SIZE);
  return out;
}
