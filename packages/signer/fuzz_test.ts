// Property test: mutated signed files (byte flips, truncations, insertions,
// deletions; mostly in the trailer, header and PKCS#7) must each either be the
// untouched file, which verifies, or raise a SignatureError with a Xen errno
// (EACCES or EBADMSG); nothing else may be thrown and no mutant may verify,
// except one that changed only bytes of an embedded certificate that no
// signature covers and the trust decision does not rest on (the signer's own
// certificate embedded beside its trusted copy), whose payload must then be
// the original. Every mutant goes through the host's entry point,
// checkPayloadSignature(), crypto included. LPKIT_FUZZ_CASES sets the count
// (default 100,000), LPKIT_FUZZ_SEED the seed.
import assert from "node:assert/strict";
import { bytesEqual } from "./_bytes.ts";
import { readFileSync } from "node:fs";
import { cert, creds, payload, prng, testdata } from "./_testing.ts";
import {
  attachPkcs7,
  checkPayloadSignature,
  inspectSignedPayload,
  parseCertificate,
  parseCertificates,
  parsePrivateKey,
  SignatureError,
  type SignatureErrorCode,
  signPayload,
  signPayloadLegacy,
  TrustStore,
} from "./mod.ts";

const CASES = Number(Deno.env.get("LPKIT_FUZZ_CASES") ?? 100_000);
const SEED = Number(Deno.env.get("LPKIT_FUZZ_SEED") ?? 0x5167);

interface Base {
  name: string;
  file: Uint8Array;
  /** Length of the trailer (signature data, header, marker). */
  trailer: number;
  legacy: boolean;
  expected: SignatureErrorCode[];
  /**
   * Byte ranges [start, end) of embedded certificates that a verifying mutant
   * may have changed: the signer's own certificate, trusted directly. Empty for
   * a chain, where every certificate byte is covered by a signature checked.
   */
  certificates: [number, number][];
}

function bases(): Base[] {
  const body = payload(160, 7);
  const mk = (
    name: string,
    file: Uint8Array,
    legacy = false,
    extra: SignatureErrorCode[] = [],
    payloadLength = body.length,
    looseCertificates = true,
  ): Base => ({
    name,
    file,
    trailer: file.length - payloadLength,
    legacy,
    certificates: legacy || !looseCertificates ? [] : certificateRanges(file),
    expected: legacy
      ? [
        "UNSIGNED",
        "BAD_SIG_LEN",
        "BAD_ID_TYPE",
        "UNSUPPORTED_ALGORITHM",
        "NONZERO_HEADER",
        "UNTRUSTED",
        "MALFORMED_SIGNATURE",
        "BAD_SIGNATURE",
      ]
      : [
        "UNSIGNED",
        "BAD_SIG_LEN",
        "BAD_ID_TYPE",
        "NONZERO_HEADER",
        "MALFORMED_PKCS7",
        "UNTRUSTED",
        "BAD_SIGNATURE",
        ...extra,
      ],
  });
  // openssl cms -sign -noattr with the leaf and the intermediate embedded (chain-root trusted).
  const chainPayload = new Uint8Array(readFileSync(testdata("chain-payload.bin")));
  const chained = attachPkcs7(chainPayload, readFileSync(testdata("chain-leaf.p7s")));
  return [
    mk("RSA-2048 sha256 issuer+serial", signPayload(body, creds("rsa2048"))),
    mk(
      "RSA-2048 sha512 key id",
      signPayload(body, creds("rsa2048"), { hash: "sha512", useKeyId: true }),
    ),
    mk(
      "P-256 sha256 with certificate",
      signPayload(body, creds("ecp256"), { includeCertificate: true }),
    ),
    mk("legacy RSA-2048 sha256", signPayloadLegacy(body, creds("rsa2048")), true),
    mk(
      "RSA-2048 chain leaf + intermediate (openssl)",
      chained,
      false,
      ["BAD_CHAIN"],
      chainPayload.length,
      false,
    ),
  ];
}

function certificateRanges(file: Uint8Array): [number, number][] {
  const { pkcs7 } = inspectSignedPayload(file);
  return pkcs7.certificateOffsets.map((at, i) => [at, at + pkcs7.certificates[i].der.length]);
}

/** Whether `m` differs from `file` only inside the byte ranges (same length). */
function onlyInside(m: Uint8Array, file: Uint8Array, ranges: [number, number][]): boolean {
  if (m.length !== file.length) return false;
  for (let i = 0; i < m.length; i++) {
    if (m[i] !== file[i] && !ranges.some(([a, b]) => i >= a && i < b)) return false;
  }
  return true;
}

