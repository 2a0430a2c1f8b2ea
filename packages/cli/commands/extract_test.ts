import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  CHUNK_SIZE,
  createPkcs7,
  parseCertificate,
  parsePrivateKey,
  signingCredentials,
  signPayload,
  signPayloadLegacy,
} from "@lpkit/signer";
import { memoryIo } from "../_testing.ts";
import { main } from "../mod.ts";
import type { ExtractReport } from "./extract.ts";

const dir = fileURLToPath(new URL("../../signer/testdata/", import.meta.url));
const read = (name: string) => new Uint8Array(readFileSync(dir + name));
const creds = (name: string) =>
  signingCredentials(parsePrivateKey(read(`${name}.key`)), parseCertificate(read(`${name}.crt`)));
const elf = new Uint8Array(1234).map((_, i) => (i * 31) & 0xff);

async function extract(args: string[], files: Record<string, Uint8Array>) {
  const { io, out, trace } = memoryIo(files);
  return { status: await main(["extract", ...args], io), ...out, files, trace };
}

Deno.test("extract writes the payload and the raw PKCS#7, like extract-module-sig.pl", async () => {
  const c = creds("rsa2048");
  const signed = signPayload(elf, c, { hash: "sha384" });
  const r = await extract(["s", "--payload", "body", "--signature", "sig.p7s"], { s: signed });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.files["body"], elf);
  assert.deepEqual(r.files["sig.p7s"], createPkcs7(elf, c, { hash: "sha384" }));
  assert.match(r.stdout, /format\s+pkcs7/);
  assert.match(r.stdout, /id_type 2, .*sig_len \d+/);
  assert.match(r.stdout, /payload\s+1234 bytes -> body/);
});

Deno.test("extract --json describes the parts (schema lpkit.extract/1)", async (t) => {
  await t.step("PKCS#7", async () => {
    const signed = signPayload(elf, creds("ecp256"));
    const r = await extract(["--json", "s"], { s: signed });
    const report = JSON.parse(r.stdout) as ExtractReport;
    const sigLen = signed.length - elf.length - 40;
    assert.deepEqual(report, {
      schema: "lpkit.extract/1",
      file: "s",
      format: "pkcs7",
      header: { algo: 0, hash: 0, idType: 2, signerLen: 0, keyIdLen: 0, pad: [0, 0, 0], sigLen },
      payloadSize: elf.length,
      signatureSize: sigLen,
      trailerSize: sigLen + 40,
      signerName: null,
      keyId: null,
      payloadFile: null,
      signatureFile: null,
    });
  });
  await t.step("legacy: signer name and key id", async () => {
    const c = creds("rsa2048");
    const r = await extract(["--json", "--payload", "body", "s"], { s: signPayloadLegacy(elf, c) });
    const report = JSON.parse(r.stdout) as ExtractReport;
    assert.equal(report.format, "legacy");
    assert.equal(report.signerName, "lpkit test signing key (RSA-2048)");
    assert.equal(
      report.keyId,
      Array.from(c.certificate.subjectKeyId!, (b) => b.toString(16).padStart(2, "0")).join(""),
    );
    assert.equal(report.signatureSize, 2 + 256);
    assert.deepEqual(r.files["body"], elf);
  });
});

Deno.test("extract streams: only the trailer is parsed, the payload copied in 1 MiB chunks", async () => {
  const big = new Uint8Array(2 * CHUNK_SIZE + 99).map((_, i) => (i * 7919) >>> 5);
  const c = creds("ecp384");
  const signed = signPayload(big, c, { hash: "sha384" });
  const r = await extract(["s", "--payload", "body", "--signature", "sig.p7s"], { s: signed });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.files["body"], big);
  assert.deepEqual(r.files["sig.p7s"], signed.subarray(big.length, signed.length - 40));
  assert.ok(!r.trace.readFile.includes("s"), "the file is not read whole");
  assert.ok(r.trace.largestRead <= CHUNK_SIZE, `largest read ${r.trace.largestRead}`);
  assert.equal(r.trace.open, 0, "closed");
  const header = await extract(["--json", "s"], { s: signed });
  assert.equal(header.trace.largestRead, signed.length - big.length - 40, "the signature only");
});

Deno.test("extract reports unsigned and malformed files as one line", async () => {
  const unsigned = await extract(["f", "--payload", "out"], { f: elf });
  assert.equal(unsigned.status, 1);
  assert.match(unsigned.stderr, /^lpkit extract: f: no module signature marker .*\[UNSIGNED\]\n$/);
  assert.equal(unsigned.files["out"], undefined, "nothing written");
  assert.equal(unsigned.trace.open, 0, "closed");
  const signed = signPayload(elf, creds("rsa2048"));
  signed[signed.length - 32] = 0x7f; // sig_len far beyond the file
  assert.match((await extract(["f"], { f: signed })).stderr, /\[BAD_SIG_LEN\]\n$/);
  assert.match((await extract(["nope"], {})).stderr, /^lpkit extract: cannot read nope/);
  assert.match((await extract([], {})).stderr, /exactly one file/);
  const help = await extract(["--help"], {});
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: lpkit extract FILE/);
  assert.match(help.stdout, /Examples:/);
});
