/**
 * Everything the CLI needs from the runtime, behind one small interface, on
 * `node:*` APIs only: the same code runs under `deno run`, Node and the
 * single-binary build.
 *
 * @module
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";

/** The CLI's window on the world; tests pass their own. */
export interface Io {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Reads a whole file. */
  readFile(path: string): Uint8Array;
  /**
   * Writes a whole file atomically: a temporary file in the same folder,
   * fsync, then rename, so readers see the old or the new bytes, never half.
   */
  writeFile(path: string, data: Uint8Array): void;
  /** The names in a folder (not recursive), sorted. */
  readDir(path: string): string[];
  /** Whether `path` is an existing folder. */
  isDirectory(path: string): boolean;
  /** An environment variable. */
  env(name: string): string | undefined;
  /** Whether standard output is a terminal (colors, progress). */
  readonly isTerminal: boolean;
}

/**
 * The real process: its streams, files and environment.
 *
 * @example
 * ```ts
 * import { processIo } from "@lpkit/cli";
 * const io = processIo();
 * io.stdout("");
 * ```
 */
export function processIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readFile: (path) => readFileSync(path),
    writeFile: writeFileAtomic,
    readDir: (path) => readdirSync(path).sort(),
    isDirectory: (path) => {
      try {
        return statSync(path).isDirectory();
      } catch {
        return false;
      }
    },
    env: (name) => process.env[name],
    isTerminal: process.stdout.isTTY === true && (process.stdout.columns ?? 0) > 0,
  };
}

/**
 * The command-line arguments after the program (and script) name.
 *
 * @example
 * ```ts
 * import { processArgs } from "@lpkit/cli";
 * const args: string[] = processArgs();
 * ```
 */
export function processArgs(): string[] {
  return process.argv.slice(2);
}

/** Ends the process with `code` once output is flushed. */
export function setExitCode(code: number): void {
  process.exitCode = code;
}

/**
 * Writes `data` to `path` through a temporary file, fsync and rename.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "@lpkit/cli";
 * import { mkdtempSync, readFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const path = mkdtempSync(tmpdir() + "/lpkit-") + "/out.bin";
 * writeFileAtomic(path, new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
 * ```
 */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, "wx", 0o644);
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}
