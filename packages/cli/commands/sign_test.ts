import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CHUNK_SIZE,
  createPkcs7,
  extractSignature,
  parseCertificate,
  parsePrivateKey,
  signingCredentials,
  signPayload,
  signPayloadLegacy,
  TrustStore,
  verifyPayload,
} from "@lpkit/signer";
import { memoryIo } from "../_testing.ts";
import { main } from "../mod.ts";
import type { SignReport } from "./sign.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const testdata = (name: string) => join(root, "packages/signer/testdata", name);
const read = (name: string) => new Uint8Array(readFileSync(testdata(name)));
const creds = (name: string) =>
  signingCredentials(parsePrivateKey(read(`${name}.key`)), parseCertificate(read(`${name}.crt`)));
const elf = new Uint8Array(3000).map((_, i) => (i * 7 + 3) & 0xff);
elf.set([0x7f, 0x45, 0x4c, 0x46]);

/** The test keys and certificates, plus a payload at `p.elf`. */
function withKeys(extra: Record<string, Uint8Array> = {}) {
  const files: Record<string, Uint8Array> = { "p.elf": elf, ...extra };
  for (const n of ["rsa2048", "rsa4096", "ecp256", "ecp384", "noskid"]) {
    files[`${n}.key`] = read(`${n}.key`);
    files[`${n}.crt`] = read(`${n}.crt`);
  }
  files["rsa2048.crt.der"] = read("rsa2048.crt.der");
  files["ecp256.key.der"] = read("ecp256.key.der");
  return files;
}

Deno.test("sign replaces the file with sign-file's layout, byte-identical for RSA", async (t) => {
  await t.step("in place, sha256, issuer and serial", async () => {
    const { io, out, files } = memoryIo(withKeys());
    assert.equal(
      await main(["sign", "--key", "rsa2048.key", "--cert", "rsa2048.crt", "p.elf"], io),
      0,
    );
    assert.deepEqual(files["p.elf"], signPayload(elf, creds("rsa2048")));
    assert.match(out.stdout, /^signed p\.elf -> p\.elf: PKCS#7 signature\n/);
    assert.match(out.stdout, /hash\s+sha256/);
    assert.match(out.stdout, /key\s+RSA-2048/);
    assert.equal(out.stderr, "");
  });
  await t.step("-o, sha512, --keyid, DER certificate, JSON", async () => {
    const { io, out, files } = memoryIo(withKeys());
    const args = ["sign", "--key", "rsa2048.key", "--cert", "rsa2048.crt.der", "--hash", "sha512"];
    assert.equal(await main([...args, "--keyid", "-o", "p.signed", "--json", "p.elf"], io), 0);
    assert.deepEqual(files["p.elf"], elf, "the input is left alone");
    const expected = signPayload(elf, creds("rsa2048"), { hash: "sha512", useKeyId: true });
    assert.deepEqual(files["p.signed"], expected);
    const r = JSON.parse(out.stdout) as SignReport;
    const cert = parseCertificate(read("rsa2048.crt"));
    assert.deepEqual(r, {
      schema: "lpkit.sign/1",
      file: "p.elf",
      output: "p.signed",
      format: "pkcs7",
      detached: false,
      attached: false,
      hash: "sha512",
      algorithm: "RSA-2048",
      keyAlgorithm: "rsa",
      signer: {
        issuer: cert.issuer,
        subject: cert.subject,
        serial: cert.serialHex,
        keyId: Array.from(cert.subjectKeyId!, (b) => b.toString(16).padStart(2, "0")).join(""),
        identifiedBy: "subjectKeyIdentifier",
        name: null,
      },
      payloadSize: elf.length,
      signatureSize: expected.length - elf.length - 40,
      outputSize: expected.length,
    });
  });
  await t.step("ECDSA with a DER key verifies", async () => {
    const { io, files } = memoryIo(withKeys());
    assert.equal(
      await main(
        ["sign", "--key", "ecp256.key.der", "--cert", "ecp256.crt", "--hash", "sha384", "p.elf"],
        io,
      ),
      0,
    );
    const r = verifyPayload(files["p.elf"], new TrustStore([parseCertificate(read("ecp256.crt"))]));
    assert.deepEqual([r.hash, r.keyDescription], ["sha384", "ECDSA P-256"]);
    assert.deepEqual(r.payload, elf);
  });
  await t.step("an encrypted key with KBUILD_SIGN_PIN, as sign-file", async () => {
    const pem = createPrivateKey(read("rsa2048.key")).export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase: "s3cret",
    });
    const files = withKeys({ "enc.key": new TextEncoder().encode(pem as string) });
    const locked = memoryIo({ ...files });
    assert.equal(
      await main(["sign", "--key", "enc.key", "--cert", "rsa2048.crt", "p.elf"], locked.io),
      1,
    );
    assert.match(locked.out.stderr, /^lpkit sign: enc\.key: .*\[BAD_KEY\]\n$/);
    const { io, files: after } = memoryIo({ ...files }, { KBUILD_SIGN_PIN: "s3cret" });
    assert.equal(await main(["sign", "--key", "enc.key", "--cert", "rsa2048.crt", "p.elf"], io), 0);
    assert.deepEqual(after["p.elf"], signPayload(elf, creds("rsa2048")));
  });
});

