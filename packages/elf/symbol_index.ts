/**
 * Symbol lookup by name and by address, with Xen's names for local symbols.
 *
 * @module
 */
import { SHN, STB, STT } from "./constants.ts";
import type { ElfSymbol } from "./symbols.ts";

/** Where an address lies: inside `symbol`, `offset` bytes in, of `size` bytes. */
export interface SymbolLocation {
  /** The symbol whose range holds the address. */
  readonly symbol: ElfSymbol;
  /** The symbol's name as Xen prints it (`file#name` for local symbols). */
  readonly name: string;
  /** Distance of the address from the symbol's start. */
  readonly offset: bigint;
  /** The symbol's size, or the distance to the next symbol when it has none. */
  readonly size: bigint;
}

const TYPE_RANK: Record<number, number> = { [STT.FUNC]: 0, [STT.OBJECT]: 1, [STT.NOTYPE]: 2 };
const BIND_RANK: Record<number, number> = { [STB.GLOBAL]: 0, [STB.WEAK]: 1, [STB.LOCAL]: 2 };

function isDefined(s: ElfSymbol): boolean {
  return s.sectionIndex !== SHN.UNDEF && s.type !== STT.FILE && s.type !== STT.SECTION &&
    s.name !== "";
}

/**
 * An index over one symbol table.
 *
 * Names follow Xen's symbol table (reference §1.5): a global symbol is known
 * by its name; a local symbol by `<file>#<name>`, where `<file>` is the
 * nearest preceding `STT_FILE` symbol (in Debian's xen-syms, paths such as
 * `common/bitmap.c`). Addresses are looked up by binary search over the
 * defined function, object and untyped symbols.
 *
 * @example Naming an address inside a function
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const index = parseElf(readFileSync("examples/bin/minivisor")).symbolIndex();
 * const fn = index.byName("xen_extra_version");
 * assert.ok(fn !== undefined);
 * assert.match(index.format(fn.value + 1n), /^xen_extra_version\+0x1\/0x[0-9a-f]+$/);
 * ```
 */
export class SymbolIndex {
  /** The symbols indexed, in table order. */
  readonly symbols: readonly ElfSymbol[];
  readonly #files: (string | undefined)[];
  readonly #byName = new Map<string, ElfSymbol>();
  #byPlainName: Map<string, ElfSymbol[]> | undefined; // built on first findAll()
  readonly #sorted: ElfSymbol[];

  /** @param symbols A symbol table, in table order (as {@linkcode ElfFile.symbols} gives it). */
  constructor(symbols: readonly ElfSymbol[]) {
    this.symbols = symbols;
    this.#files = new Array(symbols.length);
    let file: string | undefined;
    const sortable: ElfSymbol[] = [];
    for (const s of symbols) {
      if (s.type === STT.FILE) {
        file = s.name === "" ? undefined : s.name;
        continue;
      }
      if (s.bind === STB.LOCAL) this.#files[s.index] = file;
      if (!isDefined(s)) continue;

      const key = this.xenName(s);
      const seen = this.#byName.get(key);
      if (seen === undefined || (BIND_RANK[s.bind] ?? 3) < (BIND_RANK[seen.bind] ?? 3)) {
        this.#byName.set(key, s);
      }
      if (s.sectionIndex !== SHN.ABS && s.sectionIndex !== SHN.COMMON && s.type in TYPE_RANK) {
        sortable.push(s);
      }
    }
    this.#sorted = sortForLookup(sortable);
  }

  /** The STT_FILE name a local symbol belongs to, if any. */
  fileOf(symbol: ElfSymbol): string | undefined {
    return this.#files[symbol.index];
  }

  /** The symbol's name as Xen's symbol table has it: `file#name` for locals. */
  xenName(symbol: ElfSymbol): string {
    const file = this.#files[symbol.index];
    return file === undefined ? symbol.name : `${file}#${symbol.name}`;
  }

