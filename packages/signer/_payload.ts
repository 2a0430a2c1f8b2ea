// The signed bytes, in memory or read in chunks from a ByteSource: what the
// hashing side of signing and verification consumes.
import { type ByteSource, forEachChunk } from "./source.ts";

/** The payload a signature covers. */
export interface PayloadData {
  readonly length: number;
  /** Passes the payload, in order, to `update` (in one call when in memory). */
  feed(update: (chunk: Uint8Array) => void): void;
}

export function payloadBytes(bytes: Uint8Array): PayloadData {
  return { length: bytes.length, feed: (update) => update(bytes) };
}

export function payloadFromSource(source: ByteSource, length: number): PayloadData {
  return { length, feed: (update) => forEachChunk(source, length, update) };
}