Deno.test("sign --detached, --pkcs7, --legacy and --include-cert", async (t) => {
  await t.step("--detached writes FILE.p7s, as sign-file -d", async () => {
    const { io, files } = memoryIo(withKeys());
    assert.equal(
      await main(
        ["sign", "--key", "rsa4096.key", "--cert", "rsa4096.crt", "--detached", "p.elf"],
        io,
      ),
      0,
    );
    assert.deepEqual(files["p.elf.p7s"], createPkcs7(elf, creds("rsa4096")));
    assert.deepEqual(files["p.elf"], elf);
  });
  await t.step("--pkcs7 appends it, as sign-file -s; --cert checks it first", async () => {
    const p7 = createPkcs7(elf, creds("ecp384"), { hash: "sha384" });
    const { io, out, files } = memoryIo(withKeys({ "p.p7s": p7 }));
    assert.equal(
      await main(["sign", "--pkcs7", "p.p7s", "-o", "a.signed", "--json", "p.elf"], io),
      0,
    );
    assert.deepEqual(extractSignature(files["a.signed"]).signature, p7);
    const r = JSON.parse(out.stdout) as SignReport;
    assert.deepEqual([r.attached, r.hash, r.keyAlgorithm, r.signer, r.algorithm], [
      true,
      "sha384",
      "ecdsa",
      null,
      null,
    ]);
    const checked = memoryIo(withKeys({ "p.p7s": p7 }));
    assert.equal(
      await main(["sign", "--pkcs7", "p.p7s", "--cert", "ecp384.crt", "p.elf"], checked.io),
      0,
    );
    assert.match(checked.out.stdout, /key\s+ECDSA P-384/);
    const wrong = memoryIo(withKeys({ "p.p7s": p7 }));
    assert.equal(
      await main(["sign", "--pkcs7", "p.p7s", "--cert", "ecp256.crt", "p.elf"], wrong.io),
      1,
    );
    assert.match(wrong.out.stderr, /^lpkit sign: p\.p7s: .*\[UNTRUSTED\]\n$/);
    assert.deepEqual(wrong.files["p.elf"], elf, "nothing written");
    const junk = memoryIo(withKeys({ "p.p7s": new Uint8Array([0x30, 0x03, 1, 2, 3]) }));
    assert.equal(await main(["sign", "--pkcs7", "p.p7s", "p.elf"], junk.io), 1);
    assert.match(junk.out.stderr, /\[MALFORMED_PKCS7\]\n$/);
  });
  await t.step("--legacy writes the Linux 3.7 layout, labelled", async () => {
    const { io, out, files } = memoryIo(withKeys());
    assert.equal(
      await main(
        ["sign", "--key", "rsa2048.key", "--cert", "rsa2048.crt", "--legacy", "p.elf"],
        io,
      ),
      0,
    );
    assert.deepEqual(files["p.elf"], signPayloadLegacy(elf, creds("rsa2048")));
    assert.match(out.stdout, /LEGACY signature \(Linux 3\.7–4\.2 layout\)/);
    const ec = memoryIo(withKeys());
    assert.equal(
      await main(
        ["sign", "--key", "ecp256.key", "--cert", "ecp256.crt", "--legacy", "p.elf"],
        ec.io,
      ),
      1,
    );
    assert.match(ec.out.stderr, /RSA keys only \[BAD_KEY\]\n$/);
  });
  await t.step("--include-cert embeds the certificate", async () => {
    const { io, files } = memoryIo(withKeys());
    const args = ["sign", "--key", "ecp256.key", "--cert", "ecp256.crt", "--include-cert"];
    assert.equal(await main([...args, "p.elf"], io), 0);
    const p7 = extractSignature(files["p.elf"]).signature;
    const der = parseCertificate(read("ecp256.crt")).der;
    assert.ok(Buffer.from(p7).includes(Buffer.from(der)));
  });
});

