// Property test of the whole command line, in process (so not named cli_*: those run
// again against the single binary): random argument vectors, built
// from every command, option and kind of value (good and bad files, folders,
// numbers, durations, symbols, names), run in process against a real state
// folder. Every run must end with exit code 0, 1 or 2 and never throw; a
// failure prints its reason on stderr without a stack trace; a --json run
// that prints a document prints valid JSON. The state evolves as the random
// commands change it (uploads, applies, resets, re-inits).
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { main, processIo } from "@lpkit/cli";
import { example, tempDir } from "./cli_run.ts";
import { prng, repoPath } from "./fixtures.ts";

const CASES = Number(Deno.env.get("LPKIT_FUZZ_CASES") ?? 1000);
const SEED = Number(Deno.env.get("LPKIT_FUZZ_SEED") ?? 0x5eed);
const XEN_SYMS = repoPath(".cache/xen/xen-syms-4.17-amd64");

// What each command takes: its options (name, and the kind of value when it takes one) and
// the kinds of its positional arguments. The generator mostly follows this, and sometimes
// adds a foreign option or word, so that both deep and shallow paths are exercised.
type Kind = "file" | "name" | "symbol" | "int" | "duration" | "path" | "any";
const HOST: [string, Kind?][] = [["--state", "path"], ["--json"]];
const ACTION: [string, Kind?][] = [...HOST, ["--timeout", "duration"], ["--wait", "duration"]];
const GRAMMAR: Record<string, { options: [string, Kind?][]; positionals: Kind[] }> = {
  "upload": { options: HOST, positionals: ["name", "file"] },
  "list": { options: HOST, positionals: [] },
  "apply": { options: [...ACTION, ["--nodeps"]], positionals: ["name"] },
  "revert": { options: ACTION, positionals: ["name"] },
  "replace": { options: ACTION, positionals: ["name"] },
  "unload": { options: ACTION, positionals: ["name"] },
  "load": { options: [...ACTION, ["--nodeps"]], positionals: ["file"] },
  "help": { options: [], positionals: ["any"] },
  "inspect": { options: [["--json"]], positionals: ["file"] },
  "check": {
    options: [["--xen-syms", "file"], ["--example"], ["--profile", "any"], ["--no-apply"], [
      "--xen-exact",
    ], ["--json"]],
    positionals: ["file", "file"],
  },
  "sign": {
    options: [
      ["--key", "file"],
      ["--cert", "file"],
      ["--hash", "any"],
      ["--keyid"],
      [
        "--include-cert",
      ],
      ["--detached"],
      ["--legacy"],
      ["-o", "path"],
      ["--json"],
    ],
    positionals: ["file"],
  },
  "verify": {
    options: [["--trust", "file"], ["--signature", "file"], ["--legacy"], ["--json"]],
    positionals: ["file"],
  },
  "extract": {
    options: [["--payload", "path"], ["--signature", "path"], ["--json"]],
    positionals: ["file"],
  },
  "disasm": {
    options: [...HOST, ["--count", "int"], ["--intel"], ["--image", "file"]],
    positionals: ["symbol"],
  },
  "call": {
    options: [
      ...HOST,
      ["--string"],
      ["--cpu", "int"],
      ["--budget", "int"],
      ["--keep"],
      [
        "--background",
      ],
      ["--image", "file"],
      ["--cpus", "int"],
    ],
    positionals: ["symbol", "int", "int"],
  },
  "cpus": { options: HOST, positionals: [] },
  "host init": {
    options: [
      ...HOST,
      ["--example"],
      ["--xen-syms", "file"],
      ["--cpus", "int"],
      [
        "--clock",
        "any",
      ],
      ["--profile", "any"],
      ["--vendor", "any"],
      ["--enforce-signatures"],
      ["--trust", "file"],
      [
        "--no-stack-check",
      ],
      ["--no-deny-list"],
      ["--no-branch-check"],
      ["--no-reach-check"],
      ["--xen-exact"],
    ],
    positionals: [],
  },
  "host status": { options: [...HOST, ["--console"]], positionals: [] },
  "host reset": { options: HOST, positionals: [] },
  "host run": { options: [...HOST, ["--for", "duration"]], positionals: [] },
};
const FOREIGN = ["--help", "-h", "--no-such-option", "--", "frobnicate", "-1", ""];

