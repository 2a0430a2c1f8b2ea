import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import { cert, creds, expectCode, testdata } from "./_testing.ts";
import {
  createPkcs7,
  ecdsaSignatureOid,
  encodePkcs7,
  hashOid,
  OID,
  parsePkcs7,
  type Pkcs7Fields,
} from "./mod.ts";

type Asn1 = forge.asn1.Asn1;
const rsa = cert("rsa2048");

function fields(over: Partial<Pkcs7Fields> = {}): Pkcs7Fields {
  return {
    digestOid: hashOid("sha256"),
    signatureAlgorithmOid: OID.rsaEncryption,
    signatureAlgorithmNull: true,
    signer: { issuerDer: rsa.issuerDer, serial: rsa.serial },
    signature: new Uint8Array(256).fill(0x5a),
    ...over,
  };
}

const toForge = (der: Uint8Array) =>
  forge.asn1.fromDer(Buffer.from(der).toString("binary"), {
    decodeBitStrings: false,
  } as unknown as boolean);
const fromForge = (node: Asn1) =>
  new Uint8Array(Buffer.from(forge.asn1.toDer(node).getBytes(), "binary"));
const kids = (n: Asn1) => n.value as Asn1[];

/** Re-encodes a message after editing its forge tree: (SignedData fields, SignerInfo fields). */
function edit(der: Uint8Array, fn: (sd: Asn1[], si: Asn1[], root: Asn1) => void): Uint8Array {
  const root = toForge(der);
  const sd = kids(kids(kids(root)[1])[0]);
  const si = kids(kids(sd[sd.length - 1])[0]);
  fn(sd, si, root);
  return fromForge(root);
}

const oidNode = (oid: string) =>
  forge.asn1.create(
    forge.asn1.Class.UNIVERSAL,
    forge.asn1.Type.OID,
    false,
    forge.asn1.oidToDer(oid).getBytes(),
  );
const intNode = (n: number) =>
  forge.asn1.create(
    forge.asn1.Class.UNIVERSAL,
    forge.asn1.Type.INTEGER,
    false,
    String.fromCharCode(n),
  );

/** A PKCS#7 made by forge.pkcs7 (signed attributes and embedded content are its defaults). */
function forgePkcs7(payload: Uint8Array, opts: { detached: boolean; attributes: boolean }) {
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(Buffer.from(payload).toString("binary"));
  p7.addSigner({
    key: forge.pki.privateKeyFromPem(readFileSync(testdata("rsa2048.key"), "utf8")),
    certificate: forge.pki.certificateFromPem(readFileSync(testdata("rsa2048.crt"), "utf8")),
    digestAlgorithm: forge.pki.oids.sha256,
    authenticatedAttributes: opts.attributes
      ? [
        { type: forge.pki.oids.contentType, value: forge.pki.oids.data },
        { type: forge.pki.oids.messageDigest },
      ]
      : [],
  });
  p7.sign({ detached: opts.detached });
  return fromForge(p7.toAsn1());
}

Deno.test("parsePkcs7() decodes what encodePkcs7() builds", async (t) => {
  await t.step("v1, issuerAndSerialNumber, RSA", () => {
    const der = encodePkcs7(fields());
    const p = parsePkcs7(der);
    assert.equal(p.version, 1);
    assert.equal(p.hash, "sha256");
    assert.equal(p.keyAlgorithm, "rsa");
    assert.equal(p.signatureAlgorithmOid, OID.rsaEncryption);
    assert.deepEqual(p.signature, new Uint8Array(256).fill(0x5a));
    assert.deepEqual(der.subarray(p.signatureOffset, p.signatureOffset + 256), p.signature);
    assert.equal(p.certificates.length, 0);
    assert.ok(p.signer.kind === "issuerAndSerialNumber");
    assert.deepEqual(p.signer.issuerDer, rsa.issuerDer);
    assert.equal(p.signer.serialHex, rsa.serialHex);
    assert.equal(p.signer.issuer, rsa.issuer);
  });
  await t.step("v3, subjectKeyIdentifier, ECDSA with its certificate", () => {
    const ec = cert("ecp384");
    const p = parsePkcs7(encodePkcs7(fields({
      digestOid: hashOid("sha384"),
      signatureAlgorithmOid: ecdsaSignatureOid("sha384"),
      signatureAlgorithmNull: false,
      signer: { keyId: ec.subjectKeyId! },
      certificates: [ec.der],
    })));
    assert.equal(p.version, 3);
    assert.equal(p.keyAlgorithm, "ecdsa");
    assert.ok(p.signer.kind === "subjectKeyIdentifier");
    assert.deepEqual(p.signer.keyId, ec.subjectKeyId);
    assert.deepEqual(p.certificates.map((c) => c.der), [ec.der]);
  });
  await t.step("forge.pkcs7's detached form (NULL digest parameters) is accepted", () => {
    const p = parsePkcs7(
      forgePkcs7(new Uint8Array([1, 2, 3]), { detached: true, attributes: false }),
    );
    assert.equal(p.hash, "sha256");
  });
});

