/**
 * `lpkit disasm <symbol|address>`: the host's code as it is now, through
 * iced-x86's formatter, with applied live patches annotated: the trampoline
 * over an old function, the bytes it replaced, and the replacement.
 *
 * @module
 */
import { Decoder, DecoderOptions, FlowControl, Formatter, FormatterSyntax } from "iced-x86";
import type { Host } from "@lpkit/livepatch-core";
import {
  type Command,
  helpRequested,
  HOST_OPTIONS,
  HOST_OPTIONS_USAGE,
  parseCommandArgs,
  readInput,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { hexBytes, toJson } from "../format.ts";
import { ephemeralHost, withHost } from "../session.ts";
import { parseCount } from "../units.ts";
import { hostContext } from "./_host_io.ts";

/** An applied patch site, as `disasm` annotates it. */
export interface PatchSite {
  /** The payload. */
  payload: string;
  /** Its funcs entry. */
  func: number;
  /** The old function. */
  oldAddr: bigint;
  oldSize: number;
  /** Where the jump (or NOPs) went: the old function's start, or after its ENDBR64. */
  at: bigint;
  /** The replacement, or null in NOP mode. */
  newAddr: bigint | null;
  /** `name+0x0/0xsize [payload]` of the replacement. */
  newSymbol: string | null;
  /** The bytes the patch replaced (hex). */
  original: string;
}

/** One disassembled block. */
export interface DisasmBlock {
  /** Xen's %pS of the start. */
  symbol: string;
  address: bigint;
  size: number;
  /** `image`, or the payload that holds it. */
  owner: string;
  /** The live patch over this code, or null. */
  patch: PatchSite | null;
  /** `replacement`: the block is a patch's new function. */
  role: "requested" | "replacement";
  instructions: {
    address: bigint;
    bytes: string;
    text: string;
    /** A branch or RIP-relative target, or null. */
    target: bigint | null;
    /** The target's %pS, or null. */
    targetSymbol: string | null;
    /** A live-patch remark on this instruction, or null. */
    note: string | null;
  }[];
}

/** The `lpkit.disasm/1` document. */
export interface DisasmReport {
  schema: "lpkit.disasm/1";
  syntax: "gas" | "intel";
  blocks: DisasmBlock[];
}

/**
 * Every applied patch site of the host.
 *
 * @example
 * ```ts
 * import { ephemeralHost, patchSites } from "@lpkit/cli";
 * import { LivepatchClient } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = ephemeralHost(readFileSync("examples/bin/minivisor"));
 * assert.deepEqual(patchSites(host), []);
 * const lp = new LivepatchClient(host);
 * lp.upload("hello", readFileSync("examples/bin/hello.livepatch"));
 * lp.apply("hello");
 * const [site] = patchSites(host);
 * assert.equal(site.payload, "hello");
 * assert.equal(site.newSymbol, "xen_hello_world+0x0/0x10 [hello]");
 * ```
 */
export function patchSites(host: Host): PatchSite[] {
  const sites: PatchSite[] = [];
  for (const p of host.payloads()) {
    p.payload.funcs.forEach((f, i) => {
      const s = p.fstate[i];
      if (s === undefined || !s.applied) return;
      const at = f.oldAddr + BigInt(s.patchOffset);
      const length = f.newAddr === 0n ? f.newSize : 5;
      sites.push({
        payload: p.name,
        func: i,
        oldAddr: f.oldAddr,
        oldSize: f.oldSize,
        at,
        newAddr: f.newAddr === 0n ? null : f.newAddr,
        newSymbol: f.newAddr === 0n ? null : host.symbolize(f.newAddr),
        original: hexBytes(s.insnBuffer.subarray(0, length)),
      });
    });
  }
  return sites;
}

/** The start and size of the function holding `address` (image or payload), if known. */
function functionAt(
  host: Host,
  address: bigint,
): { start: bigint; size: number; owner: string } | undefined {
  const at = host.image.symbols.lookup(address);
  if (at !== undefined && at.size > 0n) {
    return { start: address - at.offset, size: Number(at.size), owner: "image" };
  }
  for (const p of host.payloads()) {
    for (const s of p.payload.symbols) {
      if (s.size > 0n && address >= s.address && address < s.address + s.size) {
        return { start: s.address, size: Number(s.size), owner: p.name };
      }
    }
  }
  return undefined;
}

function disassemble(
  host: Host,
  start: bigint,
  options: { size?: number; count?: number; syntax: "gas" | "intel" },
  sites: PatchSite[],
): DisasmBlock["instructions"] {
  const size = options.size ?? (options.count ?? 16) * 15;
  let bytes: Uint8Array;
  try {
    bytes = host.machine.memory.read(start, size);
  } catch {
    // Near the end of a mapping: read what is there, byte by byte.
    const got: number[] = [];
    for (let i = 0; i < size; i++) {
      try {
        got.push(host.machine.memory.read(start + BigInt(i), 1)[0]);
      } catch {
        break;
      }
    }
    if (got.length === 0) {
      throw new CliError("EFAULT", `nothing is mapped at 0x${start.toString(16)}`);
    }
    bytes = Uint8Array.from(got);
  }
  const decoder = new Decoder(64, bytes, DecoderOptions.None);
  const formatter = new Formatter(
    options.syntax === "gas" ? FormatterSyntax.Gas : FormatterSyntax.Intel,
  );
  formatter.firstOperandCharIndex = 8;
  formatter.uppercaseHex = false;
  formatter.hexPrefix = "0x";
  formatter.hexSuffix = "";
  // Always hex, as objdump does. (iced-x86 1.21's "small numbers in decimal" looks at the low
  // 32 bits only: movabs $0xdead000000000000 would print as $0.)
  formatter.smallHexNumbersInDecimal = false;
  const out: DisasmBlock["instructions"] = [];
  const seek = (address: bigint) => {
    decoder.position = Number(address - start);
    decoder.ip = address;
  };
  seek(start);
  try {
    while (decoder.canDecode && (options.count === undefined || out.length < options.count)) {
      const ins = decoder.decode();
      try {
        const address = ins.ip;
        const offset = Number(address - start);
        const flow = ins.flowControl;
        const branch = flow === FlowControl.UnconditionalBranch ||
          flow === FlowControl.ConditionalBranch ||
          flow === FlowControl.Call;
        const target = branch
          ? ins.nearBranchTarget
          : ins.isIpRelMemoryOperand
          ? ins.ipRelMemoryAddress
          : null;
        const site = sites.find((s) => s.at === address);
        const note = site === undefined
          ? null
          : site.newAddr === null
          ? `live patch ${site.payload}: NOPs over ${
            site.original.split(" ").length
          } bytes (was ${site.original})`
          : `live patch ${site.payload}: jump to ${site.newSymbol} (was ${site.original})`;
        out.push({
          address,
          bytes: hexBytes(bytes.subarray(offset, offset + ins.length)),
          text: formatter.format(ins),
          target,
          targetSymbol: target === null ? null : host.symbolize(target),
          note,
        });
        if (site !== undefined && site.newAddr !== null) {
          // The jump ends inside the instruction it overwrote: show the rest as data.
          const end = originalBoundary(host, site);
          const tail = Number(end - (address + BigInt(ins.length)));
          if (tail > 0 && offset + ins.length + tail <= bytes.length) {
            const data = bytes.subarray(offset + ins.length, offset + ins.length + tail);
            out.push({
              address: address + BigInt(ins.length),
              bytes: hexBytes(data),
              text: `.byte   ${Array.from(data, (b) => `0x${b.toString(16)}`).join(",")}`,
              target: null,
              targetSymbol: null,
              note: "the rest of the instruction the jump overwrote",
            });
            seek(end);
          }
        }
      } finally {
        ins.free();
      }
    }
  } finally {
    decoder.free();
    formatter.free();
  }
  return out;
}

/** Where the original instruction(s) under a 5-byte jump ended: decode the undo buffer and what follows. */
function originalBoundary(host: Host, site: PatchSite): bigint {
  const original = Uint8Array.from(site.original.split(" "), (h) => parseInt(h, 16));
  let after: Uint8Array;
  try {
    after = host.machine.memory.read(site.at + BigInt(original.length), 15);
  } catch {
    return site.at + BigInt(original.length);
  }
  const code = new Uint8Array([...original, ...after]);
  const d = new Decoder(64, code, DecoderOptions.None);
  let offset = 0;
  try {
    while (offset < original.length && d.canDecode) {
      const ins = d.decode();
      offset += ins.length;
      ins.free();
    }
  } finally {
    d.free();
  }
  return site.at + BigInt(Math.max(offset, original.length));
}

function render(r: DisasmReport): string {
  let out = "";
  for (const b of r.blocks) {
    if (out !== "") out += "\n";
    const owner = b.owner === "image" || b.symbol.endsWith("]") ? "" : ` [${b.owner}]`;
    out += `${b.symbol}${owner}: ${b.size} bytes at 0x${b.address.toString(16)}${
      b.role === "replacement" ? " (the replacement)" : ""
    }\n`;
    if (b.patch !== null) {
      const p = b.patch;
      out += `  live patch ${p.payload} (funcs[${p.func}]) is applied: ${
        p.newSymbol === null ? "NOPs" : `jmp to ${p.newSymbol}`
      } at +0x${(p.at - p.oldAddr).toString(16)}\n`;
    }
    for (const i of b.instructions) {
      const comment = i.note ?? i.targetSymbol ?? "";
      out += `  ${i.address.toString(16)}  ${i.bytes.padEnd(30)} ${i.text}${
        comment === "" ? "" : `   # ${comment}`
      }\n`;
    }
  }
  return out;
}

/**
 * Disassembles `target` on `host`, following an applied patch to its replacement.
 *
 * @example
 * ```ts
 * import { disasmReport, ephemeralHost } from "@lpkit/cli";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = ephemeralHost(readFileSync("examples/bin/minivisor"));
 * const report = disasmReport(host, "xen_extra_version", { syntax: "intel" });
 * assert.equal(report.blocks.length, 1); // no live patch applied
 * assert.equal(report.blocks[0].symbol, "xen_extra_version+0x0/0x10");
 * assert.equal(report.blocks[0].patch, null);
 * ```
 */
export function disasmReport(
  host: Host,
  target: string,
  options: { count?: number; syntax: "gas" | "intel" },
): DisasmReport {
  const address = host.findSymbol(target);
  if (address === undefined) {
    throw new CliError("ENOENT", `no function named ${target} in the image or a loaded payload`);
  }
  const sites = patchSites(host);
  const fn = functionAt(host, address);
  const whole = fn !== undefined && fn.start === address && options.count === undefined;
  const block = (
    start: bigint,
    role: DisasmBlock["role"],
    f = functionAt(host, start),
  ): DisasmBlock => {
    const full = role === "replacement" || whole;
    const size = full && f !== undefined ? Math.min(f.size, 64 * 1024) : undefined;
    const instructions = disassemble(host, start, {
      size,
      count: size === undefined ? options.count ?? 16 : undefined,
      syntax: options.syntax,
    }, sites);
    const last = instructions[instructions.length - 1];
    return {
      symbol: host.symbolize(start),
      address: start,
      size: last === undefined ? 0 : Number(last.address - start) + last.bytes.split(" ").length,
      owner: f?.owner ?? "image",
      patch: sites.find((s) => s.oldAddr === start) ?? null,
      role,
      instructions,
    };
  };
  const blocks = [block(address, "requested", fn)];
  const patch = blocks[0].patch;
  if (patch !== null && patch.newAddr !== null) blocks.push(block(patch.newAddr, "replacement"));
  return { schema: "lpkit.disasm/1", syntax: options.syntax, blocks };
}

const USAGE = `Usage: lpkit disasm <symbol|0xaddress> [--count N] [--intel] [--state DIR] [--json]
       lpkit disasm --image ELF <symbol|0xaddress> [--count N] [--intel] [--json]

Disassembles the host's memory as it is now (iced-x86, AT&T syntax by
default): a whole function when given its name or start, else --count
instructions (default 16). Branch and RIP-relative targets are named. When
a live patch is applied over the function, its trampoline is annotated with
the bytes it replaced, and the replacement function follows.

Options:
  --count N         Instructions to show (default: the whole function, or 16)
  --intel           Intel syntax instead of AT&T
  --image ELF       Disassemble a fresh host booted from ELF (no state folder)
${HOST_OPTIONS_USAGE}

Examples:
  lpkit disasm xen_extra_version
  lpkit disasm 0xffff82d040200000 --count 4
`;

/** `lpkit disasm`. */
export const disasmCommand: Command = {
  name: "disasm",
  usage: USAGE,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, USAGE, {
      ...HOST_OPTIONS,
      count: { type: "string" },
      intel: { type: "boolean" },
      image: { type: "string" },
    });
    if (helpRequested(io, values, USAGE)) return 0;
    if (positionals.length !== 1) {
      throw new CliError("USAGE", `disasm takes one symbol or address\n\n${USAGE}`);
    }
    const options = {
      count: values.count === undefined
        ? undefined
        : parseCount(values.count, "--count", 1, 100_000),
      syntax: values.intel ? "intel" as const : "gas" as const,
    };
    const print = (host: Host) => {
      const report = disasmReport(host, positionals[0], options);
      io.stdout(values.json ? toJson(report) : render(report));
      return 0;
    };
    if (values.image !== undefined) {
      if (values.state !== undefined) {
        throw new CliError("USAGE", "--image runs without a state folder");
      }
      return print(ephemeralHost(readInput(io, values.image), { cpus: 1 }));
    }
    const ctx = hostContext(io, values.state);
    return withHost(ctx.io, ctx.dir, { progress: ctx.progress }, ({ host }) => print(host));
  },
};
