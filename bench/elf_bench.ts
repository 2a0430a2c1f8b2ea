// ELF reader: parse Debian's xen-syms and build its symbol index, side by side
// with `nm -S` and `readelf -sW` on the same file (whole-process wall time).
import { parseElf } from "@lpkit/elf";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { available, markdownTable, median, timeCommand, timeFunction } from "./_timing.ts";

const RUNS = Number(process.env.LPKIT_BENCH_RUNS ?? 15);
const file = process.argv[2] ??
  fileURLToPath(new URL("../.cache/xen/xen-syms-4.17-amd64", import.meta.url));
if (!existsSync(file)) {
  console.error(`elf bench: ${file} is missing (run: deno task xen-syms)`);
  process.exit(1);
}
const script = fileURLToPath(new URL("./elf_parse.ts", import.meta.url));
const deno = process.execPath;

const rows: [string, number][] = [];
const cmd = (label: string, command: string, args: string[]) => {
  if (available(command) || command === deno) {
    rows.push([label, median(timeCommand(command, args, RUNS))]);
  }
};
cmd("nm -S", "nm", ["-S", file]);
cmd("readelf -sW", "readelf", ["-sW", file]);
cmd("lpkit (deno run: parse + symbol index)", deno, ["run", "--allow-read", script, file]);
cmd("deno run of an empty script (runtime start-up)", deno, ["eval", ""]);

const bytes = readFileSync(file);
const parseOnly = median(timeFunction(() => parseElf(bytes), RUNS * 4));
const withIndex = median(timeFunction(() => parseElf(bytes).symbolIndex(), RUNS * 4));

const nm = rows.find(([l]) => l === "nm -S")?.[1];
console.log(
  `\n### ELF reader: ${file.replace(/.*\//, "")} (${bytes.length} bytes), median of ${RUNS} runs\n`,
);
console.log(markdownTable(
  ["what", "median ms", "vs nm -S"],
  [
    ...rows.map(([l, ms]) => [l, ms.toFixed(1), nm ? `${(ms / nm).toFixed(2)}x` : "-"]),
    [
      "in process: parseElf (headers, sections)",
      parseOnly.toFixed(3),
      nm ? `${(parseOnly / nm).toFixed(3)}x` : "-",
    ],
    [
      "in process: parseElf + symbolIndex()",
      withIndex.toFixed(2),
      nm ? `${(withIndex / nm).toFixed(2)}x` : "-",
    ],
  ],
));