Deno.test("sign reports user errors as one line with a stable code", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["no --key", ["--cert", "rsa2048.crt", "p.elf"], /needs --key and --cert/],
    ["no file", ["--key", "rsa2048.key", "--cert", "rsa2048.crt"], /exactly one file/],
    [
      "sha1",
      ["--key", "rsa2048.key", "--cert", "rsa2048.crt", "--hash", "sha1", "p.elf"],
      /sha256, sha384 or sha512/,
    ],
    [
      "missing key",
      ["--key", "nope.key", "--cert", "rsa2048.crt", "p.elf"],
      /cannot read nope\.key/,
    ],
    [
      "key and certificate differ",
      ["--key", "rsa2048.key", "--cert", "rsa4096.crt", "p.elf"],
      /does not match the certificate.*\[BAD_KEY\]/,
    ],
    [
      "not a certificate",
      ["--key", "rsa2048.key", "--cert", "rsa2048.key", "p.elf"],
      /rsa2048\.key: .*\[BAD_CERTIFICATE\]/,
    ],
    [
      "--keyid without SKID",
      ["--key", "noskid.key", "--cert", "noskid.crt", "--keyid", "p.elf"],
      /no subjectKeyIdentifier to sign by key id \[BAD_CERTIFICATE\]/,
    ],
    [
      "--pkcs7 with --key",
      ["--pkcs7", "x", "--key", "rsa2048.key", "p.elf"],
      /--pkcs7 and --key do not go together/,
    ],
    ["--legacy --detached", [
      "--key",
      "rsa2048.key",
      "--cert",
      "rsa2048.crt",
      "--legacy",
      "--detached",
      "p.elf",
    ], /--legacy and --detached/],
    ["unknown option", ["--frob", "p.elf"], /Unknown option '--frob'/],
  ];
  for (const [what, args, message] of cases) {
    await t.step(what, async () => {
      const { io, out, files, trace } = memoryIo(withKeys());
      assert.equal(await main(["sign", ...args], io), 1);
      assert.match(out.stderr, /^lpkit sign: /);
      assert.match(out.stderr, message);
      if (!what.startsWith("no ") && what !== "unknown option") {
        assert.equal(out.stderr.split("\n").length, 2, "one line");
      }
      assert.deepEqual(files["p.elf"], elf, "nothing written");
      assert.deepEqual(Object.keys(files).sort(), Object.keys(withKeys()).sort(), "no new file");
      assert.equal(trace.open, 0, "every file closed");
      // The key-id check fails inside the streaming write: its temporary output is dropped.
      assert.equal(trace.aborted, what === "--keyid without SKID" ? 1 : 0);
      assert.equal(out.stdout, "");
    });
  }
  await t.step("an already signed file is refused", async () => {
    const { io, out } = memoryIo(withKeys({ "s.elf": signPayload(elf, creds("rsa2048")) }));
    assert.equal(
      await main(["sign", "--key", "rsa2048.key", "--cert", "rsa2048.crt", "s.elf"], io),
      1,
    );
    assert.match(out.stderr, /already ends with a module signature; strip it first/);
  });
});

