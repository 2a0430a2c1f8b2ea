// `deno task bench [suite...]`: runs the benchmark suites (bench/<suite>_bench.ts),
// each in its own process, and prints their tables for the README.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";

const dir = fileURLToPath(new URL(".", import.meta.url));
const all = readdirSync(dir).filter((f) => f.endsWith("_bench.ts")).map((f) =>
  f.replace(/_bench\.ts$/, "")
).sort();
const wanted = process.argv.slice(2);
const suites = wanted.length > 0 ? wanted : all;
let failed = 0;
for (const suite of suites) {
  const path = `${dir}/${suite}_bench.ts`;
  if (!existsSync(path)) {
    console.error(`bench: no suite "${suite}" (have: ${all.join(", ")})`);
    failed++;
    continue;
  }
  console.log(`\n## ${suite}`);
  const r = spawnSync(process.execPath, ["run", "-A", path], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
