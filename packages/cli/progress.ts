/**
 * A one-line progress indicator for long emulation runs (replaying a long
 * history, waiting for a rendezvous): on standard error, on terminals only,
 * shown after a quarter second and redrawn at most ten times a second, and
 * erased when done. Off a terminal it prints nothing.
 *
 * @module
 */
import type { Io } from "./platform.ts";

/** Receives progress; {@linkcode progress} makes one for an Io. */
export interface Progress {
  /** The current step, e.g. `replaying the host's history: 12/40`. */
  update(text: string): void;
  /** Erases the line. */
  done(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * The progress indicator for `io`, or a silent one off a terminal.
 *
 * @example
 * ```ts
 * import { progress } from "@lpkit/cli";
 * let err = "";
 * const p = progress({ stderr: (s: string) => void (err += s), stderrIsTerminal: false, now: () => 0 });
 * p.update("working");
 * p.done();
 * console.assert(err === "");
 * ```
 */
export function progress(io: Pick<Io, "stderr" | "stderrIsTerminal" | "now">): Progress {
  const now = io.now;
  if (io.stderrIsTerminal !== true || now === undefined) return { update() {}, done() {} };
  const start = now();
  let last = 0;
  let frame = 0;
  let shown = false;
  return {
    update(text) {
      const t = now();
      if (t - start < 250 || t - last < 100) return;
      last = t;
      shown = true;
      io.stderr(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${text}`);
    },
    done() {
      if (shown) io.stderr("\r\x1b[2K");
      shown = false;
    },
  };
}
