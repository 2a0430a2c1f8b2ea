/**
 * Sparse 64-bit guest memory made of 4 KiB pages with read/write/execute permissions.
 *
 * Pages live in a `Map` keyed by page number (`Math.floor(linear / 4096)`, an exact integer since
 * linear addresses are canonical signed numbers, see `address.ts`), fronted by a 256-entry
 * direct-mapped software TLB. Each page may carry a decode cache (`code`), one slot per byte offset;
 * any write overlapping a cached instruction drops it (emulation.md, "Decode cache").
 *
 * @module
 */

import { CpuFault } from "./faults.ts";
import { fromLinear, hex, toLinear } from "./address.ts";
import type { Insn } from "./decoder.ts";

/** Page permission bits. */
export const PERM_R = 1;
/** Write permission. */
export const PERM_W = 2;
/** Execute permission. */
export const PERM_X = 4;
/** Read + write. */
export const PERM_RW = 3;
/** Read + execute. */
export const PERM_RX = 5;
/** Read + write + execute. */
export const PERM_RWX = 7;

/** Size of a page in bytes. */
export const PAGE_SIZE = 4096;
const TLB_SIZE = 256;
/** Entries of the read and write TLBs used by compiled code (`fastAccess`). */
const FAST_TLB_SIZE = 1024;
const FAST_MASK = FAST_TLB_SIZE - 1;
/** Longest x86 instruction, used to find cached instructions that overlap a write. */
const MAX_INSN = 15;

/** One guest page. */
export interface Page {
  /** Page number (canonical linear address / 4096). */
  readonly number: number;
  /** Low 32 bits of the page address >>> 12 (TLB tag of compiled code). */
  readonly tagLo: number;
  /** High 32 bits of the page address (TLB tag of compiled code). */
  readonly tagHi: number;
  /** Page contents. */
  readonly data: Uint8Array;
  /** DataView over `data`. */
  readonly view: DataView;
  /** Permission bits (`PERM_*`). */
  perm: number;
  /** Decode cache, one slot per byte offset, or null when nothing was decoded here. */
  code: (Insn | undefined)[] | null;
  /** Compiled blocks covering bytes of this page, or null (see `jit.ts`). */
  blocks?: CodeBlock[] | null;
}

/**
 * A compiled block as memory sees it: the byte ranges it was built from. A write overlapping
 * one of them invalidates it (the block compiler lives in `jit.ts`).
 */
export interface CodeBlock {
  /** Cleared when the block must no longer run. */
  valid: boolean;
  /** Covered bytes as flattened [start, end) pairs of canonical addresses. */
  readonly ranges: readonly number[];
  /** Mark invalid and unlink from the decode cache. */
  invalidate(): void;
}

/** Placeholder TLB entry that matches no page number. */
const NO_PAGE: Page = {
  number: NaN,
  tagLo: -1,
  tagHi: -1,
  data: new Uint8Array(0),
  view: new DataView(new ArrayBuffer(0)),
  perm: 0,
  code: null,
  blocks: null,
};

/** A region to map, e.g. an ELF section or a loaded payload region. */
export interface MappedRegion {
  /** Virtual address (unsigned 64-bit). */
  address: bigint;
  /** Initial contents (may be shorter than `size`; the rest is zero, as for `.bss`). */
  data: Uint8Array;
  /** Size in bytes. */
  size: number;
  /** Permissions (`PERM_*` bits). */
  perms: number;
}

/** Called with the cached instructions a write removed from the decode cache. */
export type CodeWriteListener = (address: number, length: number, stale: Insn[]) => void;

/**
 * Sparse paged guest memory.
 *
 * @example Map, write and read back
 * ```ts
 * import { Memory, PERM_RW } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Memory();
 * m.map(0xffff830000000000n, 8192, PERM_RW);
 * m.writeU64(0xffff830000000ffcn, 0x1122334455667788n); // crosses a page boundary
 * assert.equal(m.readU64(0xffff830000000ffcn), 0x1122334455667788n);
 * ```
 */
