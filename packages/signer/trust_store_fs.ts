/**
 * Loading a trust store from files and folders (node:fs, so it runs on Deno
 * and Node alike). The parsing itself is {@linkcode parseCertificates}.
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

/**
 * Builds a trust store from certificate files (PEM bundles or DER) and
 * folders; a folder contributes its `.pem`, `.crt`, `.cer` and `.der` files
 * (not recursively), in name order. A bad certificate is an error naming
 * its file, and so is finding no certificate at all.
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
export function loadTrustStore(paths: string | readonly string[]): TrustStore {
  const files: string[] = [];
  for (const path of typeof paths === "string" ? [paths] : paths) {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) {
        const lower = name.toLowerCase();
        const file = join(path, name);
        if (TRUST_STORE_EXTENSIONS.some((e) => lower.endsWith(e)) && statSync(file).isFile()) {
          files.push(file);
        }
      }
    } else {
      files.push(path);
    }
  }
  const store = new TrustStore();
  for (const file of files) {
    try {
      for (const cert of parseCertificates(readFileSync(file))) store.add(cert);
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
