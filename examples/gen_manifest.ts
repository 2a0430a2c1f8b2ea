// examples/gen_manifest.ts - writes examples/manifest.json.
//
// Usage (called by examples/build.sh):
//   deno run --allow-read --allow-run --allow-write gen_manifest.ts <binDir> <manifest.json>
//
// What each payload is *meant* to be is declared below (PAYLOADS). What it
// actually is comes from the built files, read with binutils (readelf -S/-s/-r
// for the tables) plus raw byte slices at the offsets readelf reports. Every
// declared field is checked against the built file, so a wrong build fails
// here instead of producing a manifest that disagrees with bin/.

type Errno = "EINVAL" | "EOPNOTSUPP" | "ENOENT";
type Outcome = "ok" | {
  stage: "upload" | "apply";
  errno: Errno;
  check: string;
  why: string;
};

interface FuncSpec {
  name: string | null;
  oldSymbol: string | null;
  oldAddrInFile: "reloc" | "zero" | "abs";
  newSymbol: string | null;
  version: number;
  /** Expected old_size; default: the image symbol's size. */
  oldSize?: number;
  /** "image": expectation = first `len` bytes of the target; object: literal. */
  expect?: null | { len: number; from: "image" } | { len: number; data: string };
}

interface PayloadSpec {
  name: string;
  format: "v1" | "v2";
  description: string;
  action: "apply" | "replace" | null;
  /** "image", a payload name, or "foreign" (some other build-id). */
  depends: string | null;
  xenDepends: "image" | "foreign" | null;
  funcs: FuncSpec[] | null;
  hooks: Record<string, string[]> | null;
  modinfo: string[] | null;
  modinfoTerminated?: boolean;
  intendedOutcome: Outcome;
  /** For bad_truncated: the payload it is a prefix of. */
  truncatedFrom?: string;
}

const XEV = "xen_extra_version";

function jumpFunc(newSymbol: string, extra: Partial<FuncSpec> = {}): FuncSpec {
  return {
    name: XEV,
    oldSymbol: XEV,
    oldAddrInFile: "reloc",
    newSymbol,
    version: 2,
    expect: null,
    ...extra,
  };
}

function fail(stage: "upload" | "apply", errno: Errno, check: string, why: string): Outcome {
  return { stage, errno, check, why };
}

