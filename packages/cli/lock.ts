/**
 * The state folder's lock: one command at a time changes a host.
 *
 * `DIR/lock` is created with O_EXCL and holds `<pid> <token>`. A waiting
 * command polls; a lock whose process is gone (killed with -9) is stale and
 * is broken under a second lock, `DIR/lock.break`, so that two waiters never
 * both break it and then remove each other's fresh lock. Node has no
 * `flock`, hence files.
 *
 * @module
 */
import { CliError } from "./errors.ts";
import type { FullIo } from "./platform.ts";
import { statePaths } from "./state.ts";

/** Options of {@linkcode withLock}. */
export interface LockOptions {
  /** Give up after this many milliseconds (default 60 s; `LPKIT_LOCK_TIMEOUT_MS`). */
  readonly timeoutMs?: number;
  /** An unreadable (half-created) lock older than this is stale (default 5 s). */
  readonly unreadableStaleMs?: number;
}

interface Holder {
  readonly pid: number;
  readonly token: string;
}

function readHolder(io: FullIo, path: string): Holder | "gone" | "unreadable" {
  let text: string;
  try {
    text = new TextDecoder().decode(io.readFile(path));
  } catch {
    return io.stat(path) === undefined ? "gone" : "unreadable";
  }
  const m = /^(\d+) ([0-9a-z]+)\n$/.exec(text);
  return m === null ? "unreadable" : { pid: Number(m[1]), token: m[2] };
}

function sameHolder(a: Holder | "gone" | "unreadable", b: Holder | "gone" | "unreadable"): boolean {
  return typeof a === "string" || typeof b === "string" ? a === b : a.token === b.token;
}

/**
 * Runs `fn` holding the lock of the state folder `dir`, which must exist.
 *
 * @example
 * ```ts
 * import { processIo, withLock } from "@lpkit/cli";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import assert from "node:assert/strict";
 * const dir = mkdtempSync(tmpdir() + "/lpkit-");
 * assert.equal(withLock(processIo(), dir, () => 42), 42);
 * ```
 */
export function withLock<T>(io: FullIo, dir: string, fn: () => T, options: LockOptions = {}): T {
  const paths = statePaths(dir);
  const breaker = `${paths.lock}.break`;
  const token = `${Math.random().toString(36).slice(2)}${io.now().toString(36).replace(".", "")}`;
  const mine = new TextEncoder().encode(`${io.pid} ${token}\n`);
  const envTimeout = Number(io.env("LPKIT_LOCK_TIMEOUT_MS"));
  const timeoutMs = options.timeoutMs ?? (envTimeout > 0 ? envTimeout : 60_000);
  const unreadableStaleMs = options.unreadableStaleMs ?? 5_000;
  const deadline = io.now() + timeoutMs;
  let pause = 5;

  while (!io.createExclusive(paths.lock, mine)) {
    const holder = readHolder(io, paths.lock);
    if (holder === "gone") continue;
    const age = Date.now() - (io.stat(paths.lock)?.mtimeMs ?? Date.now());
    const stale = holder === "unreadable" ? age > unreadableStaleMs : !io.processAlive(holder.pid);
    if (stale) {
      if (io.createExclusive(breaker, mine)) {
        try {
          // Still the same stale lock? Then nobody else broke it meanwhile.
          if (sameHolder(readHolder(io, paths.lock), holder)) io.remove(paths.lock);
        } finally {
          io.remove(breaker);
        }
      } else if (Date.now() - (io.stat(breaker)?.mtimeMs ?? Date.now()) > unreadableStaleMs) {
        io.remove(breaker); // a breaker killed while breaking
      }
      continue;
    }
    if (io.now() > deadline) {
      const who = holder === "unreadable" ? "another process" : `process ${holder.pid}`;
      throw new CliError(
        "STATE_LOCKED",
        `the state folder ${dir} is locked by ${who} (waited ${Math.round(timeoutMs / 1000)} s)`,
        2,
        `retry when it is done; if no lpkit is running, remove ${paths.lock}`,
      );
    }
    io.sleep(pause + Math.random() * pause);
    pause = Math.min(pause * 2, 50);
  }
  try {
    return fn();
  } finally {
    const now = readHolder(io, paths.lock);
    if (typeof now !== "string" && now.token === token) io.remove(paths.lock);
  }
}
