/**
 * Test helpers of the CLI package.
 *
 * @module
 */
import type { FileReader, FileWriter, Io } from "./platform.ts";

/** What a {@linkcode memoryIo} saw, for tests that check how files were read and written. */
export interface MemoryIoTrace {
  /** Paths read whole with `readFile`, in order. */
  readFile: string[];
  /** Paths opened with `openRead`, in order. */
  openRead: string[];
  /** Readers and writers not yet closed, committed or aborted. */
  open: number;
  /** The largest single `read` of an `openRead` reader, in bytes. */
  largestRead: number;
  /** Writers aborted (their bytes dropped). */
  aborted: number;
}

function enoent(path: string): Error {
  return Object.assign(new Error(`No such file or directory (os error 2): ${path}`), {
    code: "ENOENT",
  });
}

/**
 * An in-memory file system behind the CLI's {@linkcode Io}, with the
 * chunked reader and atomic writer: `files` maps paths to contents (a path
 * is a folder when files lie below it), `env` is the environment. Writers
 * make their bytes visible in `files` only on `commit`. Everything printed
 * accumulates in `out`.
 */
export function memoryIo(files: Record<string, Uint8Array> = {}, env: Record<string, string> = {}) {
  const out = { stdout: "", stderr: "" };
  const trace: MemoryIoTrace = { readFile: [], openRead: [], open: 0, largestRead: 0, aborted: 0 };
  const get = (path: string) => {
    const f = files[path];
    if (f === undefined) throw enoent(path);
    return f;
  };
  const io: Io = {
    stdout: (s) => void (out.stdout += s),
    stderr: (s) => void (out.stderr += s),
    readFile: (path) => {
      trace.readFile.push(path);
      return get(path);
    },
    writeFile: (path, data) => void (files[path] = data.slice()),
    readDir: (path) =>
      Object.keys(files).filter((f) => f.startsWith(`${path}/`)).map((f) =>
        f.slice(path.length + 1).split("/")[0]
      ).filter((n, i, all) => all.indexOf(n) === i).sort(),
    isDirectory: (path) => Object.keys(files).some((f) => f.startsWith(`${path}/`)),
    env: (name) => env[name],
    isTerminal: false,
    openRead(path): FileReader {
      const bytes = get(path); // the contents at opening, as an open file descriptor keeps them
      trace.openRead.push(path);
      trace.open++;
      let closed = false;
      return {
        size: bytes.length,
        read(buffer, position) {
          if (closed) throw new Error(`read of ${path} after close`);
          trace.largestRead = Math.max(trace.largestRead, buffer.length);
          const part = bytes.subarray(position, position + buffer.length);
          buffer.set(part);
          return part.length;
        },
        close() {
          if (closed) throw new Error(`${path} closed twice`);
          closed = true;
          trace.open--;
        },
      };
    },
    openWrite(path): FileWriter {
      const chunks: Uint8Array[] = [];
      let ended = false;
      trace.open++;
      const end = () => {
        if (ended) throw new Error(`${path}: writer already ended`);
        ended = true;
        trace.open--;
      };
      return {
        write(bytes) {
          if (ended) throw new Error(`write to ${path} after its end`);
          chunks.push(bytes.slice());
        },
        commit() {
          end();
          const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          let at = 0;
          for (const c of chunks) {
            all.set(c, at);
            at += c.length;
          }
          files[path] = all;
        },
        abort() {
          end();
          trace.aborted++;
        },
      };
    },
  };
  return { io, out, files, trace };
}
