/**
 * Small formatting helpers shared by the commands' human output. No package
 * imports: every command loads this module.
 *
 * @module
 */
/** `0x`-prefixed lower-case hex. */
export function hex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}

/** Space-separated hex bytes. */
export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Left-aligned columns with two spaces between them. */
export function table(rows: string[][], indent = "  "): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows.map((row) =>
    indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ")
  ).join("\n") + "\n";
}

/** Styles for headings, on terminals only (and never with NO_COLOR). */
export interface Style {
  heading(text: string): string;
  dim(text: string): string;
  warn(text: string): string;
}

/** ANSI styling when `enabled`, identity otherwise. */
export function style(enabled: boolean): Style {
  const wrap = (code: string) => (text: string) => enabled ? `\x1b[${code}m${text}\x1b[0m` : text;
  return { heading: wrap("1"), dim: wrap("2"), warn: wrap("33") };
}

/** JSON with bigints written as `0x` hex strings (addresses exceed 2^53). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_, v) =>
      typeof v === "bigint"
        ? hex(v)
        : v instanceof Uint8Array
        ? hexBytes(v).replaceAll(" ", "")
        : v,
    2,
  ) + "\n";
}
