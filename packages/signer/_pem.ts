// PEM detection and decoding (forge.pem) shared by certificates and keys.
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import { fromBinary, toBinary } from "./_der.ts";
import { SignatureError } from "./errors.ts";

function isPem(bytes: Uint8Array): boolean {
  // Skip leading whitespace; PEM starts with "-----BEGIN".
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || (bytes[i] >= 0x09 && bytes[i] <= 0x0d))) i++;
  return bytes[i] === 0x2d && bytes[i + 1] === 0x2d;
}

/** Whether PEM or DER input is PEM text. */
export function isPemInput(input: Uint8Array | string): boolean {
  return typeof input === "string" || isPem(input);
}

/** The blocks of a PEM text of the given types, as DER. */
export function pemBlocks(
  text: string,
  types: readonly string[],
  code: "BAD_CERTIFICATE" | "BAD_KEY" = "BAD_CERTIFICATE",
): Uint8Array[] {
  let messages: forge.pem.ObjectPEM[];
  try {
    messages = forge.pem.decode(text);
  } catch (e) {
    throw new SignatureError(code, `bad PEM: ${(e as Error).message}`);
  }
  return messages.filter((m) => types.includes(m.type)).map((m) => fromBinary(m.body));
}

export function pemText(input: Uint8Array | string): string {
  return typeof input === "string" ? input : toBinary(input);
}