Deno.test("sign streams a large payload: never read whole, hashed and copied in 1 MiB chunks", async (t) => {
  const big = new Uint8Array(3 * CHUNK_SIZE + 12345).map((_, i) => (i * 2654435761) >>> 24);
  for (
    const [what, extra, expected] of [
      ["appended", [], () => signPayload(big, creds("rsa2048"))],
      ["detached", ["--detached"], () => createPkcs7(big, creds("rsa2048"))],
      ["--pkcs7", [], () => signPayload(big, creds("rsa2048"))],
    ] as const
  ) {
    await t.step(what, async () => {
      const p7 = createPkcs7(big, creds("rsa2048"));
      const { io, files, trace } = memoryIo(withKeys({ "big.elf": big, "big.p7s": p7 }));
      const keys = what === "--pkcs7"
        ? ["--pkcs7", "big.p7s"]
        : ["--key", "rsa2048.key", "--cert", "rsa2048.crt"];
      assert.equal(await main(["sign", ...keys, ...extra, "-o", "out", "big.elf"], io), 0);
      assert.deepEqual(files["out"], expected());
      assert.ok(!trace.readFile.includes("big.elf"), "the payload is not read whole");
      assert.deepEqual(trace.openRead, ["big.elf"]);
      assert.ok(trace.largestRead <= CHUNK_SIZE, `largest read ${trace.largestRead}`);
      assert.equal(trace.open, 0, "every file closed");
    });
  }
  await t.step("in place: the signed file replaces the input at once", async () => {
    const { io, files, trace } = memoryIo(withKeys({ "big.elf": big }));
    const args = ["sign", "--key", "ecp256.key", "--cert", "ecp256.crt", "big.elf"];
    assert.equal(await main(args, io), 0);
    const r = verifyPayload(
      files["big.elf"],
      new TrustStore([parseCertificate(read("ecp256.crt"))]),
    );
    assert.deepEqual(r.payload, big);
    assert.equal(trace.open, 0);
  });
  await t.step("a file that shrinks while it is read: one line, nothing written", async () => {
    const m = memoryIo(withKeys({ "big.elf": big }));
    const openRead = m.io.openRead!;
    m.io.openRead = (path) => {
      const r = openRead(path);
      // As if the file were truncated after its first MiB was read (its tail was read first).
      return { ...r, read: (b, at) => (at >= CHUNK_SIZE && at < r.size - 100 ? 0 : r.read(b, at)) };
    };
    assert.equal(
      await main(["sign", "--key", "rsa2048.key", "--cert", "rsa2048.crt", "big.elf"], m.io),
      1,
    );
    assert.match(m.out.stderr, /^lpkit sign: cannot read big\.elf: it shrank while being read/);
    assert.deepEqual(m.files["big.elf"], big);
    assert.equal(m.trace.aborted, 1);
  });
});

Deno.test("sign --help shows usage with examples", async () => {
  const { io, out } = memoryIo({});
  assert.equal(await main(["sign", "--help"], io), 0);
  assert.match(out.stdout, /^Usage: lpkit sign --key KEY --cert CERT/);
  assert.match(out.stdout, /Examples:\n {2}lpkit sign --key/);
  const help = memoryIo({});
  await main(["help"], help.io);
  assert.match(help.out.stdout, /sign --key KEY/);
  assert.match(help.out.stdout, /verify --trust/);
  assert.match(help.out.stdout, /extract <file>/);
});

