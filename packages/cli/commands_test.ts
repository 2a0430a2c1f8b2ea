import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { XEN_LIVEPATCH_NAME_SIZE } from "@lpkit/livepatch-core";
import { memoryIo } from "./_testing.ts";
import { COMMANDS, main } from "./mod.ts";

Deno.test("every registered command loads, under its own name, with its usage", async () => {
  assert.equal(new Set(COMMANDS.map((c) => c.name)).size, COMMANDS.length, "names are unique");
  for (const entry of COMMANDS) {
    const command = await entry.load();
    assert.equal(command.name, entry.name);
    assert.ok(
      command.usage.startsWith(`Usage: lpkit ${entry.name}`),
      `${entry.name}: ${command.usage.split("\n")[0]}`,
    );
    assert.ok(entry.synopsis.startsWith(entry.name), entry.synopsis);
    assert.ok(command.usage.includes("Example"), `${entry.name} has examples`);
  }
});

Deno.test("help names Xen's own limit for payload names", async () => {
  const { io, out } = memoryIo();
  assert.equal(await main(["help"], io), 0);
  assert.ok(out.stdout.includes(` Up to ${XEN_LIVEPATCH_NAME_SIZE} characters.\n`), out.stdout);
});

/** The modules `path` loads before running anything: its import graph without dynamic imports. */
function staticGraph(path: string): string[] {
  const file = fileURLToPath(new URL(path, import.meta.url));
  const r = spawnSync(Deno.execPath(), ["info", "--json", file], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as {
    roots: string[];
    redirects: Record<string, string>;
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    const s = info.redirects[specifier] ?? specifier;
    if (seen.has(s)) return;
    seen.add(s);
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      if (d.code !== undefined && d.isDynamic !== true) visit(d.code.specifier);
    }
  };
  info.roots.forEach(visit);
  return [...seen];
}

const HOST = /\/packages\/(livepatch-core|x86-emu)\/|iced-x86/;

Deno.test("the executable loads only the command that runs", async (t) => {
  await t.step("lpkit itself (help, dispatch): no package, no npm module", () => {
    const graph = staticGraph("./main.ts");
    assert.ok(graph.some((s) => s.endsWith("/packages/cli/commands.ts")), "the registry");
    assert.deepEqual(graph.filter((s) => /\/packages\/(?!cli\/)|^npm:/.test(s)), []);
  });
  for (const name of ["sign", "verify", "extract"]) {
    await t.step(`${name}: the signer, not the ELF reader, the host or its emulator`, () => {
      const graph = staticGraph(`./commands/${name}.ts`);
      assert.ok(graph.some((s) => s.endsWith("/packages/signer/mod.ts")));
      assert.deepEqual(graph.filter((s) => HOST.test(s) || /\/packages\/elf\//.test(s)), []);
    });
  }
});