export class Memory {
  readonly #pages = new Map<number, Page>();
  readonly #tlbTag = new Float64Array(TLB_SIZE).fill(NaN);
  readonly #tlbPage: (Page | undefined)[] = new Array(TLB_SIZE).fill(undefined);
  /** High 32 bits of the last 64-bit read (`rd64`). */
  hi = 0;
  /**
   * Read TLB of compiled code (internal): readable pages by `pageNumber & 1023`. Filled by the
   * guest accessors, reset when mappings or permissions change.
   */
  readonly rtlb: Page[] = new Array(FAST_TLB_SIZE).fill(NO_PAGE);
  /**
   * Write TLB of compiled code (internal): writable pages holding no decoded code, so stores
   * that hit it need no decode-cache check.
   */
  readonly wtlb: Page[] = new Array(FAST_TLB_SIZE).fill(NO_PAGE);
  /** Listener notified when a write removes cached decoded instructions. */
  onCodeWrite: CodeWriteListener | undefined = undefined;

  /** Number of mapped pages. */
  get pageCount(): number {
    return this.#pages.size;
  }

  /** The page holding canonical address `a`, or undefined. */
  page(a: number): Page | undefined {
    const pn = Math.floor(a / PAGE_SIZE);
    const idx = pn & (TLB_SIZE - 1);
    if (this.#tlbTag[idx] === pn) return this.#tlbPage[idx];
    const p = this.#pages.get(pn);
    if (p !== undefined) {
      this.#tlbTag[idx] = pn;
      this.#tlbPage[idx] = p;
    }
    return p;
  }

  #flushTlb(): void {
    this.#tlbTag.fill(NaN);
    this.#tlbPage.fill(undefined);
    this.rtlb.fill(NO_PAGE);
    this.wtlb.fill(NO_PAGE);
  }

  /**
   * Note that page `p` holds decoded code: stores to it must take the checked path from now on
   * (called by the decoder and the block compiler; internal).
   */
  noteCode(p: Page): void {
    const idx = p.number & FAST_MASK;
    if (this.wtlb[idx] === p) this.wtlb[idx] = NO_PAGE;
  }

