/**
 * A simulated Xen host: a hypervisor image running on emulated CPUs, with
 * Xen 4.17.7's live-patch subsystem in front of it — the sysctl interface,
 * the loader, the rendezvous, patching, hooks — plus lpkit's own safety
 * checks (see `safety.ts`). Deterministic and free of I/O: the same calls
 * give the same results, bytes and times.
 *
 * @module
 */
import { type Cpu, CpuFault, Machine, mapRegions, PERM_R, PERM_RW, PERM_RX } from "@lpkit/x86-emu";
import {
  applyFuncs,
  checkExpectations,
  type FuncState,
  initialFuncStates,
  revertFuncs,
} from "./apply.ts";
import { bootMinivisor, type HostSymbol, startXenIdle } from "./boot.ts";
import { BudgetExceeded, HostCpus, HypervisorCrash } from "./cpus.ts";
import { ERRNO, errnoName, LivepatchError } from "./errno.ts";
import { type HypervisorImage, loadHypervisorImage } from "./hypervisor.ts";
import type { NopFlavor } from "./patch.ts";
import { type HookKind, SECTION } from "./payload.ts";
import { PAGE_SIZE } from "./placement.ts";
import { type Profile, profile as profileByName, type ProfileName } from "./profile.ts";
import { type LivepatchWork, Rendezvous } from "./rendezvous.ts";
import {
  branchesIntoPatch,
  type ChangedRange,
  DEFAULT_SAFETY,
  findStackHazards,
  type SafetyOptions,
  type StackHazard,
} from "./safety.ts";
import {
  type ActionOp,
  checkName,
  DEFAULT_TIMEOUT_NS,
  type GetOp,
  type ListEntry,
  type ListOp,
  LIVEPATCH_ACTION,
  LIVEPATCH_ACTION_APPLY_NODEPS,
  LIVEPATCH_LIST_MAX,
  LIVEPATCH_OP,
  LIVEPATCH_STATE,
  type SysctlRequest,
  type SysctlResult,
  type UploadOp,
  XEN_SYSCTL_INTERFACE_VERSION,
} from "./sysctl.ts";
import { findBugFrame, findFixup, type TrapTables } from "./traps.ts";
import { LIVEPATCH_MAX_SIZE } from "./xen_elf.ts";
import { type LoadedPayload, loadPayload } from "./upload.ts";
import { attempt, type Report } from "./diagnostics.ts";

/** Options of {@linkcode Host}. */
export interface HostOptions {
  /** Number of CPUs (default 4). */
  readonly cpus?: number;
  /** Simulated clock in Hz (default 2 GHz). */
  readonly clockHz?: number;
  /** Instructions per CPU per scheduling round (default 10,000). */
  readonly quantum?: number;
  /** Behaviour profile (default "xen-4.17"). */
  readonly profile?: ProfileName;
  /** The control domain (default 0); other domains get -EPERM, as with Xen's default XSM policy. */
  readonly controlDomain?: number;
  /** The CPU that issues sysctls and runs pre-hooks (default 0). */
  readonly sysctlCpu?: number;
  /**
   * Start of the payload area (default: just after the image, inside Xen's
   * 1 GiB virtual window). Put it more than 2 GiB away to exercise the
   * distance check.
   */
  readonly payloadBase?: bigint;
  /** CPU vendor: selects iced-x86's decoding rules, CPUID and the NOPs Xen picks. */
  readonly vendor?: "intel" | "amd";
  /** lpkit's checks beyond Xen; each can be switched off (default: all on). */
  readonly safety?: Partial<SafetyOptions>;
  /**
   * Signature enforcement: called with every uploaded file before anything
   * parses it; returns the payload without its signature, or throws a
   * {@linkcode LivepatchError} (the upload fails with its errno).
   */
  readonly signatureCheck?: (file: Uint8Array) => Uint8Array;
  /** Cross-modifying code model of the emulator (default "coherent"). */
  readonly xmc?: "coherent" | "strict";
  /** Xen feature numbers (`X86_FEATURE_*`) the CPUs have, for `.altinstructions` (default none). */
  readonly cpuFeatures?: readonly number[];
}

/** A loaded payload as the host tracks it (`struct payload`). */
export interface HostPayload {
  readonly name: string;
  readonly payload: LoadedPayload;
  /** `LIVEPATCH_STATE_*`. */
  state: number;
  /** Last action's result; -EAGAIN while pending. */
  rc: number;
  /** Reverted at least once. */
  reverted: boolean;
  /** `struct livepatch_fstate[]`. */
  readonly fstate: FuncState[];
  /** Guest address of the emulated `struct payload` handed to hooks. */
  readonly structAddress: bigint;
  /** Allocation in the payload area. */
  readonly area: { readonly base: bigint; readonly size: number };
  /** Allocation of the emulated `struct payload`. */
  readonly structArea: { readonly base: bigint; readonly size: number };
  /** Warnings found at upload (lpkit's checks). */
  readonly warnings: readonly string[];
  /** The stack hazards that made the last action fail, if any. */
  lastHazards?: readonly StackHazard[];
  /** Why the last action failed (its rc), when it did. */
  lastFailure?: LivepatchError;
}

/** One line of the hypervisor console, with the simulated time it was printed. */
export interface ConsoleLine {
  readonly timeNs: number;
  readonly text: string;
}

/** Layout of the emulated `struct payload` that hooks receive (documented in the README). */
export const PAYLOAD_STRUCT = {
  name: 0x00,
  state: 0x08,
  rc: 0x0c,
  funcs: 0x10,
  fstate: 0x18,
  nfuncs: 0x20,
  nameBytes: 0x100,
  fstateArray: 0x200,
  fstateSize: 40,
} as const;

/** Xen's 1 GiB virtual window ends here (XEN_VIRT_END). */
const XEN_VIRT_END = 0xffff82d080000000n;
/** Heap for `struct payload` (Xen's xzalloc lives in the directmap). */
const HEAP_BASE = 0xffff830040000000n;
const ACTION_NAMES: Record<number, string> = { 2: "REVERT", 3: "APPLY", 4: "REPLACE" };
const VETOING: HookKind[] = ["preapply", "postapply", "prerevert", "postrevert"];

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const pages = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/**
 * Page allocator over an address range: first fit among freed blocks, else
 * the next untouched address (deterministic, and O(freed blocks) per call).
 */
