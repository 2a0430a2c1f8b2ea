/**
 * Bringing a host's CPUs to their idle loops.
 *
 * - The **minivisor** boots for real: CPU 0 starts at `_start` and runs
 *   `__start_xen` into `idle_loop`; each other CPU starts at `ap_start` on
 *   its `cpu_stacks[N]` with `processor_id` filled in (examples/README.md).
 * - Debian's **xen-syms** cannot boot outside a machine (it needs firmware,
 *   page tables, an APIC...), so its CPUs start in a small idle loop lpkit
 *   writes next to the image, `call check_for_livepatch_work; hlt; jmp`,
 *   on Xen-style 32 KiB stacks whose `struct cpu_info` points `current` at
 *   an idle vCPU of the idle domain (Xen code reads it via `rsp | 0x7fff`).
 *
 * @module
 */
import { toLinear } from "@lpkit/x86-emu";
import type { HostCpus } from "./cpus.ts";
import type { HypervisorImage } from "./hypervisor.ts";
import { LivepatchError } from "./errno.ts";

/** Xen's STACK_SIZE. */
export const STACK_SIZE = 0x8000;
/** `struct cpu_info` offsets from the stack top (Xen 4.17 and the minivisor agree). */
export const CPU_INFO = { processorId: -0x40, currentVcpu: -0x38 } as const;
/** Xen's DOMID_IDLE. */
export const DOMID_IDLE = 0x7fff;

/** Where the host keeps its own code and data next to the image. */
export interface HostArea {
  /** Code page (RX): the idle loop stub. */
  readonly code: bigint;
  /** Data pages (RW): idle vCPUs and the idle domain. */
  readonly data: bigint;
}

/** Symbols of the host's own code, for backtraces. */
export interface HostSymbol {
  readonly name: string;
  readonly address: bigint;
  readonly size: number;
}

/** Boots the minivisor's CPUs; returns when every CPU sits halted in `idle_loop`.
 *
 * @example
 * ```ts
 * import { bootMinivisor, HostCpus, loadHypervisorImage } from "@lpkit/livepatch-core";
 * import { Machine, mapRegions } from "@lpkit/x86-emu";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const image = loadHypervisorImage(readFileSync("examples/bin/minivisor"));
 * const machine = new Machine({ cpus: 2 });
 * mapRegions(machine, image.sections.map((s) => ({ ...s })));
 * const cpus = new HostCpus(machine);
 * bootMinivisor(image, cpus);
 * assert.equal(cpus.activity(1), "idle");
 * ```
 */
export function bootMinivisor(image: HypervisorImage, cpus: HostCpus): void {
  const sym = (name: string) => {
    const s = image.symbols.byName(name);
    if (s === undefined) {
      throw new LivepatchError("EINVAL", "IMAGE", `minivisor image lacks ${name}`);
    }
    return s;
  };
  const stacks = sym("cpu_stacks");
  const nrCpus = Number(stacks.size) / STACK_SIZE;
  if (cpus.count > nrCpus) {
    throw new LivepatchError(
      "EINVAL",
      "IMAGE",
      `the minivisor is built for ${nrCpus} CPUs; ${cpus.count} were asked for`,
    );
  }
  const mem = cpus.machine.memory;
  for (let k = 0; k < cpus.count; k++) {
    const c = cpus.cpu(k);
    const top = stacks.value + BigInt((k + 1) * STACK_SIZE);
    cpus.setStackTop(k, top);
    c.halted = true;
    if (k === 0) {
      c.setRip(image.elf.header.entry);
    } else {
      const pid = new Uint8Array(4);
      new DataView(pid.buffer).setUint32(0, k, true);
      mem.write(top + BigInt(CPU_INFO.processorId), pid);
      c.setRspLinear(toLinear(top - 0x1000n));
      c.setRip(sym("ap_start").value);
    }
  }
  // CPU 0 first: __start_xen must finish before the others come up.
  const settle = (k: number) => {
    cpus.wake(k);
    const ok = cpus.advance(1e9, () => cpus.cpu(k).halted);
    if (!ok) {
      throw new LivepatchError("EINVAL", "BOOT", `CPU${k} did not reach its idle loop`);
    }
  };
  settle(0);
  for (let k = 1; k < cpus.count; k++) settle(k);
}

/**
 * Puts xen-syms' CPUs in the host's idle loop. `area` must be mapped: code
 * RX, data RW (one page per 8 CPUs for the vCPU structures plus one for the
 * domain). Returns the host's symbols.
 *
 * @example
 * ```ts
 * import { Host } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * import { existsSync } from "node:fs";
 * // Host does this for an image that cannot boot (Debian's xen-syms).
 * if (existsSync(".cache/xen/xen-syms-4.17-amd64")) {
 *   const host = new Host(readFileSync(".cache/xen/xen-syms-4.17-amd64"), { cpus: 2 });
 *   assert.match(host.cpus.backtrace(0)[0], /^lpkit_idle_loop\+/);
 * }
 * ```
 */
export function startXenIdle(
  image: HypervisorImage,
  cpus: HostCpus,
  area: HostArea,
): HostSymbol[] {
  const check = image.symbols.byName("check_for_livepatch_work");
  if (check === undefined) {
    throw new LivepatchError("EINVAL", "IMAGE", "the image has no check_for_livepatch_work");
  }
  const mem = cpus.machine.memory;
  // lpkit_idle_loop: call check_for_livepatch_work; hlt; jmp lpkit_idle_loop
  const stub = new Uint8Array(8);
  const rel = check.value - (area.code + 5n);
  if (rel < -(1n << 31n) || rel >= 1n << 31n) {
    throw new LivepatchError("EINVAL", "IMAGE", "host area out of reach of the image text");
  }
  stub[0] = 0xe8;
  new DataView(stub.buffer).setInt32(1, Number(rel), true);
  stub[5] = 0xf4;
  stub[6] = 0xeb;
  stub[7] = 0xf8;
  mem.write(area.code, stub);
  // The idle domain at data+0, vCPUs after it: v->domain at +0x10 (do_xen_version reads it).
  const domain = area.data;
  const u32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return b;
  };
  mem.write(domain, u32(DOMID_IDLE));
  for (let k = 0; k < cpus.count; k++) {
    const c = cpus.cpu(k);
    const vcpu = area.data + 0x1000n + BigInt(k) * 0x200n;
    mem.write(vcpu, u32(k)); // vcpu_id
    mem.writeU64(vcpu + 0x10n, domain);
    const top = cpus.machine.stackTop(k);
    cpus.setStackTop(k, top);
    mem.write(top + BigInt(CPU_INFO.processorId), u32(k));
    mem.writeU64(top + BigInt(CPU_INFO.currentVcpu), vcpu);
    c.setRspLinear(toLinear(top - 0x200n));
    c.setRip(area.code);
    c.halted = false;
  }
  // Run them into their first hlt.
  cpus.advance(1e6, () => cpus.quiet());
  return [{ name: "lpkit_idle_loop", address: area.code, size: stub.length }];
}
