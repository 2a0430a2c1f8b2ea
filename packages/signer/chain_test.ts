// Certificate chains embedded in the PKCS#7, verified as Linux 6.1 does
// (pkcs7_verify.c, pkcs7_trust.c): the test data is testdata/generate_chain.sh's
// (a root CA, an intermediate, leaves, a look-alike root, a forged
// intermediate) and OpenSSL `cms -sign -noattr` signatures of
// chain-payload.bin. The last tests compare with `openssl cms -verify`
// (ignored without the tools, except in CI).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "./_bytes.ts";
import {
  cert,
  creds,
  expectCode,
  flip,
  ignoreWithoutTools,
  opensslCmsVerify,
  runOk,
  testdata,
  withToolsAndTemp,
} from "./_testing.ts";
import {
  attachPkcs7,
  bytesSource,
  checkPayloadSignature,
  encodePkcs7,
  hashOid,
  inspectSignedPayload,
  parsePkcs7,
  signPayload,
  TrustStore,
  verifyDetached,
  verifyPayload,
  verifySource,
} from "./mod.ts";

const payload = new Uint8Array(readFileSync(testdata("chain-payload.bin")));

/** A PKCS#7 of testdata (made by OpenSSL, see generate_chain.sh). */
function p7s(name: string): Uint8Array {
  return new Uint8Array(readFileSync(testdata(`${name}.p7s`)));
}

/** The payload with a PKCS#7 appended, as `sign-file -s` does. */
function signed(p7: Uint8Array | string): Uint8Array {
  return attachPkcs7(payload, typeof p7 === "string" ? p7s(p7) : p7);
}

function trust(...names: string[]): TrustStore {
  return new TrustStore(names.map(cert));
}

/** The same SignerInfo with other embedded certificates (none are covered by the signature). */
function withCertificates(p7: Uint8Array, certificates: readonly Uint8Array[]): Uint8Array {
  const p = parsePkcs7(p7);
  const id = p.signer;
  return encodePkcs7({
    digestOid: hashOid(p.hash),
    signatureAlgorithmOid: p.signatureAlgorithmOid,
    signatureAlgorithmNull: p.keyAlgorithm === "rsa",
    signer: id.kind === "issuerAndSerialNumber"
      ? { issuerDer: id.issuerDer, serial: id.serial }
      : { keyId: id.keyId },
    signature: p.signature,
    certificates,
  });
}

/** Offset in `p7` of the embedded certificate whose subject is `name`'s. */
function certificateAt(p7: Uint8Array, name: string): { offset: number; length: number } {
  const p = parsePkcs7(p7);
  const i = p.certificates.findIndex((c) => c.subject === cert(name).subject);
  assert.ok(i >= 0, `${name} is embedded`);
  return { offset: p.certificateOffsets[i], length: p.certificates[i].der.length };
}

/** `p7` with one byte of `name`'s signatureValue (near its end) flipped, nothing else changed. */
function corruptSignature(p7: Uint8Array, name: string): Uint8Array {
  const { offset, length } = certificateAt(p7, name);
  return flip(p7, offset + length - 20, 0x5a);
}

/** sign-file's signature with the signer's own (self-signed) certificate embedded. */
function selfSignedP7(): Uint8Array {
  const file = signPayload(payload, creds("rsa2048"), { includeCertificate: true });
  return file.slice(payload.length, file.length - 40);
}

/** What the chain says, in short: subject CN, and e(mbedded)/T(rusted). */
function chainOf(
  r: { chain: readonly { subject: string; embedded: boolean; trusted: boolean }[] },
) {
  return r.chain.map((l) =>
    `${l.subject.replace(/^.*CN=/, "")}${l.embedded ? " e" : ""}${l.trusted ? " T" : ""}`
  );
}

const LEAF = "lpkit test chain signing key (RSA-2048)";
const INTERMEDIATE = "lpkit test intermediate CA (TEST ONLY)";
const ROOT = "lpkit test root CA (TEST ONLY)";