const PAYLOADS: PayloadSpec[] = [
  {
    name: "hello",
    format: "v2",
    description: 'Replaces xen_extra_version with xen_hello_world ("Hello World"). ' +
      "old_addr is an R_X86_64_64 relocation against the undefined symbol xen_extra_version.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_hello_world")],
    hooks: null,
    modinfo: ["LIVEPATCH_RULEZ"],
    intendedOutcome: "ok",
  },
  {
    name: "bye",
    format: "v2",
    description: "Stacked on hello: .livepatch.depends is hello.livepatch's build-id note. " +
      'Replaces xen_extra_version with xen_bye_world ("Bye World!"); apply only while hello ' +
      "is the top of the applied stack.",
    action: "apply",
    depends: "hello",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bye_world")],
    hooks: null,
    modinfo: ["PAYLOAD=bye", "STACKED_ON=hello"],
    intendedOutcome: "ok",
  },
  {
    name: "replace",
    format: "v2",
    description: 'old_addr = 0: the hypervisor resolves name "xen_extra_version" at upload. ' +
      'Replaces it with xen_replace_world ("Hello Again World!"); meant for REPLACE.',
    action: "replace",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_replace_world", { oldAddrInFile: "zero" })],
    hooks: null,
    modinfo: ["PAYLOAD=replace", "ACTION=replace"],
    intendedOutcome: "ok",
  },
  {
    name: "nop",
    format: "v2",
    description: "NOP mode: new_addr = 0, name = NULL, old_addr relocated against " +
      "bump_event_counter, new_size = bytes before its final jmp __x86_return_thunk, counted " +
      "from the function start (endbr64 kept, the addl to event_counter NOPped).",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [{
      name: null,
      oldSymbol: "bump_event_counter",
      oldAddrInFile: "reloc",
      newSymbol: null,
      version: 2,
      expect: null,
    }],
    hooks: null,
    modinfo: null,
    intendedOutcome: "ok",
  },
  {
    name: "expect_ok",
    format: "v2",
    description: 'Like hello (xen_expect_ok_world, "Expected World") with an expectation: ' +
      "len 8, data = the real first 8 bytes of xen_extra_version.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_expect_ok_world", { expect: { len: 8, from: "image" } })],
    hooks: null,
    modinfo: null,
    intendedOutcome: "ok",
  },
  {
    name: "expect_fail",
    format: "v2",
    description: "Expectation len 6, data DE AD C0 DE BA BE, which xen_extra_version does " +
      "not start with.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_expect_fail_world", { expect: { len: 6, data: "deadc0debabe" } })],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail(
      "apply",
      "EINVAL",
      "4.5c",
      "expectation mismatch: APPLY returns -EINVAL synchronously, payload rc untouched",
    ),
  },
  {
    name: "hooks",
    format: "v2",
    description: "Patches xen_compile_date and has two load hooks, one unload hook and one " +
      "each of preapply/postapply/prerevert/postrevert; each bumps its own counter in " +
      "hooks_lp_counters (.data). Pre-hooks return 0. Not REPLACE-able (vetoing hooks), " +
      "not safe to re-apply (writable .data and hook sections).",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [{
      name: "xen_compile_date",
      oldSymbol: "xen_compile_date",
      oldAddrInFile: "reloc",
      newSymbol: "xen_hooks_compile_date",
      version: 2,
      expect: null,
    }],
    hooks: {
      load: ["hooks_lp_load_a", "hooks_lp_load_b"],
      unload: ["hooks_lp_unload"],
      preapply: ["hooks_lp_preapply"],
      postapply: ["hooks_lp_postapply"],
      prerevert: ["hooks_lp_prerevert"],
      postrevert: ["hooks_lp_postrevert"],
    },
    modinfo: ["PAYLOAD=hooks", "HOOKS=load,unload,preapply,postapply,prerevert,postrevert"],
    intendedOutcome: "ok",
  },
  {
    name: "data",
    format: "v2",
    description: "Replaces xen_changeset with xen_data_changeset, which keeps state in the " +
      "payload's .data (data_lp_banner) and .bss (data_lp_calls) and returns " +
      '"changeset patched, call #N". Not safe to re-apply after REVERT.',
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [{
      name: "xen_changeset",
      oldSymbol: "xen_changeset",
      oldAddrInFile: "reloc",
      newSymbol: "xen_data_changeset",
      version: 2,
      expect: null,
    }],
    hooks: null,
    modinfo: ["PAYLOAD=data"],
    intendedOutcome: "ok",
  },
  {
    name: "v1",
    format: "v1",
    description: "Xen 4.7-4.13 format: 64-byte struct livepatch_func, version 1, opaque " +
      "zero, absolute old_addr; .livepatch.depends + build-id, no .livepatch.xen_depends, no " +
      '.modinfo. Replaces xen_extra_version with xen_v1_world ("Hello v1 World").',
    action: "apply",
    depends: "image",
    xenDepends: null,
    funcs: [jumpFunc("xen_v1_world", { oldAddrInFile: "abs", version: 1 })],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail(
      "upload",
      "EINVAL",
      "C1",
      "4.17 requires .livepatch.xen_depends (and would then reject the 64-byte funcs, P1)",
    ),
  },
  {
    name: "multi",
    format: "v2",
    description: "Two funcs: xen_major_version -> xen_multi_major_version (5, old_addr " +
      "relocated) and xen_minor_version -> xen_multi_minor_version (42, old_addr absolute).",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [
      {
        name: "xen_major_version",
        oldSymbol: "xen_major_version",
        oldAddrInFile: "reloc",
        newSymbol: "xen_multi_major_version",
        version: 2,
        expect: null,
      },
      {
        name: "xen_minor_version",
        oldSymbol: "xen_minor_version",
        oldAddrInFile: "abs",
        newSymbol: "xen_multi_minor_version",
        version: 2,
        expect: null,
      },
    ],
    hooks: null,
    modinfo: ["PAYLOAD=multi", "FUNCS=2"],
    intendedOutcome: "ok",
  },
  {
    name: "hooks_only",
    format: "v2",
    description: "No .livepatch.funcs (legal since 4.14): one load and one unload hook, " +
      "counting in hooks_only_lp_counters (.data). No vetoing hooks, so REPLACE-able.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: null,
    hooks: { load: ["hooks_only_lp_load"], unload: ["hooks_only_lp_unload"] },
    modinfo: ["PAYLOAD=hooks_only"],
    intendedOutcome: "ok",
  },
  // ---- broken payloads: each fails exactly one check -------------------------------
  {
    name: "bad_no_xen_depends",
    format: "v2",
    description: "A good hello-like payload without .livepatch.xen_depends.",
    action: "apply",
    depends: "image",
    xenDepends: null,
    funcs: [jumpFunc("xen_bad_no_xen_depends_world")],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "C1", ".livepatch.xen_depends missing"),
  },
  {
    name: "bad_xen_depends_mismatch",
    format: "v2",
    description: ".livepatch.xen_depends is a well-formed build-id note of another " +
      'hypervisor (SHA-1 of "lpkit: not the minivisor").',
    action: "apply",
    depends: "image",
    xenDepends: "foreign",
    funcs: [jumpFunc("xen_bad_xen_depends_mismatch_world")],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "X2", "xen_depends != running hypervisor build-id"),
  },
  {
    name: "bad_version3",
    format: "v2",
    description: "livepatch_func.version = 3.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_version3_world", { version: 3 })],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EOPNOTSUPP", "P3", "func version != 2"),
  },
  {
    name: "bad_old_size_zero",
    format: "v2",
    description: "old_size = 0.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_old_size_zero_world", { oldSize: 0 })],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "P3", "old_size == 0"),
  },
  {
    name: "bad_too_small",
    format: "v2",
    description: "Jump-patches small_ret0 (3 bytes, no endbr64): a 5-byte jmp does not fit.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [
      jumpFunc("xen_bad_too_small_world", { name: "small_ret0", oldSymbol: "small_ret0" }),
    ],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "P3", "old_size 3 < 5"),
  },
  {
    name: "bad_too_small_endbr",
    format: "v2",
    description: "Jump-patches small_endbr_ret0 (7 bytes, starts with endbr64): needs 4 + 5.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [
      jumpFunc("xen_bad_too_small_endbr_world", {
        name: "small_endbr_ret0",
        oldSymbol: "small_endbr_ret0",
      }),
    ],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "P3", "old_size 7 < 9 (endbr64 + jmp)"),
  },
  {
    name: "bad_unresolvable_name",
    format: "v2",
    description: 'old_addr = 0 and name "xen_no_such_function", which the minivisor lacks.',
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [
      jumpFunc("xen_bad_unresolvable_name_world", {
        name: "xen_no_such_function",
        oldSymbol: null,
        oldAddrInFile: "zero",
      }),
    ],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "ENOENT", "P3", "could not resolve old address by name"),
  },
  {
    name: "bad_wx_section",
    format: "v2",
    description: 'A good hello-like payload plus section .bad_wx_code with flags "awx".',
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_wx_section_world")],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EOPNOTSUPP", "M1", "writable and executable section"),
  },
  {
    name: "bad_undefined_symbol",
    format: "v2",
    description: "The replacement calls minivisor_no_such_function, undefined in the payload " +
      "and absent from the minivisor.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_undefined_symbol_world")],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "ENOENT", "R2", "unknown symbol minivisor_no_such_function"),
  },
  {
    name: "bad_funcs_size",
    format: "v2",
    description: ".livepatch.funcs is one 104-byte entry plus 8 more bytes (112).",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_funcs_size_world")],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "P1", ".livepatch.funcs size % 104 != 0"),
  },
  {
    name: "bad_reloc_32",
    format: "v2",
    description: "A good hello-like payload plus an R_X86_64_32 relocation (.long " +
      "xen_extra_version in .rodata.bad_reloc_32).",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_reloc_32_world")],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EOPNOTSUPP", "L8", "unsupported relocation R_X86_64_32"),
  },
  {
    name: "bad_reloc_32s",
    format: "v2",
    description: "A good hello-like payload plus an R_X86_64_32S relocation (movq " +
      "$xen_extra_version, %rax in .text.bad_reloc_32s).",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_reloc_32s_world")],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EOPNOTSUPP", "L8", "unsupported relocation R_X86_64_32S"),
  },
  {
    name: "bad_modinfo_unterminated",
    format: "v2",
    description: 'A good hello-like payload whose .modinfo is "LIVEPATCH_RULEZ" without ' +
      "the final NUL.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [jumpFunc("xen_bad_modinfo_unterminated_world")],
    hooks: null,
    modinfo: ["LIVEPATCH_RULEZ"],
    modinfoTerminated: false,
    intendedOutcome: fail("upload", "EINVAL", "P12", ".modinfo not NUL-terminated"),
  },
  {
    name: "bad_funcs_empty",
    format: "v2",
    description: "An empty .livepatch.funcs section and no hook section.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: [],
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "C2", ".livepatch.funcs is empty"),
  },
  {
    name: "bad_nothing_to_patch",
    format: "v2",
    description: "Code and data but neither .livepatch.funcs nor any hook section.",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: null,
    hooks: null,
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "C2", "nothing to patch"),
  },
  {
    name: "bad_hook_size",
    format: "v2",
    description: "Hooks only; .livepatch.hooks.preapply holds two pointers (16 bytes).",
    action: "apply",
    depends: "image",
    xenDepends: "image",
    funcs: null,
    hooks: { preapply: ["bad_hook_size_pre_a", "bad_hook_size_pre_b"] },
    modinfo: null,
    intendedOutcome: fail("upload", "EINVAL", "P4", "preapply hook section size != 8"),
  },
  {
    name: "bad_truncated",
    format: "v2",
    description: "The first 512 bytes of hello.livepatch: the section header table is gone.",
    action: "apply",
    depends: null,
    xenDepends: null,
    funcs: null,
    hooks: null,
    modinfo: null,
    truncatedFrom: "hello",
    intendedOutcome: fail("upload", "EINVAL", "H8", "e_shoff >= file length"),
  },
];

