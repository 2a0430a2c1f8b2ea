import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cert, creds, expectCode, flip, payload, prng } from "./_testing.ts";
import {
  type ByteSource,
  bytesSource,
  createPkcs7,
  createPkcs7FromSource,
  encodeModuleSignatureHeader,
  forEachChunk,
  MODULE_SIG_MAGIC,
  SignatureError,
  signPayload,
  signPayloadFile,
  signPayloadLegacy,
  TrustStore,
  verifyPayload,
  verifyPayloadFile,
  verifySource,
} from "./mod.ts";

const store = new TrustStore(["rsa2048", "ecp256", "ecp384"].map(cert));

/** A source that returns at most `max` bytes a call and counts what it reads. */
function stingySource(bytes: Uint8Array, max: number) {
  const inner = bytesSource(bytes);
  const stats = { read: 0 };
  const source: ByteSource = {
    size: bytes.length,
    read(buffer, position) {
      const n = inner.read(buffer.subarray(0, max), position);
      stats.read += n;
      return n;
    },
  };
  return { source, stats };
}

/** The outcome of a verification as comparable data: the code, or the report without bytes. */
function outcome(fn: () => { payloadLength: number; hash: string; keyDescription: string }) {
  try {
    const r = fn();
    return `ok ${r.payloadLength} ${r.hash} ${r.keyDescription}`;
  } catch (e) {
    if (e instanceof SignatureError) return `${e.code} ${e.message}`;
    throw e;
  }
}

Deno.test("verifySource() reports what verifyPayload() reports", async (t) => {
  // Over 2 MiB, so that the payload spans several 1 MiB chunks.
  const big = payload(2 * 1024 * 1024 + 12345, 3);
  const files: [string, Uint8Array, boolean][] = [
    ["RSA sha256", signPayload(big, creds("rsa2048")), false],
    [
      "P-384 sha384 key id",
      signPayload(big, creds("ecp384"), { hash: "sha384", useKeyId: true }),
      false,
    ],
    ["legacy RSA sha512", signPayloadLegacy(big, creds("rsa2048"), { hash: "sha512" }), true],
  ];
  for (const [name, file, allowLegacy] of files) {
    await t.step(name, () => {
      const memory = verifyPayload(file, store, { allowLegacy });
      const streamed = verifySource(bytesSource(file), store, { allowLegacy });
      const { payload: _, ...info } = memory;
      assert.deepEqual(streamed, info);
      assert.equal(streamed.payloadLength, big.length);
      // Short reads (a pipe, a network file system) change nothing.
      assert.deepEqual(verifySource(stingySource(file, 4093).source, store, { allowLegacy }), info);
      // A changed payload byte in the last chunk is caught.
      expectCode(
        () => verifySource(bytesSource(flip(file, big.length - 1)), store, { allowLegacy }),
        "BAD_SIGNATURE",
      );
    });
  }
});

Deno.test("verifySource() and verifyPayload() agree on every mutant", () => {
  const body = payload(300, 9);
  const bases = [
    signPayload(body, creds("rsa2048")),
    signPayload(body, creds("ecp256"), { useKeyId: true }),
    signPayloadLegacy(body, creds("rsa2048")),
  ];
  const rnd = prng(77);
  for (let i = 0; i < 3000; i++) {
    const base = bases[i % bases.length];
    const m = base.slice(0, base.length - (rnd() < 0.2 ? Math.floor(rnd() * 50) : 0));
    const flips = Math.floor(rnd() * 3);
    for (let k = 0; k < flips; k++) {
      m[m.length - 1 - Math.floor(rnd() * Math.min(m.length, 700))] ^= 1 + Math.floor(rnd() * 255);
    }
    for (const allowLegacy of [false, true]) {
      assert.equal(
        outcome(() => verifySource(bytesSource(m), store, { allowLegacy })),
        outcome(() => verifyPayload(m, store, { allowLegacy })),
        `mutant ${i} allowLegacy=${allowLegacy}`,
      );
    }
  }
});

