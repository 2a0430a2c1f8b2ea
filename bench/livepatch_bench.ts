// The simulated host's costs (issue: "upload+apply of a generated payload
// with 1,000 functions, 100 stacked payloads, LIST over 10,000 payloads"),
// each at three sizes to show how it grows. There is no reference tool to
// run beside it: Xen itself needs a machine. Host boot is timed apart.
//
//   deno task bench livepatch
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { Host, LivepatchClient } from "@lpkit/livepatch-core";
import { craftPayload } from "../tests/crafted.ts";
import { markdownTable, median } from "./_timing.ts";

const xenSyms = fileURLToPath(new URL("../.cache/xen/xen-syms-4.17-amd64", import.meta.url));
const image = readFileSync(xenSyms);
const RUNS = Number(process.env.LPKIT_BENCH_RUNS ?? 5);
const XEN_ID = "151b373fd64b321593bf987fd923cd10dabadac4";

const time = (fn: () => void) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const idOf = (n: number) => n.toString(16).padStart(40, "0");

// Patchable functions of xen-syms: sized, at least 9 bytes (ENDBR64 + jump), not on the deny-list.
const probe = new Host(image, { cpus: 1 });
const targets = probe.image.symbols.symbols
  .filter((s) => s.type === 2 && s.size >= 16n && probe.image.symbols.fileOf(s) === undefined)
  .map((s) => s.name)
  .filter((n, i, all) =>
    all.indexOf(n) === i && !probe.safety.denyList.includes(n) && !n.startsWith("__")
  )
  .slice(0, 1000);
if (targets.length < 1000) throw new Error(`only ${targets.length} patchable functions`);

/** A payload replacing `count` functions with one `xor eax, eax; ret`. */
function wide(count: number, id: number): Uint8Array {
  return craftPayload({
    buildId: idOf(id),
    depends: XEN_ID,
    xenDepends: XEN_ID,
    text: { lp_ret0: [0x31, 0xc0, 0xc3] },
    funcs: targets.slice(0, count).map((t) => ({
      old: t,
      name: t,
      replacement: "lp_ret0",
      oldSize: 16,
    })),
  });
}

const rows: string[][] = [];
const bootMs = median(Array.from({ length: RUNS }, () => time(() => new Host(image, { cpus: 4 }))));
rows.push(["boot a 4-CPU host on xen-syms", "1 host", bootMs.toFixed(1), "-"]);

for (const n of [250, 500, 1000]) {
  const bytes = wide(n, n);
  const ms = median(Array.from({ length: RUNS }, () => {
    const host = new Host(image, { cpus: 4 });
    const lp = new LivepatchClient(host);
    return time(() => {
      lp.upload("wide", bytes);
      lp.apply("wide");
    });
  }));
  rows.push([
    `upload + apply, ${n} functions`,
    `${n} funcs`,
    ms.toFixed(1),
    `${(ms / n * 1000).toFixed(0)} µs/func`,
  ]);
}

for (const n of [25, 50, 100]) {
  // A chain: payload k depends on payload k-1, each patching its own function.
  const chain = Array.from({ length: n }, (_, k) =>
    craftPayload({
      buildId: idOf(0x10000 + k),
      depends: k === 0 ? XEN_ID : idOf(0x10000 + k - 1),
      xenDepends: XEN_ID,
      text: { [`lp_s${k}`]: [0x31, 0xc0, 0xc3] },
      funcs: [{ old: targets[k], name: targets[k], replacement: `lp_s${k}`, oldSize: 16 }],
    }));
  const ms = median(Array.from({ length: RUNS }, () => {
    const host = new Host(image, { cpus: 4 });
    const lp = new LivepatchClient(host);
    return time(() => {
      chain.forEach((b, k) => {
        lp.upload(`s${k}`, b);
        lp.apply(`s${k}`);
      });
    });
  }));
  rows.push([
    `${n} stacked payloads, upload + apply each`,
    `${n} payloads`,
    ms.toFixed(1),
    `${(ms / n).toFixed(2)} ms/payload`,
  ]);
}

for (const n of [2500, 5000, 10000]) {
  const host = new Host(image, { cpus: 1 });
  const lp = new LivepatchClient(host);
  const files = Array.from({ length: n }, (_, k) =>
    craftPayload({
      buildId: idOf(0x100000 + k),
      depends: XEN_ID,
      xenDepends: XEN_ID,
      text: { [`lp_l${k}`]: [0xc3] },
      funcs: [{
        old: "xen_extra_version",
        name: "xen_extra_version",
        replacement: `lp_l${k}`,
        oldSize: 12,
      }],
      modinfo: [`PAYLOAD=${k}`],
    }));
  const t0 = performance.now();
  files.forEach((f, k) => lp.upload(`p${k}`, f));
  const uploadMs = performance.now() - t0;
  const ms = median(Array.from({ length: RUNS }, () => time(() => lp.list())));
  rows.push([
    `upload ${n} small payloads`,
    `${n} payloads`,
    uploadMs.toFixed(0),
    `${(uploadMs / n * 1000).toFixed(0)} µs/payload`,
  ]);
  rows.push([
    `LIST (xc_livepatch_list) over ${n}`,
    `${n} payloads`,
    ms.toFixed(1),
    `${(ms / n * 1000).toFixed(2)} µs/payload`,
  ]);
}

console.log(`\n### Simulated host on xen-syms (median of ${RUNS})\n`);
console.log(markdownTable(["what", "size", "ms", "per unit"], rows));