class AreaAllocator {
  #next: bigint;
  readonly #free: { base: bigint; size: bigint }[] = [];
  readonly #used = new Map<bigint, bigint>();
  constructor(readonly start: bigint, readonly end: bigint) {
    this.#next = start;
  }
  allocate(size: number): bigint | undefined {
    const want = BigInt(pages(size));
    const i = this.#free.findIndex((f) => f.size >= want);
    let base: bigint;
    if (i >= 0) {
      const f = this.#free[i];
      base = f.base;
      if (f.size === want) this.#free.splice(i, 1);
      else this.#free[i] = { base: f.base + want, size: f.size - want };
    } else {
      if (this.#next + want > this.end) return undefined;
      base = this.#next;
      this.#next += want;
    }
    this.#used.set(base, want);
    return base;
  }
  free(base: bigint): void {
    const size = this.#used.get(base);
    if (size === undefined) return;
    this.#used.delete(base);
    if (base + size === this.#next) {
      this.#next = base;
      // Give back a free block that now touches the top, too.
      for (
        let i = this.#free.findIndex((f) => f.base + f.size === this.#next);
        i >= 0;
        i = this.#free.findIndex((f) => f.base + f.size === this.#next)
      ) {
        this.#next = this.#free[i].base;
        this.#free.splice(i, 1);
      }
      return;
    }
    this.#free.push({ base, size });
    this.#free.sort((a, b) => (a.base < b.base ? -1 : 1));
  }
}

/** How many back-to-back copies of a console line are kept before they are only counted. */
const CONSOLE_REPEATS = 10;

/**
 * The simulated host.
 *
 * @example Upload and apply a payload on the minivisor
 * ```ts
 * import { Host, LIVEPATCH_ACTION, LIVEPATCH_OP, nameArg } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = new Host(readFileSync("examples/bin/minivisor"), { cpus: 2 });
 * const payload = readFileSync("examples/bin/hello.livepatch");
 * const up = host.sysctl({ domid: 0, op: { cmd: LIVEPATCH_OP.UPLOAD, name: nameArg("hello"), payload } });
 * assert.equal(up.ret, 0);
 * host.sysctl({ domid: 0, op: { cmd: LIVEPATCH_OP.ACTION, name: nameArg("hello"), action: LIVEPATCH_ACTION.APPLY } });
 * host.settle();
 * assert.equal(host.callString("xen_extra_version"), "Hello World");
 * ```
 */
export class Host {
  /** The hypervisor image. */
  readonly image: HypervisorImage;
  /** The emulated machine. */
  readonly machine: Machine;
  /** Its CPUs and clock. */
  readonly cpus: HostCpus;
  /** The behaviour profile. */
  readonly profile: Profile;
  /** lpkit's checks in force. */
  readonly safety: SafetyOptions;
  /** The hypervisor console (`printk`). */
  readonly console: ConsoleLine[] = [];
  #lastLine: string | undefined;
  #repeats = 0;
  /** The last error behind a failed sysctl, with its details (Xen prints these on its console). */
  lastError: LivepatchError | undefined = undefined;
  readonly #options: HostOptions;
  readonly #payloads: HostPayload[] = [];
  readonly #applied: HostPayload[] = [];
  readonly #rendezvous: Rendezvous;
  readonly #payloadArea: AreaAllocator;
  readonly #heap = new AreaAllocator(HEAP_BASE, HEAP_BASE + 0x40000000n);
  readonly #hostSymbols: HostSymbol[] = [];
  /** New symbols of loaded payloads by name, in upload order (first one wins lookups). */
  readonly #newSymbols = new Map<string, { payload: HostPayload; address: bigint }[]>();
  readonly #buildIds = new Map<string, string>();
  readonly #byName = new Map<string, HostPayload>();
  readonly #imageTraps: TrapTables;
  readonly #nops: NopFlavor;
  #version = 1;

  /**
   * Builds a host from an image (the file bytes or a loaded image) and boots
   * its CPUs into their idle loops.
   */
  constructor(image: Uint8Array | HypervisorImage, options: HostOptions = {}) {
    this.#options = options;
    this.image = image instanceof Uint8Array ? loadHypervisorImage(image) : image;
    this.profile = profileByName(options.profile ?? "xen-4.17");
    this.safety = { ...DEFAULT_SAFETY, ...options.safety };
    this.#nops = "p6"; // P6 NOPs: every Intel and AMD CPU a 4.17 host supports (reference §5.3)
    const n = options.cpus ?? 4;
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new LivepatchError("EINVAL", "CONFIG", `cannot build a host with ${n} CPUs (1..64)`);
    }
    this.machine = new Machine({
      cpus: n,
      model: { vendor: options.vendor ?? "intel" },
      clockHz: options.clockHz,
      xmc: options.xmc,
    });
    mapRegions(
      this.machine,
      this.image.sections.map((s) => ({
        address: s.address,
        data: s.data,
        size: s.size,
        perms: s.perms,
      })),
    );
    // Host pages right after the image: idle-loop code, then idle vCPUs and domain.
    const hostCode = this.image.end;
    const hostData = hostCode + 0x1000n;
    this.machine.memory.map(hostCode, PAGE_SIZE, PERM_RX);
    this.machine.memory.map(hostData, PAGE_SIZE * (2 + Math.ceil(n / 8)), PERM_RW);
    const payloadBase = options.payloadBase ?? this.image.end + 0x100000n;
    const payloadEnd = payloadBase < XEN_VIRT_END ? XEN_VIRT_END : payloadBase + 0x40000000n;
    this.#payloadArea = new AreaAllocator(payloadBase, payloadEnd);
    this.#imageTraps = this.#imageTrapTables();

