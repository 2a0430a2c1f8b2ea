import assert from "node:assert/strict";
import { createPrivateKey, sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  attachPkcs7,
  CHUNK_SIZE,
  createPkcs7,
  encodePkcs7,
  OID,
  parseCertificate,
  parsePrivateKey,
  signingCredentials,
  signPayload,
  signPayloadLegacy,
} from "@lpkit/signer";
import { memoryIo } from "../_testing.ts";
import { main } from "../mod.ts";
import type { VerifyReport } from "./verify.ts";

const testdata = (name: string) =>
  join(fileURLToPath(new URL("../../signer/testdata/", import.meta.url)), name);
const read = (name: string) => new Uint8Array(readFileSync(testdata(name)));
const creds = (name: string) =>
  signingCredentials(parsePrivateKey(read(`${name}.key`)), parseCertificate(read(`${name}.crt`)));
const elf = new Uint8Array(2500).map((_, i) => (i * 13) & 0xff);

const certs = () => ({
  "trust/rsa2048.crt": read("rsa2048.crt"),
  "trust/ecp256.der": parseCertificate(read("ecp256.crt")).der,
  "trust/notes.txt": new TextEncoder().encode("ignored"),
  "rsa4096.crt": read("rsa4096.crt"),
  "bundle.pem": new TextEncoder().encode(
    new TextDecoder().decode(read("ecp384.crt")) + new TextDecoder().decode(read("rsa3072.crt")),
  ),
});

async function verify(args: string[], files: Record<string, Uint8Array>) {
  const { io, out } = memoryIo({ ...certs(), ...files });
  const status = await main(["verify", ...args], io);
  return { status, ...out };
}

