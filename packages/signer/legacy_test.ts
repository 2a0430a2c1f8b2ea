import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import { concatBytes } from "./_bytes.ts";
import { cert, creds, expectCode, flip, payload, testdata } from "./_testing.ts";
import {
  type Certificate,
  encodeModuleSignatureHeader,
  LEGACY_HASH_ALGO,
  legacySignerName,
  MODULE_SIG_MAGIC,
  parseLegacySignature,
  type SigningHash,
  signPayloadLegacy,
  TrustStore,
  verifyPayloadLegacy,
} from "./mod.ts";

const body = payload(1500, 5);
const store = new TrustStore(["rsa2048", "rsa3072", "ecp256"].map(cert));
const text = (u: Uint8Array) => new TextDecoder().decode(u);

Deno.test("signPayloadLegacy() writes Linux 3.7's layout", () => {
  const c = creds("rsa2048");
  const file = signPayloadLegacy(body, c, { hash: "sha512" });
  const name = new TextEncoder().encode("lpkit test signing key (RSA-2048)");
  const skid = c.certificate.subjectKeyId!;
  let at = body.length;
  assert.deepEqual(file.subarray(0, at), body);
  assert.deepEqual(file.subarray(at, at += name.length), name);
  assert.deepEqual(file.subarray(at, at += skid.length), skid);
  assert.deepEqual([...file.subarray(at, at + 2)], [0x01, 0x00], "be16 length of the signature");
  // The signature: RSASSA-PKCS1-v1_5 over the payload, as openssl rsautl made it from DigestInfo.
  const key = forge.pki.privateKeyFromPem(readFileSync(testdata("rsa2048.key"), "utf8"));
  const expected = key.sign(forge.md.sha512.create().update(Buffer.from(body).toString("binary")));
  assert.equal(Buffer.from(file.subarray(at + 2, at + 258)).toString("binary"), expected);
  at += 258;
  assert.deepEqual(
    file.subarray(at, at + 12),
    new Uint8Array([1, 6, 1, name.length, skid.length, 0, 0, 0, 0, 0, 1, 2]),
  );
  assert.deepEqual(file.subarray(at + 12), MODULE_SIG_MAGIC);
});

Deno.test("legacySignerName() fabricates the name as x509_fabricate_name() did", async (t) => {
  const base = cert("rsa2048");
  const named = (...attrs: [string, string][]): Certificate => ({
    ...base,
    subjectAttributes: attrs.map(([oid, v]) => ({
      oid,
      name: oid,
      value: v,
      raw: new TextEncoder().encode(v),
    })),
  });
  const O = "2.5.4.10", CN = "2.5.4.3", EMAIL = "1.2.840.113549.1.9.1", C = "2.5.4.6";
  const cases: [string, Certificate, string][] = [
    ["CN prefixed by O: the CN", named([O, "Acme"], [CN, "Acme signing key"]), "Acme signing key"],
    [
      "first 7 bytes shared: the CN",
      named([O, "Example Corp"], [CN, "Example Co key"]),
      "Example Co key",
    ],
    ["otherwise O: CN", named([C, "DE"], [O, "Foo"], [CN, "Bar"]), "Foo: Bar"],
    ["CN alone", named([CN, "only cn"], [EMAIL, "a@b"]), "only cn"],
    ["O alone", named([O, "only o"], [EMAIL, "a@b"]), "only o"],
    ["email alone", named([EMAIL, "a@b"]), "a@b"],
    ["nothing", named([C, "DE"]), ""],
    ["the last CN counts", named([CN, "first"], [CN, "second"]), "second"],
  ];
  for (const [name, c, expected] of cases) {
    await t.step(name, () => assert.equal(text(legacySignerName(c)), expected));
  }
  await t.step("the test certificates", () => {
    assert.equal(text(legacySignerName(cert("rsa3072"))), "lpkit tests: RSA-3072 signer");
  });
});

Deno.test("verifyPayloadLegacy() verifies what signPayloadLegacy() signs", async (t) => {
  for (
    const [name, hash] of [["rsa2048", "sha256"], ["rsa3072", "sha384"], ["rsa2048", "sha512"]]
  ) {
    await t.step(`${name} ${hash}`, () => {
      const file = signPayloadLegacy(body, creds(name), { hash: hash as SigningHash });
      const r = verifyPayloadLegacy(file, store);
      assert.equal(r.format, "legacy");
      assert.equal(r.hash, hash);
      assert.equal(r.signer.name, text(legacySignerName(cert(name))));
      assert.equal(r.signer.keyIdHex, Buffer.from(cert(name).subjectKeyId!).toString("hex"));
      assert.deepEqual(r.payload, body);
      assert.equal(parseLegacySignature(file).header.hash, LEGACY_HASH_ALGO[hash]);
    });
  }
});

