/**
 * Signature enforcement for a host (`host init --enforce-signatures
 * --trust CERT_OR_DIR`): the trust store is copied into the state folder as
 * one PEM bundle, and every upload goes through the signer's check before
 * the host parses it. A rejected signature fails the upload with the errno
 * the signer documents, as a LivepatchError.
 *
 * @module
 */
import { ERRNO, type ErrnoName, errnoName, LivepatchError } from "@lpkit/livepatch-core";
import {
  checkPayloadSignature,
  loadTrustStore,
  parseTrustStore,
  SignatureError,
  type TrustStore,
} from "@lpkit/signer";
import { CliError, type ErrorReport, errorReport } from "./errors.ts";
import type { FullIo } from "./platform.ts";
import { sha256Hex } from "./state.ts";

/**
 * PEM text of every certificate of a trust store, in order.
 *
 * @example
 * ```ts
 * import { loadTrust, trustBundle } from "@lpkit/cli";
 * import { parseTrustStore } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 * const pem = trustBundle(loadTrust(["packages/signer/testdata/rsa2048.crt"]));
 * assert.ok(pem.startsWith("-----BEGIN CERTIFICATE-----\n"));
 * assert.equal(parseTrustStore(new TextEncoder().encode(pem)).size, 1);
 * ```
 */
export function trustBundle(store: TrustStore): string {
  let out = "";
  for (const cert of store) {
    const b64 = btoa(String.fromCharCode(...cert.der)).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
    out += `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
  }
  return out;
}

/**
 * Loads the certificates of `--trust` paths (files or folders), for `host init`.
 *
 * @example
 * ```ts
 * import { loadTrust } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const dir = "packages/signer/testdata";
 * const store = loadTrust([`${dir}/rsa2048.crt`, `${dir}/ecp256.crt`]);
 * assert.equal(store.size, 2);
 * ```
 */
export function loadTrust(paths: readonly string[]): TrustStore {
  const store = loadTrustStore(paths);
  if ([...store].length === 0) {
    throw new CliError("BAD_CERTIFICATE", `no certificate found in ${paths.join(", ")}`);
  }
  return store;
}

/**
 * The report of a {@linkcode SignatureError} (a bad key, certificate or
 * signature given to sign, verify or extract); undefined for anything else.
 *
 * @example
 * ```ts
 * import { describeSignatureError } from "@lpkit/cli";
 * import { SignatureError } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 * const r = describeSignatureError(new SignatureError("UNSIGNED", "no signature"));
 * assert.equal(r?.code, "UNSIGNED");
 * assert.equal(r?.exitCode, 1);
 * ```
 */
export function describeSignatureError(e: unknown): ErrorReport | undefined {
  if (!(e instanceof SignatureError)) return undefined;
  return errorReport(e.code, `${e.message} [${e.code}]`, 1);
}

/**
 * A SignatureError as the LivepatchError the upload fails with.
 *
 * @example
 * ```ts
 * import { signatureFailure } from "@lpkit/cli";
 * import { LivepatchError } from "@lpkit/livepatch-core";
 * import { SignatureError } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 * const e = signatureFailure(new SignatureError("TRUNCATED", "the signature is cut short"));
 * assert.ok(e instanceof LivepatchError);
 * assert.equal(e.errnoName, "EBADMSG");
 * assert.equal(e.code, "TRUNCATED");
 * ```
 */
export function signatureFailure(e: SignatureError): LivepatchError {
  const errno = (e as { errno?: number }).errno;
  const name = errno === undefined ? "EACCES" : errnoName(errno);
  const known = (name in ERRNO ? name : "EACCES") as ErrnoName;
  return new LivepatchError(known, e.code, `signature check failed: ${e.message}`);
}

/**
 * The host's `signatureCheck` callback for the trust bundle at `path`,
 * whose SHA-256 `host init` recorded.
 *
 * @example
 * ```ts
 * import { loadTrust, processIo, sha256Hex, signatureCheck, trustBundle } from "@lpkit/cli";
 * import { LivepatchError } from "@lpkit/livepatch-core";
 * import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const store = loadTrust(["packages/signer/testdata/rsa2048.crt"]);
 * const pem = new TextEncoder().encode(trustBundle(store));
 * const path = mkdtempSync(tmpdir() + "/lpkit-") + "/trust.pem";
 * writeFileSync(path, pem);
 * const check = signatureCheck(processIo(), path, sha256Hex(pem));
 * const unsigned = readFileSync("examples/bin/hello.livepatch");
 * assert.throws(
 *   () => check(unsigned),
 *   (e) => e instanceof LivepatchError && e.code === "UNSIGNED",
 * );
 * ```
 */
export function signatureCheck(
  io: FullIo,
  path: string,
  sha256: string | null,
): (file: Uint8Array) => Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = io.readFile(path);
  } catch {
    throw new CliError("STATE_CORRUPT", `${path} is missing (the host enforces signatures)`, 1);
  }
  if (sha256Hex(bytes) !== sha256) {
    throw new CliError("STATE_CORRUPT", `${path} does not match its SHA-256 in state.json`, 1);
  }
  const store = parseTrustStore(bytes);
  return (file) => {
    try {
      return checkPayloadSignature(file, store).payload;
    } catch (e) {
      if (e instanceof SignatureError) throw signatureFailure(e);
      throw e;
    }
  };
}
