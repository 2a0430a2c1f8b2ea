// Shared helpers of the signer's tests: test keys, payloads, and the
// reference tools (sign-file, openssl), which are optional on a developer
// machine (tests ignored) and required in CI (CI=true: tests fail).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Certificate, parseCertificate } from "./certificate.ts";
import { parsePrivateKey, type SigningCredentials, signingCredentials } from "./keys.ts";
import { SignatureError, type SignatureErrorCode } from "./errors.ts";
import { prng } from "../../tests/fixtures.ts";

export { prng };

/** Path of a file in packages/signer/testdata. */
export function testdata(name: string): string {
  return fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));
}

/** A test certificate by base name (`rsa2048`, `ecp256`...). */
export function cert(name: string): Certificate {
  return parseCertificate(readFileSync(testdata(`${name}.crt`)));
}

/** Key and certificate of a test signer. */
export function creds(name: string): SigningCredentials {
  return signingCredentials(parsePrivateKey(readFileSync(testdata(`${name}.key`))), cert(name));
}

/** A deterministic payload that starts like an ELF file. */
export function payload(size: number, seed = 1): Uint8Array {
  const rnd = prng(seed);
  const out = new Uint8Array(size).map(() => Math.floor(rnd() * 256));
  out.set([0x7f, 0x45, 0x4c, 0x46].slice(0, size));
  return out;
}

/** A copy with one byte XORed. */
export function flip(bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  const out = bytes.slice();
  out[at] ^= mask;
  return out;
}

/** Asserts that `fn` throws a SignatureError with this code; returns it. */
export function expectCode(fn: () => unknown, code: SignatureErrorCode): SignatureError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SignatureError && e.code === code) return e;
    throw new Error(
      `expected SignatureError ${code}, got ${e instanceof SignatureError ? e.code : e}`,
      {
        cause: e,
      },
    );
  }
  throw new Error(`expected SignatureError ${code}, but nothing was thrown`);
}

/** Where Debian's linux-kbuild-6.1 installs sign-file. */
export const SIGN_FILE = "/usr/lib/linux-kbuild-6.1/scripts/sign-file";

/** True in CI, where the reference tools must be installed. */
export const inCI: boolean = Deno.env.get("CI") === "true";

function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$0"', command], { stdio: "ignore" }).status === 0;
}

/** Whether openssl and sign-file are both available. */
export const haveTools: boolean = onPath("openssl") && existsSync(SIGN_FILE);

/** `ignore` for tests needing the tools: only outside CI, and only when they are missing. */
export const ignoreWithoutTools: boolean = !inCI && !haveTools;

/** Fails (in CI) when the tools are missing; call first in tests that need them. */
export function requireTools(): void {
  if (!haveTools) {
    throw new Error(
      `openssl and ${SIGN_FILE} are required (apt-get install -y linux-kbuild-6.1 openssl)`,
    );
  }
}

/** Result of {@linkcode run}. */
export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and returns its exit status and output. */
export function run(command: string, args: string[]): RunResult {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed. */
export function runOk(command: string, args: string[]): string {
  const r = run(command, args);
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${r.status}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * A test body that needs the reference tools and a temporary folder (removed afterwards);
 * `prefix` names the folder after the test file.
 */
export function withToolsAndTemp(prefix: string, fn: (dir: string) => void): () => void {
  return () => {
    requireTools();
    const dir = Deno.makeTempDirSync({ prefix });
    try {
      fn(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/**
 * Whether `openssl cms -verify -binary -inform DER -in P7 -content PAYLOAD -CAfile CA [extra...]`
 * accepts the detached signature (and then also says "Verification successful").
 */
export function opensslCmsVerify(
  p7: string,
  content: string,
  caFile: string,
  extra: string[] = [],
): boolean {
  const r = run("openssl", [
    "cms",
    "-verify",
    "-binary",
    "-inform",
    "DER",
    "-in",
    p7,
    "-content",
    content,
    "-CAfile",
    caFile,
    ...extra,
    "-out",
    "/dev/null",
  ]);
  if (r.status === 0 && !/Verification successful/.test(r.stderr)) {
    throw new Error(`openssl cms -verify exited 0 without "Verification successful": ${r.stderr}`);
  }
  return r.status === 0;
}
