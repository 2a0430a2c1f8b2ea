/*
 * Native side of bench/emu_bench.ts: maps kernels.bin at its link address and a scratch buffer,
 * then calls k_bench(rounds, scratch, seed) `runs` times, printing "ns rax" for each run. Built
 * static so qemu-x86_64 runs the same binary.
 * Usage: bench_driver kernels.bin <base-hex> <map-size-hex> <k_bench-offset-hex> <rounds> <runs>
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define SCRATCH 0x20000000ul
#define SCRATCH_SIZE 0x10000ul

typedef uint64_t (*fn6)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 7) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 3;
  uint64_t base = strtoull(argv[2], 0, 16), size = strtoull(argv[3], 0, 16);
  uint64_t entry = strtoull(argv[4], 0, 16), rounds = strtoull(argv[5], 0, 10);
  int runs = atoi(argv[6]);
  uint8_t *blob = mmap((void *)base, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint8_t *scratch = mmap((void *)SCRATCH, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (blob != (void *)base || scratch != (void *)SCRATCH) return 4;
  if (fread(blob, 1, size, f) == 0) return 5;
  fclose(f);
  fn6 bench = (fn6)(base + entry);
  for (int r = 0; r < runs; r++) {
    uint64_t t0 = now_ns();
    uint64_t rax = bench(rounds, SCRATCH, 42, 0, 0, 0);
    uint64_t t1 = now_ns();
    printf("%llu %llx\n", (unsigned long long)(t1 - t0), (unsigned long long)rax);
  }
  return 0;
}
