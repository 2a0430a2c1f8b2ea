/**
 * The one error type of the signer: every rejected signature, key or
 * certificate raises a {@linkcode SignatureError} with a stable code and
 * the Xen errno an enforcing host reports for it.
 *
 * @module
 */

/**
 * Stable codes of {@linkcode SignatureError}. The verification codes follow the
 * kernel's checks in the kernel's order (signing.md §1.3).
 */
export type SignatureErrorCode =
  /** The file does not end with `"~Module signature appended~\n"` (kernel: `-ENODATA`). */
  | "UNSIGNED"
  /** The marker is there but the file is too short for the 12-byte header (`-EBADMSG`). */
  | "TRUNCATED"
  /** `sig_len` (or a legacy length) leaves no payload byte (`-EBADMSG`). */
  | "BAD_SIG_LEN"
  /** `id_type` is not PKCS#7 (2), or not X.509 (1) for the legacy layout (`-ENOPKG`). */
  | "BAD_ID_TYPE"
  /** `algo`, `hash`, `signer_len`, `key_id_len` or `__pad` is not 0 (`-EBADMSG`). */
  | "NONZERO_HEADER"
  /** The PKCS#7 is not DER, or not a SignedData of the expected shape (`-EBADMSG`). */
  | "MALFORMED_PKCS7"
  /** The SignerInfo has authenticated attributes (`-EKEYREJECTED`, "has authattrs"). */
  | "SIGNED_ATTRIBUTES"
  /** The PKCS#7 carries the content instead of being detached (`-EBADMSG`). */
  | "EMBEDDED_CONTENT"
  /** The digest algorithm is unknown or not supported (`-ENOPKG`). */
  | "UNSUPPORTED_DIGEST"
  /** The digest is SHA-1 without the opt-in, or MD4/MD5 (never accepted). */
  | "WEAK_DIGEST"
  /** The signature algorithm is not `rsaEncryption` or a matching `ecdsa-with-SHA*` (`-ENOPKG`). */
  | "UNSUPPORTED_ALGORITHM"
  /** No certificate of the trust store matches the signer (`-ENOKEY`). */
  | "UNTRUSTED"
  /** The signature does not verify with the trusted key (`-EKEYREJECTED`). */
  | "BAD_SIGNATURE"
  /**
   * A certificate on the chain embedded in the PKCS#7 does not verify with its
   * issuer's (or the trusted) key, or its authority key identifier contradicts
   * the certificate it names (the kernel's `-EKEYREJECTED` in
   * `pkcs7_verify_sig_chain`/`pkcs7_validate_trust_one`).
   */
  | "BAD_CHAIN"
  /** The legacy signature blob is not a 2-byte length followed by that many bytes (`-EBADMSG`). */
  | "MALFORMED_SIGNATURE"
  /** A key is unreadable, of an unsupported type or size, or does not match the certificate. */
  | "BAD_KEY"
  /** A certificate is unreadable or lacks what the operation needs (e.g. a subject key identifier). */
  | "BAD_CERTIFICATE";

/** A Xen errno (Xen's public `errno.h` uses the Linux x86 numbers). */
export interface XenErrno {
  /** The symbolic name, e.g. `EACCES`. */
  readonly name: "EACCES" | "EBADMSG" | "EINVAL";
  /** The positive number; the hypercall returns its negation ({@linkcode SignatureError.errno}). */
  readonly value: 13 | 74 | 22;
}

const EACCES: XenErrno = { name: "EACCES", value: 13 };
const EBADMSG: XenErrno = { name: "EBADMSG", value: 74 };
const EINVAL: XenErrno = { name: "EINVAL", value: 22 };

/**
 * The errno a host enforcing signatures returns for each code. Xen has no
 * `EKEYREJECTED`, `ENOKEY` or `ENOPKG`, so the kernel's errnos are folded
 * into what Xen has (README "Enforcement"):
 *
 * - `EBADMSG` (74) where Linux also says `-EBADMSG`: the trailer or PKCS#7 is
 *   malformed (`TRUNCATED`, `BAD_SIG_LEN`, `NONZERO_HEADER`, `MALFORMED_PKCS7`,
 *   `EMBEDDED_CONTENT`, `MALFORMED_SIGNATURE`).
 * - `EACCES` (13) for a well-formed upload the policy refuses: unsigned, legacy
 *   or unsupported crypto, weak digest, untrusted signer, unusable trusted key,
 *   signed attributes, bad signature, bad certificate chain. An enforcing Linux
 *   returns `-EKEYREJECTED` for all of these (or `-ENOKEY`/`-ENOPKG`, which it
 *   turns into `-EKEYREJECTED` under `sig_enforce`).
 * - `EINVAL` (22) for `BAD_CERTIFICATE`, a host configuration problem.
 *
 * @example
 * ```ts
 * import { SIGNATURE_ERRNO } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(SIGNATURE_ERRNO.BAD_SIGNATURE, { name: "EACCES", value: 13 });
 * assert.equal(SIGNATURE_ERRNO.BAD_SIG_LEN.name, "EBADMSG");
 * ```
 */
export const SIGNATURE_ERRNO: Readonly<Record<SignatureErrorCode, XenErrno>> = {
  UNSIGNED: EACCES,
  TRUNCATED: EBADMSG,
  BAD_SIG_LEN: EBADMSG,
  BAD_ID_TYPE: EACCES,
  NONZERO_HEADER: EBADMSG,
  MALFORMED_PKCS7: EBADMSG,
  SIGNED_ATTRIBUTES: EACCES,
  EMBEDDED_CONTENT: EBADMSG,
  UNSUPPORTED_DIGEST: EACCES,
  WEAK_DIGEST: EACCES,
  UNSUPPORTED_ALGORITHM: EACCES,
  UNTRUSTED: EACCES,
  BAD_SIGNATURE: EACCES,
  BAD_CHAIN: EACCES,
  MALFORMED_SIGNATURE: EBADMSG,
  BAD_KEY: EACCES,
  BAD_CERTIFICATE: EINVAL,
};

/**
 * Raised for every rejected input: a stable {@linkcode SignatureErrorCode}, a
 * one-line message and, where the problem lies in a file, its byte offset.
 *
 * @example Telling an unsigned file from a bad signature
 * ```ts
 * import { SignatureError, TrustStore, verifyPayload } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * try {
 *   verifyPayload(new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), new TrustStore());
 *   assert.fail("not reached");
 * } catch (e) {
 *   assert.ok(e instanceof SignatureError);
 *   assert.equal(e.code, "UNSIGNED");
 * }
 * ```
 */
export class SignatureError extends Error {
  /** What is wrong, as a stable code. */
  readonly code: SignatureErrorCode;
  /** Byte offset in the file (or PKCS#7) of the offending field, when there is one. */
  readonly offset: number | undefined;
  /**
   * The errno an enforcing host returns for this error, negative as Xen
   * returns it (like `LivepatchError.errno`): see {@linkcode SIGNATURE_ERRNO}.
   */
  readonly errno: number;
  /** Its name, e.g. `EACCES`. */
  readonly errnoName: string;

  /**
   * @param code What is wrong.
   * @param message One line, without a trailing period.
   * @param offset Byte offset of the offending field, if the problem lies in a file.
   */
  constructor(code: SignatureErrorCode, message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at offset 0x${offset.toString(16)})`);
    this.name = "SignatureError";
    this.code = code;
    this.offset = offset;
    this.errno = -SIGNATURE_ERRNO[code].value;
    this.errnoName = SIGNATURE_ERRNO[code].name;
  }
}