    this.cpus = new HostCpus(this.machine, {
      clockHz: options.clockHz,
      quantum: options.quantum,
      symbolize: (a, r) => this.symbolize(a, r),
      onFault: (c, f) => this.#trap(c, f),
    });
    this.#rendezvous = new Rendezvous({
      cpus: this.cpus,
      log: (line) => this.log(line),
      setRc: (name, rc, detail) => {
        const p = this.#find(name);
        if (p === undefined) return;
        p.rc = rc;
        p.lastFailure = new LivepatchError("EBUSY", "TIMEOUT", detail);
      },
      doAction: (work, master) => this.#doAction(work, master),
      afterAction: (work, master, done) => this.#afterAction(work, master, done),
      workToDoChanged: this.image.kind === "minivisor"
        ? (cpu, value) => this.#mirrorWorkToDo(cpu, value)
        : undefined,
    });
    this.cpus.onRound = () => this.#rendezvous.evaluate();
    this.cpus.nextEventNs = () => this.#rendezvous.nextEventNs();
    const check = this.image.symbols.byName("check_for_livepatch_work");
    if (check === undefined) {
      throw new LivepatchError(
        "EINVAL",
        "IMAGE",
        "the image has no check_for_livepatch_work (built without CONFIG_LIVEPATCH?)",
      );
    }
    this.machine.hook(check.value, (c) => this.#rendezvous.check(c.index));
    if (this.image.kind === "minivisor") bootMinivisor(this.image, this.cpus);
    else {this.#hostSymbols.push(
        ...startXenIdle(this.image, this.cpus, { code: hostCode, data: hostData }),
      );}
  }

  /** Prints a console line. */
  log(text: string): void {
    // A line repeated back to back (a fixup that faults again and again) is kept CONSOLE_REPEATS
    // times, then counted in one line, as syslog does.
    const timeNs = this.cpus.nowNs;
    if (text === this.#lastLine) {
      this.#repeats++;
      if (this.#repeats >= CONSOLE_REPEATS) {
        const line = {
          timeNs,
          text: `(lpkit) the last line was repeated ${
            this.#repeats - CONSOLE_REPEATS + 1
          } more times`,
        };
        if (this.#repeats === CONSOLE_REPEATS) this.console.push(line);
        else this.console[this.console.length - 1] = line;
        return;
      }
    } else {
      this.#lastLine = text;
      this.#repeats = 0;
    }
    this.console.push({ timeNs, text });
  }

  // ---------------------------------------------------------------------------------------------
  // Symbols

  /**
   * Xen's `%pS`: `name+0xoff/0xsize` for the image, the loaded payloads and
   * the host's own stubs; bare hex elsewhere.
   */
  symbolize(address: bigint, returnAddress = false): string {
    if (returnAddress) {
      // A return address after a call to a noreturn function is past its end: name the caller.
      const inside = this.symbolize(address - 1n);
      const m = /^(.*)\+0x([0-9a-f]+)(\/.*)$/.exec(inside);
      if (m !== null) return `${m[1]}+0x${(BigInt("0x" + m[2]) + 1n).toString(16)}${m[3]}`;
    }
    const at = this.image.symbols.lookup(address);
    if (at !== undefined && at.size > 0n) return this.image.symbols.format(address);
    for (const p of this.#payloads) {
      for (const s of p.payload.symbols) {
        if (s.size > 0n && address >= s.address && address < s.address + s.size) {
          return `${s.name}+0x${(address - s.address).toString(16)}/0x${
            s.size.toString(16)
          } [${p.name}]`;
        }
      }
    }
    for (const s of this.#hostSymbols) {
      if (address >= s.address && address < s.address + BigInt(s.size)) {
        return `${s.name}+0x${(address - s.address).toString(16)}/0x${s.size.toString(16)} [lpkit]`;
      }
    }
    return at !== undefined ? this.image.symbols.format(address) : `0x${address.toString(16)}`;
  }

  /**
   * Resolves a function name as Xen does (image first, then loaded payloads'
   * new symbols), or a `0x` address.
   */
  resolve(target: string | bigint): bigint | undefined {
    if (typeof target === "bigint") return target;
    if (/^0x[0-9a-f]+$/i.test(target)) return BigInt(target);
    return this.#lookup(target);
  }

  /**
   * Any symbol a person may mean: Xen's lookup ({@linkcode resolve}), then any
   * symbol of a loaded payload (its statics and the replacement functions too).
   */
  findSymbol(name: string): bigint | undefined {
    return this.resolve(name) ??
      this.#payloads.flatMap((p) => p.payload.symbols).find((s) => s.name === name)?.address;
  }

  /**
   * The NUL-terminated string at `address` in the hypervisor's memory (at
   * most `max` bytes), as a debugger reads it: a fault is an `EFAULT`
   * LivepatchError, not a crash of the host.
   *
   * @example
   * ```ts
   * import { Host, LivepatchError } from "@lpkit/livepatch-core";
   * import { readFileSync } from "node:fs";
   * import assert from "node:assert/strict";
   * const host = new Host(readFileSync("examples/bin/minivisor"), { cpus: 1 });
   * const version = host.call("xen_extra_version");
   * assert.equal(host.readString(version), "-minivisor");
   * assert.throws(() => host.readString(4n), LivepatchError);
   * ```
   */
  readString(address: bigint, max = 4096): string {
    try {
      return this.machine.memory.readCString(address, max);
    } catch (e) {
      if (!(e instanceof CpuFault)) throw e;
      throw new LivepatchError(
        "EFAULT",
        "NOT_A_STRING",
        `no string at ${this.symbolize(address)}: ${e.message}`,
      );
    }
  }

  #lookup(name: string): bigint | undefined {
    if (name === "") return undefined;
    const s = this.image.symbols.byName(name);
    if (s !== undefined) return s.value;
    return this.#newSymbols.get(name)?.[0].address;
  }

  #symbolExists(name: string): boolean {
    return this.#lookup(name) !== undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  /**
   * Runs the CPUs until nothing is pending (no outstanding action, no
   * queued or running task, every CPU halted) or `maxNs` of simulated time
   * passed. Returns whether it settled.
   */
  settle(maxNs = 1e9): boolean {
    return this.cpus.advance(
      maxNs,
      () => !this.#rendezvous.busy && this.cpus.quiet() && this.cpus.pendingTasks().length === 0,
    );
  }

  /** Advances simulated time by `ns`. */
  advance(ns: number): void {
    this.cpus.advance(ns);
  }

  /**
   * Calls a function (name or address) on an emulated CPU with every
   * applied patch in effect, nested on that CPU's stack, and returns rax.
   */
  call(
    target: string | bigint,
    args: readonly bigint[] = [],
    options: { cpu?: number; budget?: number } = {},
  ): bigint {
    const address = this.resolve(target);
    if (address === undefined) {
      throw new LivepatchError("ENOENT", "SYMBOL", `no symbol ${String(target)}`, {
        symbol: String(target),
      });
    }
    const cpu = options.cpu ?? this.idleCpu();
    return this.cpus.call(cpu, address, args, options.budget);
  }

  /** Calls a function returning `const char *` and reads the string. */
  callString(
    target: string | bigint,
    args: readonly bigint[] = [],
    options: { cpu?: number } = {},
  ): string {
    return this.readString(this.call(target, args, options));
  }

  /** The CPU {@linkcode call} uses by default: the first idle one, else the sysctl CPU. */
  idleCpu(): number {
    for (let k = 0; k < this.cpus.count; k++) {
      if (this.cpus.activity(k) === "idle") return k;
    }
    return this.#options.sysctlCpu ?? 0;
  }

  /** Starts `target(args)` on `cpu` in the background (e.g. long work that delays a rendezvous). */
  startTask(cpu: number, target: string | bigint, args: readonly bigint[] = []) {
    const address = this.resolve(target);
    if (address === undefined) {
      throw new LivepatchError("ENOENT", "SYMBOL", `no symbol ${String(target)}`);
    }
    return this.cpus.startTask(
      cpu,
      address,
      args,
      typeof target === "string" ? target : this.symbolize(address),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection

  /** The loaded payloads, in upload order. */
  payloads(): readonly HostPayload[] {
    return this.#payloads;
  }

  /** The applied stack, bottom first. */
  appliedStack(): readonly string[] {
    return this.#applied.map((p) => p.name);
  }

  /** `payload_version`. */
  get version(): number {
    return this.#version;
  }

  /** The outstanding action, if any. */
  pendingWork(): LivepatchWork | undefined {
    return this.#rendezvous.busy ? this.#rendezvous.work : undefined;
  }

  #find(name: string): HostPayload | undefined {
    return this.#byName.get(name);
  }

  // ---------------------------------------------------------------------------------------------
  // The sysctl

  /**
   * `XEN_SYSCTL_livepatch_op`: XSM, interface version and `pad` checks,
   * then the sub-operation. Never throws for a guest's bad arguments: the
   * result's `ret` carries the errno (details in {@linkcode lastError} and
   * on the console).
   */
  sysctl(request: SysctlRequest): SysctlResult {
    if (this.cpus.crash !== undefined) throw this.cpus.crash;
    this.lastError = undefined;
    if (request.domid !== (this.#options.controlDomain ?? 0)) {
      return this.#fail("EPERM", "XSM", `domain ${request.domid} may not use live patching`);
    }
    if (
      (request.interfaceVersion ?? XEN_SYSCTL_INTERFACE_VERSION) !== XEN_SYSCTL_INTERFACE_VERSION
    ) {
      return this.#fail("EACCES", "VERSION", "sysctl interface version mismatch");
    }
    if ((request.pad ?? 0) !== 0) {
      return this.#fail("EINVAL", "PAD", "xen_sysctl_livepatch_op.pad is not zero");
    }
    const op = request.op;
    switch (op.cmd) {
      case LIVEPATCH_OP.UPLOAD:
        return { ret: this.#upload(op as UploadOp) };
      case LIVEPATCH_OP.GET:
        return this.#get(op as GetOp);
      case LIVEPATCH_OP.LIST:
        return this.#list(op as ListOp);
      case LIVEPATCH_OP.ACTION:
        return { ret: this.#action(op as ActionOp) };
      default:
        return this.#fail("EOPNOTSUPP", "CMD", `unknown livepatch sub-operation ${op.cmd}`);
    }
  }

  #fail(errno: keyof typeof ERRNO, code: string, detail: string, place = {}): SysctlResult {
    this.lastError = new LivepatchError(errno, code, detail, place);
    return { ret: -ERRNO[errno] };
  }

  #errno(e: LivepatchError, name?: string): number {
    this.lastError = e;
    this.log(`livepatch: ${name === undefined ? "" : `${name}: `}${e.detail}`);
    return e.errno;
  }

  // UPLOAD (reference §2.1)
  #upload(op: UploadOp): number {
    const n = checkName(op.name);
    if (!n.ok) return this.#fail("EINVAL", "NAME", "invalid payload name").ret; // copy faults too
    const name = n.name;
    const size = op.size ?? op.payload?.length ?? 0;
    if (size === 0) return this.#fail("EINVAL", "SIZE", "payload size is 0").ret;
    if (size > LIVEPATCH_MAX_SIZE) {
      return this.#fail("EINVAL", "SIZE", `payload is ${size} bytes, over ${LIVEPATCH_MAX_SIZE}`)
        .ret;
    }
    if (op.payload === undefined || op.payload.length < size) {
      return this.#fail("EFAULT", "COPY", "cannot read the payload buffer").ret;
    }
    if (this.#find(name) !== undefined) {
      return this.#fail("EEXIST", "NAME", `${name} is already loaded`).ret;
    }
    let bytes = op.payload.subarray(0, size);
    if (this.#options.signatureCheck !== undefined) {
      try {
        bytes = this.#options.signatureCheck(bytes);
      } catch (e) {
        if (e instanceof LivepatchError) return this.#errno(e, name);
        throw e;
      }
    }
    try {
      this.#load(name, bytes, undefined);
      return 0;
    } catch (e) {
      if (e instanceof LivepatchError) return this.#errno(e, name);
      throw e;
    }
  }

  /**
   * The offline verifier's upload: every check in collecting mode. When
   * nothing failed the payload is loaded (as UPLOAD would); otherwise
   * nothing stays behind and every failure is returned.
   */
  uploadChecked(name: string, bytes: Uint8Array): { errors: LivepatchError[]; warnings: string[] } {
    const errors: LivepatchError[] = [];
    if (this.#find(name) !== undefined) {
      errors.push(new LivepatchError("EEXIST", "NAME", `${name} is already loaded`));
      return { errors, warnings: [] };
    }
    try {
      const p = this.#load(name, bytes, (e) => errors.push(e));
      return { errors, warnings: p?.warnings.slice() ?? [] };
    } catch (e) {
      if (!(e instanceof LivepatchError)) throw e;
      errors.push(e);
      return { errors, warnings: [] };
    }
  }

  /** The loader behind UPLOAD: strict without `report`, collecting with it. */
  #load(name: string, bytes: Uint8Array, report: Report | undefined): HostPayload | undefined {
    const allocations: bigint[] = [];
    const release = () => {
      for (const a of allocations) this.#payloadArea.free(a);
    };
    try {
      const loaded = loadPayload(bytes, {
        profile: this.profile,
        xenBuildId: this.image.buildId,
        loadedBuildId: (hex) => this.#buildIds.get(hex),
        lookup: (s) => this.#lookup(s),
        symbolExists: (s) => this.#symbolExists(s),
        readMemory: (address, length) => {
          try {
            return this.machine.memory.read(address, length);
          } catch {
            return undefined;
          }
        },
        cpuHasFeature: (f) => this.#options.cpuFeatures?.includes(f) ?? false,
        allocate: (n) => {
          const a = this.#payloadArea.allocate(n);
          if (a !== undefined) allocations.push(a);
          return a;
        },
        report,
      });
      let failed = loaded === undefined;
      const warnings = loaded === undefined ? [] : this.#beyondXenUploadChecks(loaded, (e) => {
        failed = true;
        if (report === undefined) throw e;
        report(e);
      });
      if (failed || loaded === undefined) {
        release();
        return undefined;
      }
      const structBytes = PAYLOAD_STRUCT.fstateArray +
        PAYLOAD_STRUCT.fstateSize * loaded.funcs.length;
      const structBase = this.#heap.allocate(structBytes);
      if (structBase === undefined) {
        throw new LivepatchError("ENOMEM", "M2", "out of memory for struct payload");
      }
      const record: HostPayload = {
        name,
        payload: loaded,
        state: LIVEPATCH_STATE.CHECKED,
        rc: 0,
        reverted: false,
        fstate: initialFuncStates(loaded.funcs.length),
        structAddress: structBase,
        area: { base: loaded.image.base, size: loaded.image.bytes.length },
        structArea: { base: structBase, size: pages(structBytes) },
        warnings,
      };
      this.#mapPayload(record);
      this.#payloads.push(record);
      this.#buildIds.set(loaded.buildId.hex, name);
      this.#byName.set(name, record);
      for (const sym of loaded.symbols) {
        if (!sym.isNew) continue;
        const list = this.#newSymbols.get(sym.name) ?? [];
        list.push({ payload: record, address: sym.address });
        this.#newSymbols.set(sym.name, list);
      }
      this.#version++;
      for (const w of warnings) this.log(`livepatch: ${name}: warning: ${w}`);
      return record;
    } catch (e) {
      release();
      throw e;
    }
  }

  /** lpkit's upload checks: deny-list and branches into the patch site (errors), reserved bytes (warnings). */
  #beyondXenUploadChecks(loaded: LoadedPayload, fail: (e: LivepatchError) => void): string[] {
    const warnings: string[] = [];
    const deny = new Set(this.safety.denyList);
    loaded.funcs.forEach((f, i) =>
      attempt(fail, () => {
        const place = { func: i, symbol: f.name };
        const at = this.image.symbols.lookup(f.oldAddr);
        const target = at?.name ?? f.name;
        if (target !== undefined && deny.has(target)) {
          throw new LivepatchError(
            "EPERM",
            "DENY",
            `refusing to patch ${target}: it is on the deny-list (it runs while patching, or in NMI/MCE context)`,
            place,
          );
        }
        if (
          this.safety.branchCheck && f.newAddr !== 0n || this.safety.branchCheck && f.newSize > 0
        ) {
          let code: Uint8Array | undefined;
          try {
            code = this.machine.memory.read(f.oldAddr, f.oldSize);
          } catch {
            code = undefined;
          }
          if (code !== undefined) {
            const hits = branchesIntoPatch(f, code, this.profile.endbrAware);
            if (hits.length > 0) {
              throw new LivepatchError(
                "EINVAL",
                "BRANCH_INTO_PATCH",
                `${this.symbolize(hits[0].from)} branches to ${
                  this.symbolize(hits[0].to)
                }, inside the bytes the patch overwrites`,
                place,
              );
            }
          }
        }
        if (f.padNonZero) warnings.push(`funcs[${i}] has non-zero reserved bytes`);
      })
    );
    return warnings;
  }

  #mapPayload(p: HostPayload): void {
    const img = p.payload.image;
    const mem = this.machine.memory;
    const regions: [typeof img.text, number][] = [[img.text, PERM_RX], [img.rw, PERM_RW], [
      img.ro,
      PERM_R,
    ]];
    for (const [r, perms] of regions) {
      if (r.size === 0) continue;
      const off = Number(r.address - img.base);
      this.machine.map({
        address: r.address,
        data: img.bytes.subarray(off, off + pages(r.size)),
        size: pages(r.size),
        perms,
      });
    }
    mem.map(p.structArea.base, p.structArea.size, PERM_RW);
    const name = new TextEncoder().encode(p.name);
    mem.write(p.structAddress + BigInt(PAYLOAD_STRUCT.nameBytes), new Uint8Array([...name, 0]));
    mem.writeU64(
      p.structAddress + BigInt(PAYLOAD_STRUCT.name),
      p.structAddress + BigInt(PAYLOAD_STRUCT.nameBytes),
    );
    const funcs = p.payload.sections.find((s) => s.name === SECTION.funcs);
    mem.writeU64(p.structAddress + BigInt(PAYLOAD_STRUCT.funcs), funcs?.address ?? 0n);
    mem.writeU64(
      p.structAddress + BigInt(PAYLOAD_STRUCT.fstate),
      p.structAddress + BigInt(PAYLOAD_STRUCT.fstateArray),
    );
    this.#writeStruct(p);
  }

  #unmapPayload(p: HostPayload): void {
    this.#buildIds.delete(p.payload.buildId.hex);
    this.#byName.delete(p.name);
    for (const sym of p.payload.symbols) {
      const list = this.#newSymbols.get(sym.name)?.filter((e) => e.payload !== p);
      if (list === undefined) continue;
      if (list.length === 0) this.#newSymbols.delete(sym.name);
      else this.#newSymbols.set(sym.name, list);
    }
    const text = this.machine.textRanges;
    const start = Number(BigInt.asIntN(64, p.payload.image.text.address));
    const at = text.findIndex((r) => r.start === start);
    if (at >= 0) text.splice(at, 1);
    const img = p.payload.image;
    for (const r of [img.text, img.rw, img.ro]) {
      if (r.size > 0) this.machine.memory.unmap(r.address, pages(r.size));
    }
    this.machine.memory.unmap(p.structArea.base, p.structArea.size);
    this.#payloadArea.free(p.area.base);
    this.#heap.free(p.structArea.base);
  }

  /** Host state → the guest's `struct payload` (before a hook runs). */
  #writeStruct(p: HostPayload): void {
    const mem = this.machine.memory;
    const u32 = (v: number) => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, v, true);
      return b;
    };
    mem.write(p.structAddress + BigInt(PAYLOAD_STRUCT.state), u32(p.state));
    mem.write(p.structAddress + BigInt(PAYLOAD_STRUCT.rc), u32(p.rc));
    mem.write(p.structAddress + BigInt(PAYLOAD_STRUCT.nfuncs), u32(p.fstate.length));
    p.fstate.forEach((s, i) => {
      const at = p.structAddress +
        BigInt(PAYLOAD_STRUCT.fstateArray + i * PAYLOAD_STRUCT.fstateSize);
      const b = new Uint8Array(PAYLOAD_STRUCT.fstateSize);
      const v = new DataView(b.buffer);
      v.setUint32(0, s.patchOffset, true);
      v.setUint32(4, s.applied ? 1 : 0, true);
      b.set(s.insnBuffer.subarray(0, 31), 8);
      mem.write(at, b);
    });
  }

  /** The guest's `struct livepatch_fstate[]` → host state (after a hook ran). */
  #readStruct(p: HostPayload): void {
    p.fstate.forEach((s, i) => {
      const at = p.structAddress +
        BigInt(PAYLOAD_STRUCT.fstateArray + i * PAYLOAD_STRUCT.fstateSize);
      const b = this.machine.memory.read(at, 8);
      s.applied = new DataView(b.buffer).getUint32(4, true) !== 0;
    });
  }

  // GET (reference §4.3)
  #get(op: GetOp): SysctlResult {
    const n = checkName(op.name);
    if (!n.ok) return { ret: n.errno };
    const p = this.#find(n.name);
    if (p === undefined) return this.#fail("ENOENT", "NAME", `no payload named ${n.name}`);
    return { ret: 0, status: { state: p.state, rc: p.rc } };
  }

  // LIST (reference §4.4)
  #list(op: ListOp): SysctlResult {
    const count = this.#payloads.length;
    const out = (
      ret: number,
      entries: ListEntry[],
      nr: number,
      names: number,
      meta: number,
    ): SysctlResult => ({
      ret,
      list: {
        ret,
        version: this.#version,
        nr,
        nameTotalSize: names,
        metadataTotalSize: meta,
        entries,
      },
    });
    if (op.nr > LIVEPATCH_LIST_MAX) {
      return this.#fail("E2BIG", "LIST", `nr ${op.nr} is over ${LIVEPATCH_LIST_MAX}`);
    }
    if ((op.listPad ?? 0) !== 0) return this.#fail("EINVAL", "PAD", "list.pad is not zero");
    if (count > 0 && op.idx >= count) {
      return this.#fail("EINVAL", "LIST", `idx ${op.idx} is past the ${count} payloads`);
    }
    const nameSize = (p: HostPayload) => new TextEncoder().encode(p.name).length + 1;
    const metaSize = (p: HostPayload) => p.payload.modinfo?.length ?? 0;
    if (op.nr === 0) {
      return out(
        0,
        [],
        count,
        this.#payloads.reduce((s, p) => s + nameSize(p), 0),
        this.#payloads.reduce((s, p) => s + metaSize(p), 0),
      );
    }
    const entries: ListEntry[] = [];
    let names = 0, meta = 0;
    for (const p of this.#payloads.slice(op.idx, op.idx + op.nr)) {
      names += nameSize(p);
      meta += metaSize(p);
      entries.push({
        status: { state: p.state, rc: p.rc },
        name: p.name,
        len: nameSize(p),
        metadata: p.payload.modinfo ?? new Uint8Array(0),
        metadataLen: metaSize(p),
      });
    }
    return out(entries.length, entries, count - (op.idx + entries.length), names, meta);
  }

  // ACTION, synchronous part (reference §4.5)
  #action(op: ActionOp): number {
    if ((op.actionPad ?? 0) !== 0) return this.#fail("EINVAL", "PAD", "action.pad is not zero").ret;
    const n = checkName(op.name);
    if (!n.ok) return n.errno;
    const p = this.#find(n.name);
    if (p === undefined) return this.#fail("ENOENT", "NAME", `no payload named ${n.name}`).ret;
    const work = this.#rendezvous.work;
    if (work?.doWork && work.payload === p.name) {
      return this.#fail("EBUSY", "PENDING", `${p.name} has an action in progress`).ret;
    }
    const flags = op.flags ?? 0;
    const schedule = () => {
      p.rc = -ERRNO.EAGAIN;
      const rc = this.#rendezvous.schedule(
        { cmd: op.action, payload: p.name, timeoutNs: op.timeout || DEFAULT_TIMEOUT_NS },
        this.#options.sysctlCpu ?? 0,
      );
      if (rc !== 0) {
        // 4.17 quirk: rc stays -EAGAIN on the payload (reference §4.5).
        return this.#fail("EBUSY", "PENDING", "another live-patch action is in progress").ret;
      }
      return 0;
    };
    const sysErr = (e: unknown) => {
      if (e instanceof LivepatchError) return this.#errno(e, p.name);
      throw e;
    };
    switch (op.action) {
      case LIVEPATCH_ACTION.UNLOAD:
        if (p.state !== LIVEPATCH_STATE.CHECKED) {
          return this.#fail("EINVAL", "STATE", `${p.name} is applied: revert it before unloading`)
            .ret;
        }
        this.#unmapPayload(p);
        this.#payloads.splice(this.#payloads.indexOf(p), 1);
        this.#version++;
        return 0;
      case LIVEPATCH_ACTION.REVERT: {
        if (p.state !== LIVEPATCH_STATE.APPLIED) return 0;
        const top = this.#applied[this.#applied.length - 1];
        if (top !== p) {
          this.log(`livepatch: ${p.name}: can't unload. Top is ${top.name}`);
          return this.#fail(
            "EBUSY",
            "TOP",
            `${p.name} is not the top of the applied stack (${top.name} is)`,
          ).ret;
        }
        const veto = this.#preHook(p, "prerevert", "pre-revert");
        if (veto !== 0) return veto;
        return schedule();
      }
      case LIVEPATCH_ACTION.APPLY: {
        if (p.state !== LIVEPATCH_STATE.CHECKED) return 0;
        if (p.reverted && !p.payload.safeToReapply) {
          this.log(`livepatch: ${p.name}: can't revert as payload has .data. Please unload`);
          p.rc = -ERRNO.EINVAL;
          p.lastFailure = new LivepatchError(
            "EINVAL",
            "REAPPLY",
            `${p.name} has .data or .bss and was reverted: unload and upload it again`,
          );
          return 0;
        }
        try {
          if ((flags & LIVEPATCH_ACTION_APPLY_NODEPS) === 0) {
            this.#checkDepends(p, this.#applied.length === 0);
          }
          checkExpectations(
            p.payload.funcs,
            this.#memory(this.#options.sysctlCpu ?? 0, "checking expectations"),
          );
        } catch (e) {
          return sysErr(e);
        }
        const veto = this.#preHook(p, "preapply", "pre-apply");
        if (veto !== 0) return veto;
        return schedule();
      }
      case LIVEPATCH_ACTION.REPLACE: {
        if (p.state !== LIVEPATCH_STATE.CHECKED) return 0;
        try {
          this.#checkDepends(p, true);
        } catch (e) {
          return sysErr(e);
        }
        if (this.#hasVetoingHooks(p) || this.#applied.some((a) => this.#hasVetoingHooks(a))) {
          this.log(
            `livepatch: ${p.name}: REPLACE action is not supported on livepatches with vetoing hooks!`,
          );
          return this.#fail(
            "EOPNOTSUPP",
            "REPLACE_HOOKS",
            "REPLACE is not supported with vetoing hooks",
          ).ret;
        }
        return schedule();
      }
      default:
        return this.#fail("EOPNOTSUPP", "CMD", `unknown action ${op.action}`).ret;
    }
  }

  /**
   * The hypervisor's memory as the live-patch code touches it on `cpu`.
   * Xen never checks that old_addr is mapped text (reference §1.4), so a bad
   * one faults in the hypervisor: a crash, as on real Xen.
   */
  #memory(cpu: number, what: string) {
    const mem = this.machine.memory;
    const guarded = <T>(access: () => T): T => {
      try {
        return access();
      } catch (e) {
        if (!(e instanceof CpuFault)) throw e;
        const crash = new HypervisorCrash(cpu, e, [], what);
        this.cpus.crash = crash;
        throw crash;
      }
    };
    return {
      read: (a: bigint, n: number) => guarded(() => mem.read(a, n)),
      write: (a: bigint, b: Uint8Array) => guarded(() => mem.write(a, b)),
    };
  }

  /** `build_id_dep`: against Xen's build-id, or the top of the applied stack. */
  #checkDepends(p: HostPayload, againstXen: boolean): void {
    const want = againstXen
      ? this.image.buildIdHex
      : this.#applied[this.#applied.length - 1].payload.buildId.hex;
    const who = againstXen ? "hypervisor" : this.#applied[this.#applied.length - 1].name;
    const have = p.payload.depends?.hex;
    if (want === undefined && againstXen) {
      throw new LivepatchError("ENODATA", "X1", "the hypervisor has no build-id");
    }
    if (have !== want) {
      this.log(`livepatch: ${p.name}: check against ${who} build-id failed`);
      throw new LivepatchError(
        "EINVAL",
        "DEPENDS",
        `check against ${who} build-id failed: payload depends on ${
          have ?? "(none)"
        }, ${who} is ${want}`,
        { section: SECTION.depends },
      );
    }
  }

  #hookAddress(p: HostPayload, kind: HookKind): bigint | undefined {
    const slots = p.payload.hooks[kind];
    return slots !== undefined && slots.length > 0 && slots[0] !== 0n ? slots[0] : undefined;
  }

  #hasVetoingHooks(p: HostPayload): boolean {
    return VETOING.some((k) => this.#hookAddress(p, k) !== undefined);
  }

  /** Runs a hook in the emulator: `int (*)(struct payload *)`; its 32-bit return value. */
  #runHook(p: HostPayload, address: bigint, cpu: number, withArg: boolean): number {
    this.#writeStruct(p);
    let rax: bigint;
    try {
      rax = this.cpus.call(cpu, address, withArg ? [p.structAddress] : []);
    } catch (e) {
      // A hook that faults or hits a BUG takes the hypervisor down with it.
      if (e instanceof HypervisorCrash || e instanceof BudgetExceeded) {
        this.cpus.crash = e instanceof HypervisorCrash
          ? e
          : new HypervisorCrash(cpu, new CpuFault("BUDGET", e.message), [], "in a hook");
      }
      throw this.cpus.crash ?? e;
    }
    this.#readStruct(p);
    return Number(BigInt.asIntN(32, rax));
  }

  #preHook(p: HostPayload, kind: "preapply" | "prerevert", label: string): number {
    const hook = this.#hookAddress(p, kind);
    if (hook === undefined) return 0;
    this.log(`livepatch: ${p.name}: Calling ${label} hook function`);
    const rc = this.#runHook(p, hook, this.#options.sysctlCpu ?? 0, true);
    if (rc !== 0) {
      this.log(`livepatch: ${p.name}: ${label} hook failed (rc=${rc}), aborting!`);
      p.rc = rc;
      this.lastError = p.lastFailure = new LivepatchError(
        (errnoName(rc) in ERRNO ? errnoName(rc) : "EINVAL") as keyof typeof ERRNO,
        "HOOK",
        `${label} hook returned ${rc}`,
      );
    }
    return rc;
  }

  // ACTION, inside the rendezvous (reference §5.2)
  #doAction(work: LivepatchWork, master: number): void {
    const p = this.#find(work.payload)!;
    const hazards = this.safety.stackCheck ? this.#stackHazards(work, p) : [];
    if (hazards.length > 0) {
      p.lastHazards = hazards;
      for (const h of hazards) {
        this.log(
          `livepatch: ${p.name}: CPU${h.cpu} is sleeping on ${h.range.name}: ${h.source} holds ${h.where}` +
            (h.slot === undefined ? "" : ` (stack slot 0x${h.slot.toString(16)})`),
        );
      }
      p.rc = -ERRNO.EBUSY;
      const h = hazards[0];
      p.lastFailure = new LivepatchError(
        "EBUSY",
        "STACK",
        `CPU${h.cpu} is sleeping on ${h.range.name} (${h.source}: ${h.where})` +
          (hazards.length > 1 ? ` and ${hazards.length - 1} more` : ""),
      );
      return;
    }
    p.lastHazards = undefined;
    p.lastFailure = undefined;
    let rc = 0;
    switch (work.cmd) {
      case LIVEPATCH_ACTION.APPLY:
        rc = this.#applyAction(p, master);
        break;
      case LIVEPATCH_ACTION.REVERT:
        rc = this.#revertAction(p, master);
        break;
      case LIVEPATCH_ACTION.REPLACE: {
        for (const other of [...this.#applied].reverse()) {
          other.rc = this.#revertAction(other, master);
          if (other.rc !== 0) {
            rc = -ERRNO.EINVAL;
            p.lastFailure = new LivepatchError(
              "EINVAL",
              "REPLACE",
              `reverting ${other.name} failed (rc=${other.rc})`,
            );
            break;
          }
        }
        if (rc === 0) {
          try {
            checkExpectations(p.payload.funcs, this.#memory(master, "checking expectations"));
          } catch (e) {
            if (!(e instanceof LivepatchError)) throw e;
            this.log(`livepatch: ${p.name}: ${e.detail}`);
            this.log(
              `livepatch: ${p.name}: SYSTEM MIGHT BE INSECURE: Replace action has been aborted after reverting ALL payloads!`,
            );
            rc = e.errno;
            p.lastFailure = e;
            break;
          }
          rc = this.#applyAction(p, master);
        }
        break;
      }
    }
    p.rc = rc;
  }

  /** Apply action hook or `apply_payload`, then the consistency check and `apply_payload_tail`. */
  #applyAction(p: HostPayload, master: number): number {
    const hook = this.#hookAddress(p, "apply");
    let rc: number;
    if (hook !== undefined) {
      this.log(`livepatch: ${p.name}: Calling apply action hook function`);
      rc = this.#runHook(p, hook, master, true);
    } else {
      rc = this.#applyPayload(p, master);
    }
    this.#consistent(p, rc === 0, "applied");
    if (rc === 0) {
      p.state = LIVEPATCH_STATE.APPLIED;
      this.#applied.push(p);
    }
    return rc;
  }

  #revertAction(p: HostPayload, master: number): number {
    const hook = this.#hookAddress(p, "revert");
    let rc: number;
    if (hook !== undefined) {
      this.log(`livepatch: ${p.name}: Calling revert action hook function`);
      rc = this.#runHook(p, hook, master, true);
    } else {
      rc = this.#revertPayload(p, master);
    }
    this.#consistent(p, rc !== 0, "reverted");
    if (rc === 0) {
      p.state = LIVEPATCH_STATE.CHECKED;
      p.reverted = true;
      this.#applied.splice(this.#applied.indexOf(p), 1);
    }
    return rc;
  }

  /** `was_action_consistent`: Xen panics when an action left funcs half done. */
  #consistent(p: HostPayload, applied: boolean, what: string): void {
    const bad = p.fstate.findIndex((s) => s.applied !== applied);
    if (bad < 0) return;
    const f = p.payload.funcs[bad];
    this.log(
      `livepatch: ${p.name}: Payload has a function: '${
        f.name ?? "noname"
      }' with inconsistent applied state.`,
    );
    const crash = new HypervisorCrash(
      this.cpus.machine.cpus.length > 0 ? 0 : 0,
      new CpuFault("GP", `panic: livepatch: partially ${what} payload '${p.name}'!`),
      [],
      "in livepatch_do_action",
    );
    this.cpus.crash = crash;
    throw crash;
  }

  #applyPayload(p: HostPayload, master: number): number {
    this.log(`livepatch: ${p.name}: Applying ${p.payload.funcs.length} functions`);
    for (const hook of p.payload.hooks.load ?? []) {
      if (hook !== 0n) this.#runHook(p, hook, master, false);
    }
    try {
      applyFuncs(p.payload.funcs, p.fstate, this.#memory(master, "patching in the rendezvous"), {
        endbrAware: this.profile.endbrAware,
        nops: this.#nops,
        refuseOutOfReach: this.safety.reachCheck,
        onAlreadyApplied: (f) =>
          this.log(`livepatch: apply_payload: ${f.name} has been already applied before`),
      });
    } catch (e) {
      if (!(e instanceof LivepatchError)) throw e;
      this.log(`livepatch: ${p.name}: ${e.detail}`);
      p.lastFailure = e;
      return e.errno;
    }
    const modinfo = p.payload.modinfo;
    if (modinfo !== undefined) {
      this.log("livepatch: module metadata:");
      for (const line of new TextDecoder().decode(modinfo).split("\0").filter((s) => s !== "")) {
        this.log(`livepatch:   ${line}`);
      }
    }
    return 0;
  }

  #revertPayload(p: HostPayload, master: number): number {
    this.log(`livepatch: ${p.name}: Reverting`);
    revertFuncs(p.payload.funcs, p.fstate, this.#memory(master, "unpatching in the rendezvous"));
    for (const hook of p.payload.hooks.unload ?? []) {
      if (hook !== 0n) this.#runHook(p, hook, master, false);
    }
    return 0;
  }

  /** After the rendezvous, on the master: post hooks and the closing message. */
  #afterAction(work: LivepatchWork, master: number, done: boolean): void {
    const p = this.#find(work.payload);
    if (p === undefined) return;
    if (done) {
      const kind = work.cmd === LIVEPATCH_ACTION.APPLY
        ? "postapply"
        : work.cmd === LIVEPATCH_ACTION.REVERT
        ? "postrevert"
        : undefined;
      const hook = kind === undefined ? undefined : this.#hookAddress(p, kind);
      if (hook !== undefined) {
        const label = kind === "postapply" ? "post-apply" : "post-revert";
        this.log(`livepatch: ${p.name}: Calling ${label} hook function with rc=${p.rc}`);
        this.#runHook(p, hook, master, true);
      }
    }
    this.log(`livepatch: ${p.name} finished ${ACTION_NAMES[work.cmd] ?? work.cmd} with rc=${p.rc}`);
  }

  /** The stack safety check: ranges the action changes against every CPU's stack. */
  #stackHazards(work: LivepatchWork, p: HostPayload): StackHazard[] {
    const affected = work.cmd === LIVEPATCH_ACTION.REPLACE ? [...this.#applied, p] : [p];
    const ranges: ChangedRange[] = [];
    for (const a of affected) {
      for (const f of a.payload.funcs) {
        const label = f.name ?? this.symbolize(f.oldAddr);
        ranges.push({ start: f.oldAddr, end: f.oldAddr + BigInt(f.oldSize), name: label });
        if (f.newAddr !== 0n && work.cmd !== LIVEPATCH_ACTION.APPLY) {
          ranges.push({
            start: f.newAddr,
            end: f.newAddr + BigInt(f.newSize),
            name: `${label} (replacement in ${a.name})`,
          });
        }
      }
    }
    const text = this.machine.textRanges;
    const cpus = Array.from({ length: this.cpus.count }, (_, k) => ({
      cpu: k,
      chain: this.cpus.backtraceAddresses(k),
      scan: this.cpus.scanStack(k, text),
    }));
    return findStackHazards(ranges, cpus, (a) => this.symbolize(a));
  }

  // ---------------------------------------------------------------------------------------------
  // Traps

  #imageTrapTables(): TrapTables {
    const sym = (n: string) => this.image.symbols.byName(n)?.value;
    const range = (
      a?: bigint,
      b?: bigint,
    ) => (a !== undefined && b !== undefined ? { start: a, end: b } : undefined);
    const starts = [
      sym("__start_bug_frames"),
      sym("__stop_bug_frames_0"),
      sym("__stop_bug_frames_1"),
      sym("__stop_bug_frames_2"),
      sym("__stop_bug_frames_3"),
    ];
    return {
      owner: "xen",
      exTable: range(sym("__start___ex_table"), sym("__stop___ex_table")),
      bugFrames: [0, 1, 2, 3].map((i) => range(starts[i], starts[i + 1])),
    };
  }

  #trapTables(): TrapTables[] {
    const out = [this.#imageTraps];
    for (const p of this.#payloads) {
      const sec = (n: string) => {
        const s = p.payload.sections.find((x) => x.name === n);
        return s === undefined ? undefined : { start: s.address, end: s.address + BigInt(s.size) };
      };
      out.push({
        owner: p.name,
        exTable: sec(".ex_table"),
        bugFrames: [0, 1, 2, 3].map((i) => sec(`.bug_frames.${i}`)),
      });
    }
    return out;
  }

  /** Xen's trap handlers: exception-table fixups, WARN and run_fn bug frames. */
  #trap(c: Cpu, fault: CpuFault): boolean {
    const rip = c.getRip();
    const read = (a: bigint, n: number) => this.machine.memory.read(a, n);
    if (fault.code === "PAGE_FAULT" || fault.code === "GP") {
      const fixup = findFixup(this.#trapTables(), rip, read);
      if (fixup === undefined) return false;
      this.log(`(XEN) fixed up ${fault.code} at ${this.symbolize(rip)} via the exception table`);
      c.setRip(fixup);
      return true;
    }
    if (fault.code !== "UD2") return false;
    const frame = findBugFrame(this.#trapTables(), rip, read);
    if (frame === undefined) return false;
    const where = () => `${this.machine.memory.readCString(frame.pointer, 256)}:${frame.line}`;
    switch (frame.kind) {
      case "warn":
        this.log(`(XEN) Xen WARN at ${where()}`);
        c.setRip(rip + 2n);
        return true;
      case "run_fn":
        this.cpus.call(c.index, frame.pointer, [0n]);
        c.setRip(rip + 2n);
        return true;
      case "bug":
        this.log(`(XEN) Xen BUG at ${where()}`);
        return false;
      case "assert":
        this.log(
          `(XEN) Assertion '${
            frame.message === undefined ? "?" : this.machine.memory.readCString(frame.message, 256)
          }' failed at ${where()}`,
        );
        return false;
    }
  }

  #mirrorWorkToDo(cpu: number, value: boolean): void {
    const s = this.image.symbols.byName("livepatch_work_to_do");
    if (s !== undefined) {
      this.machine.memory.write(s.value + BigInt(cpu), new Uint8Array([value ? 1 : 0]));
    }
  }
}

/** Hex of a build-id, for messages.
 *
 * @example
 * ```ts
 * import { buildIdHex } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.equal(buildIdHex(new Uint8Array([0x15, 0x1b])), "151b");
 * ```
 */
export function buildIdHex(id: Uint8Array): string {
  return hexOf(id);
}