  /**
   * Drop a page's decode cache and every compiled block built from it. Host-pinned records
   * (traps, host functions, hooks) stay.
   */
  #dropCode(p: Page): void {
    const old = p.code;
    p.code = null;
    old?.forEach((r, off) => {
      if (r?.pinned) (p.code ??= new Array(PAGE_SIZE))[off] = r;
    });
    const blocks = p.blocks;
    if (blocks !== undefined && blocks !== null) {
      p.blocks = null;
      for (const b of blocks) b.invalidate();
    }
  }

  /**
   * Register a compiled block on the pages its ranges cover, so writes invalidate it (internal,
   * used by the block compiler). Returns false when a range is not on mapped pages.
   */
  addBlock(b: CodeBlock): boolean {
    const pages: Page[] = [];
    const r = b.ranges;
    for (let k = 0; k < r.length; k += 2) {
      const first = Math.floor(r[k]! / PAGE_SIZE), last = Math.floor((r[k + 1]! - 1) / PAGE_SIZE);
      for (let pn = first; pn <= last; pn++) {
        const p = this.#pages.get(pn);
        if (p === undefined) return false;
        if (!pages.includes(p)) pages.push(p);
      }
    }
    for (const p of pages) {
      (p.blocks ??= []).push(b);
      this.noteCode(p);
    }
    return true;
  }

  /**
   * Map zero-filled pages covering [address, address + size) with the given permissions.
   * Already mapped pages keep their contents and get the new permissions.
   *
   * @param address Start (unsigned 64-bit); need not be page aligned.
   * @param size Length in bytes.
   * @param perms `PERM_*` bits.
   */
  map(address: bigint, size: number, perms: number): void {
    const start = toLinear(address);
    const first = Math.floor(start / PAGE_SIZE);
    const last = Math.floor((start + Math.max(size, 1) - 1) / PAGE_SIZE);
    for (let pn = first; pn <= last; pn++) {
      const p = this.#pages.get(pn);
      if (p) {
        p.perm = perms;
        this.#dropCode(p);
      } else {
        const data = new Uint8Array(PAGE_SIZE);
        const base = pn * PAGE_SIZE;
        this.#pages.set(pn, {
          number: pn,
          tagLo: (base >>> 0) >>> 12,
          tagHi: Math.floor(base / 4294967296) >>> 0,
          data,
          view: new DataView(data.buffer),
          perm: perms,
          code: null,
          blocks: null,
        });
      }
    }
    this.#flushTlb();
  }

  /**
   * Map a region and copy its initial contents (ELF section, payload region).
   *
   * @param region Address, data, size and permissions.
   */
  mapRegion(region: MappedRegion): void {
    this.map(region.address, region.size, region.perms);
    if (region.data.length > 0) {
      this.write(
        region.address,
        region.data.subarray(0, Math.min(region.size, region.data.length)),
      );
    }
  }

  /**
   * Remove pages covering [address, address + size).
   *
   * @param address Start (unsigned 64-bit).
   * @param size Length in bytes.
   */
  unmap(address: bigint, size: number): void {
    const start = toLinear(address);
    const first = Math.floor(start / PAGE_SIZE);
    const last = Math.floor((start + Math.max(size, 1) - 1) / PAGE_SIZE);
    for (let pn = first; pn <= last; pn++) {
      const p = this.#pages.get(pn);
      if (p === undefined) continue;
      this.#dropCode(p);
      this.#pages.delete(pn);
    }
    this.#flushTlb();
  }

  /**
   * Change permissions of mapped pages covering [address, address + size). Drops their decode cache.
   *
   * @param address Start (unsigned 64-bit).
   * @param size Length in bytes.
   * @param perms `PERM_*` bits.
   */
  protect(address: bigint, size: number, perms: number): void {
    const start = toLinear(address);
    const first = Math.floor(start / PAGE_SIZE);
    const last = Math.floor((start + Math.max(size, 1) - 1) / PAGE_SIZE);
    for (let pn = first; pn <= last; pn++) {
      const p = this.#pages.get(pn);
      if (!p) throw new RangeError(`Cannot protect unmapped page at ${hex(pn * PAGE_SIZE)}`);
      p.perm = perms;
      this.#dropCode(p);
    }
    this.#flushTlb();
  }

  /**
   * Permissions of the page holding `address`, or 0 when unmapped.
   *
   * @param address Unsigned 64-bit address.
   */
  permissions(address: bigint): number {
    return this.page(toLinear(address))?.perm ?? 0;
  }

  /**
   * Host read of `length` bytes (ignores permissions; faults on unmapped pages).
   *
   * @param address Unsigned 64-bit address.
   * @param length Number of bytes.
   */
  read(address: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let a = toLinear(address);
    for (let i = 0; i < length;) {
      const p = this.#need(a, "read", 0);
      const off = a - p.number * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, length - i);
      out.set(p.data.subarray(off, off + n), i);
      i += n;
      a += n;
    }
    return out;
  }

  /**
   * Host write (ignores permissions, as a loader or live-patcher does; faults on unmapped pages).
   * Invalidates decoded instructions overlapping the write.
   *
   * @param address Unsigned 64-bit address.
   * @param bytes Data to store.
   */
  write(address: bigint, bytes: Uint8Array): void {
    let a = toLinear(address);
    for (let i = 0; i < bytes.length;) {
      const p = this.#need(a, "write", 0);
      const off = a - p.number * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, bytes.length - i);
      p.data.set(bytes.subarray(i, i + n), off);
      if (p.code !== null || p.blocks) this.#touched(a, n);
      i += n;
      a += n;
    }
  }

  /** Host read of a little-endian u64. */
  readU64(address: bigint): bigint {
    const b = this.read(address, 8);
    return new DataView(b.buffer).getBigUint64(0, true);
  }

  /** Host write of a little-endian u64. */
  writeU64(address: bigint, value: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    this.write(address, b);
  }

  /** Host read of a NUL-terminated string (at most `max` bytes). */
  readCString(address: bigint, max = 4096): string {
    let s = "";
    for (let i = 0; i < max; i++) {
      const c = this.read(address + BigInt(i), 1)[0]!;
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }

  #need(a: number, access: "read" | "write" | "execute", perm: number): Page {
    const p = this.page(a);
    if (p === undefined || (p.perm & perm) !== perm) {
      const why = p === undefined ? "unmapped" : `a page without ${access} permission`;
      throw new CpuFault("PAGE_FAULT", `Page fault: ${access} of ${why} at ${hex(a)}`, {
        address: fromLinear(a),
        access,
      });
    }
    return p;
  }

  /** Fault for guest access `access` at `a` (exported for the fetch path). */
  fault(a: number, access: "read" | "write" | "execute"): never {
    const p = this.page(a);
    const why = p === undefined ? "unmapped memory" : `a page without ${access} permission`;
    throw new CpuFault("PAGE_FAULT", `Page fault: ${access} of ${why} at ${hex(a)}`, {
      address: Number.isNaN(a) ? -1n : fromLinear(a),
      access,
    });
  }

  // Guest accessors: canonical number in, permission-checked. NaN (non-canonical) faults #GP.

  #rpage(a: number): Page {
    const p = this.page(a);
    if (p === undefined || (p.perm & PERM_R) === 0) {
      if (Number.isNaN(a)) throw new CpuFault("GP", "Non-canonical memory access");
      this.fault(a, "read");
    }
    this.rtlb[p.number & FAST_MASK] = p;
    return p;
  }

  #wpage(a: number): Page {
    const p = this.page(a);
    if (p === undefined || (p.perm & PERM_W) === 0) {
      if (Number.isNaN(a)) throw new CpuFault("GP", "Non-canonical memory access");
      this.fault(a, "write");
    }
    if (p.code === null && (p.blocks === undefined || p.blocks === null)) {
      this.wtlb[p.number & FAST_MASK] = p;
    }
    return p;
  }

  /** Guest read of one byte. */
  rd8(a: number): number {
    const p = this.#rpage(a);
    return p.data[a - p.number * PAGE_SIZE]!;
  }

  /** Guest read of a little-endian u16. */
  rd16(a: number): number {
    const p = this.#rpage(a);
    const off = a - p.number * PAGE_SIZE;
    if (off <= PAGE_SIZE - 2) return p.view.getUint16(off, true);
    return this.rd8(a) | (this.rd8(a + 1) << 8);
  }

  /** Guest read of a little-endian u32. */
  rd32(a: number): number {
    const p = this.#rpage(a);
    const off = a - p.number * PAGE_SIZE;
    if (off <= PAGE_SIZE - 4) return p.view.getUint32(off, true);
    return (this.rd16(a) | (this.rd16(a + 2) << 16)) >>> 0;
  }

  /** Guest read of a u64: returns the low half, the high half goes to `this.hi`. */
  rd64(a: number): number {
    const p = this.#rpage(a);
    const off = a - p.number * PAGE_SIZE;
    if (off <= PAGE_SIZE - 8) {
      this.hi = p.view.getUint32(off + 4, true);
      return p.view.getUint32(off, true);
    }
    const lo = this.rd32(a);
    this.hi = this.rd32(a + 4);
    return lo;
  }

  /** Guest read of `w` bytes (1, 2, 4, 8); high half of 8-byte reads in `this.hi`. */
  rd(a: number, w: number): number {
    switch (w) {
      case 1:
        return this.rd8(a);
      case 2:
        return this.rd16(a);
      case 4:
        return this.rd32(a);
      default:
        return this.rd64(a);
    }
  }

  /** Guest write of one byte. */
  wr8(a: number, v: number): void {
    const p = this.#wpage(a);
    const off = a - p.number * PAGE_SIZE;
    p.data[off] = v;
    if (p.code !== null || p.blocks) this.#touched(a, 1);
  }

  /** Guest write of a little-endian u16. */
  wr16(a: number, v: number): void {
    const p = this.#wpage(a);
    const off = a - p.number * PAGE_SIZE;
    if (off <= PAGE_SIZE - 2) {
      p.view.setUint16(off, v, true);
      if (p.code !== null || p.blocks) this.#touched(a, 2);
      return;
    }
    this.#wpage(a + 1);
    this.wr8(a, v & 0xff);
    this.wr8(a + 1, (v >>> 8) & 0xff);
  }

  /** Guest write of a little-endian u32. */
  wr32(a: number, v: number): void {
    const p = this.#wpage(a);
    const off = a - p.number * PAGE_SIZE;
    if (off <= PAGE_SIZE - 4) {
      p.view.setUint32(off, v, true);
      if (p.code !== null || p.blocks) this.#touched(a, 4);
      return;
    }
    this.#wpage(a + 3);
    this.wr16(a, v & 0xffff);
    this.wr16(a + 2, (v >>> 16) & 0xffff);
  }

  /** Guest write of a u64 given as halves. */
  wr64(a: number, lo: number, hi: number): void {
    const p = this.#wpage(a);
    const off = a - p.number * PAGE_SIZE;
    if (off <= PAGE_SIZE - 8) {
      p.view.setUint32(off, lo, true);
      p.view.setUint32(off + 4, hi, true);
      if (p.code !== null || p.blocks) this.#touched(a, 8);
      return;
    }
    this.#wpage(a + 7);
    this.wr32(a, lo);
    this.wr32(a + 4, hi);
  }

  /** Guest write of `w` bytes. */
  wr(a: number, w: number, lo: number, hi: number): void {
    switch (w) {
      case 1:
        return this.wr8(a, lo & 0xff);
      case 2:
        return this.wr16(a, lo & 0xffff);
      case 4:
        return this.wr32(a, lo);
      default:
        return this.wr64(a, lo, hi);
    }
  }

  /** Check that [a, a+len) is writable without writing (atomicity of multi-part stores). */
  checkWrite(a: number, len: number): void {
    this.#wpage(a);
    this.#wpage(a + len - 1);
  }

  /**
   * Drop decoded instructions and compiled blocks overlapping [a, a+len); notifies
   * `onCodeWrite` of the dropped instructions.
   */
  #touched(a: number, len: number): void {
    let stale: Insn[] | undefined;
    const end = a + len;
    for (let s = a - MAX_INSN + 1; s < end; s++) {
      const p = this.page(s);
      if (p === undefined || p.code === null) continue;
      const off = s - p.number * PAGE_SIZE;
      const ins = p.code[off];
      if (ins !== undefined && ins.ip + ins.len > a && !ins.pinned) {
        p.code[off] = undefined;
        (stale ??= []).push(ins);
      }
    }
    for (let pn = Math.floor(a / PAGE_SIZE); pn <= Math.floor((end - 1) / PAGE_SIZE); pn++) {
      const p = this.page(pn * PAGE_SIZE);
      const blocks = p?.blocks;
      if (blocks === undefined || blocks === null) continue;
      for (let k = blocks.length - 1; k >= 0; k--) {
        const b = blocks[k]!;
        if (!b.valid) {
          blocks.splice(k, 1);
          continue;
        }
        const r = b.ranges;
        for (let j = 0; j < r.length; j += 2) {
          if (r[j]! < end && r[j + 1]! > a) {
            b.invalidate();
            blocks.splice(k, 1);
            break;
          }
        }
      }
    }
    if (stale !== undefined && this.onCodeWrite !== undefined) this.onCodeWrite(a, len, stale);
  }

  /**
   * Drop decoded instructions and compiled blocks overlapping [address, address + length)
   * without changing memory (e.g. after installing a hook there).
   */
  invalidate(address: bigint, length: number): void {
    this.#touched(toLinear(address), Math.max(length, 1));
  }

  /** Drop the whole decode cache and every compiled block (after wholesale code changes). */
  flushCode(): void {
    for (const p of this.#pages.values()) this.#dropCode(p);
  }
}

