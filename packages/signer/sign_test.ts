import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { verify as cryptoVerify } from "node:crypto";
import { readFileSync } from "node:fs";
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import { cert, creds, expectCode, payload, testdata } from "./_testing.ts";
import {
  attachPkcs7,
  createPkcs7,
  encodeModuleSignatureHeader,
  MODULE_SIG_MAGIC,
  OID,
  parsePkcs7,
  type SigningHash,
  signPayload,
  TrustStore,
  verifyPayload,
} from "./mod.ts";

const bin = (u: Uint8Array) => Buffer.from(u).toString("binary");
const unbin = (s: string) => new Uint8Array(Buffer.from(s, "binary"));
const body = payload(3000, 3);

Deno.test("createPkcs7() signs RSA deterministically, as an independent RSA does", async (t) => {
  const key = forge.pki.privateKeyFromPem(readFileSync(testdata("rsa2048.key"), "utf8"));
  for (const hash of ["sha256", "sha384", "sha512"] as SigningHash[]) {
    await t.step(hash, () => {
      const p7 = createPkcs7(body, creds("rsa2048"), { hash });
      assert.deepEqual(createPkcs7(body, creds("rsa2048"), { hash }), p7);
      // forge: its own JavaScript SHA-2 and RSA, EMSA-PKCS1-v1_5 with DigestInfo.
      const md = forge.md[hash].create().update(bin(body));
      assert.deepEqual(parsePkcs7(p7).signature, unbin(key.sign(md)));
    });
  }
});

Deno.test("createPkcs7() matches forge.pkcs7's detached message but for OpenSSL's parameter-less digests", () => {
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(bin(body));
  p7.addSigner({
    key: forge.pki.privateKeyFromPem(readFileSync(testdata("rsa2048.key"), "utf8")),
    certificate: forge.pki.certificateFromPem(readFileSync(testdata("rsa2048.crt"), "utf8")),
    digestAlgorithm: forge.pki.oids.sha256,
    authenticatedAttributes: [],
  });
  p7.sign({ detached: true });
  const theirs = p7.toAsn1();
  // Drop the NULL parameters forge puts in both digest AlgorithmIdentifiers (signing.md §3 (c)).
  const strip = (n: forge.asn1.Asn1) => (n.value as forge.asn1.Asn1[]).splice(1);
  const sd = ((theirs.value as forge.asn1.Asn1[])[1].value as forge.asn1.Asn1[])[0]
    .value as forge.asn1.Asn1[];
  strip((sd[1].value as forge.asn1.Asn1[])[0]);
  const si = (sd[sd.length - 1].value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[];
  strip(si[2]);
  assert.deepEqual(createPkcs7(body, creds("rsa2048")), unbin(forge.asn1.toDer(theirs).getBytes()));
});

Deno.test("createPkcs7() makes ECDSA signatures node:crypto verifies", async (t) => {
  for (
    const [name, hash, oid] of [
      ["ecp256", "sha256", "1.2.840.10045.4.3.2"],
      ["ecp256", "sha512", "1.2.840.10045.4.3.4"],
      ["ecp384", "sha384", "1.2.840.10045.4.3.3"],
    ] as const
  ) {
    await t.step(`${name} ${hash}`, () => {
      const c = creds(name);
      const der = createPkcs7(body, c, { hash });
      const p = parsePkcs7(der);
      assert.equal(p.signatureAlgorithmOid, oid);
      assert.equal(p.keyAlgorithm, "ecdsa");
      assert.ok(cryptoVerify(hash, body, c.certificate.publicKey!, p.signature));
      assert.equal(
        cryptoVerify(hash, body.subarray(1), c.certificate.publicKey!, p.signature),
        false,
      );
      // No NULL after ecdsa-with-SHA*: the OID's last byte is followed by the OCTET STRING.
      assert.equal(der[p.signatureOffset - (p.signature.length < 128 ? 2 : 3)], 0x04);
    });
  }
});

Deno.test("createPkcs7() names the signer as sign-file does", async (t) => {
  await t.step("issuer and serial by default (v1)", () => {
    const p = parsePkcs7(createPkcs7(body, creds("rsa2048")));
    assert.equal(p.version, 1);
    assert.ok(p.signer.kind === "issuerAndSerialNumber");
    assert.deepEqual(p.signer.serial, cert("rsa2048").serial);
    assert.equal(p.certificates.length, 0);
  });
  await t.step("subject key identifier with useKeyId (v3, sign-file -k)", () => {
    const p = parsePkcs7(createPkcs7(body, creds("ecp256"), { useKeyId: true }));
    assert.equal(p.version, 3);
    assert.ok(p.signer.kind === "subjectKeyIdentifier");
    assert.deepEqual(p.signer.keyId, cert("ecp256").subjectKeyId);
  });
  await t.step("useKeyId needs a subjectKeyIdentifier", () => {
    expectCode(() => createPkcs7(body, creds("noskid"), { useKeyId: true }), "BAD_CERTIFICATE");
  });
  await t.step("includeCertificate embeds the signer's certificate", () => {
    const p = parsePkcs7(createPkcs7(body, creds("rsa3072"), { includeCertificate: true }));
    assert.deepEqual(p.certificates.map((c) => c.der), [cert("rsa3072").der]);
  });
});

Deno.test("createPkcs7() refuses digests it must not emit", () => {
  for (const hash of ["sha1", "md5", "sha224"]) {
    expectCode(
      () => createPkcs7(body, creds("rsa2048"), { hash: hash as SigningHash }),
      "UNSUPPORTED_DIGEST",
    );
  }
});

Deno.test("signPayload() appends PKCS#7, header and marker", () => {
  const c = creds("rsa2048");
  const signed = signPayload(body, c, { hash: "sha512" });
  const p7 = createPkcs7(body, c, { hash: "sha512" });
  assert.deepEqual(signed.subarray(0, body.length), body);
  assert.deepEqual(signed.subarray(body.length, body.length + p7.length), p7);
  assert.deepEqual(
    signed.subarray(body.length + p7.length, signed.length - 28),
    encodeModuleSignatureHeader({ sigLen: p7.length }),
  );
  assert.deepEqual(signed.subarray(signed.length - 28), MODULE_SIG_MAGIC);
  assert.equal(verifyPayload(signed, new TrustStore([c.certificate])).hash, "sha512");
});

Deno.test("attachPkcs7() appends a PKCS#7 made elsewhere", async (t) => {
  const c = creds("rsa2048");
  await t.step("the same bytes as signing here", () => {
    assert.deepEqual(attachPkcs7(body, createPkcs7(body, c)), signPayload(body, c));
  });
  await t.step("checks the message's shape by default", () => {
    expectCode(() => attachPkcs7(body, new Uint8Array([1, 2, 3])), "MALFORMED_PKCS7");
    const wrongAlgorithm = createPkcs7(body, c).slice();
    // Turn rsaEncryption (…01 01 01) into sha256WithRSAEncryption (…01 01 0b).
    const at = Buffer.from(wrongAlgorithm).indexOf(
      Buffer.from(forge.asn1.oidToDer(OID.rsaEncryption).getBytes(), "binary"),
    );
    wrongAlgorithm[at + 8] = 0x0b;
    expectCode(() => attachPkcs7(body, wrongAlgorithm), "UNSUPPORTED_ALGORITHM");
  });
  await t.step("appends anything with check: false, as sign-file -s does", () => {
    const out = attachPkcs7(body, new Uint8Array([1, 2, 3]), { check: false });
    assert.equal(out.length, body.length + 3 + 40);
  });
});
