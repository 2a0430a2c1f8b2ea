/**
 * Running `lpkit` as a subprocess for the end-to-end tests: through Deno
 * (`deno run packages/cli/main.ts`), or the compiled binary when
 * `LPKIT_BIN` names it (`LPKIT_BIN=dist/lpkit deno test -A tests/cli_*`).
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { craftPayload } from "./crafted.ts";
import { repoPath } from "./fixtures.ts";

/** What a run gave. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The binary under test, or undefined for `deno run`. */
export const lpkitBin: string | undefined = Deno.env.get("LPKIT_BIN") || undefined;

/** The command line that starts lpkit. */
export function lpkitCommand(): [string, string[]] {
  if (lpkitBin !== undefined) return [repoPathOrAbsolute(lpkitBin), []];
  return [Deno.execPath(), ["run", "-A", "--quiet", repoPath("packages/cli/main.ts")]];
}

function repoPathOrAbsolute(p: string): string {
  return p.startsWith("/") ? p : repoPath(p);
}

/** Options of {@linkcode lpkit}. */
export interface RunOptions {
  /** The state folder (LPKIT_STATE). */
  state?: string;
  env?: Record<string, string>;
  cwd?: string;
}

function environment(options: RunOptions): Record<string, string> {
  const env: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1", ...options.env };
  delete env.LPKIT_STATE;
  if (options.state !== undefined) env.LPKIT_STATE = options.state;
  return env;
}

/** Runs lpkit to completion. */
export function lpkit(args: string[], options: RunOptions = {}): Run {
  const [cmd, pre] = lpkitCommand();
  const r = spawnSync(cmd, [...pre, ...args], {
    env: environment(options),
    cwd: options.cwd ?? repoPath("."),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts lpkit; the promise resolves when it exits. */
export function lpkitAsync(
  args: string[],
  options: RunOptions = {},
): { pid: number; done: Promise<Run & { signal: string | null }> } {
  const [cmd, pre] = lpkitCommand();
  const child = spawn(cmd, [...pre, ...args], {
    env: environment(options),
    cwd: options.cwd ?? repoPath("."),
  });
  let stdout = "", stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<Run & { signal: string | null }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { pid: child.pid!, done };
}

/** A new temporary folder, removed by the returned function. */
export function tempDir(prefix = "lpkit-e2e-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `examples/bin/<name>`, absolute. */
export function example(name: string): string {
  return repoPath(`examples/bin/${name}`);
}

/** The minivisor's build-id. */
export const MINIVISOR_ID = "de19508c82473d8adf966f140a9383c4c2ed650a";

/**
 * Writes `count` distinct payloads for the minivisor (each its own
 * build-id, patching xen_extra_version) into `dir`; returns their paths.
 */
export function writeMinivisorPayloads(dir: string, count: number, prefix = "p"): string[] {
  return Array.from({ length: count }, (_, i) => {
    const bytes = craftPayload({
      buildId: (0xc0de0000 + i).toString(16).padStart(40, "0"),
      depends: MINIVISOR_ID,
      xenDepends: MINIVISOR_ID,
      modinfo: [`index=${i}`],
    });
    const path = join(dir, `${prefix}${i}.livepatch`);
    writeFileSync(path, bytes);
    return path;
  });
}

/** Parses a JSON document printed by `--json`. */
export function json<T = Record<string, unknown>>(r: Run): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

/** The text of a file. */
export function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/** A host folder booted on the minivisor, with its cleanup. */
export function minivisorHost(options: { cpus?: number; extra?: string[] } = {}) {
  const t = tempDir();
  const state = join(t.dir, "host");
  const init = lpkit([
    "host",
    "init",
    "--example",
    "--cpus",
    String(options.cpus ?? 2),
    ...(options.extra ?? []),
  ], { state });
  if (init.code !== 0) throw new Error(`host init failed: ${init.stderr}`);
  return {
    state,
    dir: t.dir,
    run: (args: string[], env?: Record<string, string>) => lpkit(args, { state, env }),
    remove: t.remove,
  };
}
