/**
 * Test helpers of the CLI package.
 *
 * @module
 */

/** A deterministic xorshift generator of numbers in [0, 1), so that a failing property reproduces. */
export function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
