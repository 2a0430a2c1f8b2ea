/**
 * Deterministic, seedable interleaving of CPUs.
 *
 * @module
 */

/**
 * A small seeded PRNG (mulberry32): same seed, same sequence, on every runtime.
 *
 * @example
 * ```ts
 * import { Prng } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const a = new Prng(42), b = new Prng(42);
 * assert.equal(a.next(), b.next());
 * ```
 */
export class Prng {
  #s: number;

  /**
   * A generator seeded with `seed`.
   *
   * @param seed Any 32-bit integer.
   */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** Next value in [0, 2^32). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }
}

/** Options of {@linkcode Scheduler}. */
export interface SchedulerOptions {
  /** Seed (default 1). */
  seed?: number;
  /** Maximum instructions per slice (default 1000). */
  quantum?: number;
  /** Randomise slice lengths in [1, quantum] (default true); false gives round-robin. */
  jitter?: boolean;
}

/**
 * Picks which CPU runs next and for how long.
 *
 * @example
 * ```ts
 * import { Scheduler } from "@lpkit/x86-emu";
 * import assert from "node:assert/strict";
 * const s = new Scheduler({ seed: 7, quantum: 100 });
 * const t = new Scheduler({ seed: 7, quantum: 100 });
 * const pick = s.pick([0, 1, 2]);
 * assert.deepEqual(pick, t.pick([0, 1, 2]));
 * assert.ok(pick.quantum >= 1 && pick.quantum <= 100);
 * ```
 */
export class Scheduler {
  readonly #rng: Prng;
  /** Maximum slice length. */
  readonly quantum: number;
  readonly #jitter: boolean;
  #rr = 0;

  /**
   * A scheduler with the given seed and quantum.
   *
   * @param options Seed, quantum, jitter.
   */
  constructor(options: SchedulerOptions = {}) {
    this.#rng = new Prng(options.seed ?? 1);
    this.quantum = options.quantum ?? 1000;
    this.#jitter = options.jitter ?? true;
  }

  /**
   * Choose among runnable CPU indices.
   *
   * @param runnable Non-empty list of CPU indices.
   */
  pick(runnable: readonly number[]): { cpu: number; quantum: number } {
    if (!this.#jitter) {
      const cpu = runnable[this.#rr++ % runnable.length]!;
      return { cpu, quantum: this.quantum };
    }
    const cpu = runnable[this.#rng.below(runnable.length)]!;
    return { cpu, quantum: 1 + this.#rng.below(this.quantum) };
  }
}
