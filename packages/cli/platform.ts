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
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";

/** What {@linkcode Io.stat} tells about a path. */
export interface FileInfo {
  /** Size in bytes. */
  readonly size: number;
  /** A folder, not a file. */
  readonly isDirectory: boolean;
  /** Last modification, in ms since the epoch. */
  readonly mtimeMs: number;
}

/**
 * The CLI's window on the world; tests pass their own. The members after
 * `isTerminal` are optional so that small test doubles stay small: the
 * commands that need them (the host's state folder) get them through
 * {@linkcode requireIo}, which names what is missing.
 */
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
  /** Whether standard output is a terminal (colors). */
  readonly isTerminal: boolean;
  /** Whether standard error is a terminal (progress indicator). */
  readonly stderrIsTerminal?: boolean;
  /** Size and kind of a path, or undefined when it does not exist. */
  stat?(path: string): FileInfo | undefined;
  /** Creates a folder and its parents (no error when it exists). */
  mkdir?(path: string): void;
  /** Removes a file, or a folder with everything in it (no error when absent). */
  remove?(path: string): void;
  /**
   * Creates `path` with `data` only if it does not exist (O_EXCL), durably;
   * returns false when it exists. The building block of the state lock.
   */
  createExclusive?(path: string, data: Uint8Array): boolean;
  /**
   * Renames `from` to `to` only if `to` does not exist (link, then unlink);
   * returns false when `to` exists or `from` is gone.
   */
  renameNoReplace?(from: string, to: string): boolean;
  /** Whether a process with this id exists. */
  processAlive?(pid: number): boolean;
  /** This process's id. */
  readonly pid?: number;
  /** Blocks for `ms` milliseconds. */
  sleep?(ms: number): void;
  /** Wall-clock milliseconds (monotonic), for progress output and lock waits. */
  now?(): number;
  /** An absolute path for `path`, relative to the working folder. */
  resolve?(path: string): string;
}

/** The optional members of {@linkcode Io}, all present. */
export type FullIo = Required<Io>;

/**
 * Returns `io` with every optional member, or throws a plain `Error` naming
 * the missing ones (a bug in a test double, not a user error).
 *
 * @example
 * ```ts
 * import { processIo, requireIo } from "@lpkit/cli";
 * const io = requireIo(processIo());
 * io.now();
 * ```
 */
export function requireIo(io: Io): FullIo {
  const needed = [
    "stat",
    "mkdir",
    "remove",
    "createExclusive",
    "renameNoReplace",
    "processAlive",
    "pid",
    "sleep",
    "now",
    "resolve",
    "stderrIsTerminal",
  ] as const;
  const missing = needed.filter((k) => io[k] === undefined);
  if (missing.length > 0) throw new Error(`this Io lacks ${missing.join(", ")}`);
  return io as FullIo;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

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
export function processIo(): FullIo {
  return {
    stdout: (text) => writeAll(1, text),
    stderr: (text) => writeAll(2, text),
    readFile: (path) => readFileSync(path),
    writeFile: writeFileAtomic,
    readDir: (path) => readdirSync(path).sort(),
    isDirectory: (path) => statOf(path)?.isDirectory ?? false,
    env: (name) => process.env[name],
    isTerminal: process.stdout.isTTY === true && (process.stdout.columns ?? 0) > 0,
    stderrIsTerminal: process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0,
    stat: statOf,
    mkdir: (path) => void mkdirSync(path, { recursive: true }),
    remove: (path) => rmSync(path, { recursive: true, force: true }),
    createExclusive,
    renameNoReplace,
    processAlive,
    pid: process.pid,
    // A synchronous sleep: the CLI is synchronous, and this works on Deno, Node and Bun.
    sleep: (ms) => void Atomics.wait(sleeper, 0, 0, ms),
    now: () => performance.now(),
    resolve: (path) => resolve(path),
  };
}

/**
 * Writes the whole text to a file descriptor, synchronously, so that output
 * is complete even when the process exits right after (process.stdout may
 * be asynchronous on pipes under Node).
 */
function writeAll(fd: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let done = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      if ((e as { code?: string }).code === "EAGAIN") continue; // a non-blocking pipe is full
      if ((e as { code?: string }).code === "EPIPE") return; // the reader went away
      throw e;
    }
  }
}

function statOf(path: string): FileInfo | undefined {
  try {
    const s = statSync(path);
    return { size: s.size, isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs };
  } catch {
    return undefined;
  }
}

function createExclusive(path: string, data: Uint8Array): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (e) {
    if ((e as { code?: string }).code === "EEXIST") return false;
    throw e;
  }
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function renameNoReplace(from: string, to: string): boolean {
  try {
    linkSync(from, to);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EEXIST" || code === "ENOENT") return false;
    throw e;
  }
  unlinkSync(from);
  return true;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM"; // exists, owned by someone else
  }
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

let tmpCounter = 0;

/**
 * Fault injection for the end-to-end tests: with `LPKIT_TEST_STALL=<name>:<ms>`,
 * a write of a file named `<name>` pauses between the fsync of its
 * temporary file and the rename, so a test can kill the process right there.
 */
function stallForTests(path: string): void {
  const spec = process.env.LPKIT_TEST_STALL;
  if (spec === undefined) return;
  const [name, ms] = spec.split(":");
  if (path.endsWith(`/${name}`)) Atomics.wait(sleeper, 0, 0, Number(ms));
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
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.${tmpCounter++}.tmp`);
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
  stallForTests(path);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
  // Make the rename itself durable: fsync the folder (not possible everywhere; best effort).
  try {
    const dfd = openSync(dirname(path), "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some platforms cannot open or fsync a folder; the rename is still atomic.
  }
}
