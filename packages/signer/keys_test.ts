import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { cert, expectCode, testdata } from "./_testing.ts";
import { parsePrivateKey, privateKeyFromKeyObject, signingCredentials } from "./mod.ts";

const pem = (name: string) => readFileSync(testdata(`${name}.key`), "utf8");

Deno.test("parsePrivateKey() reads the supported keys", async (t) => {
  const cases: [string, string, number, string | undefined][] = [
    ["rsa2048", "rsa", 2048, undefined],
    ["rsa3072", "rsa", 3072, undefined],
    ["rsa4096", "rsa", 4096, undefined],
    ["ecp256", "ecdsa", 256, "P-256"],
    ["ecp384", "ecdsa", 384, "P-384"],
  ];
  for (const [name, algorithm, bits, curve] of cases) {
    await t.step(name, () => {
      const key = parsePrivateKey(pem(name));
      assert.deepEqual([key.algorithm, key.bits, key.curve], [algorithm, bits, curve]);
      // The derived public key is the certificate's, byte for byte.
      assert.deepEqual(key.spki, cert(name).spki);
    });
  }
});

Deno.test("parsePrivateKey() accepts every encoding sign-file does", async (t) => {
  const rsa = createPrivateKey(pem("rsa2048"));
  const ec = createPrivateKey(pem("ecp256"));
  const spki = parsePrivateKey(pem("rsa2048")).spki;
  const ecSpki = parsePrivateKey(pem("ecp256")).spki;
  await t.step("PKCS#8 DER", () => {
    assert.deepEqual(parsePrivateKey(readFileSync(testdata("ecp256.key.der"))).spki, ecSpki);
  });
  await t.step("PKCS#1 PEM and DER", () => {
    const p = rsa.export({ type: "pkcs1", format: "pem" }) as string;
    assert.match(p, /BEGIN RSA PRIVATE KEY/);
    assert.deepEqual(parsePrivateKey(p).spki, spki);
    assert.deepEqual(parsePrivateKey(rsa.export({ type: "pkcs1", format: "der" })).spki, spki);
  });
  await t.step("SEC1 PEM and DER", () => {
    const p = ec.export({ type: "sec1", format: "pem" }) as string;
    assert.match(p, /BEGIN EC PRIVATE KEY/);
    assert.deepEqual(parsePrivateKey(p).spki, ecSpki);
    assert.deepEqual(parsePrivateKey(ec.export({ type: "sec1", format: "der" })).spki, ecSpki);
  });
  await t.step("encrypted PKCS#8 PEM with its passphrase", () => {
    const p = rsa.export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase: "pin",
    }) as string;
    assert.match(p, /ENCRYPTED PRIVATE KEY/);
    assert.deepEqual(parsePrivateKey(p, { passphrase: "pin" }).spki, spki);
    expectCode(() => parsePrivateKey(p, { passphrase: "wrong" }), "BAD_KEY");
    expectCode(() => parsePrivateKey(p), "BAD_KEY");
  });
});

Deno.test("parsePrivateKey() rejects unsupported and unreadable keys", async (t) => {
  await t.step("RSA-1024 (below 2048 bits)", () => {
    assert.match(expectCode(() => parsePrivateKey(pem("rsa1024")), "BAD_KEY").message, /1024/);
  });
  await t.step("P-521", () => {
    assert.match(expectCode(() => parsePrivateKey(pem("ecp521")), "BAD_KEY").message, /secp521r1/);
  });
  await t.step("Ed25519", () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    expectCode(() => privateKeyFromKeyObject(privateKey), "BAD_KEY");
  });
  await t.step("a public key", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expectCode(() => privateKeyFromKeyObject(publicKey), "BAD_KEY");
  });
  await t.step("garbage PEM and DER", () => {
    expectCode(
      () => parsePrivateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
      "BAD_KEY",
    );
    expectCode(() => parsePrivateKey(new Uint8Array([0x30, 0x03, 1, 2, 3])), "BAD_KEY");
  });
});

Deno.test("signingCredentials() requires the certificate of the key", () => {
  const key = parsePrivateKey(pem("rsa2048"));
  assert.equal(signingCredentials(key, cert("rsa2048")).certificate.keyDescription, "RSA-2048");
  // Same subject, other key.
  expectCode(() => signingCredentials(key, cert("other2048")), "BAD_KEY");
  expectCode(() => signingCredentials(key, cert("ecp256")), "BAD_KEY");
});
