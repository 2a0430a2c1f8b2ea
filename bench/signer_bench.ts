// Signing and verification throughput of @lpkit/signer against the reference
// tools on one large payload: sign-file (linux-kbuild-6.1) for signing and
// `openssl cms -verify` for verification. Several runs, medians.
//
//   deno run --allow-read --allow-write --allow-env --allow-run bench/signer_bench.ts [MiB] [runs]
//
// lpkit is timed in-process, reading and writing the files as the tools do
// (they also pay for starting a process, a few milliseconds). The "in memory"
// rows leave file I/O out.
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { argv, exit } from "node:process";
import { fileURLToPath } from "node:url";
import {
  createPkcs7,
  encodeSignatureTrailer,
  extractSignature,
  parseCertificate,
  parsePrivateKey,
  signingCredentials,
  TrustStore,
  verifyPayload,
} from "@lpkit/signer";

const SIGN_FILE = "/usr/lib/linux-kbuild-6.1/scripts/sign-file";
const MIB = Number(argv[2] ?? 100);
const RUNS = Number(argv[3] ?? 5);
const testdata = (f: string) =>
  fileURLToPath(new URL(`../packages/signer/testdata/${f}`, import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function tool(cmd: string, args: string[]): () => void {
  return () => {
    execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  };
}

const dir = mkdtempSync(join(tmpdir(), "lpkit-signer-bench-"));
try {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    execFileSync(SIGN_FILE, [], { stdio: "ignore" });
  } catch (e) {
    // sign-file without arguments prints its usage and exits 1; ENOENT means missing.
    if ((e as { code?: string }).code === "ENOENT") {
      console.error(`needs openssl and ${SIGN_FILE} (apt-get install -y linux-kbuild-6.1 openssl)`);
      exit(2);
    }
  }

  // A pseudo-random payload (incompressible, so nothing is special-cased).
  const size = MIB * 1024 * 1024;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(payload.subarray(i, i + 65536));
  const input = join(dir, "payload.elf");
  writeFileSync(input, payload);

  const rows: string[][] = [];
  for (const [name, label] of [["rsa2048", "RSA-2048"], ["ecp256", "P-256"]]) {
    const keyFile = testdata(`${name}.key`), crtFile = testdata(`${name}.crt`);
    const cert = parseCertificate(readFileSync(crtFile));
    const creds = signingCredentials(parsePrivateKey(readFileSync(keyFile)), cert);
    const trust = new TrustStore([cert]);
    const theirsOut = join(dir, `${name}.sign-file`), oursOut = join(dir, `${name}.lpkit`);

    const signFile = tool(SIGN_FILE, ["sha256", keyFile, crtFile, input, theirsOut]);
    const lpkitSign = () => {
      const data = readFileSync(input);
      const trailer = encodeSignatureTrailer(createPkcs7(data, creds));
      const fd = openSync(oursOut, "w");
      writeSync(fd, data);
      writeSync(fd, trailer);
      closeSync(fd);
    };
    const lpkitSignMemory = () => createPkcs7(payload, creds);

    signFile();
    lpkitSign();
    const sig = join(dir, `${name}.p7s`);
    writeFileSync(sig, extractSignature(readFileSync(oursOut)).signature);
    const opensslVerify = tool("openssl", [
      "cms",
      "-verify",
      "-binary",
      "-inform",
      "DER",
      "-in",
      sig,
      "-content",
      input,
      "-certfile",
      crtFile,
      "-CAfile",
      crtFile,
      "-out",
      "/dev/null",
    ]); // deno-fmt-ignore
    const lpkitVerify = () => verifyPayload(readFileSync(oursOut), trust);
    const signed = readFileSync(theirsOut);
    const lpkitVerifyMemory = () => verifyPayload(signed, trust);

    const t = {
      signFile: [] as number[],
      lpkitSign: [] as number[],
      lpkitSignMemory: [] as number[],
      opensslVerify: [] as number[],
      lpkitVerify: [] as number[],
      lpkitVerifyMemory: [] as number[],
    };
    for (let r = 0; r < RUNS; r++) {
      // Interleaved, so that drifts in machine load hit every contender alike.
      t.signFile.push(time(signFile));
      t.lpkitSign.push(time(lpkitSign));
      t.lpkitSignMemory.push(time(lpkitSignMemory));
      t.opensslVerify.push(time(opensslVerify));
      t.lpkitVerify.push(time(lpkitVerify));
      t.lpkitVerifyMemory.push(time(lpkitVerifyMemory));
    }
    const mibs = (ms: number) => (MIB / (ms / 1000)).toFixed(0);
    const row = (what: string, ms: number[], ref?: number[]) =>
      rows.push([
        `${label} sha256`,
        what,
        median(ms).toFixed(1),
        mibs(median(ms)),
        ref ? (median(ref) / median(ms)).toFixed(2) : "",
      ]);
    row("sign: sign-file", t.signFile);
    row("sign: lpkit (files)", t.lpkitSign, t.signFile);
    row("sign: lpkit (in memory)", t.lpkitSignMemory, t.signFile);
    row("verify: openssl cms -verify", t.opensslVerify);
    row("verify: lpkit (files)", t.lpkitVerify, t.opensslVerify);
    row("verify: lpkit (in memory)", t.lpkitVerifyMemory, t.opensslVerify);
  }

  console.log(`${MIB} MiB payload, ${RUNS} runs, medians; ratio = lpkit throughput / tool's`);
  const header = ["key", "operation", "ms", "MiB/s", "ratio"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
