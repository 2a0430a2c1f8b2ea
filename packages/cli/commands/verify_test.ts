import assert from "node:assert/strict";
import { createPrivateKey, sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  attachPkcs7,
  createPkcs7,
  encodePkcs7,
  OID,
  parseCertificate,
  parsePrivateKey,
  signingCredentials,
  signPayload,
  signPayloadLegacy,
} from "@lpkit/signer";
import { type Io, main } from "../mod.ts";
import type { VerifyReport } from "./verify.ts";

const testdata = (name: string) =>
  join(fileURLToPath(new URL("../../signer/testdata/", import.meta.url)), name);
const read = (name: string) => new Uint8Array(readFileSync(testdata(name)));
const creds = (name: string) =>
  signingCredentials(parsePrivateKey(read(`${name}.key`)), parseCertificate(read(`${name}.crt`)));
const elf = new Uint8Array(2500).map((_, i) => (i * 13) & 0xff);

/** An in-memory file system with folders (a path is a folder if files lie below it). */
function memoryIo(files: Record<string, Uint8Array>) {
  const out = { stdout: "", stderr: "" };
  const io: Io = {
    stdout: (s) => void (out.stdout += s),
    stderr: (s) => void (out.stderr += s),
    readFile: (path) => {
      const f = files[path];
      if (f === undefined) {
        throw Object.assign(new Error(`No such file or directory: ${path}`), { code: "ENOENT" });
      }
      return f;
    },
    writeFile: (path, data) => void (files[path] = data),
    readDir: (path) =>
      Object.keys(files).filter((f) => f.startsWith(`${path}/`)).map((f) =>
        f.slice(path.length + 1).split("/")[0]
      ).filter((n, i, all) => all.indexOf(n) === i).sort(),
    isDirectory: (path) => Object.keys(files).some((f) => f.startsWith(`${path}/`)),
    env: () => undefined,
    isTerminal: false,
  };
  return { io, out };
}

const certs = () => ({
  "trust/rsa2048.crt": read("rsa2048.crt"),
  "trust/ecp256.der": parseCertificate(read("ecp256.crt")).der,
  "trust/notes.txt": new TextEncoder().encode("ignored"),
  "rsa4096.crt": read("rsa4096.crt"),
  "bundle.pem": new TextEncoder().encode(
    new TextDecoder().decode(read("ecp384.crt")) + new TextDecoder().decode(read("rsa3072.crt")),
  ),
});

function verify(args: string[], files: Record<string, Uint8Array>) {
  const { io, out } = memoryIo({ ...certs(), ...files });
  const status = main(["verify", ...args], io);
  return { status, ...out };
}

Deno.test("verify accepts a valid signature by a trusted key and says who signed", async (t) => {
  await t.step("a folder of PEM and DER certificates; human output", () => {
    const r = verify(["--trust", "trust", "p.signed"], {
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
  await t.step("a PEM bundle, a DER file and --trust twice; JSON", () => {
    const file = signPayload(elf, creds("ecp384"), { hash: "sha512", useKeyId: true });
    const r = verify(
      ["--trust", "trust/ecp256.der", "--trust", "bundle.pem", "--json", "p.signed"],
      {
        "p.signed": file,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as VerifyReport;
    const c = parseCertificate(read("ecp384.crt"));
    const skid = Array.from(c.subjectKeyId!, (b) => b.toString(16).padStart(2, "0")).join("");
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
      keyId: skid,
      hash: "sha512",
      algorithm: "ECDSA P-384",
      keyAlgorithm: "ecdsa",
      payloadSize: elf.length,
      trailerSize: file.length - elf.length,
      error: null,
    });
  });
  await t.step("--signature: a detached .p7s over the unsigned file", () => {
    const r = verify(["--trust", "rsa4096.crt", "--signature", "p.p7s", "p.elf"], {
      "p.elf": elf,
      "p.p7s": createPkcs7(elf, creds("rsa4096"), { hash: "sha384" }),
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /format\s+detached PKCS#7 p\.p7s/);
    assert.match(r.stdout, /trailer 0 bytes/);
  });
  await t.step("--legacy: the Linux 3.7 layout only when asked", () => {
    const files = { "p.legacy": signPayloadLegacy(elf, creds("rsa2048")) };
    const refused = verify(["--trust", "trust", "p.legacy"], files);
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /id_type 1 is not PKCS#7 \(2\) \(legacy X\.509 layout.*\[BAD_ID_TYPE\]\n$/,
    );
    const r = verify(["--trust", "trust", "--legacy", "p.legacy"], files);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /format\s+legacy \(Linux 3\.7–4\.2 layout\)/);
    assert.match(r.stdout, /name\s+lpkit test signing key \(RSA-2048\)/);
  });
  await t.step("--allow-sha1: SHA-1 only with the opt-in", () => {
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
    const refused = verify(["--trust", "trust", "p.sha1"], files);
    assert.match(refused.stderr, /\[WEAK_DIGEST\]\n$/);
    assert.equal(verify(["--trust", "trust", "--allow-sha1", "p.sha1"], files).status, 0);
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
    await t.step(what, () => {
      const human = verify([...trust, "f"], { f: file });
      assert.equal(human.status, 1);
      assert.equal(human.stdout, "");
      assert.match(human.stderr, new RegExp(`^lpkit verify: f: [^\\n]*\\[${code}\\]\\n$`));
      const json = verify([...trust, "--json", "f"], { f: file });
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
  await t.step("usage and trust-store errors are one line", () => {
    const noTrust = verify(["f"], { f: good });
    assert.equal(noTrust.status, 1);
    assert.match(noTrust.stderr, /at least one --trust/);
    assert.equal(noTrust.stdout, "");
    const missing = verify(["--trust", "nope.pem", "f"], { f: good });
    assert.match(missing.stderr, /^lpkit verify: cannot read nope\.pem: /);
    const empty = verify(["--trust", "trust/notes.txt", "f"], { f: good });
    assert.match(empty.stderr, /\[BAD_CERTIFICATE\]\n$/);
    const noFile = verify(["--trust", "trust", "gone"], {});
    assert.match(noFile.stderr, /cannot read gone/);
    assert.match(verify(["--trust", "trust"], {}).stderr, /exactly one file/);
  });
});

Deno.test("verify --help shows usage with examples", () => {
  const r = verify(["--help"], {});
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^Usage: lpkit verify --trust CERT_OR_FOLDER/);
  assert.match(r.stdout, /Examples:\n {2}lpkit verify --trust/);
});