Deno.test("verify accepts a valid signature by a trusted key and says who signed", async (t) => {
  await t.step("a folder of PEM and DER certificates; human output", async () => {
    const r = await verify(["--trust", "trust", "p.signed"], {
      "p.signed": signPayload(elf, creds("rsa2048")),
    });
    assert.equal(r.status, 0, r.stderr);
    const c = parseCertificate(read("rsa2048.crt"));
    assert.match(r.stdout, /^p\.signed: valid signature by a trusted key\n/);
    assert.match(r.stdout, /format\s+PKCS#7 \(sign-file\)/);
    assert.ok(r.stdout.includes(`issuer    ${c.issuer}`), r.stdout);
    assert.match(r.stdout, new RegExp(`serial\\s+${c.serialHex}`));
    assert.match(r.stdout, /named by\s+issuerAndSerialNumber/);
    assert.match(r.stdout, /hash\s+sha256/);
    assert.match(r.stdout, /key\s+RSA-2048/);
    assert.equal(r.stderr, "");
  });
  await t.step("a PEM bundle, a DER file and --trust twice; JSON", async () => {
    const file = signPayload(elf, creds("ecp384"), { hash: "sha512", useKeyId: true });
    const r = await verify(
      ["--trust", "trust/ecp256.der", "--trust", "bundle.pem", "--json", "p.signed"],
      {
        "p.signed": file,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as VerifyReport;
    const c = parseCertificate(read("ecp384.crt"));
    const skid = Array.from(c.subjectKeyId!, (b) => b.toString(16).padStart(2, "0")).join("");
    // Trusted directly: a chain of one, the trusted certificate itself.
    const link = {
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serialHex,
      keyId: skid,
      embedded: false,
      trusted: true,
    };
    assert.deepEqual(report, {
      schema: "lpkit.verify/1",
      file: "p.signed",
      valid: true,
      signatureFile: null,
      format: "pkcs7",
      signer: {
        issuer: c.issuer,
        subject: c.subject,
        serial: c.serialHex,
        keyId: skid,
        identifiedBy: "subjectKeyIdentifier",
        name: null,
      },
      anchor: link,
      chain: [link],
      keyId: skid,
      hash: "sha512",
      algorithm: "ECDSA P-384",
      keyAlgorithm: "ecdsa",
      payloadSize: elf.length,
      trailerSize: file.length - elf.length,
      error: null,
    });
  });
  await t.step(
    "a chain embedded in the PKCS#7: leaf and intermediate up to a trusted root",
    async () => {
      // openssl cms -sign -noattr -signer chain-leaf.crt -certfile chain-intermediate.crt
      const files = {
        "p.signed": attachPkcs7(read("chain-payload.bin"), read("chain-leaf.p7s")),
        "root.crt": read("chain-root.crt"),
        "other.crt": read("chain-other-root.crt"),
      };
      const r = await verify(["--trust", "root.crt", "p.signed"], files);
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stdout,
        /chain\s+.*signing key.*, signed by .*intermediate CA.*, signed by .*root CA/,
      );
      assert.match(r.stdout, /trusted\s+.*root CA/);
      const report = JSON.parse(
        (await verify(["--trust", "root.crt", "--json", "p.signed"], files)).stdout,
      ) as VerifyReport;
      assert.deepEqual(report.chain!.map((l) => [l.embedded, l.trusted]), [[true, false], [
        true,
        false,
      ], [false, true]]);
      assert.equal(report.anchor!.serial, parseCertificate(read("chain-root.crt")).serialHex);
      const untrusted = await verify(["--trust", "other.crt", "p.signed"], files);
      assert.equal(untrusted.status, 1);
      assert.match(untrusted.stderr, /reaches no trusted certificate.*\[UNTRUSTED\]\n$/);
    },
  );
  await t.step("--signature: a detached .p7s over the unsigned file", async () => {
    const r = await verify(["--trust", "rsa4096.crt", "--signature", "p.p7s", "p.elf"], {
      "p.elf": elf,
      "p.p7s": createPkcs7(elf, creds("rsa4096"), { hash: "sha384" }),
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /format\s+detached PKCS#7 p\.p7s/);
    assert.match(r.stdout, /trailer 0 bytes/);
  });
  await t.step("--legacy: the Linux 3.7 layout only when asked", async () => {
    const files = { "p.legacy": signPayloadLegacy(elf, creds("rsa2048")) };
    const refused = await verify(["--trust", "trust", "p.legacy"], files);
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /id_type 1 is not PKCS#7 \(2\) \(legacy X\.509 layout.*\[BAD_ID_TYPE\]\n$/,
    );
    const r = await verify(["--trust", "trust", "--legacy", "p.legacy"], files);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /format\s+legacy \(Linux 3\.7–4\.2 layout\)/);
    assert.match(r.stdout, /name\s+lpkit test signing key \(RSA-2048\)/);
  });
  await t.step("--allow-sha1: SHA-1 only with the opt-in", async () => {
    const c = parseCertificate(read("rsa2048.crt"));
    const sig = cryptoSign("sha1", elf, createPrivateKey(read("rsa2048.key")));
    const p7 = encodePkcs7({
      digestOid: "1.3.14.3.2.26",
      signatureAlgorithmOid: OID.rsaEncryption,
      signatureAlgorithmNull: true,
      signer: { issuerDer: c.issuerDer, serial: c.serial },
      signature: new Uint8Array(sig),
    });
    const files = { "p.sha1": attachPkcs7(elf, p7) };
    const refused = await verify(["--trust", "trust", "p.sha1"], files);
    assert.match(refused.stderr, /\[WEAK_DIGEST\]\n$/);
    assert.equal((await verify(["--trust", "trust", "--allow-sha1", "p.sha1"], files)).status, 0);
  });
});

Deno.test("verify exits 1 with the stable code for everything else", async (t) => {
  const good = signPayload(elf, creds("rsa2048"));
  const tampered = good.slice();
  tampered[100] ^= 1;
  const cases: [string, Uint8Array, string[], string, string][] = [
    ["unsigned", elf, ["--trust", "trust"], "UNSIGNED", "EACCES"],
    ["untrusted", good, ["--trust", "bundle.pem"], "UNTRUSTED", "EACCES"],
    ["tampered payload", tampered, ["--trust", "trust"], "BAD_SIGNATURE", "EACCES"],
    [
      "truncated trailer",
      good.subarray(0, good.length - 30).slice(),
      ["--trust", "trust"],
      "UNSIGNED",
      "EACCES",
    ],
    [
      "header field set",
      (() => {
        const f = good.slice();
        f[f.length - 40] = 1;
        return f;
      })(),
      ["--trust", "trust"],
      "NONZERO_HEADER",
      "EBADMSG",
    ],
  ];
  for (const [what, file, trust, code, errnoName] of cases) {
    await t.step(what, async () => {
      const human = await verify([...trust, "f"], { f: file });
      assert.equal(human.status, 1);
      assert.equal(human.stdout, "");
      assert.match(human.stderr, new RegExp(`^lpkit verify: f: [^\\n]*\\[${code}\\]\\n$`));
      const json = await verify([...trust, "--json", "f"], { f: file });
      assert.equal(json.status, 1);
      const r = JSON.parse(json.stdout) as VerifyReport;
      assert.equal(r.valid, false);
      assert.equal(r.signer, null);
      assert.equal(r.error?.code, code);
      assert.equal(r.error?.errnoName, errnoName);
      assert.equal(r.error?.errno, errnoName === "EACCES" ? -13 : -74);
      assert.match(json.stderr, new RegExp(`\\[${code}\\]\\n$`), "the one line too");
    });
  }
  await t.step("usage and trust-store errors are one line", async () => {
    const noTrust = await verify(["f"], { f: good });
    assert.equal(noTrust.status, 1);
    assert.match(noTrust.stderr, /at least one --trust/);
    assert.equal(noTrust.stdout, "");
    const missing = await verify(["--trust", "nope.pem", "f"], { f: good });
    assert.match(missing.stderr, /^lpkit verify: cannot read nope\.pem: /);
    const empty = await verify(["--trust", "trust/notes.txt", "f"], { f: good });
    assert.match(empty.stderr, /\[BAD_CERTIFICATE\]\n$/);
    const noFile = await verify(["--trust", "trust", "gone"], {});
    assert.match(noFile.stderr, /cannot read gone/);
    assert.match((await verify(["--trust", "trust"], {})).stderr, /exactly one file/);
  });
});

Deno.test("verify streams the file: never read whole, hashed in 1 MiB chunks", async (t) => {
  const big = new Uint8Array(3 * CHUNK_SIZE + 777).map((_, i) => (i * 40503) >>> 8);
  const signed = signPayload(big, creds("rsa2048"), { hash: "sha384" });
  for (
    const [what, file] of [["valid", signed], [
      "tampered",
      (() => {
        const f = signed.slice();
        f[2 * CHUNK_SIZE + 5] ^= 0x80;
        return f;
      })(),
    ]] as const
  ) {
    await t.step(what, async () => {
      const { io, out, trace } = memoryIo({ ...certs(), "big.signed": file });
      const status = await main(["verify", "--trust", "trust", "--json", "big.signed"], io);
      const r = JSON.parse(out.stdout) as VerifyReport;
      assert.equal(status, what === "valid" ? 0 : 1);
      assert.equal(r.valid, what === "valid");
      if (what === "valid") {
        assert.deepEqual([r.payloadSize, r.trailerSize], [big.length, signed.length - big.length]);
      } else {
        assert.equal(r.error?.code, "BAD_SIGNATURE");
      }
      assert.ok(!trace.readFile.includes("big.signed"), "the file is not read whole");
      assert.ok(trace.largestRead <= CHUNK_SIZE, `largest read ${trace.largestRead}`);
      assert.equal(trace.open, 0, "closed");
    });
  }
  await t.step("a bogus sig_len is refuted without reading the payload", async () => {
    const f = signed.slice();
    f.set([0, 0x30, 0, 0], f.length - 32); // sig_len 3 MiB: lands inside the payload
    const { io, out, trace } = memoryIo({ ...certs(), "big.signed": f });
    assert.equal(await main(["verify", "--trust", "trust", "big.signed"], io), 1);
    assert.match(out.stderr, /\[MALFORMED_PKCS7\]\n$/);
    assert.ok(trace.largestRead <= 40, `largest read ${trace.largestRead}`);
  });
});

Deno.test("verify --help shows usage with examples", async () => {
  const r = await verify(["--help"], {});
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^Usage: lpkit verify --trust CERT_OR_FOLDER/);
  assert.match(r.stdout, /Examples:\n {2}lpkit verify --trust/);
});