Deno.test("cli: random command lines end with 0, 1 or 2, one-line errors, valid JSON", async () => {
  const t = tempDir("lpkit-args-fuzz-");
  try {
    const keys = repoPath("packages/signer/testdata");
    const file = (name: string, bytes: Uint8Array | string) => {
      const path = join(t.dir, name);
      writeFileSync(path, bytes);
      return path;
    };
    const hello = join(t.dir, "hello.livepatch");
    copyFileSync(example("hello.livepatch"), hello);
    const folder = join(t.dir, "a-folder");
    mkdirSync(folder);
    const rand = prng(SEED);
    const junkBytes = new Uint8Array(512).map(() => Math.floor(rand() * 256));
    const files = [
      hello,
      example("bye.livepatch"),
      example("nop.livepatch"),
      example("v1.livepatch"),
      example("bad_truncated.livepatch"),
      example("minivisor"),
      file("junk.bin", junkBytes),
      file("empty.bin", ""),
      file("elf-head.bin", readFileSync(hello).subarray(0, 70)),
      folder,
      join(t.dir, "missing.livepatch"),
      `${keys}/rsa2048.key`,
      `${keys}/rsa2048.crt`,
      `${keys}/ecp256.key`,
      `${keys}/ecp256.crt`,
      keys,
      ...(existsSync(XEN_SYMS) ? [XEN_SYMS] : []),
    ];
    const states = [join(t.dir, "host"), join(t.dir, "other-host"), folder, hello];
    const pools: Record<Kind, string[]> = {
      file: files,
      path: [...states, join(t.dir, "out.bin"), join(t.dir, "new-folder"), folder, hello],
      name: ["hello", "bye", "nop", "v1", "x".repeat(127), "x".repeat(128), "", "é\u0000"],
      symbol: [
        "xen_extra_version",
        "xen_major_version",
        "do_nothing",
        "0xffff82d040200000",
        "0x0",
        "nosuch",
        "main",
        "-5",
      ],
      int: ["0", "1", "-1", "4", "65", "0x10", "1e3", "99999999999999999999", "x"],
      duration: ["10ms", "1us", "0", "-3ms", "5s", "1", "30ms"],
      any: [
        "sha256",
        "sha1",
        "md5",
        "xen-4.17",
        "xen-4.7",
        "extended",
        "amd",
        "intel",
        "2GHz",
        "100MHz",
        "0",
        "list",
        "host",
        "x",
      ],
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

    const state = states[0];
    // Relative paths (any word may become one) resolve inside the temporary folder, never in
    // the process's working directory.
    const base = processIo();
    const inDir = (path: string) => isAbsolute(path) ? path : join(t.dir, path);
    const confined = {
      ...base,
      readFile: (p: string) => base.readFile(inDir(p)),
      writeFile: (p: string, data: Uint8Array) => base.writeFile(inDir(p), data),
      openRead: (p: string) => base.openRead(inDir(p)),
      openWrite: (p: string) => base.openWrite(inDir(p)),
      readDir: (p: string) => base.readDir(inDir(p)),
      isDirectory: (p: string) => base.isDirectory(inDir(p)),
      stat: (p: string) => base.stat(inDir(p)),
      mkdir: (p: string) => base.mkdir(inDir(p)),
      remove: (p: string) => base.remove(inDir(p)),
      createExclusive: (p: string, data: Uint8Array) => base.createExclusive(inDir(p), data),
      renameNoReplace: (from: string, to: string) => base.renameNoReplace(inDir(from), inDir(to)),
      resolve: (p: string) => base.resolve(inDir(p)),
    };
    const run = async (args: string[]) => {
      const out = { stdout: "", stderr: "" };
      const io = {
        ...confined,
        stdout: (s: string) => void (out.stdout += s),
        stderr: (s: string) => void (out.stderr += s),
        env: (name: string) => (name === "LPKIT_STATE" ? state : undefined),
        isTerminal: false,
        stderrIsTerminal: false,
      };
      let code: number;
      try {
        code = await main(args, io);
      } catch (e) {
        assert.fail(`lpkit ${JSON.stringify(args)} threw: ${(e as Error).stack}`);
      }
      return { code, ...out };
    };
    assert.equal((await run(["host", "init", "--example", "--cpus", "2"])).code, 0);
    const signed = join(t.dir, "hello.signed");
    const sign = ["sign", "--key", `${keys}/rsa2048.key`, "--cert", `${keys}/rsa2048.crt`];
    assert.equal((await run([...sign, "-o", signed, hello])).code, 0);
    files.push(signed, signed, hello, hello);

    const codes = new Map<number, number>();
    for (let i = 0; i < CASES; i++) {
      const command = pick(Object.keys(GRAMMAR));
      const { options, positionals } = GRAMMAR[command];
      const args = command.split(" ");
      const value = (kind: Kind) => pick(rand() < 0.85 ? pools[kind] : pools.any);
      for (let n = Math.floor(rand() * 4); n > 0 && options.length > 0; n--) {
        const [option, kind] = pick(options);
        args.push(option);
        if (kind !== undefined && rand() < 0.95) args.push(value(kind));
      }
      const count = rand() < 0.8 ? positionals.length : Math.floor(rand() * 4);
      for (let p = 0; p < count; p++) args.push(value(positionals[p] ?? "any"));
      if (rand() < 0.08) args.splice(Math.floor(rand() * (args.length + 1)), 0, pick(FOREIGN));
      const r = await run(args);
      const what = `case ${i}: lpkit ${JSON.stringify(args)} -> ${r.code}\n${r.stderr}`;
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      assert.ok([0, 1, 2].includes(r.code), what);
      assert.doesNotMatch(r.stderr, /^\s+at .*:\d+:\d+\)?$/m, `no stack trace: ${what}`);
      // (check reports its findings on stdout and exits 1 when one is an error)
      if (r.code !== 0) assert.notEqual(r.stderr + r.stdout, "", `a failure says why: ${what}`);
      if (args.includes("--json") && !args.includes("--help") && !args.includes("-h")) {
        const doc = r.stdout.trim();
        if (doc.startsWith("{")) JSON.parse(doc); // throws on a broken document
      }
    }
    // The property must have met both outcomes to mean anything.
    assert.ok((codes.get(0) ?? 0) > 0 && (codes.get(1) ?? 0) > 0, JSON.stringify([...codes]));
  } finally {
    t.remove();
  }
});
