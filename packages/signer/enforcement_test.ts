import assert from "node:assert/strict";
import { createPrivateKey, sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { toHex } from "./_bytes.ts";
import { cert, creds, expectCode, flip, payload, testdata } from "./_testing.ts";
import {
  attachPkcs7,
  checkPayloadSignature,
  encodeModuleSignatureHeader,
  encodePkcs7,
  MODULE_SIG_MAGIC,
  OID,
  payloadSignatureChecker,
  removeSignatureTrailer,
  SIGNATURE_ERRNO,
  SignatureError,
  type SignatureErrorCode,
  signPayload,
  signPayloadLegacy,
  TrustStore,
} from "./mod.ts";

const elf = payload(4096, 12);
const trust = new TrustStore(["rsa2048", "ecp256"].map(cert));

/** An RSA-2048 signature with SHA-1, which needs the opt-in. */
function sha1Signed(): Uint8Array {
  const c = cert("rsa2048");
  const key = createPrivateKey(readFileSync(testdata("rsa2048.key")));
  return attachPkcs7(
    elf,
    encodePkcs7({
      digestOid: "1.3.14.3.2.26",
      signatureAlgorithmOid: OID.rsaEncryption,
      signatureAlgorithmNull: true,
      signer: { issuerDer: c.issuerDer, serial: c.serial },
      signature: new Uint8Array(cryptoSign("sha1", elf, key)),
    }),
    { check: false },
  );
}

Deno.test("checkPayloadSignature() returns the payload without its trailer and the signer", async (t) => {
  await t.step("RSA, signer named by issuer and serial", () => {
    const file = signPayload(elf, creds("rsa2048"));
    const r = checkPayloadSignature(file, trust);
    const c = cert("rsa2048");
    assert.deepEqual(r.payload, elf);
    assert.equal(r.payload.buffer, file.buffer, "a view of the upload, not a copy");
    assert.equal(r.trailerLength, file.length - elf.length);
    assert.deepEqual(r.signer, {
      issuer: c.issuer,
      subject: c.subject,
      serial: c.serialHex,
      keyId: toHex(c.subjectKeyId!),
      identifiedBy: "issuerAndSerialNumber",
      name: null,
    });
    assert.equal(r.keyId, toHex(c.subjectKeyId!));
    assert.deepEqual([r.format, r.hash, r.algorithm, r.keyAlgorithm], [
      "pkcs7",
      "sha256",
      "RSA-2048",
      "rsa",
    ]);
  });
  await t.step("ECDSA by key id", () => {
    const r = checkPayloadSignature(
      signPayload(elf, creds("ecp256"), { useKeyId: true, hash: "sha512" }),
      trust,
    );
    assert.deepEqual([r.signer.identifiedBy, r.hash, r.algorithm], [
      "subjectKeyIdentifier",
      "sha512",
      "ECDSA P-256",
    ]);
  });
  await t.step("legacy only with allowLegacy", () => {
    const file = signPayloadLegacy(elf, creds("rsa2048"));
    const e = expectCode(() => checkPayloadSignature(file, trust), "BAD_ID_TYPE");
    assert.equal(e.errnoName, "EACCES");
    const r = checkPayloadSignature(file, trust, { allowLegacy: true });
    assert.deepEqual(r.payload, elf);
    assert.equal(r.format, "legacy");
    assert.equal(r.signer.name, "lpkit test signing key (RSA-2048)");
  });
  await t.step("SHA-1 only with allowSha1", () => {
    const file = sha1Signed();
    assert.equal(expectCode(() => checkPayloadSignature(file, trust), "WEAK_DIGEST").errno, -13);
    assert.equal(checkPayloadSignature(file, trust, { allowSha1: true }).hash, "sha1");
  });
});

Deno.test("checkPayloadSignature() refuses unsigned, untrusted and tampered uploads with an errno", () => {
  const file = signPayload(elf, creds("rsa2048"));
  const headerAt = file.length - 40;
  const cases: [string, Uint8Array, TrustStore, SignatureErrorCode, string][] = [
    ["unsigned", elf, trust, "UNSIGNED", "EACCES"],
    ["untrusted", file, new TrustStore([cert("ecp256")]), "UNTRUSTED", "EACCES"],
    ["look-alike certificate", file, new TrustStore([cert("other2048")]), "UNTRUSTED", "EACCES"],
    ["payload byte changed", flip(file, 100), trust, "BAD_SIGNATURE", "EACCES"],
    ["signature byte changed", flip(file, headerAt - 1), trust, "BAD_SIGNATURE", "EACCES"],
    ["header field set", flip(file, headerAt + 4), trust, "NONZERO_HEADER", "EBADMSG"],
    ["sig_len past the start", flip(file, headerAt + 8, 0x80), trust, "BAD_SIG_LEN", "EBADMSG"],
    ["sig_len off by one", flip(file, headerAt + 11), trust, "MALFORMED_PKCS7", "EBADMSG"],
    ["marker only", MODULE_SIG_MAGIC, trust, "TRUNCATED", "EBADMSG"],
  ];
  for (const [what, upload, store, code, errno] of cases) {
    const e = expectCode(() => checkPayloadSignature(upload, store), code);
    assert.equal(e.errnoName, errno, what);
    assert.equal(e.errno, errno === "EACCES" ? -13 : -74, what);
    assert.doesNotMatch(e.message, /\n/, `${what}: one line`);
  }
});

Deno.test("SIGNATURE_ERRNO maps every code to a Xen errno, EBADMSG where Linux says -EBADMSG", () => {
  const malformed = [
    "TRUNCATED",
    "BAD_SIG_LEN",
    "NONZERO_HEADER",
    "MALFORMED_PKCS7",
    "EMBEDDED_CONTENT",
    "MALFORMED_SIGNATURE",
  ];
  for (const [code, errno] of Object.entries(SIGNATURE_ERRNO)) {
    const e = new SignatureError(code as SignatureErrorCode, "x");
    assert.deepEqual([e.errno, e.errnoName], [-errno.value, errno.name]);
    const expected = malformed.includes(code)
      ? "EBADMSG"
      : code === "BAD_CERTIFICATE"
      ? "EINVAL"
      : "EACCES";
    assert.equal(errno.name, expected, code);
  }
  assert.equal(Object.keys(SIGNATURE_ERRNO).length, 17);
});

Deno.test("payloadSignatureChecker() binds the trust store and policy", () => {
  const check = payloadSignatureChecker(trust, { allowLegacy: true });
  assert.deepEqual(check(signPayloadLegacy(elf, creds("rsa2048"))).payload, elf);
  expectCode(() => check(elf), "UNSIGNED");
});

Deno.test("removeSignatureTrailer() is what a non-enforcing host loads", () => {
  assert.deepEqual(removeSignatureTrailer(elf), { payload: elf, signed: false });
  for (
    const file of [signPayload(elf, creds("ecp256")), signPayloadLegacy(elf, creds("rsa2048"))]
  ) {
    assert.deepEqual(removeSignatureTrailer(file), { payload: elf, signed: true });
  }
  // Not verified: a tampered or untrusted signature still loads without enforcement.
  const tampered = flip(signPayload(elf, creds("rsa2048")), 10);
  assert.equal(removeSignatureTrailer(tampered).payload.length, elf.length);
  // A trailer that does not fit is refused even so, as Linux does (EBADMSG).
  const bad = new Uint8Array([
    1,
    ...encodeModuleSignatureHeader({ sigLen: 1 }),
    ...MODULE_SIG_MAGIC,
  ]);
  assert.equal(expectCode(() => removeSignatureTrailer(bad), "BAD_SIG_LEN").errnoName, "EBADMSG");
});