/**
 * Guest accessors for compiled code (internal): a direct-mapped TLB probe inlined by V8 into the
 * generated block functions, falling back to the permission-checked {@linkcode Memory} methods
 * (which fault, invalidate decoded code and refill the TLBs).
 */
export interface FastAccess {
  /** Read a byte. */
  rd8(a: number): number;
  /** Read a u16. */
  rd16(a: number): number;
  /** Read a u32. */
  rd32(a: number): number;
  /** Read a u64: low half returned, high half in `s.hi`. */
  rd64(a: number): number;
  /** Write a byte. */
  wr8(a: number, v: number): void;
  /** Write a u16. */
  wr16(a: number, v: number): void;
  /** Write a u32. */
  wr32(a: number, v: number): void;
  /** Write a u64 from halves. */
  wr64(a: number, lo: number, hi: number): void;
  /** High half of the last `rd64`. */
  s: { hi: number };
}

/**
 * Build the fast accessors of a memory (one set per memory; see {@linkcode FastAccess}): what
 * compiled blocks read and write through, hitting the TLBs inline.
 *
 * @example
 * ```ts
 * import { fastAccess, Memory, PERM_RW, toLinear } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const m = new Memory();
 * m.map(0x2000n, 4096, PERM_RW);
 * const fa = fastAccess(m);
 * fa.wr32(toLinear(0x2000n), 0xdeadbeef);
 * assert.equal(fa.rd32(toLinear(0x2000n)), 0xdeadbeef);
 * assert.equal(m.readU64(0x2000n), 0xdeadbeefn);
 * ```
 */
