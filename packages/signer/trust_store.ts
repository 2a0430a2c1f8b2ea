/**
 * Trusted certificates, looked up the way the kernel's keyring finds a
 * signer (signing.md §1.3 step 4): by issuer Name and serial number compared
 * byte for byte, or by subject key identifier. Validity dates are not
 * checked, as the kernel does not check them either.
 *
 * @module
 */
import { toHex } from "./_bytes.ts";
import { type Certificate, parseCertificates } from "./certificate.ts";

function issuerSerialKey(issuerDer: Uint8Array, serial: Uint8Array): string {
  return `${toHex(issuerDer)}/${toHex(serial)}`;
}

function push(map: Map<string, Certificate[]>, key: string, cert: Certificate): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [cert]);
  else list.push(cert);
}

/**
 * A set of trusted signing certificates.
 *
 * @example
 * ```ts
 * import { parseCertificate, TrustStore } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const cert = parseCertificate(readFileSync("packages/signer/testdata/rsa2048.crt"));
 * const store = new TrustStore([cert]);
 * assert.equal(store.size, 1);
 * assert.deepEqual(store.findByIssuerAndSerial(cert.issuerDer, cert.serial), [cert]);
 * ```
 */
export class TrustStore implements Iterable<Certificate> {
  #all: Certificate[] = [];
  #ders = new Set<string>();
  #byIssuerSerial = new Map<string, Certificate[]>();
  #byKeyId = new Map<string, Certificate[]>();

  /** @param certificates The trusted certificates. */
  constructor(certificates: Iterable<Certificate> = []) {
    for (const cert of certificates) this.add(cert);
  }

  /** Adds a certificate; an identical certificate is added once. */
  add(certificate: Certificate): void {
    const der = toHex(certificate.der);
    if (this.#ders.has(der)) return;
    this.#ders.add(der);
    this.#all.push(certificate);
    push(
      this.#byIssuerSerial,
      issuerSerialKey(certificate.issuerDer, certificate.serial),
      certificate,
    );
    if (certificate.subjectKeyId !== undefined) {
      push(this.#byKeyId, toHex(certificate.subjectKeyId), certificate);
    }
  }

  /** Whether this exact certificate (same DER) is in the store. */
  has(certificate: Certificate): boolean {
    return this.#ders.has(toHex(certificate.der));
  }

  /** Number of certificates. */
  get size(): number {
    return this.#all.length;
  }

  /** Certificates whose issuer Name (DER) and serial (INTEGER contents) are these. */
  findByIssuerAndSerial(issuerDer: Uint8Array, serial: Uint8Array): Certificate[] {
    return this.#byIssuerSerial.get(issuerSerialKey(issuerDer, serial)) ?? [];
  }

  /** Certificates whose subjectKeyIdentifier is this key id. */
  findBySubjectKeyId(keyId: Uint8Array): Certificate[] {
    return this.#byKeyId.get(toHex(keyId)) ?? [];
  }

  /** The certificates, in the order added. */
  [Symbol.iterator](): Iterator<Certificate> {
    return this.#all[Symbol.iterator]();
  }
}

/**
 * Builds a trust store from a PEM bundle (any number of certificates) or one
 * DER certificate.
 *
 * @example
 * ```ts
 * import { parseTrustStore } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const pem = ["rsa2048.crt", "ecp384.crt"]
 *   .map((f) => readFileSync(`packages/signer/testdata/${f}`, "utf8")).join("\n");
 * assert.equal(parseTrustStore(pem).size, 2);
 * ```
 */
export function parseTrustStore(input: Uint8Array | string): TrustStore {
  return new TrustStore(parseCertificates(input));
}
