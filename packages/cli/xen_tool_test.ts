import assert from "node:assert/strict";
import { listTable, metadataText, stateName } from "./mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("listTable() prints xen-livepatch's table", async (t) => {
  await t.step("nothing", () => assert.equal(listTable([]), "Nothing to list\n"));
  await t.step("names in 40 columns, rc as (errno, strerror), metadata joined with ;", () => {
    const table = listTable([
      { name: "xen_hello_world", status: { state: 1, rc: 0 }, metadata: enc("LIVEPATCH_RULEZ\0") },
      { name: "foo", status: { state: 2, rc: -22 }, metadata: new Uint8Array() },
      { name: "p", status: { state: 1, rc: -11 }, metadata: enc("a=1\0b=2\0") },
      { name: "x".repeat(45), status: { state: 7, rc: 0 }, metadata: enc("m\0") },
    ]);
    assert.equal(
      table,
      " ID                                     | status     | metadata\n" +
        "----------------------------------------+------------+---------------\n" +
        "xen_hello_world                         | CHECKED    | LIVEPATCH_RULEZ\n" +
        "foo                                     | APPLIED (22, Invalid argument)    | \n" +
        "p                                       | CHECKED (11, Resource temporarily unavailable)    | a=1;b=2\n" +
        `${"x".repeat(45)}| unknown    | m\n`,
    );
  });
});

Deno.test("metadataText() turns interior NULs into ; and drops the last one", () => {
  assert.equal(metadataText(enc("a\0b\0")), "a;b");
  assert.equal(metadataText(enc("a\0\0")), "a;");
  assert.equal(metadataText(enc("unterminated")), "unterminated");
  assert.equal(metadataText(new Uint8Array()), "");
  assert.deepEqual([1, 2, 3].map(stateName), ["CHECKED", "APPLIED", "unknown"]);
});