Deno.test("verifyPayloadLegacy() accepts an MPI without its leading zero byte", () => {
  // Find a payload whose signature starts with 0x00, then store it as the 255-byte MPI.
  const c = creds("rsa2048");
  for (let seed = 0; seed < 5000; seed++) {
    const data = payload(64, seed);
    const file = signPayloadLegacy(data, c);
    const { signatureData, signerName, keyId, header } = parseLegacySignature(file);
    if (signatureData[2] !== 0) continue;
    const mpi = signatureData.subarray(3);
    const stripped = concatBytes(
      data,
      signerName,
      keyId,
      new Uint8Array([0, 255]),
      mpi,
      encodeModuleSignatureHeader({ ...header, sigLen: 257 }),
      MODULE_SIG_MAGIC,
    );
    assert.deepEqual(verifyPayloadLegacy(stripped, store).payload, data);
    return;
  }
  assert.fail("no signature with a leading zero byte found");
});

Deno.test("verifyPayloadLegacy() rejects with a distinct code for each check", async (t) => {
  const good = signPayloadLegacy(body, creds("rsa2048"));
  const h = good.length - 40;
  const sig = parseLegacySignature(good);
  const set = (at: number, value: number) => {
    const f = good.slice();
    f[at] = value;
    return f;
  };
  const cases: [string, Uint8Array, string][] = [
    ["no marker", body, "UNSIGNED"],
    ["sig_len too large", set(h + 8, 0x40), "BAD_SIG_LEN"],
    [
      "signer_len + key_id_len too large",
      (() => {
        const f = good.slice();
        new DataView(f.buffer).setUint32(h + 8, good.length - 40 - 300);
        f[h + 3] = 255;
        f[h + 4] = 255;
        return f;
      })(),
      "BAD_SIG_LEN",
    ],
    ["id_type PKCS#7", set(h + 2, 2), "BAD_ID_TYPE"],
    ["id_type PGP", set(h + 2, 0), "BAD_ID_TYPE"],
    ["algo DSA", set(h, 0), "UNSUPPORTED_ALGORITHM"],
    ["padding set", set(h + 6, 1), "NONZERO_HEADER"],
    ["hash MD5", set(h + 1, 1), "WEAK_DIGEST"],
    ["hash SHA-1 without the opt-in", set(h + 1, 2), "WEAK_DIGEST"],
    ["hash RIPEMD-160", set(h + 1, 3), "UNSUPPORTED_DIGEST"],
    ["hash beyond the enum", set(h + 1, 8), "UNSUPPORTED_DIGEST"],
    ["signer name changed", flip(good, body.length), "UNTRUSTED"],
    ["key id changed", flip(good, body.length + sig.signerName.length + 3), "UNTRUSTED"],
    ["signature length prefix changed", flip(good, sig.signatureOffset + 1), "MALFORMED_SIGNATURE"],
    ["signature changed", flip(good, h - 1), "BAD_SIGNATURE"],
    ["payload changed", flip(good, 100), "BAD_SIGNATURE"],
    ["hash sha512 instead of sha256", set(h + 1, 6), "BAD_SIGNATURE"],
  ];
  for (const [name, file, code] of cases) {
    await t.step(`${name}: ${code}`, () => {
      expectCode(() => verifyPayloadLegacy(file, store), code as "UNSIGNED");
    });
  }
  await t.step("SHA-1 with the opt-in reaches the signature check", () => {
    expectCode(
      () => verifyPayloadLegacy(set(h + 1, 2), store, { allowSha1: true }),
      "BAD_SIGNATURE",
    );
  });
  await t.step("the key id alone is not enough: the name must match too", () => {
    const other = cert("rsa2048");
    const renamed: Certificate = {
      ...other,
      der: new Uint8Array([...other.der, 0]),
      subjectAttributes: [{ oid: "2.5.4.3", name: "CN", value: "x", raw: new Uint8Array([0x78]) }],
    };
    const e = expectCode(() => verifyPayloadLegacy(good, new TrustStore([renamed])), "UNTRUSTED");
    assert.match(e.message, /signer name/);
  });
});

Deno.test("signPayloadLegacy() refuses what the legacy layout cannot express", () => {
  expectCode(() => signPayloadLegacy(body, creds("ecp256")), "BAD_KEY");
  expectCode(() => signPayloadLegacy(body, creds("noskid")), "BAD_CERTIFICATE");
  expectCode(
    () => signPayloadLegacy(body, creds("rsa2048"), { hash: "sha1" as SigningHash }),
    "UNSUPPORTED_DIGEST",
  );
});