Deno.test("an embedded chain verifies up to the first of its certificates that is trusted", async (t) => {
  const file = signed("chain-leaf");
  const leaf = cert("chain-leaf");
  await t.step("trust = the root: leaf → intermediate → root", () => {
    const r = verifyPayload(file, trust("chain-root"));
    assert.deepEqual(chainOf(r), [`${LEAF} e`, `${INTERMEDIATE} e`, `${ROOT} T`]);
    assert.deepEqual(r.anchor.der, cert("chain-root").der, "the root anchored it");
    assert.deepEqual(r.certificate.der, leaf.der, "the leaf's key verified the payload");
    assert.equal(r.chain[2].serialHex, cert("chain-root").serialHex);
    assert.deepEqual(
      [r.signer.subject, r.signer.serialHex, r.signer.keyIdHex, r.signer.identifiedBy],
      [leaf.subject, leaf.serialHex, toHex(leaf.subjectKeyId!), "issuerAndSerialNumber"],
    );
    assert.deepEqual([r.keyDescription, r.hash], ["RSA-2048", "sha256"]);
    assert.deepEqual(r.payload, payload);
    // The same, streamed and detached.
    const { payload: _, ...info } = r;
    assert.deepEqual(verifySource(bytesSource(file), trust("chain-root")), info);
    const { payload: __, ...detached } = verifyDetached(
      payload,
      p7s("chain-leaf"),
      trust("chain-root"),
    );
    assert.deepEqual(detached, info);
  });
  await t.step("the host's view: anchor and chain as plain data", () => {
    const ok = checkPayloadSignature(file, trust("chain-root"));
    assert.deepEqual(ok.payload, payload);
    assert.equal(ok.signer.serial, leaf.serialHex);
    assert.deepEqual(ok.anchor, {
      subject: cert("chain-root").subject,
      issuer: cert("chain-root").issuer,
      serial: cert("chain-root").serialHex,
      keyId: toHex(cert("chain-root").subjectKeyId!),
      embedded: false,
      trusted: true,
    });
    assert.deepEqual(ok.chain.map((c) => c.serial), [
      leaf.serialHex,
      cert("chain-intermediate").serialHex,
      cert("chain-root").serialHex,
    ]);
  });
  await t.step("trust = the intermediate", () => {
    const r = verifyPayload(file, trust("chain-intermediate"));
    assert.deepEqual(chainOf(r), [`${LEAF} e`, `${INTERMEDIATE} e T`]);
    assert.deepEqual(r.anchor.der, cert("chain-intermediate").der);
  });
  await t.step("trust = the leaf itself", () => {
    const r = verifyPayload(file, trust("chain-leaf"));
    assert.deepEqual(chainOf(r), [`${LEAF} e T`]);
    assert.deepEqual(r.anchor.der, leaf.der);
    assert.deepEqual(r.certificate.der, leaf.der);
  });
  await t.step("trust = root and intermediate: the walk from the signer stops at the first", () => {
    const r = verifyPayload(file, trust("chain-root", "chain-intermediate"));
    assert.deepEqual(r.anchor.der, cert("chain-intermediate").der);
  });
  await t.step(
    "an EC P-256 leaf whose AKID names the intermediate by issuer and serial too",
    () => {
      const r = verifyPayload(signed("chain-leaf-ec"), trust("chain-root"));
      assert.equal(r.keyDescription, "ECDSA P-256");
      assert.deepEqual(chainOf(r), [
        "lpkit test chain signing key (P-256) e",
        `${INTERMEDIATE} e`,
        `${ROOT} T`,
      ]);
    },
  );
  await t.step("the intermediate left out: the leaf's AKID names the trusted intermediate", () => {
    const r = verifyPayload(signed("chain-leaf-only"), trust("chain-intermediate"));
    assert.deepEqual(chainOf(r), [`${LEAF} e`, `${INTERMEDIATE} T`]);
  });
  await t.step("a tampered payload is still BAD_SIGNATURE", () => {
    expectCode(() => verifyPayload(flip(file, 100), trust("chain-root")), "BAD_SIGNATURE");
  });
});

