import assert from "node:assert/strict";
import { expectCode } from "./_testing.ts";
import {
  decodeModuleSignatureHeader,
  encodeModuleSignatureHeader,
  encodeSignatureTrailer,
  hasSignatureMarker,
  MODULE_SIG_MAGIC,
  MODULE_SIG_STRING,
  parseSignatureTrailer,
  readModuleSignatureHeader,
  TRAILER_SIZE,
} from "./mod.ts";

/** payload (n bytes of 0xee) || sig (s bytes of 0x30) || header || marker. */
function file(
  n: number,
  s: number,
  header: Uint8Array = encodeModuleSignatureHeader({ sigLen: s }),
) {
  const out = new Uint8Array(n + s + 12 + 28);
  out.fill(0xee, 0, n);
  out.fill(0x30, n, n + s);
  out.set(header, n + s);
  out.set(MODULE_SIG_MAGIC, n + s + 12);
  return out;
}

Deno.test("MODULE_SIG_MAGIC is the kernel's 28-byte marker without NUL", () => {
  assert.equal(MODULE_SIG_MAGIC.length, 28);
  assert.equal(new TextDecoder().decode(MODULE_SIG_MAGIC), "~Module signature appended~\n");
  assert.equal(MODULE_SIG_STRING.length, 28);
  assert.equal(TRAILER_SIZE, 40);
});

Deno.test("encodeModuleSignatureHeader() writes sign-file's header", async (t) => {
  await t.step("PKCS#7 defaults with a big-endian sig_len", () => {
    assert.deepEqual(
      [...encodeModuleSignatureHeader({ sigLen: 0x01020304 })],
      [0, 0, 2, 0, 0, 0, 0, 0, 1, 2, 3, 4],
    );
  });
  await t.step("round-trips every field through decodeModuleSignatureHeader()", () => {
    const h = {
      algo: 1,
      hash: 4,
      idType: 1,
      signerLen: 17,
      keyIdLen: 20,
      pad: [5, 6, 7] as [number, number, number],
      sigLen: 0xfffffffe,
    };
    assert.deepEqual(decodeModuleSignatureHeader(encodeModuleSignatureHeader(h)), h);
  });
  await t.step("decode rejects a wrong length", () => {
    assert.throws(() => decodeModuleSignatureHeader(new Uint8Array(11)), RangeError);
  });
});

Deno.test("hasSignatureMarker() looks only at the last 28 bytes", () => {
  assert.equal(hasSignatureMarker(file(4, 2)), true);
  assert.equal(hasSignatureMarker(new Uint8Array(0)), false);
  assert.equal(hasSignatureMarker(MODULE_SIG_MAGIC.subarray(1)), false);
  const f = file(4, 2);
  assert.equal(hasSignatureMarker(f.subarray(0, f.length - 1)), false);
  for (let i = f.length - 28; i < f.length; i++) {
    const g = f.slice();
    g[i] ^= 0x20;
    assert.equal(hasSignatureMarker(g), false, `byte ${i}`);
  }
});

Deno.test("parseSignatureTrailer() locates payload, signature and header", () => {
  const t = parseSignatureTrailer(file(100, 7));
  assert.equal(t.payloadLength, 100);
  assert.equal(t.signatureOffset, 100);
  assert.equal(t.headerOffset, 107);
  assert.equal(t.header.sigLen, 7);
});

Deno.test("parseSignatureTrailer() applies mod_check_sig()'s rules in order", async (t) => {
  await t.step("no marker: UNSIGNED", () => {
    expectCode(() => parseSignatureTrailer(new Uint8Array(100)), "UNSIGNED");
    expectCode(() => parseSignatureTrailer(new Uint8Array(0)), "UNSIGNED");
  });
  await t.step("marker with 12 or fewer bytes before it: TRUNCATED", () => {
    expectCode(() => parseSignatureTrailer(MODULE_SIG_MAGIC), "TRUNCATED");
    const short = new Uint8Array(12 + 28);
    short.set(MODULE_SIG_MAGIC, 12);
    expectCode(() => parseSignatureTrailer(short), "TRUNCATED");
    expectCode(() => readModuleSignatureHeader(short), "TRUNCATED");
  });
  await t.step("sig_len leaving no payload byte: BAD_SIG_LEN at the sig_len field", () => {
    // 1 payload byte is the minimum: sig_len == len - 12 is rejected, len - 13 is not.
    parseSignatureTrailer(file(1, 5));
    const f = file(0, 5);
    const e = expectCode(() => parseSignatureTrailer(f), "BAD_SIG_LEN");
    assert.equal(e.offset, 5 + 8);
    const huge = file(10, 5, encodeModuleSignatureHeader({ sigLen: 0xffffffff }));
    expectCode(() => parseSignatureTrailer(huge), "BAD_SIG_LEN");
  });
  await t.step("id_type other than PKCS#7: BAD_ID_TYPE, legacy named", () => {
    for (const idType of [0, 1, 3, 255]) {
      const f = file(10, 5, encodeModuleSignatureHeader({ sigLen: 5, idType }));
      const e = expectCode(() => parseSignatureTrailer(f), "BAD_ID_TYPE");
      assert.equal(e.offset, 15 + 2);
      assert.equal(/legacy/.test(e.message), idType === 1);
    }
  });
  await t.step("any other non-zero field: NONZERO_HEADER at that field", () => {
    for (const at of [0, 1, 3, 4, 5, 6, 7]) {
      const header = encodeModuleSignatureHeader({ sigLen: 5 });
      header[at] = 0x80;
      const e = expectCode(() => parseSignatureTrailer(file(10, 5, header)), "NONZERO_HEADER");
      assert.equal(e.offset, 15 + at);
    }
  });
  await t.step("sig_len is checked before id_type, id_type before the other fields", () => {
    const header = encodeModuleSignatureHeader({ sigLen: 999, idType: 1, algo: 1 });
    expectCode(() => parseSignatureTrailer(file(10, 5, header)), "BAD_SIG_LEN");
    header.set([0, 0, 0, 5], 8);
    expectCode(() => parseSignatureTrailer(file(10, 5, header)), "BAD_ID_TYPE");
  });
});

Deno.test("encodeSignatureTrailer() appends header and marker to the PKCS#7", () => {
  const p7 = new Uint8Array([0x30, 0x03, 1, 2, 3]);
  const t = encodeSignatureTrailer(p7);
  assert.deepEqual(t.subarray(0, 5), p7);
  assert.deepEqual(t.subarray(5, 17), encodeModuleSignatureHeader({ sigLen: 5 }));
  assert.deepEqual(t.subarray(17), MODULE_SIG_MAGIC);
  const full = new Uint8Array([9, ...t]);
  assert.equal(parseSignatureTrailer(full).payloadLength, 1);
});
