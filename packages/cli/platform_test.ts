import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCertificate, parsePrivateKey, signingCredentials, signPayload } from "@lpkit/signer";
import { main, openAtomicWriter, openFileReader, processIo, writeFileAtomic } from "./mod.ts";

function withDir(fn: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "lpkit-platform-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

Deno.test("openFileReader() reads at any position, sized at opening", async (t) => {
  await t.step(
    "reads, short at the end, 0 past it",
    withDir((dir) => {
      const path = join(dir, "f");
      writeFileSync(path, new Uint8Array([1, 2, 3, 4, 5]));
      const r = openFileReader(path);
      try {
        assert.equal(r.size, 5);
        const buf = new Uint8Array(3);
        assert.equal(r.read(buf, 1), 3);
        assert.deepEqual([...buf], [2, 3, 4]);
        assert.equal(r.read(buf, 4), 1);
        assert.equal(buf[0], 5);
        assert.equal(r.read(buf, 5), 0);
      } finally {
        r.close();
      }
    }),
  );
  await t.step(
    "a missing file is ENOENT, a folder EISDIR",
    withDir((dir) => {
      assert.throws(() => openFileReader(join(dir, "nope")), { code: "ENOENT" });
      assert.throws(() => openFileReader(dir), { code: "EISDIR" });
    }),
  );
});

Deno.test("openAtomicWriter(): nothing visible before commit, nothing left after abort", async (t) => {
  const temporaries = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".tmp"));
  await t.step(
    "commit replaces the file at once",
    withDir((dir) => {
      const path = join(dir, "out");
      writeFileSync(path, "old");
      const w = openAtomicWriter(path);
      w.write(new TextEncoder().encode("new "));
      assert.equal(readFileSync(path, "utf8"), "old", "still the old bytes");
      assert.equal(temporaries(dir).length, 1);
      w.write(new TextEncoder().encode("bytes"));
      w.commit();
      assert.equal(readFileSync(path, "utf8"), "new bytes");
      assert.deepEqual(temporaries(dir), []);
      assert.throws(() => w.write(new Uint8Array(1)), /after commit or abort/);
    }),
  );
  await t.step(
    "abort keeps the old file and removes the temporary one",
    withDir((dir) => {
      const path = join(dir, "out");
      writeFileSync(path, "old");
      const w = openAtomicWriter(path);
      w.write(new Uint8Array(1000));
      w.abort();
      w.abort(); // twice is harmless (a failed write is followed by an abort)
      assert.equal(readFileSync(path, "utf8"), "old");
      assert.deepEqual(temporaries(dir), []);
    }),
  );
  await t.step(
    "a missing folder fails at opening; writeFileAtomic() is one write and a commit",
    withDir((dir) => {
      assert.throws(() => openAtomicWriter(join(dir, "no", "out")), { code: "ENOENT" });
      mkdirSync(join(dir, "sub"));
      writeFileAtomic(join(dir, "sub", "f"), new Uint8Array([7, 8]));
      assert.deepEqual([...readFileSync(join(dir, "sub", "f"))], [7, 8]);
      assert.deepEqual(temporaries(join(dir, "sub")), []);
    }),
  );
});

Deno.test(
  "lpkit sign on the real file system: in place, as sign-file, no temporary file left",
  withDir(async (dir) => {
    const testdata = new URL("../signer/testdata/", import.meta.url);
    const key = new URL("rsa2048.key", testdata).pathname;
    const crt = new URL("rsa2048.crt", testdata).pathname;
    const payload = new Uint8Array(2_500_000).map((_, i) => (i * 31) >>> 3);
    const file = join(dir, "p.livepatch");
    writeFileSync(file, payload);
    let stdout = "";
    const io = { ...processIo(), stdout: (s: string) => void (stdout += s) };
    assert.equal(await main(["sign", "--key", key, "--cert", crt, file], io), 0);
    const creds = signingCredentials(
      parsePrivateKey(readFileSync(key)),
      parseCertificate(readFileSync(crt)),
    );
    assert.deepEqual(new Uint8Array(readFileSync(file)), signPayload(payload, creds));
    assert.deepEqual(readdirSync(dir), ["p.livepatch"]);
    assert.match(stdout, /^signed .*p\.livepatch -> .*p\.livepatch: PKCS#7 signature\n/);
  }),
);