export function fastAccess(mem: Memory): FastAccess {
  const rt = mem.rtlb, wt = mem.wtlb;
  const s = { hi: 0 };
  return {
    s,
    rd8(a) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = rt[pn & FAST_MASK]!;
      if (p.number === pn) return p.data[a - pn * PAGE_SIZE]!;
      return mem.rd8(a);
    },
    rd16(a) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = rt[pn & FAST_MASK]!;
      if (p.number === pn) {
        const o = a - pn * PAGE_SIZE;
        if (o <= PAGE_SIZE - 2) return p.view.getUint16(o, true);
      }
      return mem.rd16(a);
    },
    rd32(a) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = rt[pn & FAST_MASK]!;
      if (p.number === pn) {
        const o = a - pn * PAGE_SIZE;
        if (o <= PAGE_SIZE - 4) return p.view.getUint32(o, true);
      }
      return mem.rd32(a);
    },
    rd64(a) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = rt[pn & FAST_MASK]!;
      if (p.number === pn) {
        const o = a - pn * PAGE_SIZE;
        if (o <= PAGE_SIZE - 8) {
          s.hi = p.view.getUint32(o + 4, true);
          return p.view.getUint32(o, true);
        }
      }
      const lo = mem.rd64(a);
      s.hi = mem.hi;
      return lo;
    },
    wr8(a, v) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = wt[pn & FAST_MASK]!;
      if (p.number === pn) p.data[a - pn * PAGE_SIZE] = v;
      else mem.wr8(a, v & 0xff);
    },
    wr16(a, v) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = wt[pn & FAST_MASK]!;
      if (p.number === pn) {
        const o = a - pn * PAGE_SIZE;
        if (o <= PAGE_SIZE - 2) {
          p.view.setUint16(o, v, true);
          return;
        }
      }
      mem.wr16(a, v & 0xffff);
    },
    wr32(a, v) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = wt[pn & FAST_MASK]!;
      if (p.number === pn) {
        const o = a - pn * PAGE_SIZE;
        if (o <= PAGE_SIZE - 4) {
          p.view.setUint32(o, v, true);
          return;
        }
      }
      mem.wr32(a, v >>> 0);
    },
    wr64(a, lo, hi) {
      const pn = Math.floor(a / PAGE_SIZE);
      const p = wt[pn & FAST_MASK]!;
      if (p.number === pn) {
        const o = a - pn * PAGE_SIZE;
        if (o <= PAGE_SIZE - 8) {
          p.view.setUint32(o, lo, true);
          p.view.setUint32(o + 4, hi, true);
          return;
        }
      }
      mem.wr64(a, lo >>> 0, hi >>> 0);
    },
  };
}
