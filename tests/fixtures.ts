/**
 * Paths to the project's test inputs and the reference tools, shared by the
 * tests of every package. Inputs that need installing (Debian's xen-syms,
 * binutils, openssl, sign-file) are optional on a developer machine, where
 * tests that need them are skipped, but required in CI (`CI=true`), where
 * those tests run and fail if the input is missing.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** True when running in CI, where every optional input must be present. */
export const inCI: boolean = Deno.env.get("CI") === "true";

/** Absolute path of a file in the repository. */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../${relative}`, import.meta.url));
}

/** Reads a file of the repository. */
export function readRepoFile(relative: string): Uint8Array {
  return readFileSync(repoPath(relative));
}

/** Debian's Xen 4.17.7 `xen-syms`, as `scripts/fetch_xen_syms.sh` leaves it. */
export const xenSymsPath: string = repoPath(".cache/xen/xen-syms-4.17-amd64");

/** The build-id of Debian's xen-syms 4.17.7+13 (`readelf -n`). */
export const XEN_SYMS_BUILD_ID = "151b373fd64b321593bf987fd923cd10dabadac4";

/**
 * Whether tests needing xen-syms should be ignored: only outside CI, and only
 * when the file is missing. In CI they run, and fail if it is missing.
 */
export const ignoreWithoutXenSyms: boolean = !inCI && !existsSync(xenSymsPath);

/** Whether a command is on PATH. */
export function hasTool(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v "$0"`, command], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Whether tests needing `command` should be ignored (never in CI). */
export function ignoreWithout(...commands: string[]): boolean {
  return !inCI && !commands.every(hasTool);
}

/** Runs a reference tool and returns its stdout (throws if it fails). */
export function runTool(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
}

/**
 * A deterministic pseudo-random generator in [0, 1) (mulberry32), for the
 * property and fuzz tests: a failing case reproduces from its seed.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