/** Image symbols listed in the manifest (statics as "file#name"). */
const IMAGE_SYMBOLS = [
  "_start",
  "ap_start",
  "__start_xen",
  "start_secondary",
  "startup_cpu_idle_loop",
  "idle_loop",
  "do_tasklet",
  "do_softirq",
  "check_for_livepatch_work",
  "schedule_long_work",
  "long_running_work",
  "do_hypercall",
  "do_xen_version",
  "do_console_io",
  "do_sched_op",
  "do_domctl",
  "get_domain_by_id",
  "xen_extra_version",
  "xen_major_version",
  "xen_minor_version",
  "xen_changeset",
  "xen_compile_date",
  "xen_build_id",
  "bump_event_counter",
  "small_ret0",
  "small_endbr_ret0",
  "common/sched.c#init_one",
  "arch/x86/smp.c#init_one",
  "memcpy",
  "memset",
  "memcmp",
  "strlen",
  "strcmp",
  "strlcpy",
  "sort",
  "__x86_return_thunk",
  "__x86_indirect_thunk_rax",
  "hypercall_table",
  "cpu_stacks",
  "percpu_stats",
  "idle_vcpu",
  "idle_domain",
  "domain_list",
  "nr_domains",
  "event_counter",
  "console_ring",
  "console_prod",
  "livepatch_work",
  "livepatch_work_to_do",
  "tasklet_list",
  "softirq_pending",
  "long_work_result",
  "cpu_online_map",
  "system_state",
];

