// One process: read a file, parse it and build its symbol index (timed as a whole by elf_bench.ts).
import { parseElf } from "@lpkit/elf";
import { readFileSync } from "node:fs";
import process from "node:process";

const elf = parseElf(readFileSync(process.argv[2]));
const index = elf.symbolIndex();
process.stdout.write(`${index.symbols.length}\n`);
