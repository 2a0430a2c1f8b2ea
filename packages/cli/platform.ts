/**
 * Everything the CLI needs from the runtime, behind one small interface, on
 * `node:*` APIs only: the same code runs under `deno run`, Node and the
 * single-binary build.
 *
 * @module
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
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
 * A file open for reading in place: random access without holding it in
 * memory. It has the shape of the signer's `ByteSource`, so the signer's
 * chunked functions read it directly.
 */
export interface FileReader {
  /** Size in bytes, taken once, at opening. */
  readonly size: number;
  /**
   * Copies bytes from `position` into `buffer` and returns how many: fewer
   * than `buffer.length` only at the end, 0 past it.
   */
  read(buffer: Uint8Array, position: number): number;
  /** Closes the file. */
  close(): void;
}

/**
 * A file being written atomically, in pieces: the bytes go to a temporary
 * file in the same folder; `commit` makes them the file's content at once,
 * `abort` drops them and leaves the file as it was.
 */
export interface FileWriter {
  /** Appends bytes. */
  write(bytes: Uint8Array): void;
  /** fsync, then rename over the path (readers see the old or the new bytes, never half). */
  commit(): void;
  /** Removes the temporary file; the path is untouched. Safe after a failed write. */
  abort(): void;
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
  /** Opens a file for reading in chunks (large payloads are never read whole). */
  openRead?(path: string): FileReader;
  /**
   * Starts writing `path` atomically, in chunks, as {@linkcode Io.writeFile}
   * does at once (`writeFile` is `openWrite`, one `write`, `commit`).
   */
  openWrite?(path: string): FileWriter;
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

/** An {@linkcode Io} that reads and writes files in chunks. */
export type StreamIo = Io & Required<Pick<Io, "openRead" | "openWrite">>;

/**
 * Returns `io` with its chunked file access, or throws a plain `Error` when
 * it lacks it (a bug in a test double, not a user error).
 *
 * @example
 * ```ts
 * import { processIo, requireStreams } from "@lpkit/cli";
 * const reader = requireStreams(processIo()).openRead("deno.json");
 * reader.close();
 * ```
 */
export function requireStreams(io: Io): StreamIo {
  const missing = (["openRead", "openWrite"] as const).filter((k) => io[k] === undefined);
  if (missing.length > 0) throw new Error(`this Io lacks ${missing.join(", ")}`);
  return io as StreamIo;
}

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
    "openRead",
    "openWrite",
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
    openRead: openFileReader,
    openWrite: openAtomicWriter,
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
    writeAllTo(fd, data);
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

/**
 * The runtime running lpkit, e.g. `deno 2.9.6`, `node 20.19.2` or `bun 1.3.0`.
 *
 * @example
 * ```ts
 * import { runtimeVersion } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * assert.match(runtimeVersion(), /^(deno|bun|node) \d+\.\d+/);
 * ```
 */
export function runtimeVersion(): string {
  const v = process.versions as Record<string, string | undefined>;
  if (v.deno !== undefined) return `deno ${v.deno}`;
  if (v.bun !== undefined) return `bun ${v.bun}`;
  return `node ${v.node}`;
}

/**
 * Ends the process with `code` once output is flushed.
 *
 * @example
 * ```ts
 * import { setExitCode } from "@lpkit/cli";
 * import process from "node:process";
 * import assert from "node:assert/strict";
 * setExitCode(0);
 * assert.equal(process.exitCode, 0);
 * ```
 */
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
 * Opens a file for reading in chunks; its size is taken at opening.
 *
 * @example
 * ```ts
 * import { openFileReader } from "@lpkit/cli";
 * import assert from "node:assert/strict";
 * const f = openFileReader("deno.json");
 * try {
 *   const first = new Uint8Array(1);
 *   assert.equal(f.read(first, 0), 1);
 *   assert.equal(first[0], "{".charCodeAt(0));
 * } finally {
 *   f.close();
 * }
 * ```
 */
export function openFileReader(path: string): FileReader {
  const fd = openSync(path, "r");
  let size: number;
  try {
    const s = fstatSync(fd);
    if (s.isDirectory()) {
      throw Object.assign(new Error(`${path} is a folder`), { code: "EISDIR" });
    }
    size = s.size;
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

function writeAllTo(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done);
}

/**
 * Starts writing `path` atomically: a temporary file in the same folder, in
 * pieces; `commit()` fsyncs it and renames it over `path` (then fsyncs the
 * folder), `abort()` removes it.
 *
 * @example
 * ```ts
 * import { openAtomicWriter } from "@lpkit/cli";
 * import { mkdtempSync, readFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const path = mkdtempSync(tmpdir() + "/lpkit-") + "/out.bin";
 * const w = openAtomicWriter(path);
 * w.write(new Uint8Array([1, 2]));
 * w.write(new Uint8Array([3]));
 * w.commit();
 * assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
 * ```
 */
export function openAtomicWriter(path: string): FileWriter {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.${tmpCounter++}.tmp`);
  let fd: number | undefined = openSync(tmp, "wx", 0o644);
  let ended = false;
  const closeFd = () => {
    if (fd === undefined) return;
    const f = fd;
    fd = undefined;
    closeSync(f);
  };
  const abort = () => {
    if (ended) return;
    ended = true;
    try {
      closeFd();
    } finally {
      unlinkSync(tmp);
    }
  };
  return {
    write(bytes) {
      if (fd === undefined) throw new Error("write after commit or abort");
      writeAllTo(fd, bytes);
    },
    commit() {
      if (fd === undefined) throw new Error("commit after commit or abort");
      try {
        fsyncSync(fd);
        closeFd();
        stallForTests(path);
        renameSync(tmp, path);
      } catch (e) {
        abort();
        throw e;
      }
      ended = true;
      fsyncFolder(dirname(path));
    },
    abort,
  };
}

/** Makes a rename durable: fsync the folder (not possible everywhere; best effort). */
function fsyncFolder(dir: string): void {
  try {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some platforms cannot open or fsync a folder; the rename is still atomic.
  }
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
  const w = openAtomicWriter(path);
  try {
    w.write(data);
  } catch (e) {
    w.abort();
    throw e;
  }
  w.commit();
}
