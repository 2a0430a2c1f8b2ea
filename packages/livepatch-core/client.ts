/**
 * A typed facade over a host's sysctl, in the spirit of libxenctrl's
 * `xc_livepatch_*`: each operation either succeeds or throws a
 * {@linkcode LivepatchError} carrying the errno name and number and the
 * message Xen would print; actions can wait for the rendezvous to finish.
 *
 * @module
 */
import { ERRNO, type ErrnoName, errnoName, LivepatchError, strerror } from "./errno.ts";
import type { Host } from "./host.ts";
import {
  type ListEntry,
  LIVEPATCH_ACTION,
  LIVEPATCH_ACTION_APPLY_NODEPS,
  LIVEPATCH_LIST_MAX,
  LIVEPATCH_OP,
  type LivepatchStatus,
  nameArg,
  XEN_LIVEPATCH_NAME_SIZE,
} from "./sysctl.ts";

/** Options of an action. */
export interface ActionOptions {
  /** Timeout in nanoseconds (0 or absent: Xen's 30 ms default). */
  readonly timeoutNs?: number;
  /** APPLY only: skip the build-id dependency check (`--nodeps`). */
  readonly nodeps?: boolean;
  /**
   * Run the host until the action completed (default true) and throw when
   * it failed. With false, return right after the sysctl (rc is -EAGAIN).
   */
  readonly wait?: boolean;
  /** How long to let the host run when waiting (simulated ns, default 1 s). */
  readonly waitNs?: number;
}

function errorOf(host: Host, ret: number, fallback: string): LivepatchError {
  const e = host.lastError;
  if (e !== undefined && e.errno === ret) return e;
  const name = errnoName(ret) as ErrnoName;
  return new LivepatchError(
    name in ERRNO ? name : "EINVAL",
    "SYSCTL",
    `${fallback}: ${strerror(ret)}`,
  );
}

/**
 * The control domain's view of a host's live-patch interface.
 *
 * @example
 * ```ts
 * import { Host, LivepatchClient } from "@lpkit/livepatch-core";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const host = new Host(readFileSync("examples/bin/minivisor"), { cpus: 2 });
 * const lp = new LivepatchClient(host);
 * lp.upload("hello", readFileSync("examples/bin/hello.livepatch"));
 * lp.apply("hello");
 * assert.deepEqual(lp.get("hello"), { state: 2, rc: 0 });
 * ```
 */
export class LivepatchClient {
  readonly #host: Host;
  readonly #domid: number;

  /** @param host The host. @param options The calling domain (default 0). */
  constructor(host: Host, options: { domid?: number } = {}) {
    this.#host = host;
    this.#domid = options.domid ?? 0;
  }

  #name(name: string) {
    // libxenctrl: strlen(name) + 1 must fit in XEN_LIVEPATCH_NAME_SIZE.
    if (new TextEncoder().encode(name).length + 1 > XEN_LIVEPATCH_NAME_SIZE) {
      throw new LivepatchError(
        "EINVAL",
        "NAME",
        `name is longer than ${XEN_LIVEPATCH_NAME_SIZE - 1} bytes`,
      );
    }
    return nameArg(name);
  }

  /** UPLOAD. */
  upload(name: string, payload: Uint8Array): void {
    const r = this.#host.sysctl({
      domid: this.#domid,
      op: { cmd: LIVEPATCH_OP.UPLOAD, name: this.#name(name), payload },
    });
    if (r.ret !== 0) throw errorOf(this.#host, r.ret, `upload of ${name} failed`);
  }

  /** GET. */
  get(name: string): LivepatchStatus {
    const r = this.#host.sysctl({
      domid: this.#domid,
      op: { cmd: LIVEPATCH_OP.GET, name: this.#name(name) },
    });
    if (r.ret !== 0 || r.status === undefined) {
      throw errorOf(this.#host, r.ret, `cannot get ${name}`);
    }
    return r.status;
  }

  /**
   * LIST every payload, as `xc_livepatch_list` does: probe the count, then
   * fetch in batches, halving the batch on -E2BIG and starting over when
   * `version` changes.
   */
  list(): ListEntry[] {
    const probe = this.#host.sysctl({
      domid: this.#domid,
      op: { cmd: LIVEPATCH_OP.LIST, idx: 0, nr: 0 },
    });
    if (probe.ret !== 0 || probe.list === undefined) {
      throw errorOf(this.#host, probe.ret, "cannot list payloads");
    }
    const total = probe.list.nr;
    let version = probe.list.version;
    let out: ListEntry[] = [];
    let batch = LIVEPATCH_LIST_MAX;
    for (let retries = 0; out.length < total;) {
      const r = this.#host.sysctl({
        domid: this.#domid,
        op: { cmd: LIVEPATCH_OP.LIST, idx: out.length, nr: Math.min(batch, total - out.length) },
      });
      if (r.ret === -ERRNO.E2BIG && batch > 1) {
        batch >>= 1;
        continue;
      }
      if (r.ret < 0 || r.list === undefined) {
        throw errorOf(this.#host, r.ret, "cannot list payloads");
      }
      if (r.list.version !== version) {
        if (++retries > 4) throw new LivepatchError("EBUSY", "LIST", "payload list keeps changing");
        version = r.list.version;
        out = [];
        continue;
      }
      out.push(...r.list.entries);
      if (r.list.nr === 0) break;
    }
    return out;
  }

  /** ACTION with any command; returns the payload's status afterwards. */
  action(name: string, cmd: number, options: ActionOptions = {}): LivepatchStatus | undefined {
    const host = this.#host;
    const flags = options.nodeps ? LIVEPATCH_ACTION_APPLY_NODEPS : 0;
    const r = host.sysctl({
      domid: this.#domid,
      op: {
        cmd: LIVEPATCH_OP.ACTION,
        name: this.#name(name),
        action: cmd,
        timeout: options.timeoutNs,
        flags,
      },
    });
    if (r.ret !== 0) throw errorOf(host, r.ret, `action on ${name} failed`);
    if (cmd === LIVEPATCH_ACTION.UNLOAD) return undefined;
    if (options.wait === false) return this.get(name);
    host.settle(options.waitNs ?? 1e9);
    const status = this.get(name);
    if (status.rc < 0) {
      const why = host.payloads().find((p) => p.name === name)?.lastFailure;
      throw why !== undefined && why.errno === status.rc
        ? why
        : errorOf(host, status.rc, `action on ${name} failed`);
    }
    return status;
  }

  /** APPLY. */
  apply(name: string, options: ActionOptions = {}): LivepatchStatus | undefined {
    return this.action(name, LIVEPATCH_ACTION.APPLY, options);
  }

  /** REVERT. */
  revert(name: string, options: ActionOptions = {}): LivepatchStatus | undefined {
    return this.action(name, LIVEPATCH_ACTION.REVERT, options);
  }

  /** REPLACE. */
  replace(name: string, options: ActionOptions = {}): LivepatchStatus | undefined {
    return this.action(name, LIVEPATCH_ACTION.REPLACE, options);
  }

  /** UNLOAD. */
  unload(name: string): void {
    this.action(name, LIVEPATCH_ACTION.UNLOAD);
  }
}
