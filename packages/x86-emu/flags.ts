/**
 * RFLAGS bits, parity and condition codes.
 *
 * The arithmetic flags are kept unpacked on the CPU (`cf`, `pf`, `af`, `zf`, `sf`, `of`, `df`, each
 * 0 or 1) because nearly every instruction writes them; the remaining RFLAGS bits live in
 * `flagsOther`. {@linkcode getRflags} / {@linkcode setRflags} convert to and from the packed form.
 *
 * @module
 */

/** Carry flag. */
export const FLAG_CF = 0x1;
/** Parity flag. */
export const FLAG_PF = 0x4;
/** Auxiliary carry flag. */
export const FLAG_AF = 0x10;
/** Zero flag. */
export const FLAG_ZF = 0x40;
/** Sign flag. */
export const FLAG_SF = 0x80;
/** Trap flag. */
export const FLAG_TF = 0x100;
/** Interrupt enable flag. */
export const FLAG_IF = 0x200;
/** Direction flag. */
export const FLAG_DF = 0x400;
/** Overflow flag. */
export const FLAG_OF = 0x800;
/** The six arithmetic status flags. */
export const STATUS_FLAGS = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;
/** Bits popfq may change at CPL 0 (CF PF AF ZF SF TF IF DF OF IOPL NT AC ID). */
export const WRITABLE_FLAGS = 0x247fd5;

/** Parity of each byte value: 1 when the number of set bits is even (x86 PF). */
export const PARITY: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    let n = 0;
    for (let b = i; b !== 0; b >>= 1) n += b & 1;
    t[i] = (n & 1) === 0 ? 1 : 0;
  }
  return t;
})();

/** The flag fields of a CPU. */
export interface FlagState {
  /** CF. */
  cf: number;
  /** PF. */
  pf: number;
  /** AF. */
  af: number;
  /** ZF. */
  zf: number;
  /** SF. */
  sf: number;
  /** OF. */
  of: number;
  /** DF. */
  df: number;
  /** All other RFLAGS bits (IF, TF, AC, ID, IOPL, NT; bit 1 is always set). */
  flagsOther: number;
}

/**
 * Pack the flags of a CPU into an RFLAGS value.
 *
 * @example
 * ```ts
 * import { getRflags } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const f = { cf: 1, pf: 0, af: 0, zf: 1, sf: 0, of: 0, df: 0, flagsOther: 0x202 };
 * assert.equal(getRflags(f), 0x243);
 * ```
 */
export function getRflags(c: FlagState): number {
  return (c.flagsOther | c.cf | (c.pf << 2) | (c.af << 4) | (c.zf << 6) | (c.sf << 7) |
    (c.df << 10) | (c.of << 11)) >>> 0;
}

/**
 * Unpack an RFLAGS value into the flag fields (bit 1 forced to 1, reserved bits cleared).
 *
 * @example
 * ```ts
 * import { getRflags, setRflags } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const f = { cf: 0, pf: 0, af: 0, zf: 0, sf: 0, of: 0, df: 0, flagsOther: 0 };
 * setRflags(f, 0x8d5);
 * assert.equal(getRflags(f), 0x8d7);
 * ```
 */
export function setRflags(c: FlagState, v: number): void {
  v &= WRITABLE_FLAGS;
  c.cf = v & 1;
  c.pf = (v >>> 2) & 1;
  c.af = (v >>> 4) & 1;
  c.zf = (v >>> 6) & 1;
  c.sf = (v >>> 7) & 1;
  c.df = (v >>> 10) & 1;
  c.of = (v >>> 11) & 1;
  c.flagsOther = (v & ~(STATUS_FLAGS | FLAG_DF)) | 2;
}

/**
 * Evaluate an iced-x86 `ConditionCode` (o=1 … g=16) against the flags.
 *
 * @example
 * ```ts
 * import { condition } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const f = { cf: 0, pf: 0, af: 0, zf: 1, sf: 0, of: 0, df: 0, flagsOther: 2 };
 * assert.equal(condition(f, 5), true); // e
 * assert.equal(condition(f, 16), false); // g
 * ```
 */
export function condition(c: FlagState, cc: number): boolean {
  switch (cc) {
    case 1:
      return c.of !== 0;
    case 2:
      return c.of === 0;
    case 3:
      return c.cf !== 0;
    case 4:
      return c.cf === 0;
    case 5:
      return c.zf !== 0;
    case 6:
      return c.zf === 0;
    case 7:
      return (c.cf | c.zf) !== 0;
    case 8:
      return (c.cf | c.zf) === 0;
    case 9:
      return c.sf !== 0;
    case 10:
      return c.sf === 0;
    case 11:
      return c.pf !== 0;
    case 12:
      return c.pf === 0;
    case 13:
      return c.sf !== c.of;
    case 14:
      return c.sf === c.of;
    case 15:
      return c.zf !== 0 || c.sf !== c.of;
    case 16:
      return c.zf === 0 && c.sf === c.of;
    default:
      throw new RangeError(`Cannot evaluate condition code ${cc}`);
  }
}