  /**
   * The defined symbol Xen would find under `name`: a global by its name, a
   * local only by `file#name`. Where a global and a weak symbol share a name
   * the global wins.
   */
  byName(name: string): ElfSymbol | undefined {
    return this.#byName.get(name);
  }

  /**
   * Every defined symbol a person might mean by `name`: the exact Xen name,
   * or any symbol (local ones included) whose plain name is `name`.
   */
  findAll(name: string): ElfSymbol[] {
    const exact = this.#byName.get(name);
    if (this.#byPlainName === undefined) {
      this.#byPlainName = new Map();
      for (const s of this.symbols) {
        if (!isDefined(s)) continue;
        const list = this.#byPlainName.get(s.name);
        if (list === undefined) this.#byPlainName.set(s.name, [s]);
        else list.push(s);
      }
    }
    const plain = this.#byPlainName.get(name) ?? [];
    return exact === undefined || plain.includes(exact) ? [...plain] : [exact, ...plain];
  }

  /** The symbol whose range holds `address`, or undefined when none does. */
  lookup(address: bigint): SymbolLocation | undefined {
    const sorted = this.#sorted;
    let lo = 0;
    let hi = sorted.length; // first index with value > address
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid].value <= address) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return undefined;
    const value = sorted[lo - 1].value;
    let first = lo - 1;
    while (first > 0 && sorted[first - 1].value === value) first--;
    // Candidates at this address are sorted best first: sized, FUNC, GLOBAL.
    for (let i = first; i < lo; i++) {
      const s = sorted[i];
      if (s.size > 0n && address < s.value + s.size) {
        return { symbol: s, name: this.xenName(s), offset: address - s.value, size: s.size };
      }
    }
    const unsized = sorted.slice(first, lo).find((s) => s.size === 0n);
    if (unsized === undefined) return undefined;
    const next = sorted[lo];
    const size = next === undefined ? 0n : next.value - value;
    if (next === undefined && address !== value) return undefined;
    return { symbol: unsized, name: this.xenName(unsized), offset: address - value, size };
  }

  /**
   * Formats `address` as Xen's `%pS` does: `name+0xoff/0xsize`, or bare hex
   * when no symbol holds it.
   */
  format(address: bigint): string {
    const at = this.lookup(address);
    if (at === undefined) return `0x${address.toString(16)}`;
    return `${at.name}+0x${at.offset.toString(16)}/0x${at.size.toString(16)}`;
  }
}

/**
 * Sorts by address, best candidate first among equals: sized, then FUNC,
 * OBJECT, NOTYPE, then GLOBAL, WEAK, LOCAL. Addresses are compared as two
 * 32-bit halves, which is much cheaper than comparing bigints.
 */
function sortForLookup(symbols: ElfSymbol[]): ElfSymbol[] {
  const n = symbols.length;
  if (n === 0) return symbols;
  let min = symbols[0].value;
  let max = min;
  for (const s of symbols) {
    if (s.value < min) min = s.value;
    if (s.value > max) max = s.value;
  }
  const rank = (s: ElfSymbol) =>
    (s.size > 0n ? 0 : 100) + TYPE_RANK[s.type] * 10 + (BIND_RANK[s.bind] ?? 3);
  if (max - min >= 1n << 46n) {
    return symbols.sort((a, b) =>
      a.value < b.value ? -1 : a.value > b.value ? 1 : rank(a) - rank(b) || a.index - b.index
    );
  }
  // Within a 2^46-byte span, offsets from the lowest address (times 128, plus
  // the rank) are exact as numbers: compare those.
  const key = new Float64Array(n);
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const s = symbols[i];
    key[i] = Number(s.value - min) * 128 + rank(s); // rank < 128: exact below 2^53
    order[i] = i;
  }
  order.sort((a, b) => key[a] - key[b] || symbols[a].index - symbols[b].index);
  return order.map((i) => symbols[i]);
}
