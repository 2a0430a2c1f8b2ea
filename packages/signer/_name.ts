// Distinguished names: decoding attribute values and formatting for display.
import { CLASS, type DerNode, isTag, oidOf, TAG } from "./_der.ts";
import { SignatureError } from "./errors.ts";

/** One attribute of a distinguished name, e.g. `CN=...`. */
export interface NameAttribute {
  /** The attribute type's OID. */
  readonly oid: string;
  /** Short name (`CN`, `O`, `emailAddress`...) or the OID when unknown. */
  readonly name: string;
  /** The value as text. */
  readonly value: string;
  /** The value's contents octets as encoded (the kernel compares these). */
  readonly raw: Uint8Array;
}

const NAMES: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.42": "GN",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
};

const utf8 = new TextDecoder("utf-8");
const utf16be = new TextDecoder("utf-16be");

function decodeString(node: DerNode): string {
  switch (node.tag) {
    case 12: // UTF8String
      return utf8.decode(node.contents);
    case 30: // BMPString
      return utf16be.decode(node.contents);
    case 28: { // UniversalString (UTF-32BE)
      const c = node.contents;
      let out = "";
      for (let i = 0; i + 3 < c.length; i += 4) {
        const cp = ((c[i] << 24) | (c[i + 1] << 16) | (c[i + 2] << 8) | c[i + 3]) >>> 0;
        out += cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
      }
      return out;
    }
    default: { // PrintableString, IA5String, T61String...: one byte a character
      let out = "";
      for (const b of node.contents) out += String.fromCharCode(b);
      return out;
    }
  }
}

function bad(message: string, offset?: number): never {
  throw new SignatureError("BAD_CERTIFICATE", message, offset);
}

export function parseName(node: DerNode): NameAttribute[] {
  if (!isTag(node, CLASS.UNIVERSAL, TAG.SEQUENCE, true)) bad("name is not a SEQUENCE", node.offset);
  const out: NameAttribute[] = [];
  for (const rdn of node.children) {
    if (!isTag(rdn, CLASS.UNIVERSAL, TAG.SET, true)) bad("RDN is not a SET", rdn.offset);
    for (const atv of rdn.children) {
      const [type, value] = atv.children;
      if (
        !isTag(atv, CLASS.UNIVERSAL, TAG.SEQUENCE, true) || atv.children.length !== 2 ||
        !isTag(type, CLASS.UNIVERSAL, TAG.OID, false) || value.constructed
      ) {
        bad("malformed name attribute", atv.offset);
      }
      const oid = oidOf(type);
      out.push({ oid, name: NAMES[oid] ?? oid, value: decodeString(value), raw: value.contents });
    }
  }
  return out;
}

/**
 * Formats name attributes for display, in DER order: `O=lpkit, CN=signing key`.
 *
 * @example
 * ```ts
 * import { formatName } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const attrs = [{ oid: "2.5.4.3", name: "CN", value: "key", raw: new Uint8Array() }];
 * assert.equal(formatName(attrs), "CN=key");
 * ```
 */
export function formatName(attributes: readonly NameAttribute[]): string {
  return attributes.map((a) => `${a.name}=${a.value}`).join(", ");
}
