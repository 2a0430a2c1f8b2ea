import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createPrivateKey, sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import { toHex } from "./_bytes.ts";
import { cert, creds, expectCode, flip, payload, testdata } from "./_testing.ts";
import {
  attachPkcs7,
  type Certificate,
  createPkcs7,
  ecdsaSignatureOid,
  encodePkcs7,
  hashOid,
  inspectSignedPayload,
  MODULE_SIG_MAGIC,
  OID,
  type Pkcs7Fields,
  signPayload,
  signPayloadLegacy,
  TrustStore,
  verifyDetached,
  verifyPayload,
} from "./mod.ts";

const body = payload(2048, 11);
const store = new TrustStore(["rsa2048", "rsa4096", "ecp256", "ecp384"].map(cert));

/** A file signed with a hand-built PKCS#7 (any digest, key and algorithm). */
function handSigned(
  keyName: string,
  digest: string,
  over: Partial<Pkcs7Fields> = {},
  data: Uint8Array = body,
): Uint8Array {
  const c = cert(keyName);
  const key = createPrivateKey(readFileSync(testdata(`${keyName}.key`)));
  const signature = new Uint8Array(cryptoSign(digest, data, { key, dsaEncoding: "der" }));
  const fields: Pkcs7Fields = {
    digestOid: over.digestOid ?? forge.pki.oids[digest] ?? hashOid(digest as "sha256"),
    signatureAlgorithmOid: key.asymmetricKeyType === "rsa"
      ? OID.rsaEncryption
      : ecdsaSignatureOid(digest as "sha256"),
    signatureAlgorithmNull: key.asymmetricKeyType === "rsa",
    signer: { issuerDer: c.issuerDer, serial: c.serial },
    signature,
    ...over,
  };
  return attachPkcs7(data, encodePkcs7(fields), { check: false });
}

Deno.test("verifyPayload() reports who signed and how", async (t) => {
  await t.step("RSA by issuer and serial", () => {
    const file = signPayload(body, creds("rsa2048"));
    const r = verifyPayload(file, store);
    const c = cert("rsa2048");
    assert.equal(r.format, "pkcs7");
    assert.equal(r.hash, "sha256");
    assert.equal(r.keyAlgorithm, "rsa");
    assert.equal(r.keyDescription, "RSA-2048");
    assert.equal(r.signer.issuer, c.issuer);
    assert.equal(r.signer.subject, c.subject);
    assert.equal(r.signer.serialHex, c.serialHex);
    assert.equal(r.signer.identifiedBy, "issuerAndSerialNumber");
    assert.equal(r.signer.keyIdHex, toHex(c.subjectKeyId!), "the trusted certificate's SKID");
    assert.equal(r.payloadLength, body.length);
    assert.deepEqual(r.certificate.der, c.der);
    assert.equal(r.anchor, r.certificate, "trusted directly: the signer's certificate anchors it");
    assert.deepEqual(r.chain, [{
      subject: c.subject,
      issuer: c.issuer,
      serialHex: c.serialHex,
      keyIdHex: toHex(c.subjectKeyId!),
      embedded: false,
      trusted: true,
    }]);
    assert.deepEqual(r.payload, body);
    assert.equal(r.payload.buffer, file.buffer, "the payload is a view, not a copy");
  });
  await t.step("RSA-4096 sha512 by key id", () => {
    const r = verifyPayload(
      signPayload(body, creds("rsa4096"), { hash: "sha512", useKeyId: true }),
      store,
    );
    assert.equal(r.keyDescription, "RSA-4096");
    assert.equal(r.hash, "sha512");
    assert.equal(r.signer.keyIdHex, toHex(cert("rsa4096").subjectKeyId!));
    assert.equal(r.signer.identifiedBy, "subjectKeyIdentifier");
    assert.equal(r.signer.serialHex, cert("rsa4096").serialHex, "the trusted certificate's serial");
  });
  await t.step("ECDSA P-256 and P-384", () => {
    assert.equal(
      verifyPayload(signPayload(body, creds("ecp256")), store).keyDescription,
      "ECDSA P-256",
    );
    const r = verifyPayload(signPayload(body, creds("ecp384"), { hash: "sha384" }), store);
    assert.deepEqual([r.keyAlgorithm, r.hash, r.keyDescription], [
      "ecdsa",
      "sha384",
      "ECDSA P-384",
    ]);
  });
  await t.step("sha224, which the kernel accepts", () => {
    assert.equal(verifyPayload(handSigned("rsa2048", "sha224"), store).hash, "sha224");
  });
  await t.step("a one-byte payload", () => {
    const one = new Uint8Array([0x42]);
    assert.deepEqual(verifyPayload(signPayload(one, creds("ecp256")), store).payload, one);
  });
  await t.step("with the signer's own certificate embedded", () => {
    const file = signPayload(body, creds("rsa2048"), { includeCertificate: true });
    assert.equal(verifyPayload(file, store).keyDescription, "RSA-2048");
  });
});

