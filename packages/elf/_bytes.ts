// Bounds-checked, endian-aware reads over a file image. Private to the package.
import { ElfError } from "./errors.ts";

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

/** Reads fixed-width fields of one ELF file; every read is bounds-checked. */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly little: boolean;
  readonly is64: boolean;

  constructor(bytes: Uint8Array, little: boolean, is64: boolean) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.little = little;
    this.is64 = is64;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws `TRUNCATED` unless `[offset, offset + size)` lies inside the file. */
  need(offset: number, size: number, what: string): void {
    if (offset < 0 || size < 0 || offset + size > this.bytes.length) {
      throw new ElfError("TRUNCATED", offset, `Cannot read ${what}: the file ends first`);
    }
  }

  u8(offset: number): number {
    return this.view.getUint8(offset);
  }
  u16(offset: number): number {
    return this.view.getUint16(offset, this.little);
  }
  u32(offset: number): number {
    return this.view.getUint32(offset, this.little);
  }
  i32(offset: number): number {
    return this.view.getInt32(offset, this.little);
  }
  u64(offset: number): bigint {
    return this.view.getBigUint64(offset, this.little);
  }
  i64(offset: number): bigint {
    return this.view.getBigInt64(offset, this.little);
  }
  /** An address-sized field: 4 bytes in ELF32, 8 in ELF64. */
  word(offset: number): bigint {
    return this.is64 ? this.view.getBigUint64(offset, this.little) : BigInt(this.u32(offset));
  }
}

/** Converts a 64-bit size or offset to a number, or throws `TOO_LARGE`. */
export function toSafeNumber(value: bigint, offset: number, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ElfError("TOO_LARGE", offset, `${what} 0x${value.toString(16)} is too large`);
  }
  return Number(value);
}

/** True for 0 and powers of two. */
export function isValidAlignment(align: bigint): boolean {
  return (align & (align - 1n)) === 0n;
}

/**
 * Decodes the NUL-terminated string at `start`, which must end before `limit`.
 * Returns undefined when no NUL is found (the caller raises the error it owns).
 */
export function readCString(bytes: Uint8Array, start: number, limit: number): string | undefined {
  let end = start;
  let ascii = true;
  while (end < limit) {
    const b = bytes[end];
    if (b === 0) break;
    if (b > 0x7f) ascii = false;
    end++;
  }
  if (end >= limit) return undefined;
  if (end === start) return "";
  const slice = bytes.subarray(start, end);
  return ascii ? latin1.decode(slice) : utf8.decode(slice);
}

/** Lower-case hex of a byte string. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
