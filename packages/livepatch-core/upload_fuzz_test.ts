// Fuzzing the loader: mutated payloads (every example payload, good and
// broken, mutated anywhere or aimed at the structures the loader reads:
// the ELF and section headers, .livepatch.funcs, relocations, symbols,
// notes) are uploaded to a minivisor host. Each upload either succeeds or
// fails with a LivepatchError carrying one of Xen's errnos, and a failed
// upload leaves nothing behind (the list is unchanged, and the pristine
// payload still uploads under its build-id). A mutant that uploads is
// applied too: success, a LivepatchError, or a crash of the emulated
// hypervisor (a HypervisorCrash, after which the host is rebooted) are the
// only outcomes. LPKIT_FUZZ_CASES sets the count, LPKIT_FUZZ_SEED the seed.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { parseElf } from "@lpkit/elf";
import { ignoreWithoutXenSyms, prng, repoPath, xenSymsPath } from "../../tests/fixtures.ts";
import {
  BudgetExceeded,
  ERRNO,
  Host,
  HypervisorCrash,
  LivepatchClient,
  LivepatchError,
} from "./mod.ts";

const CASES = Number(Deno.env.get("LPKIT_FUZZ_CASES") ?? 50_000);
const SEED = Number(Deno.env.get("LPKIT_FUZZ_SEED") ?? 0x5eed);
const ERRNOS = new Set<number>(Object.values(ERRNO).map((n) => -n));

/** A seed payload and the byte ranges worth aiming at. */
interface Seed {
  name: string;
  bytes: Uint8Array;
  targets: [number, number][];
}

function seeds(dir: string): Seed[] {
  return readdirSync(dir).filter((f) => f.endsWith(".livepatch")).sort().map((f) => {
    const bytes = new Uint8Array(readFileSync(`${dir}/${f}`));
    const targets: [number, number][] = [[0, 64]];
    try {
      const elf = parseElf(bytes);
      const h = elf.header;
      targets.push([h.shoff, h.shentsize * h.shnum]);
      for (const s of elf.sections) {
        if (s.size > 0 && s.offset + s.size <= bytes.length && s.type !== 8 /* NOBITS */) {
          targets.push([s.offset, s.size]);
        }
      }
    } catch { /* a broken seed: aim anywhere */ }
    return { name: f, bytes, targets };
  });
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x10, 8, 4, 2];

function mutate(seed: Seed, rand: () => number): Uint8Array {
  const out = seed.bytes.slice();
  const at = () => {
    const [start, size] = seed.targets[Math.floor(rand() * seed.targets.length)];
    return Math.min(out.length - 1, start + Math.floor(rand() * Math.max(1, size)));
  };
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const r = rand();
    if (r < 0.35) out[at()] ^= 1 << Math.floor(rand() * 8);
    else if (r < 0.6) out[at()] = INTERESTING[Math.floor(rand() * INTERESTING.length)];
    else if (r < 0.8) {
      // A whole little-endian field: 2, 4 or 8 bytes of an extreme or random value.
      const width = [2, 4, 8][Math.floor(rand() * 3)];
      const p = at();
      const v = rand() < 0.5 ? (rand() < 0.5 ? 0xff : 0) : -1;
      for (let i = 0; i < width && p + i < out.length; i++) {
        out[p + i] = v === -1 ? Math.floor(rand() * 256) : v;
      }
    } else if (r < 0.9) {
      return out.subarray(0, Math.floor(rand() * out.length));
    } else {
      // A block copied from elsewhere in the file (tables pointing at the wrong things).
      const from = at(), to = at(), n = Math.floor(rand() * 32);
      out.copyWithin(to, from, from + n);
    }
  }
  return out;
}

/**
 * Uploads `cases` mutants of the payloads in `seedsDir` to hosts of `image` (rebooted after a
 * crash), checking every outcome; returns how often each outcome occurred.
 */
function fuzzUploads(
  image: Uint8Array,
  seedsDir: string,
  probeName: string,
  cases: number,
  seed: number,
): Map<string, number> {
  const all = seeds(seedsDir);
  const probe = all.find((s) => s.name === probeName)!;
  const rand = prng(seed);
  let host = new Host(image, { cpus: 2 });
  let lp = new LivepatchClient(host);
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  const expected = (e: unknown, what: string) => {
    if (e instanceof LivepatchError) {
      assert.ok(ERRNOS.has(e.errno), `${what}: errno ${e.errno} is one of Xen's`);
      return `${e.errnoName} ${e.code}`;
    }
    if (e instanceof HypervisorCrash || e instanceof BudgetExceeded) return e.code;
    assert.fail(`${what}: ${e instanceof Error ? e.stack : String(e)}`);
  };
  const reboot = () => {
    host = new Host(image, { cpus: 2 });
    lp = new LivepatchClient(host);
  };

  for (let i = 0; i < cases; i++) {
    const payload = all[Math.floor(rand() * all.length)];
    const bytes = mutate(payload, rand);
    const what = `case ${i} (${payload.name}, seed ${seed})`;
    const before = lp.list().map((p) => p.name).join();
    try {
      lp.upload("m", bytes);
    } catch (e) {
      count(`upload: ${expected(e, what)}`);
      assert.equal(lp.list().map((p) => p.name).join(), before, `${what}: nothing left behind`);
      continue;
    }
    count("upload: ok");
    try {
      lp.apply("m");
      count("apply: ok");
      lp.revert("m");
      lp.unload("m");
    } catch (e) {
      const kind = expected(e, `${what} apply`);
      count(`apply: ${kind}`);
      if (e instanceof HypervisorCrash || e instanceof BudgetExceeded) reboot();
      else {
        // Not applied (or not revertible): unload it if it is still CHECKED, else start over.
        try {
          lp.unload("m");
        } catch {
          reboot();
        }
      }
    }
    assert.equal(lp.list().length, 0, `${what}: the host is clean again`);
    if (i % 500 === 0) {
      // The pristine payload still loads: no build-id, symbol or name leaked from failures.
      lp.upload("probe", probe.bytes);
      lp.unload("probe");
    }
  }
  lp.upload("probe", probe.bytes);
  if (Deno.env.get("LPKIT_FUZZ_SHOW")) console.log([...outcomes].sort((a, b) => b[1] - a[1]));
  return outcomes;
}

Deno.test("upload fuzz: mutated payloads load or fail with Xen's errno, leaving nothing behind", () => {
  const outcomes = fuzzUploads(
    readFileSync(repoPath("examples/bin/minivisor")),
    repoPath("examples/bin"),
    "hello.livepatch",
    CASES,
    SEED,
  );
  const failures = [...outcomes].filter(([k]) => k.startsWith("upload: E")).length;
  assert.ok(failures >= 10, `the mutants reach many checks: ${JSON.stringify([...outcomes])}`);
  assert.ok((outcomes.get("upload: ok") ?? 0) > 0, "some mutants still load");
});

Deno.test({
  name:
    "upload fuzz on Debian's xen-syms: Xen-shaped payloads (alternatives, ex_table, bug frames)",
  ignore: ignoreWithoutXenSyms,
  fn() {
    const outcomes = fuzzUploads(
      readFileSync(xenSymsPath),
      repoPath("examples/xen/bin"),
      "xen_hello_world.livepatch",
      Math.ceil(CASES / 10),
      SEED + 1,
    );
    assert.ok((outcomes.get("upload: ok") ?? 0) > 0, "some mutants still load");
    assert.ok((outcomes.get("apply: ok") ?? 0) > 0, "and some apply");
  },
});
