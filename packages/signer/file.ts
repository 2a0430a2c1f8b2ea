/**
 * Signing and verifying files in place on disk (node:fs, so Deno and Node
 * alike): the payload is read in chunks through one buffer, never whole.
 * The logic is {@linkcode verifySource} and {@linkcode createPkcs7FromSource};
 * this module only opens, reads and writes.
 *
 * @module
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import type { SigningCredentials } from "./keys.ts";
import { createPkcs7FromSource, type SignOptions } from "./sign.ts";
import type { ByteSource } from "./source.ts";
import { encodeSignatureTrailer } from "./trailer.ts";
import type { TrustStore } from "./trust_store.ts";
import { type SignatureInfo, type VerifyOptions, verifySource } from "./verify.ts";

/** A {@linkcode ByteSource} on an open file; call `close()` when done. */
export interface FileSource extends ByteSource {
  /** Closes the file. */
  close(): void;
}

/**
 * Opens a file for reading on demand. Its size is taken once, at opening.
 *
 * @example
 * ```ts
 * import { openFileSource, readSourceRange } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const source = openFileSource("packages/signer/testdata/rsa2048.crt.der");
 * try {
 *   assert.equal(readSourceRange(source, 0, 1)[0], 0x30);
 * } finally {
 *   source.close();
 * }
 * ```
 */
export function openFileSource(path: string): FileSource {
  const fd = openSync(path, "r");
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return {
    size,
    read: (buffer, position) => readSync(fd, buffer, 0, buffer.length, position),
    close: () => closeSync(fd),
  };
}

function withSource<T>(path: string, fn: (source: FileSource) => T): T {
  const source = openFileSource(path);
  try {
    return fn(source);
  } finally {
    source.close();
  }
}

/**
 * Verifies a signed file on disk against a trust store, like
 * {@linkcode verifyPayload} but without reading the file into memory.
 *
 * @example
 * ```ts
 * import { parseCertificate, TrustStore, verifyPayloadFile } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const cert = parseCertificate(readFileSync("packages/signer/testdata/rsa2048.crt"));
 * // The DER certificate is no signed file: UNSIGNED.
 * assert.throws(() => verifyPayloadFile("packages/signer/testdata/rsa2048.crt.der", new TrustStore([cert])));
 * ```
 */
export function verifyPayloadFile(
  path: string,
  trust: TrustStore,
  options: VerifyOptions = {},
): SignatureInfo {
  return withSource(path, (source) => verifySource(source, trust, options));
}

/** Writes through a temporary file in the output's folder, then renames it over `path`. */
function writeAtomically(path: string, fn: (write: (bytes: Uint8Array) => void) => void): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.lpkit-tmp`);
  const fd = openSync(tmp, "w", 0o644);
  try {
    fn((bytes) => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    });
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

/**
 * Signs a file on disk: writes `payload || PKCS#7 || header || marker` to
 * `output` (which may be `input`: the result replaces it atomically, as
 * sign-file replaces the module), reading and hashing the payload once, in
 * chunks. Returns the PKCS#7.
 *
 * @example
 * ```ts
 * import {
 *   parseCertificate, parsePrivateKey, signingCredentials, signPayloadFile, TrustStore,
 *   verifyPayloadFile,
 * } from "@lpkit/signer";
 * import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const cert = parseCertificate(readFileSync(`${dir}/ecp256.crt`));
 * const creds = signingCredentials(parsePrivateKey(readFileSync(`${dir}/ecp256.key`)), cert);
 * const file = mkdtempSync(`${tmpdir()}/lpkit-`) + "/payload";
 * writeFileSync(file, new Uint8Array(4096));
 * signPayloadFile(file, file, creds);
 * assert.equal(verifyPayloadFile(file, new TrustStore([cert])).payloadLength, 4096);
 * ```
 */
export function signPayloadFile(
  input: string,
  output: string,
  credentials: SigningCredentials,
  options: SignOptions = {},
): Uint8Array {
  return withSource(input, (source) => {
    let pkcs7: Uint8Array = new Uint8Array(0);
    writeAtomically(output, (write) => {
      pkcs7 = createPkcs7FromSource(source, credentials, options, write);
      write(encodeSignatureTrailer(pkcs7));
    });
    return pkcs7;
  });
}
