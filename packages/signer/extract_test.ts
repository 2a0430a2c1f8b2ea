import assert from "node:assert/strict";
import { creds, expectCode, payload } from "./_testing.ts";
import {
  createPkcs7,
  encodeModuleSignatureHeader,
  extractSignature,
  legacySignerName,
  MODULE_SIG_MAGIC,
  signPayload,
  signPayloadLegacy,
  stripSignature,
} from "./mod.ts";

const body = payload(777, 2);

Deno.test("extractSignature() splits a PKCS#7-signed file like extract-module-sig.pl", () => {
  const c = creds("rsa2048");
  const file = signPayload(body, c, { useKeyId: true });
  const parts = extractSignature(file);
  assert.equal(parts.format, "pkcs7");
  assert.deepEqual(parts.payload, body);
  assert.deepEqual(parts.signature, createPkcs7(body, c, { useKeyId: true }));
  assert.deepEqual(
    [parts.header.algo, parts.header.hash, parts.header.idType, parts.header.sigLen],
    [0, 0, 2, parts.signature.length],
  );
  assert.equal(parts.signerName.length + parts.keyId.length, 0);
  assert.equal(parts.trailerLength, file.length - body.length);
  assert.equal(parts.payload.buffer, file.buffer, "views, not copies");
});

Deno.test("extractSignature() splits a legacy file into name, key id and signature", () => {
  const c = creds("rsa2048");
  const parts = extractSignature(signPayloadLegacy(body, c));
  assert.equal(parts.format, "legacy");
  assert.deepEqual(parts.payload, body);
  assert.deepEqual(parts.signerName, legacySignerName(c.certificate));
  assert.deepEqual(parts.keyId, c.certificate.subjectKeyId);
  assert.equal(parts.signature.length, 2 + 256);
});

Deno.test("extractSignature() checks only the bounds", async (t) => {
  await t.step("an unknown id_type is extracted", () => {
    const file = new Uint8Array([
      1,
      2,
      0xaa,
      ...encodeModuleSignatureHeader({ sigLen: 1, idType: 7 }),
      ...MODULE_SIG_MAGIC,
    ]);
    const parts = extractSignature(file);
    assert.equal(parts.format, "unknown");
    assert.deepEqual([...parts.payload], [1, 2]);
    assert.deepEqual([...parts.signature], [0xaa]);
  });
  await t.step("UNSIGNED, TRUNCATED and BAD_SIG_LEN", () => {
    expectCode(() => extractSignature(body), "UNSIGNED");
    expectCode(() => extractSignature(MODULE_SIG_MAGIC), "TRUNCATED");
    const file = new Uint8Array([
      0xaa,
      ...encodeModuleSignatureHeader({ sigLen: 1 }),
      ...MODULE_SIG_MAGIC,
    ]);
    expectCode(() => extractSignature(file), "BAD_SIG_LEN");
  });
});

Deno.test("stripSignature() returns the unsigned payload", () => {
  assert.deepEqual(stripSignature(signPayload(body, creds("ecp256"))), body);
  assert.deepEqual(stripSignature(signPayloadLegacy(body, creds("rsa3072"))), body);
  expectCode(() => stripSignature(body), "UNSIGNED");
});