const HOOK_KINDS = [
  "load",
  "unload",
  "preapply",
  "apply",
  "postapply",
  "prerevert",
  "revert",
  "postrevert",
];

// ---------------------------------------------------------------------------------------
// binutils access

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env: { LC_ALL: "C" } }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

interface Section {
  index: number;
  name: string;
  type: string;
  addr: bigint;
  offset: number;
  size: number;
  flags: string;
}

interface Sym {
  name: string;
  value: bigint;
  size: number;
  type: string;
  bind: string;
  ndx: string;
  file: string | null;
}

interface Rela {
  offset: number;
  type: string;
  sym: string;
  addend: bigint;
}

class Elf {
  sections: Section[] = [];
  symbols: Sym[] = [];
  relocs = new Map<string, Rela[]>();
  bytes: Uint8Array = new Uint8Array();
  constructor(readonly path: string) {}

  static async load(path: string): Promise<Elf> {
    const e = new Elf(path);
    e.bytes = await Deno.readFile(path);
    for (const line of (await run("readelf", ["-SW", path])).split("\n")) {
      const m = line.match(
        /^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+\s*$/,
      );
      if (m) {
        e.sections.push({
          index: Number(m[1]),
          name: m[2],
          type: m[3],
          addr: BigInt("0x" + m[4]),
          offset: parseInt(m[5], 16),
          size: parseInt(m[6], 16),
          flags: m[7],
        });
      }
    }
    let file: string | null = null;
    for (const line of (await run("readelf", ["-sW", path])).split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length < 7 || !/^\d+:$/.test(f[0])) continue;
      const sym: Sym = {
        name: f[7] ?? "",
        value: BigInt("0x" + f[1]),
        size: f[2].startsWith("0x") ? parseInt(f[2], 16) : Number(f[2]),
        type: f[3],
        bind: f[4],
        ndx: f[6],
        file: null,
      };
      if (sym.type === "FILE") file = sym.name;
      else if (sym.bind === "LOCAL") sym.file = file;
      e.symbols.push(sym);
    }
    let cur: Rela[] | null = null;
    for (const line of (await run("readelf", ["-rW", path])).split("\n")) {
      const h = line.match(/^Relocation section '([^']+)'/);
      if (h) {
        cur = [];
        e.relocs.set(h[1], cur);
        continue;
      }
      const m = line.match(
        /^([0-9a-f]+)\s+[0-9a-f]+\s+(R_X86_64_\w+)\s+[0-9a-f]+\s+(\S+)\s+([+-])\s+([0-9a-f]+)\s*$/,
      );
      if (m && cur) {
        const a = BigInt("0x" + m[5]);
        cur.push({
          offset: parseInt(m[1], 16),
          type: m[2],
          sym: m[3],
          addend: m[4] === "-" ? -a : a,
        });
      }
    }
    return e;
  }

  byIndex(ndx: string): Section | undefined {
    return this.sections.find((s) => String(s.index) === ndx);
  }

  section(name: string): Section | undefined {
    return this.sections.find((s) => s.name === name);
  }

  contents(s: Section): Uint8Array {
    if (s.type === "NOBITS") return new Uint8Array(s.size);
    return this.bytes.subarray(s.offset, s.offset + s.size);
  }

  /** Relocations applying to section `name`, keyed by offset. */
  relocsFor(name: string): Map<number, Rela> {
    const m = new Map<number, Rela>();
    for (const r of this.relocs.get(".rela" + name) ?? []) m.set(r.offset, r);
    return m;
  }

  /** Global symbol by name, or "file#name" for a local one. */
  sym(key: string): Sym | undefined {
    const hash = key.indexOf("#");
    if (hash >= 0) {
      const file = key.slice(0, hash), name = key.slice(hash + 1);
      return this.symbols.find((s) => s.name === name && s.file === file && s.bind === "LOCAL");
    }
    const found = this.symbols.filter((s) => s.name === key && s.ndx !== "UND");
    const global = found.filter((s) => s.bind !== "LOCAL");
    return global.length === 1 ? global[0] : found.length === 1 ? found[0] : undefined;
  }

  /** Bytes at a virtual address (ET_EXEC). */
  at(addr: bigint, len: number): Uint8Array {
    for (const s of this.sections) {
      if (
        s.type === "PROGBITS" && s.addr !== 0n && addr >= s.addr &&
        addr + BigInt(len) <= s.addr + BigInt(s.size)
      ) {
        const off = s.offset + Number(addr - s.addr);
        return this.bytes.subarray(off, off + len);
      }
    }
    throw new Error(`${this.path}: no bytes at 0x${addr.toString(16)}`);
  }

  /** Resolve a relocation target to a named symbol (section symbol + addend => FUNC/OBJECT). */
  target(r: Rela): { sym: Sym | undefined; name: string; section: Section | undefined } {
    const sym = this.symbols.find((s) =>
      s.name === r.sym && s.type !== "SECTION" && s.type !== "FILE"
    );
    if (!sym) {
      const sec = this.section(r.sym);
      const inSec = this.symbols.filter((s) =>
        sec && s.ndx === String(sec.index) && (s.type === "FUNC" || s.type === "OBJECT") &&
        s.value === r.addend
      );
      if (inSec.length === 1) return { sym: inSec[0], name: inSec[0].name, section: sec };
      return { sym: undefined, name: r.sym, section: sec };
    }
    return { sym, name: sym.name, section: sym.ndx === "UND" ? undefined : this.byIndex(sym.ndx) };
  }

  /** Section and offset a relocation points at (symbol value + addend). */
  locate(r: Rela): { section: Section; offset: number } {
    const sym = this.symbols.find((s) => s.name === r.sym && s.type !== "FILE");
    check(
      sym !== undefined && sym.ndx !== "UND" && sym.ndx !== "ABS",
      `${this.path}: cannot locate ${r.sym}`,
    );
    return { section: this.byIndex(sym!.ndx)!, offset: Number(sym!.value + r.addend) };
  }

  cString(sec: Section, off: number): string {
    const b = this.contents(sec);
    let end = off;
    while (end < b.length && b[end] !== 0) end++;
    return new TextDecoder().decode(b.subarray(off, end));
  }
}