// The real CLI, as a user runs it: `deno run packages/cli/main.ts sign ...`, then
// openssl checks the result (split with head/tail, not with lpkit).
const SIGN_FILE = "/usr/lib/linux-kbuild-6.1/scripts/sign-file";
const haveOpenssl = spawnSync("sh", ["-c", "command -v openssl"]).status === 0;
const inCI = Deno.env.get("CI") === "true";

function lpkit(cwd: string, args: string[]) {
  const r = spawnSync(Deno.execPath(), ["run", "-A", join(root, "packages/cli/main.ts"), ...args], {
    cwd,
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function opensslVerify(
  dir: string,
  signed: string,
  cert: string,
): { status: number | null; stderr: string } {
  const split = `F="$0"; SIZE=$(stat -c %s "$F")
SIGLEN=$(tail -c 32 "$F" | head -c 4 | od -An -tu1 | awk '{print $1*16777216+$2*65536+$3*256+$4}')
head -c $((SIZE-40-SIGLEN)) "$F" > "$1/body.bin"; tail -c $((40+SIGLEN)) "$F" | head -c $SIGLEN > "$1/sig.p7s"
openssl cms -verify -binary -inform DER -in "$1/sig.p7s" -content "$1/body.bin" -certfile "$2" -CAfile "$2" -out /dev/null`;
  const r = spawnSync("sh", ["-c", split, signed, dir, cert], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}

Deno.test({
  name: "the real lpkit CLI signs in a subprocess and openssl cms -verify accepts it",
  ignore: !inCI && !haveOpenssl,
  fn() {
    if (!haveOpenssl) throw new Error("openssl is required in CI");
    const dir = Deno.makeTempDirSync({ prefix: "lpkit-cli-sign-" });
    try {
      const input = join(dir, "hello.livepatch");
      writeFileSync(input, elf);
      for (
        const [name, hash, extra] of [["rsa2048", "sha256", []], ["ecp384", "sha384", [
          "--keyid",
        ]]] as const
      ) {
        const output = join(dir, `hello.${name}`);
        const key = testdata(`${name}.key`), crt = testdata(`${name}.crt`);
        const r = lpkit(dir, [
          "sign",
          "--key",
          key,
          "--cert",
          crt,
          "--hash",
          hash,
          ...extra,
          "-o",
          output,
          input,
        ]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^signed .*hello\.livepatch -> /);
        const ok = opensslVerify(dir, output, crt);
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stderr, /Verification successful/);
        // RSA output is sign-file's, byte for byte, when sign-file is there (CI: always).
        if (name === "rsa2048" && (inCI || existsSync(SIGN_FILE))) {
          const theirs = join(dir, "theirs");
          const sf = spawnSync(SIGN_FILE, [hash, key, crt, input, theirs], { encoding: "utf8" });
          assert.equal(sf.status, 0, sf.stderr);
          assert.deepEqual(readFileSync(output), readFileSync(theirs));
        }
        // lpkit verify agrees, as a process: exit 0, JSON naming the signer.
        const v = lpkit(dir, ["verify", "--trust", crt, "--json", output]);
        assert.equal(v.status, 0, v.stderr);
        const report = JSON.parse(v.stdout);
        assert.deepEqual([report.valid, report.hash, report.error], [true, hash, null]);
        // One payload byte changed: both refuse; lpkit exits 1 with the code.
        const bytes = new Uint8Array(readFileSync(output));
        bytes[10] ^= 1;
        writeFileSync(output, bytes);
        assert.notEqual(opensslVerify(dir, output, crt).status, 0);
        const bad = lpkit(dir, ["verify", "--trust", crt, output]);
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /^lpkit verify: .*\[BAD_SIGNATURE\]\n$/);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
