// DER decoding and encoding through node-forge's asn1, with byte offsets.
// forge parses; the result is re-encoded and compared so that only DER (not
// BER) is accepted, which also lets every node be located in the input.
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import { Buffer } from "node:buffer";
import { SignatureError, type SignatureErrorCode } from "./errors.ts";

/** forge's ASN.1 node. */
export type Asn1 = forge.asn1.Asn1;

/** forge's asn1 namespace, for building structures. */
export const asn1: typeof forge.asn1 = forge.asn1;

/** ASN.1 tag classes, as in the first octet. */
export const CLASS = { UNIVERSAL: 0x00, CONTEXT: 0x80 } as const;

/** Universal tag numbers used here. */
export const TAG = {
  INTEGER: 2,
  BIT_STRING: 3,
  OCTET_STRING: 4,
  NULL: 5,
  OID: 6,
  SEQUENCE: 16,
  SET: 17,
} as const;

/** A decoded DER node located in its input. */
export interface DerNode {
  /** Tag class: 0x00 universal, 0x40 application, 0x80 context, 0xc0 private. */
  readonly tagClass: number;
  /** Tag number (low-tag form only). */
  readonly tag: number;
  /** Constructed (children) or primitive (contents). */
  readonly constructed: boolean;
  /** Offset of the tag octet, relative to the start of the whole input plus `base`. */
  readonly offset: number;
  /** The whole TLV (a view of the input). */
  readonly der: Uint8Array;
  /** The contents octets (a view of the input). */
  readonly contents: Uint8Array;
  /** Children of a constructed node (empty for a primitive one). */
  readonly children: readonly DerNode[];
}

/** A Uint8Array as a forge binary string (one char per byte, exact round trip). */
export function toBinary(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("binary");
}

/** A forge binary string as a Uint8Array. */
export function fromBinary(s: string): Uint8Array {
  const b = Buffer.from(s, "binary");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Reads a DER definite length at `pos` (the octet after the tag); undefined if not minimal DER. */
function readLength(bytes: Uint8Array, pos: number): { length: number; size: number } | undefined {
  if (pos >= bytes.length) return undefined;
  const first = bytes[pos];
  if (first < 0x80) return { length: first, size: 1 };
  const n = first & 0x7f;
  // 0x80 is BER's indefinite length; more than 4 octets cannot be a valid size here.
  if (n === 0 || n > 4 || pos + 1 + n > bytes.length || bytes[pos + 1] === 0) return undefined;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + bytes[pos + 1 + i];
  if (length < 0x80) return undefined;
  return { length, size: 1 + n };
}

/**
 * Checks cheaply, from its first (up to 6) bytes, that a value of
 * `totalLength` bytes is one TLV of exactly that length, before any
 * conversion: a bad `sig_len` must not cost a pass over a large payload.
 */
export function checkDerHeader(
  head: Uint8Array,
  totalLength: number,
  code: SignatureErrorCode,
  what: string,
  base: number,
): void {
  if (totalLength < 2 || head.length < 2 || (head[0] & 0x1f) === 0x1f) {
    throw new SignatureError(code, `${what} is not a DER value`, base);
  }
  const len = readLength(head, 1);
  if (len === undefined || 1 + len.size + len.length !== totalLength) {
    throw new SignatureError(code, `${what} length does not match its DER length`, base);
  }
}

function convert(node: Asn1, bytes: Uint8Array, pos: number, base: number): DerNode {
  // The input round-tripped through toDer, so lengths are minimal and the
  // positions read here are those of forge's tree.
  if ((bytes[pos] & 0x1f) === 0x1f) throw new Error("high tag number form");
  const len = readLength(bytes, pos + 1);
  if (len === undefined) throw new Error("bad length");
  const start = pos + 1 + len.size;
  const der = bytes.subarray(pos, start + len.length);
  const children: DerNode[] = [];
  if (Array.isArray(node.value)) {
    let p = start;
    for (const child of node.value) {
      const c = convert(child, bytes, p, base);
      children.push(c);
      p += c.der.length;
    }
  }
  return {
    tagClass: node.tagClass,
    tag: node.type,
    constructed: node.constructed,
    offset: base + pos,
    der,
    contents: der.subarray(1 + len.size),
    children,
  };
}

/**
 * Decodes one DER value that spans all of `bytes`, or throws a
 * {@linkcode SignatureError} with `code` (offsets are `base` + position).
 */
export function decodeDer(
  bytes: Uint8Array,
  code: SignatureErrorCode,
  what: string,
  base = 0,
): DerNode {
  checkDerHeader(bytes.subarray(0, 6), bytes.length, code, what, base);
  const binary = toBinary(bytes);
  let node: Asn1;
  try {
    node = forge.asn1.fromDer(binary, {
      strict: true,
      parseAllBytes: true,
      decodeBitStrings: false,
    } as unknown as boolean);
  } catch (e) {
    throw new SignatureError(code, `${what} is not valid DER: ${(e as Error).message}`, base);
  }
  let reencoded: string;
  try {
    reencoded = forge.asn1.toDer(node).getBytes();
  } catch {
    reencoded = "";
  }
  if (reencoded !== binary) {
    throw new SignatureError(
      code,
      `${what} is BER, not DER (non-minimal or indefinite lengths)`,
      base,
    );
  }
  try {
    return convert(node, bytes, 0, base);
  } catch {
    throw new SignatureError(code, `${what} uses an unsupported ASN.1 encoding`, base);
  }
}

/** Whether a node has the given class, tag and form. */
export function isTag(node: DerNode, tagClass: number, tag: number, constructed: boolean): boolean {
  return node.tagClass === tagClass && node.tag === tag && node.constructed === constructed;
}

/** The dotted form of an OBJECT IDENTIFIER node's contents. */
export function oidOf(node: DerNode): string {
  return forge.asn1.derToOid(toBinary(node.contents));
}

/** Parses DER that is already known to be valid into a forge node (for re-embedding). */
export function forgeNode(der: Uint8Array): Asn1 {
  return forge.asn1.fromDer(toBinary(der), {
    strict: true,
    parseAllBytes: true,
    decodeBitStrings: false,
  } as unknown as boolean);
}

/** Encodes a forge node as DER bytes. */
export function encodeDer(node: Asn1): Uint8Array {
  return fromBinary(forge.asn1.toDer(node).getBytes());
}