// ---------------------------------------------------------------------------------------
// helpers

const hex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const addrHex = (a: bigint): string => "0x" + a.toString(16);
const u32 = (b: Uint8Array, o: number): number =>
  new DataView(b.buffer, b.byteOffset).getUint32(o, true);
const u64 = (b: Uint8Array, o: number): bigint =>
  new DataView(b.buffer, b.byteOffset).getBigUint64(o, true);

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`gen_manifest: ${what}`);
}

function same(a: unknown, b: unknown, what: string): void {
  check(
    JSON.stringify(a) === JSON.stringify(b),
    `${what}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`,
  );
}

/** Descriptor of an NT_GNU_BUILD_ID note (whole note at the start of `b`). */
function noteId(b: Uint8Array): string {
  check(b.length > 12, "note too short");
  const namesz = u32(b, 0), descsz = u32(b, 4), type = u32(b, 8);
  check(
    type === 3 && namesz === 4 && hex(b.subarray(12, 16)) === "474e5500",
    "not a GNU build-id note",
  );
  const d = 12 + ((namesz + 3) & ~3);
  return hex(b.subarray(d, d + descsz));
}

// ---------------------------------------------------------------------------------------
// main

const [binDir, outFile] = Deno.args;
check(
  binDir !== undefined && outFile !== undefined,
  "usage: gen_manifest.ts <binDir> <manifest.json>",
);

