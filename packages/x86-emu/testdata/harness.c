/*
 * Native side of the differential tests: maps kernels.bin at its link address and a scratch
 * buffer at SCRATCH, then for each stdin line "fn a0 a1 a2 a3 a4 a5 len hex" (hex numbers) loads
 * the scratch with `len` bytes, calls base+fn(a0..a5) and prints "rax hex(scratch[0..len])".
 * Usage: harness kernels.bin <base-hex> <map-size-hex>
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SCRATCH 0x20000000ul
#define SCRATCH_SIZE 0x10000ul

typedef uint64_t (*fn6)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 3;
  uint64_t base = strtoull(argv[2], 0, 16), size = strtoull(argv[3], 0, 16);
  uint8_t *blob = mmap((void *)base, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint8_t *scratch = mmap((void *)SCRATCH, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (blob != (void *)base || scratch != (void *)SCRATCH) return 4;
  size_t n = fread(blob, 1, size, f);
  (void)n;
  fclose(f);
  char *line = 0;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    char *p = line;
    uint64_t v[8];
    for (int i = 0; i < 8; i++) v[i] = strtoull(p, &p, 16);
    while (*p == ' ') p++;
    uint64_t len = v[7];
    if (len > SCRATCH_SIZE) return 5;
    for (uint64_t i = 0; i < len; i++) scratch[i] = hexval(p[2 * i]) << 4 | hexval(p[2 * i + 1]);
    uint64_t r = ((fn6)(base + v[0]))(v[1], v[2], v[3], v[4], v[5], v[6]);
    printf("%llx ", (unsigned long long)r);
    for (uint64_t i = 0; i < len; i++) printf("%02x", scratch[i]);
    putchar('\n');
  }
  return 0;
}
