// The seed's state transition table, property-tested: random sequences of
// sysctl actions on the minivisor host are compared step by step with a
// small reference model of the design (states, rc, the applied stack) and,
// after every step, every patch site's bytes with what the applied stack
// implies.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Prng } from "@lpkit/x86-emu";
import {
  Host,
  LIVEPATCH_ACTION,
  LIVEPATCH_ACTION_APPLY_NODEPS,
  LIVEPATCH_OP,
  LIVEPATCH_STATE,
  nameArg,
  planPatch,
} from "./mod.ts";

const example = (f: string) => readFileSync(new URL(`../../examples/bin/${f}`, import.meta.url));
const MINIVISOR = example("minivisor");

/** What the model needs to know about each payload (from examples/manifest.json). */
const PAYLOADS: Record<
  string,
  { depends: string; vetoing: boolean; reappliable: boolean; expectFails: boolean }
> = {
  hello: { depends: "xen", vetoing: false, reappliable: true, expectFails: false },
  bye: { depends: "hello", vetoing: false, reappliable: true, expectFails: false },
  replace: { depends: "xen", vetoing: false, reappliable: true, expectFails: false },
  nop: { depends: "xen", vetoing: false, reappliable: true, expectFails: false },
  multi: { depends: "xen", vetoing: false, reappliable: true, expectFails: false },
  data: { depends: "xen", vetoing: false, reappliable: false, expectFails: false },
  hooks: { depends: "xen", vetoing: true, reappliable: false, expectFails: false },
  "expect_fail": { depends: "xen", vetoing: false, reappliable: true, expectFails: true },
};
const NAMES = Object.keys(PAYLOADS);
const EINVAL = -22, ENOENT = -2, EEXIST = -17, EBUSY = -16, EOPNOTSUPP = -95;

interface ModelPayload {
  state: number;
  rc: number;
  reverted: boolean;
}

/** The design's state machine, as reference §4.5/§3 and the seed's table describe it. */
class Model {
  readonly loaded = new Map<string, ModelPayload>();
  readonly applied: string[] = [];

  upload(n: string): number {
    if (this.loaded.has(n)) return EEXIST;
    this.loaded.set(n, { state: LIVEPATCH_STATE.CHECKED, rc: 0, reverted: false });
    return 0;
  }

  unload(n: string): number {
    const p = this.loaded.get(n);
    if (p === undefined) return ENOENT;
    if (p.state === LIVEPATCH_STATE.APPLIED) return EINVAL;
    this.loaded.delete(n);
    return 0;
  }