const image = await Elf.load(`${binDir}/minivisor`);
const imageId = noteId(image.contents(image.section(".note.gnu.build-id")!));

// Layout constants straight from the C header, so they cannot drift.
const header = await Deno.readTextFile(new URL("./minivisor/include/minivisor.h", import.meta.url));
const define = (n: string): string => {
  const m = header.match(new RegExp(`^#define\\s+${n}\\s+(\\S+)`, "m"));
  check(m !== null, `#define ${n} not found`);
  return m![1];
};
const nrCpus = Number(define("NR_CPUS"));
const stackSize = Number(define("PAGE_SIZE")) << Number(define("STACK_ORDER"));
const cpuInfoSize = Number(define("CPUINFO_sizeof"));

const imageSymbols: Record<string, unknown> = {};
for (const key of IMAGE_SYMBOLS) {
  const s = image.sym(key);
  check(s !== undefined, `image symbol ${key} not found (or ambiguous)`);
  const entry: Record<string, unknown> = {
    address: addrHex(s!.value),
    size: s!.size,
    type: s!.type,
    bind: s!.bind,
  };
  if (s!.type === "FUNC" && s!.size > 0 && s!.size <= 32) {
    entry.bytes = hex(image.at(s!.value, s!.size));
  }
  imageSymbols[key] = entry;
}

const imageSections: Record<string, unknown> = {};
for (const s of image.sections) {
  if (s.addr === 0n) continue;
  imageSections[s.name] = { address: addrHex(s.addr), size: s.size, flags: s.flags };
}

const manifest = {
  image: {
    file: "bin/minivisor",
    buildId: imageId,
    entry: image.sym("_start") ? addrHex(image.sym("_start")!.value) : null,
    sections: imageSections,
    layout: {
      nrCpus,
      stackSize,
      cpuStacks: addrHex(image.sym("cpu_stacks")!.value),
      cpuInfoSize,
      cpuInfoOffsetInStack: stackSize - cpuInfoSize,
      cpuInfoFields: {
        processor_id: Number(define("CPUINFO_processor_id")),
        flags: Number(define("CPUINFO_flags")),
        current_vcpu: Number(define("CPUINFO_current_vcpu")),
        stack_base: Number(define("CPUINFO_stack_base")),
        magic: Number(define("CPUINFO_magic")),
      },
      cpuInfoMagic: define("CPUINFO_MAGIC").replace(/UL$/, "").toLowerCase(),
      percpuStatsStride: 64,
      bspEntry: "_start",
      apEntry: "ap_start",
    },
    symbols: imageSymbols,
  },
  payloads: [] as unknown[],
};

// Build-ids of all payloads first (for "depends": "<payload name>").
const loaded = new Map<string, Elf>();
const ownIds = new Map<string, string>();
for (const p of PAYLOADS) {
  if (p.truncatedFrom) continue;
  const e = await Elf.load(`${binDir}/${p.name}.livepatch`);
  loaded.set(p.name, e);
  const sec = e.section(".note.gnu.build-id");
  check(sec !== undefined, `${p.name}: no .note.gnu.build-id`);
  ownIds.set(p.name, noteId(e.contents(sec!)));
}

function depName(id: string): string {
  if (id === imageId) return "image";
  for (const [n, i] of ownIds) if (i === id) return n;
  return id;
}

