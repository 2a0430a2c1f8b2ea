/**
 * The live-patch core: reading payloads, and a simulated Xen host that loads
 * and applies them with Xen 4.17's checks and errnos.
 *
 * @example Reading a payload's funcs
 * ```ts
 * import { parseElf } from "@lpkit/elf";
 * import { describePayload } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const { funcs } = describePayload(parseElf(readFileSync("examples/bin/hello.livepatch")));
 * assert.equal(funcs[0].newTarget?.kind, "defined");
 * ```
 *
 * @module
 */
export * from "./alternatives.ts";
export * from "./apply.ts";
export * from "./boot.ts";
export * from "./check.ts";
export * from "./client.ts";
export * from "./cpus.ts";
export * from "./diagnostics.ts";
export * from "./errno.ts";
export * from "./funcs.ts";
export * from "./host.ts";
export * from "./hypervisor.ts";
export * from "./patch.ts";
export * from "./payload.ts";
export * from "./placement.ts";
export * from "./prepare.ts";
export * from "./profile.ts";
export * from "./relocate.ts";
export * from "./rendezvous.ts";
export * from "./safety.ts";
export * from "./sysctl.ts";
export * from "./traps.ts";
export * from "./upload.ts";
export * from "./xen_elf.ts";
