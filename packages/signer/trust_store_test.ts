import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cert, creds, expectCode, testdata } from "./_testing.ts";
import {
  loadTrustStore,
  parseTrustStore,
  signPayload,
  TrustStore,
  type TrustStoreReader,
  verifyPayload,
} from "./mod.ts";

Deno.test("TrustStore finds certificates by issuer and serial and by key id", () => {
  const rsa = cert("rsa2048");
  const other = cert("other2048");
  const store = new TrustStore([rsa, other, cert("rsa2048")]);
  assert.equal(store.size, 2, "an identical certificate is stored once");
  assert.deepEqual(store.findByIssuerAndSerial(rsa.issuerDer, rsa.serial), [rsa]);
  assert.deepEqual(store.findByIssuerAndSerial(rsa.issuerDer, other.serial), [other]);
  assert.deepEqual(store.findByIssuerAndSerial(rsa.issuerDer, new Uint8Array([1])), []);
  assert.deepEqual(store.findBySubjectKeyId(other.subjectKeyId!), [other]);
  assert.deepEqual(store.findBySubjectKeyId(new Uint8Array(20)), []);
  assert.ok(store.has(rsa));
  assert.ok(!store.has(cert("ecp256")));
  assert.deepEqual([...store].map((c) => c.serialHex), [rsa.serialHex, other.serialHex]);
});

Deno.test("parseTrustStore() reads a PEM bundle", () => {
  const bundle = ["rsa2048", "ecp256"].map((n) => readFileSync(testdata(`${n}.crt`), "utf8")).join(
    "",
  );
  const store = parseTrustStore(bundle);
  assert.equal(store.size, 2);
  assert.equal(
    verifyPayload(signPayload(new Uint8Array([1]), creds("ecp256")), store).keyAlgorithm,
    "ecdsa",
  );
});

Deno.test("loadTrustStore() reads files and folders", async (t) => {
  const dir = Deno.makeTempDirSync({ prefix: "lpkit-signer-" });
  try {
    const pem = (n: string) => readFileSync(testdata(`${n}.crt`), "utf8");
    writeFileSync(join(dir, "bundle.pem"), pem("rsa2048") + pem("ecp256"));
    writeFileSync(join(dir, "one.der"), readFileSync(testdata("rsa2048.crt.der")));
    writeFileSync(join(dir, "b.crt"), pem("rsa4096"));
    writeFileSync(join(dir, "notes.txt"), "not a certificate");
    await t.step("a folder: .pem, .crt, .cer and .der files, duplicates once", () => {
      const store = loadTrustStore(dir);
      assert.deepEqual([...store].map((c) => c.keyDescription), [
        "RSA-4096",
        "RSA-2048",
        "ECDSA P-256",
      ]);
    });
    await t.step("files and folders together", () => {
      assert.equal(loadTrustStore([testdata("ecp384.crt"), dir]).size, 4);
    });
    await t.step("a bad certificate names its file", () => {
      writeFileSync(
        join(dir, "z.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      );
      assert.match(expectCode(() => loadTrustStore(dir), "BAD_CERTIFICATE").message, /z\.pem/);
    });
    await t.step("no certificate at all is an error", () => {
      const empty = Deno.makeTempDirSync({ dir });
      expectCode(() => loadTrustStore(empty), "BAD_CERTIFICATE");
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadTrustStore() reads through any TrustStoreReader", () => {
  const files: Record<string, Uint8Array> = {
    "/trust/a.pem": readFileSync(testdata("ecp256.crt")),
    "/trust/b.der": readFileSync(testdata("rsa2048.crt.der")),
    "/trust/readme.md": new TextEncoder().encode("not read"),
    "/single.crt": readFileSync(testdata("rsa4096.crt")),
  };
  const dirs = new Set(["/trust", "/trust/sub.pem"]);
  const read: string[] = [];
  const reader: TrustStoreReader = {
    readFile: (path) => {
      read.push(path);
      const f = files[path];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
      return f;
    },
    // Unsorted on purpose: the store sorts names itself.
    readDir: (path) => ["sub.pem", "b.der", "readme.md", "a.pem"].filter(() => path === "/trust"),
    isDirectory: (path) => dirs.has(path),
  };
  const store = loadTrustStore(["/trust", "/single.crt"], reader);
  assert.deepEqual([...store].map((c) => c.keyDescription), [
    "ECDSA P-256",
    "RSA-2048",
    "RSA-4096",
  ]);
  assert.deepEqual(read, ["/trust/a.pem", "/trust/b.der", "/single.crt"], "no .md, no folder");
  assert.throws(() => loadTrustStore("/missing.pem", reader), /ENOENT/);
});
