// The committed examples are exactly what their sources build to: examples/build.sh
// --check rebuilds everything with gcc and binutils in a temporary folder and
// compares every file and the manifest byte for byte.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { ignoreWithout, ignoreWithoutXenSyms, repoPath } from "./fixtures.ts";

Deno.test({
  name: "examples: the committed binaries rebuild byte for byte from source",
  ignore: ignoreWithout("gcc", "ld", "objcopy", "readelf"),
  fn: () => {
    const r = spawnSync("bash", [repoPath("examples/build.sh"), "--check"], {
      encoding: "utf8",
      env: { ...process.env, DENO: Deno.execPath() },
    });
    assert.equal(r.status, 0, `build.sh --check failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /up to date/);
  },
});

Deno.test({
  name: "examples/xen: the committed xen-syms payloads rebuild byte for byte",
  ignore: ignoreWithout("gcc", "ld", "objcopy", "readelf") || ignoreWithoutXenSyms,
  fn: () => {
    const r = spawnSync("bash", [repoPath("examples/xen/build.sh"), "--check"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, `examples/xen/build.sh --check failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /bin\/ matches its sources/);
  },
});