Deno.test("parsePkcs7() rejects malformed messages with MALFORMED_PKCS7", async (t) => {
  const good = encodePkcs7(fields());
  const bad = (name: string, der: Uint8Array, re?: RegExp) =>
    t.step(name, () => {
      const e = expectCode(() => parsePkcs7(der), "MALFORMED_PKCS7");
      if (re) assert.match(e.message, re);
    });
  await bad("empty", new Uint8Array(0));
  await bad("garbage", new Uint8Array([1, 2, 3, 4]));
  await bad("a trailing byte", new Uint8Array([...good, 0]), /length/);
  await bad("one byte short", good.subarray(0, good.length - 1), /length/);
  // 30 82 LL LL 06 09 <signedData> a0 82 LL LL ...: the [0] is at offset 15.
  assert.deepEqual([good[15], good[16]], [0xa0, 0x82]);
  const ber = new Uint8Array([...good.subarray(0, 16), 0x83, 0x00, ...good.subarray(17)]);
  new DataView(ber.buffer).setUint16(2, ber.length - 4);
  await bad("BER: a non-minimal inner length", ber, /not DER/);
  const indefinite = new Uint8Array([...good.subarray(0, 16), 0x80, ...good.subarray(19), 0, 0]);
  new DataView(indefinite.buffer).setUint16(2, indefinite.length - 4);
  await bad("BER: an indefinite inner length", indefinite, /not DER/);
  await bad(
    "ContentInfo not signedData",
    edit(good, (_sd, _si, root) => {
      kids(root)[0] = oidNode(OID.data);
    }),
    /signedData/,
  );
  await bad(
    "SignedData version 2",
    edit(good, (sd) => {
      sd[0] = intNode(2);
    }),
    /version/,
  );
  await bad(
    "SignerInfo v3 in a v1 SignedData",
    edit(good, (_sd, si) => {
      si[0] = intNode(3);
    }),
    /version/,
  );
  await bad(
    "v3 naming its signer by issuer and serial",
    edit(good, (sd, si) => {
      sd[0] = intNode(3);
      si[0] = intNode(3);
    }),
    /subjectKeyIdentifier/,
  );
  await bad(
    "two SignerInfos",
    edit(good, (sd) => {
      const infos = kids(sd[sd.length - 1]);
      infos.push(infos[0]);
    }),
    /exactly one/,
  );
  await bad(
    "digest parameters other than NULL",
    edit(good, (_sd, si) => {
      kids(si[2]).push(
        forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, "x"),
      );
    }),
    /parameters/,
  );
  await bad(
    "digestAlgorithms without the signer's digest",
    edit(good, (sd) => {
      kids(kids(sd[1])[0])[0] = oidNode(hashOid("sha512"));
    }),
    /digestAlgorithms/,
  );
  await bad(
    "content type other than data",
    edit(good, (sd) => {
      kids(sd[2])[0] = oidNode(OID.signedData);
    }),
    /content type/,
  );
  await bad(
    "a field after signerInfos",
    edit(good, (sd) => {
      sd.push(intNode(0));
    }),
    /after signerInfos/,
  );
  await bad(
    "signature not an OCTET STRING",
    edit(good, (_sd, si) => {
      si[4] = intNode(1);
    }),
    /signature/,
  );
});

