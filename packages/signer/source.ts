/**
 * Random access to bytes that need not be in memory, so that a large payload
 * can be signed or verified in chunks through one reused buffer (reading a
 * 100 MiB file into a fresh buffer costs more than hashing it).
 *
 * @module
 */

/** Bytes read on demand: a file (see {@linkcode openFileSource}) or a Uint8Array. */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /**
   * Copies bytes from `position` into `buffer` and returns how many: fewer
   * than `buffer.length` only at the end, 0 past it.
   */
  read(buffer: Uint8Array, position: number): number;
}

/**
 * Size of the chunks the signer hashes a {@linkcode ByteSource} in: 1 MiB.
 *
 * @example
 * ```ts
 * import { CHUNK_SIZE } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.equal(CHUNK_SIZE, 1048576);
 * ```
 */
export const CHUNK_SIZE = 1 << 20;

/**
 * A {@linkcode ByteSource} over bytes in memory.
 *
 * @example
 * ```ts
 * import { bytesSource, readSourceRange } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const source = bytesSource(new Uint8Array([1, 2, 3, 4]));
 * assert.equal(source.size, 4);
 * assert.deepEqual(readSourceRange(source, 1, 2), new Uint8Array([2, 3]));
 * ```
 */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read(buffer, position) {
      const part = bytes.subarray(position, position + buffer.length);
      buffer.set(part);
      return part.length;
    },
  };
}

/**
 * Reads `length` bytes at `position` into a new array; a short read (the
 * source shrank under us) is a `RangeError`.
 *
 * @example
 * ```ts
 * import { bytesSource, readSourceRange } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => readSourceRange(bytesSource(new Uint8Array(2)), 1, 5), RangeError);
 * ```
 */
export function readSourceRange(source: ByteSource, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = source.read(out.subarray(done), position + done);
    if (n <= 0) {
      throw new RangeError(`short read: ${done} of ${length} bytes at offset ${position}`);
    }
    done += n;
  }
  return out;
}

/**
 * Calls `chunk` for consecutive pieces of `[0, length)` of a source, in one
 * reused buffer (so `chunk` must not keep its argument).
 *
 * @example
 * ```ts
 * import { bytesSource, forEachChunk } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * let total = 0;
 * forEachChunk(bytesSource(new Uint8Array(10)), 7, (c) => (total += c.length));
 * assert.equal(total, 7);
 * ```
 */
export function forEachChunk(
  source: ByteSource,
  length: number,
  chunk: (bytes: Uint8Array) => void,
  chunkSize: number = CHUNK_SIZE,
): void {
  const buffer = new Uint8Array(Math.max(1, Math.min(chunkSize, length)));
  let position = 0;
  while (position < length) {
    const n = source.read(buffer.subarray(0, Math.min(buffer.length, length - position)), position);
    if (n <= 0) {
      throw new RangeError(`short read: ${position} of ${length} bytes`);
    }
    chunk(buffer.subarray(0, n));
    position += n;
  }
}
