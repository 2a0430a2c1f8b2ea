// The cryptographic step of verification, shared by both layouts: key
// checks, then node:crypto's RSASSA-PKCS1-v1_5 or ECDSA verification, which
// hashes the payload in place (no copy) or chunk by chunk.
import { createVerify } from "node:crypto";
import type { HashAlgorithm, KeyAlgorithm } from "./algorithms.ts";
import type { Certificate } from "./certificate.ts";
import { CLASS, decodeDer, isTag, TAG } from "./_der.ts";
import { SignatureError } from "./errors.ts";
import type { PayloadData } from "./_payload.ts";

/**
 * Rejects keys outside what lpkit supports (RSA 2048–4096, P-256/P-384).
 * `what` names the key in messages (a trusted key, or an embedded certificate's).
 */
export function checkTrustedKey(cert: Certificate, what = "the trusted key", at?: number): void {
  if (cert.keyAlgorithm === "unsupported" || cert.publicKey === undefined) {
    throw new SignatureError("BAD_KEY", `${what} (${cert.keyDescription}) is not supported`, at);
  }
  if (cert.keyAlgorithm === "rsa" && (cert.keyBits! < 2048 || cert.keyBits! > 4096)) {
    throw new SignatureError(
      "BAD_KEY",
      `${what} is ${cert.keyDescription}; RSA keys must have 2048 to 4096 bits`,
      at,
    );
  }
}

/** Checks an ECDSA-Sig-Value's DER shape (SEQUENCE of two INTEGERs). */
function checkEcdsaSignature(sig: Uint8Array, at: number): void {
  let node;
  try {
    node = decodeDer(sig, "BAD_SIGNATURE", "ECDSA signature", at);
  } catch (e) {
    throw e instanceof SignatureError
      ? e
      : new SignatureError("BAD_SIGNATURE", "bad ECDSA signature", at);
  }
  if (
    !isTag(node, CLASS.UNIVERSAL, TAG.SEQUENCE, true) || node.children.length !== 2 ||
    !node.children.every((n) => isTag(n, CLASS.UNIVERSAL, TAG.INTEGER, false))
  ) {
    throw new SignatureError("BAD_SIGNATURE", "ECDSA signature is not two INTEGERs", at);
  }
}

/**
 * Verifies a raw signature over a payload with a trusted certificate's key
 * (or, `what` says, an embedded certificate's): RSASSA-PKCS1-v1_5 or DER
 * ECDSA, through node:crypto. Throws `BAD_KEY` or `BAD_SIGNATURE`.
 */
export function verifyRawSignature(
  payload: PayloadData,
  signature: Uint8Array,
  hash: HashAlgorithm,
  keyAlgorithm: KeyAlgorithm,
  cert: Certificate,
  at?: number,
  what = "the trusted key",
): void {
  checkTrustedKey(cert, what);
  if (cert.keyAlgorithm !== keyAlgorithm) {
    throw new SignatureError(
      "BAD_SIGNATURE",
      `the signature is ${keyAlgorithm} but ${what} is ${cert.keyDescription}`,
      at,
    );
  }
  if (keyAlgorithm === "rsa" && signature.length !== Math.ceil(cert.keyBits! / 8)) {
    throw new SignatureError(
      "BAD_SIGNATURE",
      `RSA signature is ${signature.length} bytes; ${cert.keyDescription} needs ${
        Math.ceil(cert.keyBits! / 8)
      }`,
      at,
    );
  }
  if (keyAlgorithm === "ecdsa") checkEcdsaSignature(signature, at ?? 0);
  const verifier = createVerify(hash);
  // Outside the try: a read error of the payload is not a bad signature.
  payload.feed((chunk) => verifier.update(chunk));
  let ok: boolean;
  try {
    ok = verifier.verify({ key: cert.publicKey!, dsaEncoding: "der" }, signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new SignatureError("BAD_SIGNATURE", `the ${hash} signature does not verify`, at);
  }
}