Deno.test("verifySource() reads only the trailer's head when sig_len is wrong", () => {
  // sig_len claims all but one byte of a 64 MiB file: the DER header refutes it.
  const size = 64 * 1024 * 1024;
  const file = new Uint8Array(size);
  file.set(encodeModuleSignatureHeader({ sigLen: size - 41 }), size - 40);
  file.set(MODULE_SIG_MAGIC, size - 28);
  const { source, stats } = stingySource(file, size);
  expectCode(() => verifySource(source, store), "MALFORMED_PKCS7");
  assert.ok(stats.read <= 40 + 6, `read ${stats.read} bytes`);
});

Deno.test("verifySource() passes read errors on, not as a bad signature", () => {
  const file = signPayload(payload(5000, 1), creds("rsa2048"));
  const inner = bytesSource(file);
  const failing: ByteSource = {
    size: file.length,
    read(buffer, position) {
      if (position === 0) throw Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
      return inner.read(buffer, position);
    },
  };
  assert.throws(() => verifySource(failing, store), (e) => (e as { code?: string }).code === "EIO");
  // A file that shrinks under the reader is a short read, also not a signature verdict.
  const shrinking: ByteSource = { size: file.length + 10, read: inner.read };
  assert.throws(() => verifySource(shrinking, store), RangeError);
});

Deno.test("createPkcs7FromSource() signs what createPkcs7() signs and passes every chunk on", () => {
  const big = payload(1024 * 1024 * 2 + 1, 4);
  const c = creds("rsa2048");
  const copy = new Uint8Array(big.length);
  let at = 0;
  const p7 = createPkcs7FromSource(bytesSource(big), c, { hash: "sha384" }, (chunk) => {
    copy.set(chunk, at);
    at += chunk.length;
  });
  assert.deepEqual(p7, createPkcs7(big, c, { hash: "sha384" }));
  assert.deepEqual(copy, big);
  // The hash is checked before anything is read.
  let chunks = 0;
  expectCode(
    () => createPkcs7FromSource(bytesSource(big), c, { hash: "md5" as "sha256" }, () => chunks++),
    "UNSUPPORTED_DIGEST",
  );
  assert.equal(chunks, 0);
});

Deno.test("forEachChunk() covers the range exactly, in order", () => {
  const bytes = payload(10_000, 8);
  for (const chunkSize of [1, 7, 4096, 10_000, 1 << 20]) {
    const parts: Uint8Array[] = [];
    forEachChunk(bytesSource(bytes), 9_999, (c) => parts.push(c.slice()), chunkSize);
    assert.deepEqual(
      new Uint8Array(parts.flatMap((p) => [...p])),
      bytes.subarray(0, 9_999),
      `chunks of ${chunkSize}`,
    );
  }
  let calls = 0;
  forEachChunk(bytesSource(bytes), 0, () => calls++);
  assert.equal(calls, 0);
});

Deno.test("signPayloadFile() and verifyPayloadFile() work on files, in place too", () => {
  const dir = Deno.makeTempDirSync({ prefix: "lpkit-signer-file-" });
  try {
    const body = payload(1024 * 1024 + 77, 6);
    const c = creds("ecp256");
    const input = join(dir, "payload.elf"), output = join(dir, "payload.signed");
    writeFileSync(input, body);
    const p7 = signPayloadFile(input, output, c, { hash: "sha512" });
    const signed = new Uint8Array(readFileSync(output));
    assert.deepEqual(signed.subarray(0, body.length), body);
    assert.deepEqual(signed.subarray(body.length, body.length + p7.length), p7);
    assert.equal(verifyPayloadFile(output, store).hash, "sha512");
    assert.deepEqual(new Uint8Array(readFileSync(input)), body, "input untouched");
    // In place: the result replaces the input.
    signPayloadFile(input, input, creds("rsa2048"));
    assert.deepEqual(
      new Uint8Array(readFileSync(input)),
      signPayload(body, creds("rsa2048")),
      "RSA is deterministic: the same bytes as in memory",
    );
    assert.deepEqual(Deno.readDirSync(dir).toArray().map((e) => e.name).sort(), [
      "payload.elf",
      "payload.signed",
    ], "no temporary file left behind");
    expectCode(
      () => verifyPayloadFile(join(dir, "payload.elf"), new TrustStore([cert("ecp256")])),
      "UNTRUSTED",
    );
    assert.throws(() => verifyPayloadFile(join(dir, "missing"), store), /ENOENT|No such file/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