Deno.test("UNTRUSTED: a chain that does not reach the trust store", async (t) => {
  const file = signed("chain-leaf");
  await t.step("an unrelated root (with the root's very name)", () => {
    const e = expectCode(() => verifyPayload(file, trust("chain-other-root")), "UNTRUSTED");
    assert.match(e.message, /reaches no trusted certificate/);
    assert.equal(e.errno, -13);
    expectCode(() => verifyPayload(file, new TrustStore()), "UNTRUSTED");
  });
  await t.step("the intermediate removed from the PKCS#7, trust = the root", () => {
    expectCode(() => verifyPayload(signed("chain-leaf-only"), trust("chain-root")), "UNTRUSTED");
  });
  await t.step("an embedded self-signed signer that is not trusted", () => {
    const selfSigned = attachPkcs7(payload, selfSignedP7());
    const e = expectCode(() => verifyPayload(selfSigned, trust("ecp256")), "UNTRUSTED");
    assert.match(e.message, /self-signed/);
    // Trusted, it verifies, as before.
    const r = verifyPayload(selfSigned, trust("rsa2048"));
    assert.deepEqual(r.chain.map((l) => [l.serialHex, l.embedded, l.trusted]), [
      [cert("rsa2048").serialHex, true, true],
    ]);
  });
  await t.step("a leaf without AKID: Linux does not look for issuers by name", () => {
    const noAkid = signed("chain-noakid");
    expectCode(() => verifyPayload(noAkid, trust("chain-root")), "UNTRUSTED");
    expectCode(() => verifyPayload(noAkid, trust("chain-intermediate")), "UNTRUSTED");
    assert.equal(verifyPayload(noAkid, trust("chain-noakid")).chain.length, 1);
  });
  await t.step("a signer named by key id: Linux looks for it in the trust store only", () => {
    // pkcs7_find_key() compares the embedded certificates' issuer+serial with
    // the SignerInfo's id, which for a v3 SignerInfo is the key id: no match.
    const byKeyId = signed("chain-keyid");
    expectCode(() => verifyPayload(byKeyId, trust("chain-root")), "UNTRUSTED");
    const r = verifyPayload(byKeyId, trust("chain-leaf"));
    assert.equal(r.signer.identifiedBy, "subjectKeyIdentifier");
    assert.deepEqual(chainOf(r), [`${LEAF} T`]);
  });
});

Deno.test("BAD_CHAIN: a certificate signature of the chain that does not verify", async (t) => {
  await t.step("one byte of the intermediate's signatureValue flipped, trust = the root", () => {
    const p7 = corruptSignature(p7s("chain-leaf"), "chain-intermediate");
    const file = signed(p7);
    const e = expectCode(() => verifyPayload(file, trust("chain-root")), "BAD_CHAIN");
    assert.match(
      e.message,
      /intermediate CA .* does not verify with the key of trusted certificate/,
    );
    const signatureAt = inspectSignedPayload(file).payload.length;
    assert.equal(e.offset, signatureAt + certificateAt(p7, "chain-intermediate").offset);
    assert.deepEqual([e.errno, e.errnoName], [-13, "EACCES"]);
    // Trusting the intermediate itself, its own signature does not matter (nor to the kernel).
    assert.equal(verifyPayload(file, trust("chain-intermediate")).chain.length, 2);
  });
  await t.step("the leaf's signature flipped: refused whatever is trusted", () => {
    const file = signed(corruptSignature(p7s("chain-leaf"), "chain-leaf"));
    for (const anchor of ["chain-root", "chain-intermediate", "chain-leaf"]) {
      const e = expectCode(() => verifyPayload(file, trust(anchor)), "BAD_CHAIN");
      assert.match(e.message, /signing key \(RSA-2048\).* does not verify/, anchor);
    }
  });
  await t.step("a forged intermediate (the real one's name, serial and SKID, another key)", () => {
    const forged = signed("chain-forged");
    // The trusted copy of the intermediate must verify the leaf, and does not.
    const e = expectCode(() => verifyPayload(forged, trust("chain-intermediate")), "BAD_CHAIN");
    assert.match(e.message, /with the key of trusted certificate/);
    expectCode(() => verifyPayload(forged, trust("chain-root")), "UNTRUSTED");
    // It is what the look-alike root signed.
    assert.equal(verifyPayload(forged, trust("chain-other-root")).chain.length, 3);
  });
  await t.step("an embedded self-signed signer with a bad self-signature", () => {
    const bad = attachPkcs7(payload, corruptSignature(selfSignedP7(), "rsa2048"));
    expectCode(() => verifyPayload(bad, trust("rsa2048")), "BAD_CHAIN");
  });
});

