import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import { expectCode, testdata } from "./_testing.ts";
import { decodeName, formatName, parseCertificate, parseCertificates } from "./mod.ts";

const NAMES = ["rsa2048", "rsa3072", "rsa4096", "ecp256", "ecp384", "rsa1024", "ecp521", "noskid"];

Deno.test("parseCertificate() agrees with node:crypto's X509Certificate", async (t) => {
  for (const name of NAMES) {
    await t.step(name, () => {
      const pem = readFileSync(testdata(`${name}.crt`), "utf8");
      const cert = parseCertificate(pem);
      const x = new X509Certificate(pem);
      assert.equal(cert.subject, x.subject.split("\n").join(", "));
      assert.equal(cert.issuer, x.issuer.split("\n").join(", "));
      assert.equal(cert.serialHex.replace(/^0+/, "").toUpperCase(), x.serialNumber);
      assert.equal(
        createHash("sha256").update(cert.der).digest("hex"),
        x.fingerprint256.replaceAll(":", "").toLowerCase(),
      );
      assert.deepEqual(
        cert.spki,
        new Uint8Array(x.publicKey.export({ type: "spki", format: "der" })),
      );
    });
  }
});

Deno.test("parseCertificate() finds the subject key identifier OpenSSL computed", async (t) => {
  for (const name of NAMES) {
    await t.step(name, () => {
      const cert = parseCertificate(readFileSync(testdata(`${name}.crt`)));
      if (name === "noskid") {
        assert.equal(cert.subjectKeyId, undefined);
        return;
      }
      // OpenSSL's "hash" SKID: SHA-1 of the subjectPublicKey BIT STRING's bits.
      const spki = forge.asn1.fromDer(
        forge.util.binary.raw.encode(cert.spki),
        { decodeBitStrings: false } as unknown as boolean,
      );
      const bits = (spki.value as forge.asn1.Asn1[])[1].value as string;
      const expected = createHash("sha1").update(Buffer.from(bits.slice(1), "binary")).digest();
      assert.deepEqual(cert.subjectKeyId, new Uint8Array(expected));
    });
  }
});

Deno.test("parseCertificate() describes the key", () => {
  const describe = (n: string) => {
    const c = parseCertificate(readFileSync(testdata(`${n}.crt`)));
    return [c.keyAlgorithm, c.keyBits, c.curve, c.keyDescription];
  };
  assert.deepEqual(describe("rsa2048"), ["rsa", 2048, undefined, "RSA-2048"]);
  assert.deepEqual(describe("rsa4096"), ["rsa", 4096, undefined, "RSA-4096"]);
  assert.deepEqual(describe("rsa1024"), ["rsa", 1024, undefined, "RSA-1024"]);
  assert.deepEqual(describe("ecp256"), ["ecdsa", 256, "P-256", "ECDSA P-256"]);
  assert.deepEqual(describe("ecp384"), ["ecdsa", 384, "P-384", "ECDSA P-384"]);
  assert.deepEqual(describe("ecp521"), ["unsupported", undefined, undefined, "EC 1.3.132.0.35"]);
});

Deno.test("parseCertificate() reads PEM and DER alike", () => {
  const pem = parseCertificate(readFileSync(testdata("rsa2048.crt")));
  const der = parseCertificate(readFileSync(testdata("rsa2048.crt.der")));
  assert.deepEqual(der, pem);
  assert.equal(Object.getPrototypeOf(der.der), Uint8Array.prototype);
});

Deno.test("parseCertificates() reads every certificate of a PEM bundle", () => {
  const bundle = ["rsa2048", "ecp256", "rsa4096"]
    .map((n) => readFileSync(testdata(`${n}.crt`), "utf8"))
    .join("\n# comment lines between blocks are fine\n");
  const certs = parseCertificates(bundle);
  assert.deepEqual(certs.map((c) => c.keyDescription), ["RSA-2048", "ECDSA P-256", "RSA-4096"]);
  assert.equal(parseCertificate(bundle).keyDescription, "RSA-2048");
  assert.equal(parseCertificates(new TextEncoder().encode(bundle)).length, 3);
});

Deno.test("parseCertificate() rejects what is not a DER certificate", async (t) => {
  const der = new Uint8Array(readFileSync(testdata("rsa2048.crt.der")));
  await t.step("garbage", () => {
    expectCode(() => parseCertificate(new Uint8Array([1, 2, 3])), "BAD_CERTIFICATE");
  });
  await t.step("truncated", () => {
    expectCode(() => parseCertificate(der.subarray(0, der.length - 1)), "BAD_CERTIFICATE");
  });
  await t.step("BER long-form length where DER needs the short form", () => {
    // The first SEQUENCE inside tbsCertificate ([0] version: a0 03 02 01 02) re-encoded as a0 81 03.
    const at = der.indexOf(0xa0);
    assert.deepEqual([...der.subarray(at, at + 5)], [0xa0, 0x03, 0x02, 0x01, 0x02]);
    const ber = new Uint8Array([...der.subarray(0, at + 1), 0x81, ...der.subarray(at + 1)]);
    // Fix the two enclosing lengths (certificate and tbsCertificate, both 0x82 form).
    const view = new DataView(ber.buffer);
    view.setUint16(2, view.getUint16(2) + 1);
    view.setUint16(6, view.getUint16(6) + 1);
    const e = expectCode(() => parseCertificate(ber), "BAD_CERTIFICATE");
    assert.match(e.message, /not DER/);
  });
  await t.step("a PEM text without a certificate", () => {
    expectCode(
      () => parseCertificate(readFileSync(testdata("rsa2048.key"), "utf8")),
      "BAD_CERTIFICATE",
    );
  });
});

Deno.test("decodeName() and formatName() render a name in DER order", () => {
  const cert = parseCertificate(readFileSync(testdata("rsa3072.crt")));
  const attrs = decodeName(cert.subjectDer);
  assert.deepEqual(attrs.map((a) => a.name), ["O", "CN", "emailAddress"]);
  assert.equal(
    formatName(attrs),
    "O=lpkit tests, CN=RSA-3072 signer, emailAddress=rsa3072@lpkit.invalid",
  );
  assert.deepEqual(attrs[1].raw, new TextEncoder().encode("RSA-3072 signer"));
});
