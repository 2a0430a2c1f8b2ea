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
  readonly #byPlainName = new Map<string, ElfSymbol[]>();
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
      const plain = this.#byPlainName.get(s.name);
      if (plain === undefined) this.#byPlainName.set(s.name, [s]);
      else plain.push(s);

      if (s.sectionIndex !== SHN.ABS && s.sectionIndex !== SHN.COMMON && s.type in TYPE_RANK) {
        sortable.push(s);
      }
    }
    this.#sorted = sortable.sort(compareForLookup);
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

function compareForLookup(a: ElfSymbol, b: ElfSymbol): number {
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  const sized = Number(b.size > 0n) - Number(a.size > 0n);
  if (sized !== 0) return sized;
  const type = TYPE_RANK[a.type] - TYPE_RANK[b.type];
  if (type !== 0) return type;
  const bind = (BIND_RANK[a.bind] ?? 3) - (BIND_RANK[b.bind] ?? 3);
  return bind !== 0 ? bind : a.index - b.index;
}