Deno.test("certificate signatures follow the digest policy: SHA-1 only with the opt-in", () => {
  const file = signed("chain-leaf-sha1");
  const e = expectCode(() => verifyPayload(file, trust("chain-root")), "WEAK_DIGEST");
  assert.match(e.message, /SHA-1/);
  assert.equal(verifyPayload(file, trust("chain-root"), { allowSha1: true }).chain.length, 3);
});

/** `der` with its authorityKeyIdentifier's SEQUENCE made a SET (the certificate still parses). */
function breakAuthorityKeyId(der: Uint8Array): Uint8Array {
  const oid = [0x06, 0x03, 0x55, 0x1d, 0x23]; // 2.5.29.35
  const at = der.findIndex((_, i) => oid.every((b, j) => der[i + j] === b));
  assert.ok(at > 0 && der[at + 5] === 0x04 && der[at + 7] === 0x30);
  return flip(der, at + 7, 0x30 ^ 0x31);
}

Deno.test("embedded certificates off the signer's chain are ignored", async (t) => {
  await t.step("a signer trusted directly, with unrelated certificates embedded", () => {
    const p7 = withCertificates(
      p7s("chain-leaf-only"),
      ["chain-other-root", "rsa2048", "chain-root"].map((n) => cert(n).der),
    );
    // chain-leaf is not embedded any more: its issuer+serial is looked up directly.
    const r = verifyPayload(signed(p7), trust("chain-leaf"));
    assert.deepEqual(chainOf(r), [`${LEAF} T`]);
  });
  await t.step("a chain with a look-alike root and other certificates beside it", () => {
    const original = p7s("chain-leaf");
    const certs = parsePkcs7(original).certificates.map((c) => c.der);
    assert.deepEqual(withCertificates(original, certs), original, "re-encoding changes nothing");
    const p7 = withCertificates(original, [
      cert("chain-other-root").der,
      ...certs,
      cert("ecp256").der,
    ]);
    const r = verifyPayload(signed(p7), trust("chain-root"));
    assert.deepEqual(chainOf(r), [`${LEAF} e`, `${INTERMEDIATE} e`, `${ROOT} T`]);
    // Embedded, the look-alike root is not the intermediate's issuer (its SKID differs).
    expectCode(() => verifyPayload(signed(p7), trust("chain-other-root")), "UNTRUSTED");
  });
  await t.step("a malformed certificate matters only on the chain", () => {
    const original = p7s("chain-leaf");
    const [intermediate, leaf] = ["chain-intermediate", "chain-leaf"].map((n) => cert(n).der);
    const broken = (name: string) => breakAuthorityKeyId(cert(name).der);
    const beside = withCertificates(original, [intermediate, leaf, broken("chain-other-root")]);
    assert.equal(verifyPayload(signed(beside), trust("chain-root")).chain.length, 3);
    const onChain = withCertificates(original, [broken("chain-intermediate"), leaf]);
    const e = expectCode(
      () => verifyPayload(signed(onChain), trust("chain-root")),
      "MALFORMED_PKCS7",
    );
    assert.match(e.message, /authorityKeyIdentifier/);
  });
});

// --- OpenSSL ---------------------------------------------------------------

const withTemp = (fn: (dir: string) => void) => withToolsAndTemp("lpkit-signer-chain-", fn);

/**
 * `openssl cms -verify -binary -inform DER -in P7 -content PAYLOAD -CAfile ANCHOR -purpose any`,
 * with `-partial_chain` for an anchor that is not self-signed (OpenSSL otherwise
 * wants a chain up to a root).
 */