  #top(): string {
    return this.applied[this.applied.length - 1] ?? "xen";
  }

  apply(n: string, nodeps: boolean): number {
    const p = this.loaded.get(n);
    if (p === undefined) return ENOENT;
    if (p.state === LIVEPATCH_STATE.APPLIED) return 0;
    if (p.reverted && !PAYLOADS[n].reappliable) {
      p.rc = EINVAL;
      return 0;
    }
    if (!nodeps && PAYLOADS[n].depends !== this.#top()) return EINVAL;
    if (PAYLOADS[n].expectFails) return EINVAL;
    p.state = LIVEPATCH_STATE.APPLIED;
    p.rc = 0;
    this.applied.push(n);
    return 0;
  }

  revert(n: string): number {
    const p = this.loaded.get(n);
    if (p === undefined) return ENOENT;
    if (p.state === LIVEPATCH_STATE.CHECKED) return 0;
    if (this.#top() !== n) return EBUSY;
    this.applied.pop();
    p.state = LIVEPATCH_STATE.CHECKED;
    p.rc = 0;
    p.reverted = true;
    return 0;
  }

  replace(n: string): number {
    const p = this.loaded.get(n);
    if (p === undefined) return ENOENT;
    if (p.state === LIVEPATCH_STATE.APPLIED) return 0;
    if (PAYLOADS[n].depends !== "xen") return EINVAL;
    if (PAYLOADS[n].vetoing || this.applied.some((a) => PAYLOADS[a].vetoing)) return EOPNOTSUPP;
    while (this.applied.length > 0) {
      const q = this.loaded.get(this.applied.pop()!)!;
      q.state = LIVEPATCH_STATE.CHECKED;
      q.rc = 0;
      q.reverted = true;
    }
    if (PAYLOADS[n].expectFails) {
      p.rc = EINVAL; // the system is left unpatched
      return 0;
    }
    p.state = LIVEPATCH_STATE.APPLIED;
    p.rc = 0;
    this.applied.push(n);
    return 0;
  }
}

/** Bytes every patch site must hold: the original, then each applied payload's patch, bottom up. */
function expectedSites(host: Host, original: Map<bigint, Uint8Array>): Map<bigint, Uint8Array> {
  const out = new Map([...original].map(([a, b]) => [a, b.slice()]));
  for (const name of host.appliedStack()) {
    const p = host.payloads().find((x) => x.name === name)!;
    for (const f of p.payload.funcs) {
      const bytes = out.get(f.oldAddr)!;
      const plan = planPatch(f, bytes, true);
      bytes.set(plan.insn, plan.offset);
    }
  }
  return out;
}

Deno.test("state machine: random action sequences agree with the design's model", () => {
  const files = new Map(NAMES.map((n) => [n, example(`${n}.livepatch`)]));
  const seen = new Map<string, number>();
  for (let seed = 1; seed <= 24; seed++) {
    const rng = new Prng(seed * 7919);
    const host = new Host(MINIVISOR, { cpus: 2 });
    const model = new Model();
    const sites = [
      "xen_extra_version",
      "bump_event_counter",
      "xen_major_version",
      "xen_minor_version",
      "xen_compile_date",
      "xen_changeset",
    ].map((s) => host.resolve(s)!);
    const original = new Map(sites.map((a) => [a, host.machine.memory.read(a, 16)]));
    const log: string[] = [];
    for (let step = 0; step < 40; step++) {
      const n = NAMES[rng.below(NAMES.length)];
      const kind = rng.below(6);
      let got: number, want: number, what: string;
      if (kind === 0) {
        what = `upload ${n}`;
        want = model.upload(n);
        got = host.sysctl({
          domid: 0,
          op: { cmd: LIVEPATCH_OP.UPLOAD, name: nameArg(n), payload: files.get(n) },
        }).ret;
      } else {
        const nodeps = kind === 1 && rng.below(4) === 0;
        const cmd = [
          LIVEPATCH_ACTION.APPLY,
          LIVEPATCH_ACTION.APPLY,
          LIVEPATCH_ACTION.REVERT,
          LIVEPATCH_ACTION.REPLACE,
          LIVEPATCH_ACTION.UNLOAD,
        ][kind - 1];
        what = `${["", "apply", "apply", "revert", "replace", "unload"][kind]}${
          nodeps ? " --nodeps" : ""
        } ${n}`;
        want = cmd === LIVEPATCH_ACTION.APPLY
          ? model.apply(n, nodeps)
          : cmd === LIVEPATCH_ACTION.REVERT
          ? model.revert(n)
          : cmd === LIVEPATCH_ACTION.REPLACE
          ? model.replace(n)
          : model.unload(n);
        got = host.sysctl({
          domid: 0,
          op: {
            cmd: LIVEPATCH_OP.ACTION,
            name: nameArg(n),
            action: cmd,
            flags: nodeps ? LIVEPATCH_ACTION_APPLY_NODEPS : 0,
          },
        }).ret;
        assert.ok(host.settle(), "the action completes");
      }
      log.push(`${what} -> ${got}`);
      const key = `${what.split(" ")[0]} ${got}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      const ctx = `seed ${seed}, step ${step}:\n${log.join("\n")}`;
      assert.equal(got, want, ctx);
      // Invariants: states and rc, the applied stack, the bytes at every patch site.
      assert.deepEqual(host.appliedStack(), model.applied, ctx);
      for (const p of host.payloads()) {
        const m = model.loaded.get(p.name);
        assert.ok(m !== undefined, ctx);
        assert.deepEqual(
          { state: p.state, rc: p.rc },
          { state: m.state, rc: m.rc },
          `${p.name}: ${ctx}`,
        );
      }
      assert.equal(host.payloads().length, model.loaded.size, ctx);
      for (const [address, bytes] of expectedSites(host, original)) {
        assert.deepEqual(
          [...host.machine.memory.read(address, 16)],
          [...bytes],
          `${host.symbolize(address)}: ${ctx}`,
        );
      }
    }
  }
  // The sequences reach every transition and every refusal often enough to mean something.
  for (
    const key of [
      "upload 0",
      "apply 0",
      "revert 0",
      "replace 0",
      "unload 0",
      "apply -22",
      "revert -16",
      "unload -22",
      "replace -95",
    ]
  ) {
    assert.ok(
      (seen.get(key) ?? 0) >= 3,
      `${key} seen ${seen.get(key) ?? 0} times: ${JSON.stringify([...seen])}`,
    );
  }
});