for (const p of PAYLOADS) {
  const file = `bin/${p.name}.livepatch`;
  const size = (await Deno.stat(`${binDir}/${p.name}.livepatch`)).size;
  const base = {
    file,
    name: p.name,
    format: p.format,
    description: p.description,
    action: p.action,
    fileSize: size,
  };

  if (p.truncatedFrom) {
    const whole = await Deno.readFile(`${binDir}/${p.truncatedFrom}.livepatch`);
    const part = await Deno.readFile(`${binDir}/${p.name}.livepatch`);
    same(hex(part), hex(whole.subarray(0, part.length)), `${p.name}: prefix of ${p.truncatedFrom}`);
    manifest.payloads.push({
      ...base,
      truncatedFrom: p.truncatedFrom,
      buildId: null,
      depends: null,
      xenDepends: null,
      funcsSectionSize: null,
      funcs: null,
      hooks: null,
      modinfo: null,
      modinfoTerminated: null,
      safeToReapply: null,
      intendedOutcome: p.intendedOutcome,
    });
    continue;
  }

  const e = loaded.get(p.name)!;
  const what = (s: string) => `${p.name}: ${s}`;

  // Dependencies.
  const dep = e.section(".livepatch.depends");
  const depends = dep ? depName(noteId(e.contents(dep))) : null;
  const xdep = e.section(".livepatch.xen_depends");
  const xenDepends = xdep ? depName(noteId(e.contents(xdep))) : null;
  same(depends, p.depends, what("depends"));
  if (p.xenDepends === "foreign") {
    check(
      xenDepends !== null && /^[0-9a-f]{40}$/.test(xenDepends),
      what("xen_depends should be foreign"),
    );
  } else same(xenDepends, p.xenDepends, what("xen_depends"));

  // Funcs.
  let funcs: unknown[] | null = null;
  const fsec = e.section(".livepatch.funcs");
  if (fsec) {
    const b = e.contents(fsec);
    const relocs = e.relocsFor(".livepatch.funcs");
    const stride = b.length >= 33 && b[32] === 1 ? 64 : 104;
    funcs = [];
    for (let off = 0; off + stride <= b.length; off += stride) {
      const i = off / stride;
      const spec = p.funcs?.[i];
      check(spec !== undefined, what(`unexpected func entry ${i}`));
      const rel = (field: number) => {
        const r = relocs.get(off + field);
        if (r) {
          check(r.type === "R_X86_64_64", what(`func ${i} +${field}: ${r.type}`));
          check(u64(b, off + field) === 0n, what(`func ${i} +${field}: RELA with non-zero field`));
        }
        return r;
      };
      // name
      const rn = rel(0);
      let name: string | null = null;
      if (rn) {
        const loc = e.locate(rn);
        name = e.cString(loc.section, loc.offset);
      } else check(u64(b, off) === 0n, what(`func ${i} name is a literal`));
      // new_addr
      const rw = rel(8);
      const newSymbol = rw ? e.target(rw).name : null;
      if (!rw) check(u64(b, off + 8) === 0n, what(`func ${i} new_addr is a literal`));
      // old_addr
      const ro = rel(16);
      let oldAddrInFile: "reloc" | "zero" | "abs";
      let oldSymbol: string | null;
      if (ro) {
        oldAddrInFile = "reloc";
        oldSymbol = ro.sym;
        check(ro.addend === 0n, what(`func ${i} old_addr addend`));
      } else if (u64(b, off + 16) === 0n) {
        oldAddrInFile = "zero";
        oldSymbol = name !== null && image.sym(name) ? name : null;
      } else {
        oldAddrInFile = "abs";
        const a = u64(b, off + 16);
        const hits = image.symbols.filter((s) => s.value === a && s.type === "FUNC");
        oldSymbol = hits.length ? hits[0].name : null;
        check(
          oldSymbol !== null,
          what(`func ${i} absolute old_addr 0x${a.toString(16)} is no function`),
        );
      }
      const old = oldSymbol ? image.sym(oldSymbol) : undefined;
      const newSize = u32(b, off + 24), oldSize = u32(b, off + 28), version = b[off + 32];

      let expect: { len: number; data: string } | null = null;
      if (stride === 104) {
        const ex = b[off + 72];
        if (ex & 1) {
          check((ex >> 6) === 0, what("expect.rsv"));
          const len = (ex >> 1) & 31;
          expect = { len, data: hex(b.subarray(off + 73, off + 73 + len)) };
        } else {check(
            b.subarray(off + 72, off + 104).every((x) => x === 0),
            what("expect disabled but data"),
          );}
        check(b.subarray(off + 33, off + 72).every((x) => x === 0), what("_pad not zero"));
      } else {check(
          b.subarray(off + 33, off + 64).every((x) => x === 0),
          what("v1 opaque not zero"),
        );}

      same(
        { name, oldSymbol, oldAddrInFile, newSymbol, version },
        {
          name: spec!.name,
          oldSymbol: spec!.oldSymbol,
          oldAddrInFile: spec!.oldAddrInFile,
          newSymbol: spec!.newSymbol,
          version: spec!.version,
        },
        what(`func ${i}`),
      );
      same(oldSize, spec!.oldSize ?? old?.size ?? oldSize, what(`func ${i} old_size`));
      if (old && spec!.oldSize === undefined) {
        same(oldSize, old.size, what(`func ${i} old_size vs image`));
      }
      if (newSymbol) {
        same(newSize, e.sym(newSymbol)?.size, what(`func ${i} new_size vs payload symbol`));
      } else {
        // NOP mode: new_size covers everything before the final 5-byte jmp to the return thunk.
        check(old !== undefined && newSize <= 31 && newSize + 5 === old.size, what("NOP new_size"));
        const tail = image.at(old!.value + BigInt(newSize), 5);
        const dest = old!.value + BigInt(newSize + 5) +
          BigInt(new DataView(tail.buffer, tail.byteOffset).getInt32(1, true));
        check(
          tail[0] === 0xe9 && dest === image.sym("__x86_return_thunk")!.value,
          what("NOP tail is jmp thunk"),
        );
      }
      const ex = spec!.expect ?? null;
      if (ex && "from" in ex) {
        same(
          expect,
          { len: ex.len, data: hex(image.at(old!.value, ex.len)) },
          what("expect (image)"),
        );
      } else same(expect, ex, what("expect"));

      funcs.push({
        name,
        oldSymbol,
        oldAddrInFile,
        oldAddress: old ? addrHex(old.value) : null,
        newSymbol,
        newSize,
        oldSize,
        version,
        expect,
      });
    }
    check(funcs.length === (p.funcs?.length ?? -1), what("number of funcs"));
  } else same(p.funcs, null, what("no .livepatch.funcs"));

  // Hooks.
  let hooks: Record<string, (string | null)[]> | null = null;
  for (const k of HOOK_KINDS) {
    const sec = e.section(`.livepatch.hooks.${k}`);
    if (!sec) continue;
    const b = e.contents(sec);
    const relocs = e.relocsFor(sec.name);
    const list: (string | null)[] = [];
    for (let off = 0; off + 8 <= b.length; off += 8) {
      const r = relocs.get(off);
      list.push(r ? e.target(r).name : u64(b, off) === 0n ? null : "<literal>");
    }
    (hooks ??= {})[k] = list;
  }
  same(hooks, p.hooks, what("hooks"));

  // .modinfo.
  let modinfo: string[] | null = null;
  let modinfoTerminated: boolean | null = null;
  const ms = e.section(".modinfo");
  if (ms) {
    const b = e.contents(ms);
    modinfoTerminated = b.length > 0 && b[b.length - 1] === 0;
    const text = new TextDecoder().decode(modinfoTerminated ? b.subarray(0, b.length - 1) : b);
    modinfo = text.split("\0");
  }
  same(modinfo, p.modinfo, what("modinfo"));
  same(
    modinfoTerminated,
    p.modinfo ? (p.modinfoTerminated ?? true) : null,
    what("modinfo terminated"),
  );

  // Xen's safe_to_reapply: no writable ALLOC section with data, or only .livepatch.funcs.
  const writable = e.sections.filter((s) =>
    s.flags.includes("A") && s.flags.includes("W") && s.size > 0
  );
  const safeToReapply = writable.length === 0 ||
    (writable.length === 1 && writable[0].name === ".livepatch.funcs");

  manifest.payloads.push({
    ...base,
    buildId: ownIds.get(p.name),
    depends,
    xenDepends,
    funcsSectionSize: fsec ? fsec.size : null,
    funcs,
    hooks,
    modinfo,
    modinfoTerminated,
    safeToReapply,
    intendedOutcome: p.intendedOutcome,
  });
}

// Every built payload must be described.
for await (const ent of Deno.readDir(binDir)) {
  if (!ent.name.endsWith(".livepatch")) continue;
  check(
    PAYLOADS.some((p) => `${p.name}.livepatch` === ent.name),
    `undescribed payload ${ent.name}`,
  );
}

await Deno.writeTextFile(outFile, JSON.stringify(manifest, null, 2) + "\n");