function mutate(file: Uint8Array, trailer: number, rnd: () => number): Uint8Array {
  const int = (n: number) => Math.floor(rnd() * n);
  // 80% of positions in the trailer (PKCS#7, header, marker), the rest anywhere.
  const pos = () => rnd() < 0.8 ? file.length - 1 - int(trailer) : int(file.length);
  const op = rnd();
  if (op < 0.55) {
    const out = file.slice();
    const flips = rnd() < 0.8 ? 1 : 2 + int(3);
    for (let i = 0; i < flips; i++) out[pos()] ^= 1 + int(255);
    return out;
  }
  if (op < 0.7) return file.slice(0, pos()); // truncation
  const at = pos();
  if (op < 0.85) { // insertion of 1–4 bytes
    const n = 1 + int(4);
    const out = new Uint8Array(file.length + n);
    out.set(file.subarray(0, at));
    for (let i = 0; i < n; i++) out[at + i] = int(256);
    out.set(file.subarray(at), at + n);
    return out;
  }
  const n = 1 + int(4); // deletion of 1–4 bytes
  const out = new Uint8Array(file.length - Math.min(n, file.length - at));
  out.set(file.subarray(0, at));
  out.set(file.subarray(at + n), at);
  return out;
}

Deno.test("checkPayloadSignature() rejects every mutated signed file with a SignatureError", async (t) => {
  const store = new TrustStore(["rsa2048", "ecp256", "other2048", "chain-root"].map(cert));
  const all = bases();
  const perBase = Math.ceil(CASES / all.length);
  for (const base of all) {
    await t.step(`${base.name}: ${perBase} mutants`, () => {
      const check = (f: Uint8Array) =>
        checkPayloadSignature(f, store, { allowLegacy: base.legacy });
      assert.equal(check(base.file).payload.length, base.file.length - base.trailer);
      const rnd = prng(SEED ^ base.file.length);
      const codes = new Map<string, number>();
      for (let i = 0; i < perBase; i++) {
        const m = mutate(base.file, base.trailer, rnd);
        let verified;
        try {
          verified = check(m);
        } catch (e) {
          if (!(e instanceof SignatureError)) {
            throw new Error(`mutant ${i} (seed ${SEED}) threw a non-SignatureError: ${e}`, {
              cause: e,
            });
          }
          assert.ok(
            e.errno === -13 || e.errno === -74,
            `mutant ${i}: errno ${e.errno} for ${e.code}`,
          );
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
          continue;
        }
        // A mutation that cancelled itself out is the untouched file and must verify;
        // else only bytes of embedded certificates changed, and the payload is the original.
        if (bytesEqual(m, base.file)) continue;
        assert.ok(
          onlyInside(m, base.file, base.certificates),
          `mutant ${i} (seed ${SEED}) verified`,
        );
        assert.ok(bytesEqual(verified.payload, base.file.subarray(0, verified.payload.length)));
        assert.equal(verified.payload.length, base.file.length - base.trailer);
      }
      for (const code of base.expected) {
        assert.ok(codes.has(code), `${base.name}: no mutant produced ${code} (${[...codes]})`);
      }
    });
  }
});

/** Runs `parse` on mutants of `input`; only SignatureErrors with `code` may be thrown. */
function fuzzParser(
  input: Uint8Array,
  count: number,
  seed: number,
  code: SignatureErrorCode,
  parse: (bytes: Uint8Array) => unknown,
): number {
  const rnd = prng(seed);
  let accepted = 0;
  for (let i = 0; i < count; i++) {
    const m = mutate(input, input.length, rnd);
    try {
      parse(m);
      accepted++;
    } catch (e) {
      if (!(e instanceof SignatureError) || e.code !== code) {
        throw new Error(`mutant ${i} (seed ${seed}): ${e}`, { cause: e });
      }
    }
  }
  return accepted;
}

Deno.test("the certificate and key parsers reject mutants only with their codes", async (t) => {
  const n = Math.max(1, Math.floor(CASES / 10));
  await t.step(`certificates, DER and PEM: ${n} mutants`, () => {
    const der = cert("ecp384").der;
    fuzzParser(der, n >> 1, SEED, "BAD_CERTIFICATE", parseCertificate);
    const pem = new TextEncoder().encode(readFileSync(testdata("rsa2048.crt"), "utf8"));
    fuzzParser(pem, n >> 1, SEED + 1, "BAD_CERTIFICATE", parseCertificates);
  });
  await t.step(`private keys, DER and PEM: ${(n >> 2) * 2} mutants`, () => {
    // Fewer: every rejected DER key costs three node:crypto attempts.
    const der = new Uint8Array(readFileSync(testdata("ecp256.key.der")));
    fuzzParser(der, n >> 2, SEED, "BAD_KEY", (b) => parsePrivateKey(b));
    const pem = new Uint8Array(readFileSync(testdata("ecp256.key")));
    fuzzParser(pem, n >> 2, SEED + 1, "BAD_KEY", (b) => parsePrivateKey(b));
  });
});