Deno.test("parsePkcs7() applies the kernel's algorithm rules", async (t) => {
  await t.step("unknown digest: UNSUPPORTED_DIGEST", () => {
    const der = encodePkcs7(fields({ digestOid: "2.16.840.1.101.3.4.2.8" }));
    assert.match(expectCode(() => parsePkcs7(der), "UNSUPPORTED_DIGEST").message, /sha3-256/);
  });
  await t.step("MD4 and MD5: WEAK_DIGEST, even with the SHA-1 opt-in", () => {
    for (const oid of ["1.2.840.113549.2.4", "1.2.840.113549.2.5"]) {
      const der = encodePkcs7(fields({ digestOid: oid }));
      expectCode(() => parsePkcs7(der, { allowSha1: true }), "WEAK_DIGEST");
    }
  });
  await t.step("SHA-1: WEAK_DIGEST unless allowed", () => {
    const der = encodePkcs7(fields({ digestOid: hashOid("sha1") }));
    expectCode(() => parsePkcs7(der), "WEAK_DIGEST");
    assert.equal(parsePkcs7(der, { allowSha1: true }).hash, "sha1");
  });
  await t.step("sha224 is accepted as the kernel does", () => {
    assert.equal(parsePkcs7(encodePkcs7(fields({ digestOid: hashOid("sha224") }))).hash, "sha224");
  });
  await t.step("sha256WithRSAEncryption, RSASSA-PSS, Ed25519: UNSUPPORTED_ALGORITHM", () => {
    for (
      const [oid, name] of [
        ["1.2.840.113549.1.1.11", "sha256WithRSAEncryption"],
        ["1.2.840.113549.1.1.10", "RSASSA-PSS"],
        ["1.3.101.112", "Ed25519"],
      ]
    ) {
      const der = encodePkcs7(fields({ signatureAlgorithmOid: oid }));
      assert.match(
        expectCode(() => parsePkcs7(der), "UNSUPPORTED_ALGORITHM").message,
        new RegExp(name),
      );
    }
  });
  await t.step("ecdsa-with-SHA384 over a sha256 digest: UNSUPPORTED_ALGORITHM", () => {
    const der = encodePkcs7(fields({
      signatureAlgorithmOid: ecdsaSignatureOid("sha384"),
      signatureAlgorithmNull: false,
    }));
    expectCode(() => parsePkcs7(der), "UNSUPPORTED_ALGORITHM");
  });
});

Deno.test("parsePkcs7() rejects embedded content and signed attributes", async (t) => {
  const payload = new Uint8Array([1, 2, 3, 4]);
  await t.step("OpenSSL-style authenticated attributes: SIGNED_ATTRIBUTES at the [0]", () => {
    const der = forgePkcs7(payload, { detached: true, attributes: true });
    const e = expectCode(() => parsePkcs7(der, { offset: 1000 }), "SIGNED_ATTRIBUTES");
    assert.equal(der[e.offset! - 1000], 0xa0);
  });
  await t.step("non-detached: EMBEDDED_CONTENT", () => {
    expectCode(
      () => parsePkcs7(forgePkcs7(payload, { detached: false, attributes: false })),
      "EMBEDDED_CONTENT",
    );
  });
  await t.step("both: embedded content is reported first, as the kernel does", () => {
    expectCode(
      () => parsePkcs7(forgePkcs7(payload, { detached: false, attributes: true })),
      "EMBEDDED_CONTENT",
    );
  });
  await t.step("algorithms are checked before the content", () => {
    const der = edit(forgePkcs7(payload, { detached: false, attributes: true }), (sd, si) => {
      const md5 = "1.2.840.113549.2.5";
      kids(kids(sd[1])[0])[0] = oidNode(md5);
      kids(si[2])[0] = oidNode(md5);
    });
    expectCode(() => parsePkcs7(der), "WEAK_DIGEST");
  });
});

Deno.test("createPkcs7() output parses back with the signer it was given", () => {
  const c = creds("rsa4096");
  const p = parsePkcs7(createPkcs7(new Uint8Array(10), c, { hash: "sha384", useKeyId: true }));
  assert.equal(p.hash, "sha384");
  assert.equal(p.signature.length, 512);
  assert.ok(p.signer.kind === "subjectKeyIdentifier");
  assert.deepEqual(p.signer.keyId, c.certificate.subjectKeyId);
});