Deno.test("verifyPayload() applies the kernel's checks with a distinct code for each", async (t) => {
  const good = signPayload(body, creds("rsa2048"));
  const p7len = good.length - body.length - 40;
  const headerAt = good.length - 40;
  await t.step("UNSIGNED: no marker", () => {
    expectCode(() => verifyPayload(body, store), "UNSIGNED");
    expectCode(() => verifyPayload(good.subarray(0, good.length - 1), store), "UNSIGNED");
  });
  await t.step("TRUNCATED: nothing but the marker", () => {
    expectCode(() => verifyPayload(MODULE_SIG_MAGIC, store), "TRUNCATED");
  });
  await t.step("BAD_SIG_LEN: sig_len beyond the file", () => {
    const f = good.slice();
    f.set([0x7f, 0, 0, 0], headerAt + 8);
    expectCode(() => verifyPayload(f, store), "BAD_SIG_LEN");
  });
  await t.step("BAD_ID_TYPE: the legacy id_type unless allowLegacy", () => {
    expectCode(() => verifyPayload(flip(good, headerAt + 2, 3), store), "BAD_ID_TYPE");
  });
  await t.step("NONZERO_HEADER: algo, hash, lengths or padding set", () => {
    for (const at of [0, 1, 3, 4, 5, 6, 7]) {
      const e = expectCode(
        () => verifyPayload(flip(good, headerAt + at, 0x40), store),
        "NONZERO_HEADER",
      );
      assert.equal(e.offset, headerAt + at);
    }
  });
  await t.step("MALFORMED_PKCS7: sig_len off by one either way", () => {
    for (const len of [p7len - 1, p7len + 1]) {
      const f = good.slice();
      new DataView(f.buffer).setUint32(headerAt + 8, len);
      const e = expectCode(() => verifyPayload(f, store), "MALFORMED_PKCS7");
      assert.equal(e.offset, headerAt - len);
    }
  });
  await t.step(
    "SIGNED_ATTRIBUTES: an OpenSSL-default signature with authenticated attributes",
    () => {
      const p7 = forge.pkcs7.createSignedData();
      p7.content = forge.util.createBuffer(Buffer.from(body).toString("binary"));
      p7.addSigner({
        key: forge.pki.privateKeyFromPem(readFileSync(testdata("rsa2048.key"), "utf8")),
        certificate: forge.pki.certificateFromPem(readFileSync(testdata("rsa2048.crt"), "utf8")),
        digestAlgorithm: forge.pki.oids.sha256,
        authenticatedAttributes: [
          { type: forge.pki.oids.contentType, value: forge.pki.oids.data },
          { type: forge.pki.oids.messageDigest },
        ],
      });
      p7.sign({ detached: true });
      const der = new Uint8Array(Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), "binary"));
      expectCode(
        () => verifyPayload(attachPkcs7(body, der, { check: false }), store),
        "SIGNED_ATTRIBUTES",
      );
    },
  );
  await t.step("EMBEDDED_CONTENT: a non-detached PKCS#7", () => {
    const p7 = forge.pkcs7.createSignedData();
    p7.content = forge.util.createBuffer(Buffer.from(body).toString("binary"));
    p7.addSigner({
      key: forge.pki.privateKeyFromPem(readFileSync(testdata("rsa2048.key"), "utf8")),
      certificate: forge.pki.certificateFromPem(readFileSync(testdata("rsa2048.crt"), "utf8")),
      digestAlgorithm: forge.pki.oids.sha256,
      authenticatedAttributes: [],
    });
    p7.sign({ detached: false });
    const der = new Uint8Array(Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), "binary"));
    expectCode(
      () => verifyPayload(attachPkcs7(body, der, { check: false }), store),
      "EMBEDDED_CONTENT",
    );
  });
  await t.step("UNSUPPORTED_DIGEST: sha3-256", () => {
    const f = handSigned("rsa2048", "sha3-256", { digestOid: "2.16.840.1.101.3.4.2.8" });
    expectCode(() => verifyPayload(f, store), "UNSUPPORTED_DIGEST");
  });
  await t.step("WEAK_DIGEST: SHA-1 without the opt-in, MD5 always", () => {
    const sha1 = handSigned("rsa2048", "sha1");
    expectCode(() => verifyPayload(sha1, store), "WEAK_DIGEST");
    assert.equal(verifyPayload(sha1, store, { allowSha1: true }).hash, "sha1");
    const md5 = handSigned("rsa2048", "md5");
    expectCode(() => verifyPayload(md5, store, { allowSha1: true }), "WEAK_DIGEST");
  });
  await t.step("UNSUPPORTED_ALGORITHM: sha256WithRSAEncryption in the SignerInfo", () => {
    const f = handSigned("rsa2048", "sha256", { signatureAlgorithmOid: "1.2.840.113549.1.1.11" });
    expectCode(() => verifyPayload(f, store), "UNSUPPORTED_ALGORITHM");
  });
  await t.step("UNTRUSTED: signer not in the trust store", () => {
    expectCode(() => verifyPayload(good, new TrustStore()), "UNTRUSTED");
    // Same subject (and issuer) but another serial and key.
    expectCode(() => verifyPayload(good, new TrustStore([cert("other2048")])), "UNTRUSTED");
    const byKeyId = signPayload(body, creds("rsa2048"), { useKeyId: true });
    expectCode(() => verifyPayload(byKeyId, new TrustStore([cert("rsa4096")])), "UNTRUSTED");
  });
  await t.step("embedded certificates that are not the signer's are ignored, as Linux does", () => {
    // other2048 has the signer's issuer name but another serial: not the signer.
    const f = handSigned("rsa2048", "sha256", { certificates: [cert("other2048").der] });
    assert.deepEqual(verifyPayload(f, store).certificate.der, cert("rsa2048").der);
    expectCode(() => verifyPayload(f, new TrustStore([cert("other2048")])), "UNTRUSTED");
  });
  await t.step("BAD_KEY: a trusted key lpkit does not support", () => {
    const weak = new TrustStore([cert("rsa1024"), cert("ecp521")]);
    expectCode(() => verifyPayload(handSigned("rsa1024", "sha256"), weak), "BAD_KEY");
    const p521 = handSigned("ecp521", "sha512", {
      signatureAlgorithmOid: ecdsaSignatureOid("sha512"),
      signatureAlgorithmNull: false,
    });
    expectCode(() => verifyPayload(p521, weak), "BAD_KEY");
  });
  await t.step("BAD_SIGNATURE: payload or signature changed", () => {
    expectCode(() => verifyPayload(flip(good, 0), store), "BAD_SIGNATURE");
    expectCode(() => verifyPayload(flip(good, body.length - 1, 0x80), store), "BAD_SIGNATURE");
    const e = expectCode(() => verifyPayload(flip(good, headerAt - 1), store), "BAD_SIGNATURE");
    assert.equal(e.offset, headerAt - 256);
    const ec = signPayload(body, creds("ecp256"));
    expectCode(() => verifyPayload(flip(ec, 5), store), "BAD_SIGNATURE");
  });
  await t.step("BAD_SIGNATURE: the algorithm does not fit the trusted key", () => {
    // An ECDSA signature presented as rsaEncryption, naming the P-256 certificate.
    const f = handSigned("ecp256", "sha256", {
      signatureAlgorithmOid: OID.rsaEncryption,
      signatureAlgorithmNull: true,
    });
    assert.match(expectCode(() => verifyPayload(f, store), "BAD_SIGNATURE").message, /ECDSA P-256/);
  });
  await t.step("BAD_SIGNATURE: an ECDSA signature that is not DER", () => {
    const f = handSigned("ecp256", "sha256", { signature: new Uint8Array([0x30, 0x03, 2, 1, 1]) });
    expectCode(() => verifyPayload(f, store), "BAD_SIGNATURE");
  });
});

