/**
 * Private signing keys, PEM or DER (PKCS#8, PKCS#1 RSA, SEC1 EC; encrypted
 * PEM or PKCS#8 with a passphrase): RSA 2048–4096 bits, ECDSA P-256 or P-384.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import type { EcCurve, KeyAlgorithm } from "./algorithms.ts";
import type { Certificate } from "./certificate.ts";
import { bytesEqual } from "./_bytes.ts";
import { SignatureError } from "./errors.ts";
import { isPemInput, pemText } from "./_pem.ts";

/** A private key the signer can use. */
export interface PrivateKey {
  /** The node:crypto key. */
  readonly keyObject: KeyObject;
  /** RSA or ECDSA. */
  readonly algorithm: KeyAlgorithm;
  /** RSA modulus bits, or the curve size for ECDSA. */
  readonly bits: number;
  /** The ECDSA curve. */
  readonly curve: EcCurve | undefined;
  /** The matching public key's SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
}

/** Options of {@linkcode parsePrivateKey}. */
export interface ParsePrivateKeyOptions {
  /** Passphrase of an encrypted key (sign-file reads it from `KBUILD_SIGN_PIN`). */
  passphrase?: string;
}

/** A private key and the certificate that names it in signatures. */
export interface SigningCredentials {
  /** The private key. */
  readonly key: PrivateKey;
  /** Its certificate (issuer and serial or SKID go into the signature). */
  readonly certificate: Certificate;
}

const CURVES: Readonly<Record<string, EcCurve>> = {
  prime256v1: "P-256",
  "P-256": "P-256",
  secp384r1: "P-384",
  "P-384": "P-384",
};

function badKey(message: string): never {
  throw new SignatureError("BAD_KEY", message);
}

function load(input: Uint8Array | string, passphrase: string | undefined): KeyObject {
  if (isPemInput(input)) {
    try {
      return createPrivateKey({ key: pemText(input), format: "pem", passphrase });
    } catch (e) {
      badKey(`cannot read the PEM private key: ${(e as Error).message}`);
    }
  }
  const der = Buffer.from(input as Uint8Array);
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      return createPrivateKey({ key: der, format: "der", type, passphrase });
    } catch {
      // try the next encoding
    }
  }
  badKey("cannot read the DER private key (tried PKCS#8, PKCS#1 and SEC1)");
}

/**
 * Checks a node:crypto private key and describes it.
 *
 * @example
 * ```ts
 * import { privateKeyFromKeyObject } from "@lpkit/signer";
 * import { generateKeyPairSync } from "node:crypto";
 * import assert from "node:assert/strict";
 *
 * const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
 * assert.equal(privateKeyFromKeyObject(privateKey).curve, "P-384");
 * ```
 */
export function privateKeyFromKeyObject(keyObject: KeyObject): PrivateKey {
  if (keyObject.type !== "private") badKey("not a private key");
  const spki = new Uint8Array(
    createPublicKey(keyObject).export({ type: "spki", format: "der" }),
  );
  const type = keyObject.asymmetricKeyType;
  if (type === "rsa") {
    const bits = keyObject.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) badKey(`RSA key of ${bits} bits; expected 2048 to 4096`);
    return { keyObject, algorithm: "rsa", bits, curve: undefined, spki };
  }
  if (type === "ec") {
    const named = keyObject.asymmetricKeyDetails?.namedCurve ?? "unknown";
    const curve = CURVES[named];
    if (curve === undefined) badKey(`EC key on curve ${named}; expected P-256 or P-384`);
    return { keyObject, algorithm: "ecdsa", bits: curve === "P-256" ? 256 : 384, curve, spki };
  }
  badKey(`${type} keys are not supported; use RSA or ECDSA P-256/P-384`);
}

/**
 * Reads a private key, PEM or DER.
 *
 * @example
 * ```ts
 * import { parsePrivateKey } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const key = parsePrivateKey(readFileSync("packages/signer/testdata/rsa2048.key"));
 * assert.equal(key.algorithm, "rsa");
 * assert.equal(key.bits, 2048);
 * ```
 */
export function parsePrivateKey(
  input: Uint8Array | string,
  options: ParsePrivateKeyOptions = {},
): PrivateKey {
  return privateKeyFromKeyObject(load(input, options.passphrase));
}

/**
 * Pairs a key with its certificate, checking that the certificate's public
 * key is the key's (as OpenSSL's `CMS_add1_signer` does for sign-file).
 *
 * @example
 * ```ts
 * import { parseCertificate, parsePrivateKey, signingCredentials } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/ecp256.key`)),
 *   parseCertificate(readFileSync(`${dir}/ecp256.crt`)),
 * );
 * assert.equal(creds.key.curve, "P-256");
 * assert.throws(() =>
 *   signingCredentials(creds.key, parseCertificate(readFileSync(`${dir}/rsa2048.crt`)))
 * );
 * ```
 */
export function signingCredentials(key: PrivateKey, certificate: Certificate): SigningCredentials {
  if (!bytesEqual(key.spki, certificate.spki)) {
    badKey("the private key does not match the certificate's public key");
  }
  return { key, certificate };
}
