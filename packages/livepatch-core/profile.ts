/**
 * Named behaviour profiles: which Xen the simulated host behaves like.
 * "xen-4.17" (the default) is Debian's 4.17.7; "xen-4.7" is the seed's design
 * (v1 funcs, reference §9); "extended" is 4.17 plus what the seed left as TODO.
 *
 * @module
 */
import { R_X86_64 } from "@lpkit/elf";

/** Profile names. */
export type ProfileName = "xen-4.17" | "xen-4.7" | "extended";

/** What differs between the Xen versions lpkit can reproduce. */
export interface Profile {
  /** The profile's name. */
  readonly name: ProfileName;
  /** `struct livepatch_func` versions accepted at upload. */
  readonly funcVersions: readonly (1 | 2)[];
  /** `.livepatch.xen_depends` is mandatory and checked against the image (4.14+). */
  readonly xenDepends: boolean;
  /** `.livepatch.funcs` may be absent when hooks exist (4.14+); else it is mandatory. */
  readonly funcsOptional: boolean;
  /** Hook sections are interpreted (load/unload 4.8+, pre/post/action 4.14+). */
  readonly hooks: boolean;
  /** `new_addr == 0` means NOP-out (4.8+); 4.7 rejects it. */
  readonly nopMode: boolean;
  /** The ±2 GiB distance check (4.8+). */
  readonly distanceCheck: boolean;
  /** The jump goes after an ENDBR64 at the function start (CET-IBT, 4.16+). */
  readonly endbrAware: boolean;
  /** `.modinfo` metadata is read (4.14+). */
  readonly modinfo: boolean;
  /** Relocation types applied; others fail with -EOPNOTSUPP. */
  readonly relocationTypes: ReadonlySet<number>;
}

const BASE_RELOCATIONS = [R_X86_64.NONE, R_X86_64["64"], R_X86_64.PC32, R_X86_64.PLT32];
// The seed's "TODO" list in arch_livepatch_perform_rela.
const TODO_RELOCATIONS = [
  R_X86_64["8"],
  R_X86_64["16"],
  R_X86_64["32"],
  R_X86_64["32S"],
  R_X86_64.PC8,
  R_X86_64.PC16,
  R_X86_64.PC64,
];

/** The built-in profiles. */
export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  "xen-4.17": {
    name: "xen-4.17",
    funcVersions: [2],
    xenDepends: true,
    funcsOptional: true,
    hooks: true,
    nopMode: true,
    distanceCheck: true,
    endbrAware: true,
    modinfo: true,
    relocationTypes: new Set(BASE_RELOCATIONS),
  },
  "xen-4.7": {
    name: "xen-4.7",
    funcVersions: [1],
    xenDepends: false,
    funcsOptional: false,
    hooks: false,
    nopMode: false,
    distanceCheck: false,
    endbrAware: false,
    modinfo: false,
    // PLT32 is kept: every gcc since binutils 2.31 emits it for calls.
    relocationTypes: new Set([...BASE_RELOCATIONS, ...TODO_RELOCATIONS]),
  },
  extended: {
    name: "extended",
    funcVersions: [1, 2],
    xenDepends: true,
    funcsOptional: true,
    hooks: true,
    nopMode: true,
    distanceCheck: true,
    endbrAware: true,
    modinfo: true,
    relocationTypes: new Set([...BASE_RELOCATIONS, ...TODO_RELOCATIONS]),
  },
};

/**
 * Looks a profile up by name.
 *
 * @example
 * ```ts
 * import { profile } from "@lpkit/livepatch-core";
 * import assert from "node:assert/strict";
 * assert.deepEqual(profile("xen-4.7").funcVersions, [1]);
 * ```
 */
export function profile(name: string): Profile {
  const p = (PROFILES as Record<string, Profile>)[name];
  if (p === undefined) {
    throw new TypeError(
      `Unknown profile "${name}": use one of ${Object.keys(PROFILES).join(", ")}`,
    );
  }
  return p;
}