Deno.test("verifyPayload() checks in the kernel's order", async (t) => {
  const good = signPayload(body, creds("rsa2048"));
  const headerAt = good.length - 40;
  await t.step("header before PKCS#7", () => {
    const f = flip(flip(good, headerAt - 100, 0xff), headerAt, 1);
    expectCode(() => verifyPayload(f, store), "NONZERO_HEADER");
  });
  await t.step("trust before the signature", () => {
    expectCode(() => verifyPayload(flip(good, 0), new TrustStore()), "UNTRUSTED");
  });
  await t.step("structure before trust: the cheap checks need no key", () => {
    const { pkcs7 } = inspectSignedPayload(good);
    assert.equal(pkcs7.signer.kind, "issuerAndSerialNumber");
    expectCode(() => inspectSignedPayload(flip(good, headerAt + 1, 1)), "NONZERO_HEADER");
  });
});

Deno.test("verifyPayload() tries every trusted certificate that matches the signer", () => {
  const real = cert("rsa2048");
  // A look-alike claiming the same issuer and serial with another key.
  const other = cert("other2048");
  const fake: Certificate = { ...other, issuerDer: real.issuerDer, serial: real.serial };
  const good = signPayload(body, creds("rsa2048"));
  assert.deepEqual(verifyPayload(good, new TrustStore([fake, real])).certificate.spki, real.spki);
  expectCode(() => verifyPayload(good, new TrustStore([fake])), "BAD_SIGNATURE");
});

