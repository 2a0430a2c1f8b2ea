// Signing and verification throughput of @lpkit/signer against the reference
// tools on one large payload, side by side in one run: sign-file
// (linux-kbuild-6.1) for signing and `openssl cms -verify` for verification.
// Medians of several runs; ratio = lpkit's throughput / the tool's.
//
//   deno task bench signer            (or: deno run -A bench/signer_bench.ts [MiB] [runs])
//
// Rows:
// - "files": the library on files, as the tools work: signPayloadFile()
//   (streams, writes through a temporary file with fsync, renames) and
//   verifyPayloadFile() (streams). The tools pay a process start (~2 ms).
// - "lpkit CLI": `lpkit sign|verify` as a process: `deno run
//   packages/cli/main.ts`, and the single binaries when built (dist/lpkit, the
//   Node SEA of `deno task compile`; dist/lpkit-bun, `deno task compile --bun
//   --out dist/lpkit-bun`). The CLI streams the file in 1 MiB chunks like the
//   library and loads only the signer, so the difference to "files" is the
//   runtime's start-up and module loading: the last table measures that floor
//   (an empty script; `lpkit help`; `lpkit sign|verify --help`, which load the
//   command's modules and do nothing).
// - "in memory": createPkcs7()/verifyPayload() on bytes already in memory.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  createPkcs7,
  parseCertificate,
  parsePrivateKey,
  signingCredentials,
  type SigningHash,
  signPayloadFile,
  TrustStore,
  verifyPayload,
  verifyPayloadFile,
} from "@lpkit/signer";
import { available, markdownTable, median, timeCommand, timeFunction } from "./_timing.ts";

const SIGN_FILE = "/usr/lib/linux-kbuild-6.1/scripts/sign-file";
const MIB = Number(process.argv[2] ?? 100);
const RUNS = Number(process.argv[3] ?? 5);
const root = fileURLToPath(new URL("..", import.meta.url));
const testdata = (f: string) => join(root, "packages/signer/testdata", f);

if (!available("openssl") || spawnSync(SIGN_FILE, []).error !== undefined) {
  console.error(`needs openssl and ${SIGN_FILE} (apt-get install -y linux-kbuild-6.1 openssl)`);
  process.exit(2);
}

/** The CLI's runners: deno run, and the single binaries that are built. */
const runners: [string, string, string[]][] = [
  ["deno run", process.execPath, ["run", "-A", "--quiet", join(root, "packages/cli/main.ts")]],
  ...([["Node SEA", join(root, "dist/lpkit")], ["Bun", join(root, "dist/lpkit-bun")]] as const)
    .filter(([, path]) => existsSync(path))
    .map(([name, path]): [string, string, string[]] => [name, path, []]),
];

const dir = mkdtempSync(join(tmpdir(), "lpkit-signer-bench-"));
try {
  // A pseudo-random payload (incompressible, so nothing is special-cased).
  const size = MIB * 1024 * 1024;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(payload.subarray(i, i + 65536));
  const input = join(dir, "payload.elf");
  writeFileSync(input, payload);

  const rows: string[][] = [];
  const configs: [string, string, SigningHash][] = [
    ["rsa2048", "RSA-2048", "sha256"],
    ["rsa4096", "RSA-4096", "sha512"],
    ["ecp256", "P-256", "sha256"],
  ];
  for (const [name, label, hash] of configs) {
    const keyFile = testdata(`${name}.key`), crtFile = testdata(`${name}.crt`);
    const cert = parseCertificate(readFileSync(crtFile));
    const creds = signingCredentials(parsePrivateKey(readFileSync(keyFile)), cert);
    const trust = new TrustStore([cert]);
    const theirs = join(dir, `${name}.sign-file`), ours = join(dir, `${name}.lpkit`);
    const cliOut = join(dir, `${name}.cli`);

    // sign-file writes the signed copy; its PKCS#7 and the payload feed openssl.
    const signFileArgs = [hash, keyFile, crtFile, input, theirs];
    spawnSync(SIGN_FILE, signFileArgs);
    const p7s = join(dir, `${name}.p7s`);
    writeFileSync(p7s, createPkcs7(payload, creds, { hash }));
    // deno-fmt-ignore
    const opensslArgs = ["cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", input,
      "-certfile", crtFile, "-CAfile", crtFile, "-out", "/dev/null"];
    const signed = new Uint8Array(readFileSync(theirs));
    const signArgs = ["sign", "--key", keyFile, "--cert", crtFile, "--hash", hash, "-o", cliOut];
    const cliTimes = (args: string[]) =>
      runners.map(([runner, cmd, pre]) =>
        [runner, timeCommand(cmd, [...pre, ...args], RUNS)] as const
      );

    const signFile = timeCommand(SIGN_FILE, signFileArgs, RUNS);
    const sign = timeFunction(() => signPayloadFile(input, ours, creds, { hash }), RUNS, 1);
    const signCli = cliTimes([...signArgs, input]);
    const signMemory = timeFunction(() => createPkcs7(payload, creds, { hash }), RUNS, 1);
    const openssl = timeCommand("openssl", opensslArgs, RUNS);
    const verify = timeFunction(() => verifyPayloadFile(theirs, trust), RUNS, 1);
    const verifyCli = cliTimes(["verify", "--trust", crtFile, theirs]);
    const verifyMemory = timeFunction(() => verifyPayload(signed, trust), RUNS, 1);

    const mibs = (ms: number) => (MIB / (ms / 1000)).toFixed(0);
    const row = (what: string, ms: number[], ref?: number[]) =>
      rows.push([
        `${label} ${hash}`,
        what,
        median(ms).toFixed(1),
        mibs(median(ms)),
        ref ? (median(ref) / median(ms)).toFixed(2) : "",
      ]);
    row("sign: sign-file", signFile);
    row("sign: lpkit, files", sign, signFile);
    for (const [runner, ms] of signCli) row(`sign: lpkit CLI process (${runner})`, ms, signFile);
    row("sign: lpkit, in memory", signMemory, signFile);
    row("verify: openssl cms -verify", openssl);
    row("verify: lpkit, files", verify, openssl);
    for (const [runner, ms] of verifyCli) {
      row(`verify: lpkit CLI process (${runner})`, ms, openssl);
    }
    row("verify: lpkit, in memory", verifyMemory, openssl);
  }

  // The floor under the CLI rows: starting the runtime and loading the modules, no work.
  const empty = join(dir, "empty.ts");
  writeFileSync(empty, "");
  const floor: string[][] = [];
  const floorRow = (what: string, runner: string, cmd: string, args: string[]) =>
    floor.push([what, runner, median(timeCommand(cmd, args, RUNS)).toFixed(1)]);
  floorRow("an empty script", "deno run", process.execPath, ["run", "-A", "--quiet", empty]);
  for (const [runner, cmd, pre] of runners) {
    floorRow("lpkit help (no package loaded)", runner, cmd, [...pre, "help"]);
    floorRow("lpkit sign --help (the signer loaded)", runner, cmd, [...pre, "sign", "--help"]);
    floorRow("lpkit verify --help (the signer loaded)", runner, cmd, [...pre, "verify", "--help"]);
  }
  floorRow("openssl version", "C", "openssl", ["version"]);

  console.log(
    `${MIB} MiB payload, ${RUNS} runs each, medians; ratio = lpkit throughput / tool's\n`,
  );
  console.log(markdownTable(["key", "operation", "ms", "MiB/s", "ratio"], rows));
  console.log(`\nStart-up floor, no work (median ms of ${RUNS} runs):\n`);
  console.log(markdownTable(["process", "runner", "ms"], floor));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
