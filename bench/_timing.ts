/**
 * Timing helpers for the benchmarks: whole-process wall time of commands,
 * in-process medians, and a plain-text table. Numbers only; no assertions.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Wall time (ms) of `runs` executions of a command, after one warm-up run. */
export function timeCommand(command: string, args: string[], runs: number): number[] {
  const once = () => {
    const start = performance.now();
    const r = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    const ms = performance.now() - start;
    if (r.status !== 0) {
      throw new Error(`${command} ${args.join(" ")} failed: ${r.stderr?.toString().trim()}`);
    }
    return ms;
  };
  once();
  return Array.from({ length: runs }, once);
}

/** Time (ms) of `runs` calls of `fn`, after `warmup` calls. */
export function timeFunction(fn: () => void, runs: number, warmup = 3): number[] {
  for (let i = 0; i < warmup; i++) fn();
  return Array.from({ length: runs }, () => {
    const start = performance.now();
    fn();
    return performance.now() - start;
  });
}

/** Whether a command can be run. */
export function available(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v "${command}"`], { stdio: "ignore" }).status === 0;
}

/** Formats rows as an aligned plain-text (Markdown-compatible) table. */
export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