function opensslAccepts(dir: string, p7: Uint8Array, anchor: string): boolean {
  const file = join(dir, "sig.p7s");
  writeFileSync(file, p7);
  const c = cert(anchor);
  const selfSigned = toHex(c.subjectDer) === toHex(c.issuerDer);
  return opensslCmsVerify(file, testdata("chain-payload.bin"), testdata(`${anchor}.crt`), [
    "-purpose",
    "any",
    ...(selfSigned ? [] : ["-partial_chain"]),
  ]);
}

function lpkitAccepts(p7: Uint8Array, anchor: string): boolean {
  try {
    verifyPayload(signed(p7), trust(anchor));
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "the test signatures are what openssl cms -sign -noattr makes (sign-file -s)",
  ignore: ignoreWithoutTools,
  fn: withTemp((dir) => {
    const out = join(dir, "made.p7s");
    runOk("openssl", [
      "cms",
      "-sign",
      "-binary",
      "-noattr",
      "-nosmimecap",
      "-md",
      "sha256",
      "-outform",
      "DER",
      "-signer",
      testdata("chain-leaf.crt"),
      "-inkey",
      testdata("chain-leaf.key"),
      "-certfile",
      testdata("chain-intermediate.crt"),
      "-in",
      testdata("chain-payload.bin"),
      "-out",
      out,
    ]);
    const made = new Uint8Array(readFileSync(out));
    // RSA PKCS#1 v1.5 is deterministic and there is no signing time: the same bytes.
    assert.deepEqual(made, p7s("chain-leaf"));
    const printed = runOk("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", out]);
    assert.match(printed, /eContent: <ABSENT>/, "detached");
    assert.match(printed, /signedAttrs:\s*<ABSENT>/, "no signed attributes");
    assert.equal(verifyPayload(signed(made), trust("chain-root")).chain.length, 3);
  }),
});

Deno.test({
  name: "lpkit and openssl cms -verify agree on embedded chains (and differ where Linux does)",
  ignore: ignoreWithoutTools,
  fn: withTemp((dir) => {
    const cases: [string, Uint8Array, string, boolean][] = [
      ["leaf+intermediate, trust root", p7s("chain-leaf"), "chain-root", true],
      ["leaf+intermediate, trust intermediate", p7s("chain-leaf"), "chain-intermediate", true],
      ["leaf+intermediate, trust leaf", p7s("chain-leaf"), "chain-leaf", true],
      ["EC leaf+intermediate, trust root", p7s("chain-leaf-ec"), "chain-root", true],
      ["leaf only, trust intermediate", p7s("chain-leaf-only"), "chain-intermediate", true],
      ["leaf+intermediate, trust the unrelated root", p7s("chain-leaf"), "chain-other-root", false],
      ["leaf only, trust root", p7s("chain-leaf-only"), "chain-root", false],
      [
        "intermediate's signature corrupted, trust root",
        corruptSignature(p7s("chain-leaf"), "chain-intermediate"),
        "chain-root",
        false,
      ],
      ["forged intermediate, trust intermediate", p7s("chain-forged"), "chain-intermediate", false],
      [
        "embedded self-signed signer, trust another key",
        selfSignedP7(),
        "ecp256",
        false,
      ],
    ];
    for (const [what, p7, anchor, valid] of cases) {
      assert.equal(lpkitAccepts(p7, anchor), valid, `lpkit: ${what}`);
      assert.equal(opensslAccepts(dir, p7, anchor), valid, `openssl: ${what}`);
    }
    // Where OpenSSL builds chains that Linux does not: by issuer name without
    // AKID, and to a signer named by key id among the embedded certificates.
    for (const name of ["chain-noakid", "chain-keyid"]) {
      assert.equal(opensslAccepts(dir, p7s(name), "chain-root"), true, `openssl: ${name}`);
      expectCode(() => verifyPayload(signed(name), trust("chain-root")), "UNTRUSTED");
    }
  }),
});