Deno.test("verifyPayload() rejects every single-byte change of the trailer's fixed part", () => {
  const good = signPayload(body, creds("ecp256"));
  const codes = new Set<string>();
  for (let at = good.length - 40; at < good.length; at++) {
    for (const mask of [0x01, 0x80]) {
      try {
        verifyPayload(flip(good, at, mask), store);
        assert.fail(`byte ${at} ^ ${mask} verified`);
      } catch (e) {
        codes.add((e as { code: string }).code);
        if (at >= good.length - 28) assert.equal((e as { code: string }).code, "UNSIGNED");
      }
    }
  }
  assert.deepEqual(
    [...codes].sort(),
    ["BAD_ID_TYPE", "BAD_SIG_LEN", "MALFORMED_PKCS7", "NONZERO_HEADER", "UNSIGNED"],
  );
});

Deno.test("verifyPayload() with allowLegacy verifies the legacy layout too", () => {
  const legacy = signPayloadLegacy(body, creds("rsa2048"));
  expectCode(() => verifyPayload(legacy, store), "BAD_ID_TYPE");
  const r = verifyPayload(legacy, store, { allowLegacy: true });
  assert.equal(r.format, "legacy");
  assert.equal(
    verifyPayload(signPayload(body, creds("rsa2048")), store, { allowLegacy: true }).format,
    "pkcs7",
  );
});

Deno.test("verifyDetached() verifies a .p7s over its payload", () => {
  const p7s = createPkcs7(body, creds("ecp384"), { hash: "sha512" });
  assert.equal(verifyDetached(body, p7s, store).hash, "sha512");
  expectCode(() => verifyDetached(body.subarray(1), p7s, store), "BAD_SIGNATURE");
  expectCode(() => verifyDetached(body, p7s.subarray(1), store), "MALFORMED_PKCS7");
});
