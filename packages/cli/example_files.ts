/**
 * The bundled example files (the minivisor image, above all): read from the
 * repository's `examples/bin/` when lpkit runs from its sources, or from the
 * copies the single-binary build embeds with {@linkcode embedExampleFile}.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { CliError } from "./errors.ts";
import type { Io } from "./platform.ts";

const embedded = new Map<string, Uint8Array>();

/**
 * Registers an embedded copy of `examples/bin/<name>` (the single-binary
 * entry point does this before running the CLI).
 *
 * @example
 * ```ts
 * import { embedExampleFile, exampleFile } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * embedExampleFile("tiny", new Uint8Array([1]));
 * assert.deepEqual([...exampleFile({ readFile: () => new Uint8Array() }, "tiny")], [1]);
 * ```
 */
export function embedExampleFile(name: string, bytes: Uint8Array): void {
  embedded.set(name, bytes);
}

/**
 * Where `examples/bin/<name>` is in the source tree, or undefined in a bundle.
 *
 * @example
 * ```ts
 * import { exampleSourcePath } from "@lpkit/cli";
 * import { resolve } from "node:path";
 * import assert from "node:assert/strict";
 * assert.equal(exampleSourcePath("minivisor"), resolve("examples/bin/minivisor"));
 * ```
 */
export function exampleSourcePath(name: string): string | undefined {
  try {
    return fileURLToPath(new URL(`../../examples/bin/${name}`, import.meta.url));
  } catch {
    return undefined; // bundled: import.meta.url is not a file URL
  }
}

/**
 * The bytes of `examples/bin/<name>`.
 *
 * @example
 * ```ts
 * import { exampleFile, processIo } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const image = exampleFile(processIo(), "minivisor");
 * assert.deepEqual([...image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]); // an ELF file
 * ```
 */
export function exampleFile(io: Pick<Io, "readFile">, name: string): Uint8Array {
  const copy = embedded.get(name);
  if (copy !== undefined) return copy;
  const path = exampleSourcePath(name);
  try {
    if (path !== undefined) return io.readFile(path);
  } catch {
    // fall through
  }
  throw new CliError(
    "ENOENT",
    `the bundled example ${name} is not available${path === undefined ? "" : ` (${path})`}`,
    1,
    "run `deno task examples`, or pass --xen-syms FILE",
  );
}
