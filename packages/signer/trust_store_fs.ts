/**
 * Loading a trust store from files and folders, through node:fs by default
 * or any {@linkcode TrustStoreReader} (the CLI passes its own I/O). The
 * parsing itself is {@linkcode parseCertificates}.
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseCertificates } from "./certificate.ts";
import { SignatureError } from "./errors.ts";
import { TrustStore } from "./trust_store.ts";

/** File name endings read from a trust-store folder. */
export const TRUST_STORE_EXTENSIONS: readonly string[] = [".pem", ".crt", ".cer", ".der"];

/** What {@linkcode loadTrustStore} needs to read files and folders. */
export interface TrustStoreReader {
  /** A whole file. */
  readFile(path: string): Uint8Array;
  /** The names in a folder (not recursive). */
  readDir(path: string): string[];
  /** Whether `path` is an existing folder. */
  isDirectory(path: string): boolean;
}

/**
 * {@linkcode TrustStoreReader} on node:fs.
 *
 * @example
 * ```ts
 * import { nodeTrustStoreReader } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.equal(nodeTrustStoreReader.isDirectory("packages/signer/testdata"), true);
 * ```
 */
export const nodeTrustStoreReader: TrustStoreReader = {
  readFile: (path) => readFileSync(path),
  readDir: (path) => readdirSync(path),
  isDirectory: (path) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
};

/**
 * Builds a trust store from certificate files (PEM bundles or DER) and
 * folders; a folder contributes its `.pem`, `.crt`, `.cer` and `.der` files
 * (not recursively, not its sub-folders), in name order. A bad certificate
 * is an error naming its file, and so is finding no certificate at all.
 * Errors of `reader` (a missing file...) are passed on as they are.
 *
 * @example
 * ```ts
 * import { loadTrustStore } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const store = loadTrustStore(["packages/signer/testdata/rsa2048.crt"]);
 * assert.equal(store.size, 1);
 * ```
 */
export function loadTrustStore(
  paths: string | readonly string[],
  reader: TrustStoreReader = nodeTrustStoreReader,
): TrustStore {
  const files: string[] = [];
  for (const path of typeof paths === "string" ? [paths] : paths) {
    if (!reader.isDirectory(path)) {
      files.push(path);
      continue;
    }
    for (const name of [...reader.readDir(path)].sort()) {
      const file = join(path, name);
      const lower = name.toLowerCase();
      if (TRUST_STORE_EXTENSIONS.some((e) => lower.endsWith(e)) && !reader.isDirectory(file)) {
        files.push(file);
      }
    }
  }
  const store = new TrustStore();
  for (const file of files) {
    const bytes = reader.readFile(file);
    try {
      for (const cert of parseCertificates(bytes)) store.add(cert);
    } catch (e) {
      if (e instanceof SignatureError) {
        throw new SignatureError(e.code, `${file}: ${e.message}`);
      }
      throw e;
    }
  }
  if (store.size === 0) {
    throw new SignatureError("BAD_CERTIFICATE", `no certificate found in ${files.length} file(s)`);
  }
  return store;
}
