/*
 * Differential-test kernels for @lpkit/x86-emu. Built by build_fixtures.sh with Xen's code
 * generation options (no SSE, no red zone, retpolines, return thunks, endbr64), linked at a fixed
 * address and run both natively (harness.c) and in the emulator on the same random inputs.
 * Every kernel is pure: its result depends only on its arguments and the scratch buffer.
 */
#include <stdint.h>
#include <stddef.h>

typedef uint64_t u64;
typedef int64_t s64;
typedef uint32_t u32;
typedef int32_t s32;
typedef uint16_t u16;
typedef int16_t s16;
typedef uint8_t u8;
typedef int8_t s8;

#define K(name) __attribute__((noinline)) u64 name(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f)
#define NOINLINE __attribute__((noinline))

static inline u64 mix(u64 h, u64 v) { return (h ^ v) * 0x100000001b3ull + (h >> 29); }

K(k_arith8) {
  u8 x = a, y = b, z = c;
  s8 sx = a, sy = b;
  u64 h = 0;
  h = mix(h, (u8)(x + y));
  h = mix(h, (u8)(x - y));
  h = mix(h, (u8)(x * y));
  h = mix(h, (u8)(x & y) | (u8)(z ^ x));
  h = mix(h, sx < sy);
  h = mix(h, x < y);
  h = mix(h, (s8)(sx + sy) < 0);
  h = mix(h, (u8)(x << (z & 7)));
  h = mix(h, (u8)(x >> (z & 7)));
  h = mix(h, (u8)(sx >> (z & 7)));
  h = mix(h, (u8)(-x));
  h = mix(h, (s64)sx * sy);
  h = mix(h, __builtin_add_overflow(sx, sy, &sx));
  h = mix(h, __builtin_sub_overflow(x, y, &x));
  h = mix(h, __builtin_mul_overflow(sx, sy, &sy));
  return mix(h, (u64)sx << 32 | (u64)x << 16 | (u8)sy);
}

K(k_arith16) {
  u16 x = a, y = b, z = c;
  s16 sx = a, sy = b;
  u64 h = 1;
  h = mix(h, (u16)(x + y));
  h = mix(h, (u16)(x - y));
  h = mix(h, (u16)(x * y));
  h = mix(h, (u16)(x | y) ^ (u16)(z & x));
  h = mix(h, sx <= sy);
  h = mix(h, x >= y);
  h = mix(h, (u16)(x << (z & 15)));
  h = mix(h, (u16)(x >> (z & 15)));
  h = mix(h, (u16)(sx >> (z & 15)));
  h = mix(h, (u16)((x << (z & 15)) | (x >> ((16 - (z & 15)) & 15))));
  h = mix(h, __builtin_add_overflow(sx, sy, &sx));
  h = mix(h, __builtin_mul_overflow(x, y, &y));
  return mix(h, (u64)(u16)sx << 16 | y);
}

K(k_arith32) {
  u32 x = a, y = b, z = c;
  s32 sx = a, sy = b;
  u64 h = 2;
  h = mix(h, x + y);
  h = mix(h, x - y);
  h = mix(h, x * y);
  h = mix(h, (s64)sx * sy);
  h = mix(h, (u64)x * y);
  h = mix(h, x << (z & 31));
  h = mix(h, x >> (z & 31));
  h = mix(h, (u32)(sx >> (z & 31)));
  h = mix(h, (x << (z & 31)) | (x >> ((32 - (z & 31)) & 31)));
  h = mix(h, (x >> (z & 31)) | (x << ((32 - (z & 31)) & 31)));
  h = mix(h, sx < sy ? sx : sy);
  h = mix(h, x > y ? x : y);
  h = mix(h, sx < 0 ? -sx : sx);
  h = mix(h, ~x & (y | z));
  h = mix(h, __builtin_add_overflow(sx, sy, &sx));
  h = mix(h, __builtin_sub_overflow(x, y, &x));
  h = mix(h, __builtin_mul_overflow(sx, sy, &sy));
  h = mix(h, __builtin_bswap32(z));
  return mix(h, (u64)(u32)sx << 32 | x ^ (u32)sy);
}

K(k_arith64) {
  u64 x = a, y = b, z = c;
  s64 sx = a, sy = b;
  u64 h = 3;
  h = mix(h, x + y);
  h = mix(h, x - y);
  h = mix(h, x * y);
  h = mix(h, (u64)(((unsigned __int128)x * y) >> 64));
  h = mix(h, (u64)(((__int128)sx * sy) >> 64));
  h = mix(h, x << (z & 63));
  h = mix(h, x >> (z & 63));
  h = mix(h, (u64)(sx >> (z & 63)));
  h = mix(h, (x << (z & 63)) | (x >> ((64 - (z & 63)) & 63)));
  h = mix(h, (x >> (d & 63)) | (x << ((64 - (d & 63)) & 63)));
  h = mix(h, sx < sy ? (u64)sx : (u64)sy);
  h = mix(h, x > y ? x : y);
  h = mix(h, sx < 0 ? -(u64)sx : (u64)sx);
  h = mix(h, __builtin_add_overflow(sx, sy, &sx));
  h = mix(h, __builtin_sub_overflow(x, y, &x));
  h = mix(h, __builtin_mul_overflow(sx, sy, &sy));
  h = mix(h, __builtin_mul_overflow(y, z, &z));
  h = mix(h, __builtin_bswap64(d));
  unsigned __int128 s = (unsigned __int128)a << 64 | b;
  unsigned __int128 t = (unsigned __int128)c << 64 | d;
  h = mix(h, (u64)((s + t) >> 64));
  h = mix(h, (u64)((s - t) >> 64));
  h = mix(h, (u64)((s << (e & 127)) >> 64));
  h = mix(h, (u64)(s >> (e & 127)));
  return mix(h, x ^ (u64)sx ^ (u64)sy ^ z);
}

K(k_cond) {
  /* Every comparison, signed and unsigned, at four widths, through setcc/cmov/jcc. */
  u64 r = 0;
  int k = 0;
#define CMPS(T)                                                   \
  do {                                                            \
    T x = (T)a, y = (T)b;                                         \
    r |= (u64)(x < y) << k++;                                     \
    r |= (u64)(x <= y) << k++;                                    \
    r |= (u64)(x > y) << k++;                                     \
    r |= (u64)(x >= y) << k++;                                    \
    r |= (u64)(x == y) << k++;                                    \
    r |= (u64)(x != y) << k++;                                    \
    r |= (u64)((T)(x - y) < 0) << k++;                            \
  } while (0)
  CMPS(u8);
  CMPS(s8);
  CMPS(u16);
  CMPS(s16);
  CMPS(u32);
  CMPS(s32);
  CMPS(u64);
  CMPS(s64);
  r ^= (u64)__builtin_parityll(a ^ b) << 63;
  r ^= (u64)__builtin_parity((u32)c) << 62;
  return r;
}

K(k_div) {
  u64 h = 4;
  u64 y64 = b ? b : 1;
  h = mix(h, a / y64);
  h = mix(h, a % y64);
  s64 sx = (s64)a, sy = (s64)y64;
  if (!(sx == INT64_MIN && sy == -1)) {
    h = mix(h, (u64)(sx / sy));
    h = mix(h, (u64)(sx % sy));
  }
  u32 x32 = a, y32 = (u32)b ? (u32)b : 3;
  h = mix(h, x32 / y32);
  h = mix(h, x32 % y32);
  s32 sx32 = a, sy32 = (s32)y32;
  if (!(sx32 == INT32_MIN && sy32 == -1)) {
    h = mix(h, (u32)(sx32 / sy32));
    h = mix(h, (u32)(sx32 % sy32));
  }
  u16 x16 = a, y16 = (u16)c ? (u16)c : 7;
  h = mix(h, (u16)(x16 / y16) | (u32)(x16 % y16) << 16);
  s16 sx16 = a, sy16 = (s16)y16;
  h = mix(h, (u16)(sx16 / sy16) | (u32)(u16)(sx16 % sy16) << 16);
  u8 x8 = a, y8 = (u8)d ? (u8)d : 5;
  h = mix(h, (u8)(x8 / y8) | (u32)(x8 % y8) << 8);
  s8 sx8 = a, sy8 = (s8)y8;
  h = mix(h, (u8)(sx8 / sy8) | (u32)(u8)(sx8 % sy8) << 8);
  h = mix(h, a / 10);
  h = mix(h, (u64)((s64)a / 7));
  return h;
}

K(k_bits) {
  u64 h = 5;
  h = mix(h, a ? (u64)__builtin_ctzll(a) : 99);
  h = mix(h, a ? (u64)__builtin_clzll(a) : 99);
  h = mix(h, (u32)b ? (u64)__builtin_ctz((u32)b) : 77);
  h = mix(h, (u32)b ? (u64)__builtin_clz((u32)b) : 77);
  h = mix(h, (a >> (c & 63)) & 1);
  h = mix(h, a | (1ull << (c & 63)));
  h = mix(h, a & ~(1ull << (d & 63)));
  h = mix(h, a ^ (1ull << (e & 63)));
  h = mix(h, ((u32)b >> (c & 31)) & 1);
  u64 v = a;
  int n = 0;
  while (v) {
    v &= v - 1;
    n++;
  }
  h = mix(h, n);
  return h;
}

K(k_extend) {
  u64 h = 6;
  h = mix(h, (u64)(s64)(s8)a);
  h = mix(h, (u64)(s64)(s16)a);
  h = mix(h, (u64)(s64)(s32)a);
  h = mix(h, (u64)(u8)a);
  h = mix(h, (u64)(u16)a);
  h = mix(h, (u64)(u32)a);
  h = mix(h, (u32)(s32)(s8)b);
  h = mix(h, (u32)(s32)(s16)b);
  h = mix(h, (u16)(s16)(s8)b);
  return h;
}

/* Strings and memory on the scratch buffer. */
NOINLINE static size_t my_strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

NOINLINE static int my_memcmp(const u8 *x, const u8 *y, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

NOINLINE static int my_strcmp(const char *x, const char *y) {
  while (*x && *x == *y) x++, y++;
  return (u8)*x - (u8)*y;
}

/* a = scratch; b, c = offsets; d = length. */
K(k_string) {
  u8 *p = (u8 *)a;
  u64 h = 7;
  b &= 255, c &= 255, d &= 255;
  p[511] = 0;
  h = mix(h, my_strlen((char *)p + b));
  h = mix(h, (u64)(s64)my_memcmp(p + b, p + c, d));
  h = mix(h, (u64)(s64)my_strcmp((char *)p + b, (char *)p + c));
  for (u64 i = 0; i < d; i++) p[256 + i] = p[b + i] ^ (u8)e;
  for (u64 i = 0; i < (d >> 1); i++) ((u16 *)(p + 256))[i] += (u16)f;
  return h;
}

/* Inline-asm string instructions: rep movs/stos at every width, both directions, cmps/scas. */
K(k_repstr) {
  u8 *p = (u8 *)a;
  u64 n = b & 31, w = c & 3, dir = d & 1;
  u64 h = 8;
  u8 *src = p + 64, *dst = p + 256;
  u64 size = 1ull << w;
  if (dir) {
    src += (n - 1) * size * (n != 0);
    dst += (n - 1) * size * (n != 0);
    __asm__ volatile("std");
  }
  u64 cnt = n;
  void *s = src, *t = dst;
  switch (w) {
  case 0: __asm__ volatile("rep movsb" : "+S"(s), "+D"(t), "+c"(cnt) : : "memory"); break;
  case 1: __asm__ volatile("rep movsw" : "+S"(s), "+D"(t), "+c"(cnt) : : "memory"); break;
  case 2: __asm__ volatile("rep movsl" : "+S"(s), "+D"(t), "+c"(cnt) : : "memory"); break;
  default: __asm__ volatile("rep movsq" : "+S"(s), "+D"(t), "+c"(cnt) : : "memory"); break;
  }
  __asm__ volatile("cld");
  h = mix(h, (u64)((u8 *)s - p));
  h = mix(h, (u64)((u8 *)t - p));
  t = p + 400;
  cnt = n;
  u64 val = e;
  switch (w) {
  case 0: __asm__ volatile("rep stosb" : "+D"(t), "+c"(cnt) : "a"(val) : "memory"); break;
  case 1: __asm__ volatile("rep stosw" : "+D"(t), "+c"(cnt) : "a"(val) : "memory"); break;
  case 2: __asm__ volatile("rep stosl" : "+D"(t), "+c"(cnt) : "a"(val) : "memory"); break;
  default: __asm__ volatile("rep stosq" : "+D"(t), "+c"(cnt) : "a"(val) : "memory"); break;
  }
  h = mix(h, (u64)((u8 *)t - p));
  /* repe cmpsb over p[0..n) vs p[32..), repne scasb for byte f in p[0..n). */
  s = p, t = p + 32, cnt = n;
  u8 eq;
  __asm__ volatile("cmp %%eax, %%eax; repe cmpsb; sete %0" : "=r"(eq), "+S"(s), "+D"(t), "+c"(cnt) : : "memory", "cc", "eax");
  h = mix(h, eq | cnt << 8 | (u64)((u8 *)s - p) << 16);
  t = p, cnt = n;
  u8 found;
  __asm__ volatile("test %%edi, %%edi; repne scasb; sete %0" : "=r"(found), "+D"(t), "+c"(cnt) : "a"(f) : "memory", "cc");
  h = mix(h, found | cnt << 8 | (u64)((u8 *)t - p) << 16);
  u64 lv;
  s = p + 8;
  __asm__ volatile("lodsq" : "=a"(lv), "+S"(s) : : "memory");
  h = mix(h, lv);
  return h;
}

/* Sort with a callback through an indirect call (a retpoline under Xen's flags). */
typedef int (*cmp_fn)(const void *, const void *);
NOINLINE static int cmp_u32(const void *x, const void *y) {
  u32 a = *(const u32 *)x, b = *(const u32 *)y;
  return a < b ? -1 : a > b;
}
NOINLINE static int cmp_s32_desc(const void *x, const void *y) {
  s32 a = *(const s32 *)x, b = *(const s32 *)y;
  return a > b ? -1 : a < b;
}
NOINLINE static int cmp_u16_lo(const void *x, const void *y) {
  return (int)*(const u16 *)x - (int)*(const u16 *)y;
}
static cmp_fn const cmps[3] = {cmp_u32, cmp_s32_desc, cmp_u16_lo};

NOINLINE static void swap32(u32 *x, u32 *y) {
  u32 t = *x;
  *x = *y;
  *y = t;
}

/* Heap sort (like Xen's lib/sort.c). a = scratch, b = count, c = comparator. */
K(k_sort) {
  u32 *v = (u32 *)a;
  u64 n = b % 100;
  cmp_fn cmp = cmps[c % 3];
  for (s64 i = n / 2 - 1; i >= 0; i--) {
    for (u64 r = i; r * 2 + 1 < n;) {
      u64 ch = r * 2 + 1;
      if (ch + 1 < n && cmp(&v[ch], &v[ch + 1]) < 0) ch++;
      if (cmp(&v[r], &v[ch]) >= 0) break;
      swap32(&v[r], &v[ch]);
      r = ch;
    }
  }
  for (u64 i = n; i-- > 1;) {
    swap32(&v[0], &v[i]);
    for (u64 r = 0; r * 2 + 1 < i;) {
      u64 ch = r * 2 + 1;
      if (ch + 1 < i && cmp(&v[ch], &v[ch + 1]) < 0) ch++;
      if (cmp(&v[r], &v[ch]) >= 0) break;
      swap32(&v[r], &v[ch]);
      r = ch;
    }
  }
  u64 h = 9;
  for (u64 i = 0; i < n; i++) h = mix(h, v[i]);
  return h;
}

K(k_hash) {
  const u8 *p = (const u8 *)a;
  u64 n = b & 511;
  u64 h = 0xcbf29ce484222325ull ^ c;
  u32 m = (u32)d | 1;
  for (u64 i = 0; i < n; i++) {
    h = (h ^ p[i]) * 0x100000001b3ull;
    m = (m << 5 | m >> 27) ^ (p[i] * 0x9e3779b1u);
    h ^= (h >> 31) + m;
  }
  return h;
}

/* Switch with a jump table (indirect jmp through .rodata under -fno-pic). */
K(k_switch) {
  u64 h = 10;
  for (int i = 0; i < 16; i++) {
    switch ((a >> (i * 4)) & 15) {
    case 0: h = mix(h, b); break;
    case 1: h += c; break;
    case 2: h ^= d << 3; break;
    case 3: h = h * 31 + e; break;
    case 4: h -= f; break;
    case 5: h = ~h; break;
    case 6: h = h >> 7 | h << 57; break;
    case 7: h += 0x1234; break;
    case 8: h = mix(h, i); break;
    case 9: h ^= 0xff00ff; break;
    case 10: h *= 3; break;
    default: h += i; break;
    }
  }
  return h;
}

NOINLINE static u64 fib(u64 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
NOINLINE static u64 ack(u64 m, u64 n) {
  if (m == 0) return n + 1;
  if (n == 0) return ack(m - 1, 1);
  return ack(m - 1, ack(m, n - 1));
}

K(k_recurse) { return fib(a % 16) * 1000 + ack(b % 3, c % 5); }

/* Atomics: lock xadd / cmpxchg / xchg / bts / btr / or / and. a = scratch. */
K(k_atomic) {
  u64 *p = (u64 *)a;
  u32 *q = (u32 *)(a + 64);
  u64 h = 11;
  h = mix(h, __atomic_fetch_add(&p[0], b, __ATOMIC_SEQ_CST));
  h = mix(h, __atomic_exchange_n(&p[1], c, __ATOMIC_SEQ_CST));
  u64 exp = d & 1 ? p[2] : c;
  h = mix(h, __atomic_compare_exchange_n(&p[2], &exp, e, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  h = mix(h, exp);
  h = mix(h, __atomic_fetch_or(&p[3], 1ull << (b & 63), __ATOMIC_SEQ_CST) >> (b & 63) & 1);
  h = mix(h, __atomic_fetch_and(&p[4], ~(1ull << (c & 63)), __ATOMIC_SEQ_CST) >> (c & 63) & 1);
  h = mix(h, __atomic_fetch_xor(&p[5], 1ull << (d & 63), __ATOMIC_SEQ_CST) >> (d & 63) & 1);
  __atomic_fetch_sub(&q[0], (u32)e, __ATOMIC_SEQ_CST);
  __atomic_fetch_or(&q[1], (u32)f, __ATOMIC_SEQ_CST);
  h = mix(h, __atomic_add_fetch(&q[2], 1, __ATOMIC_SEQ_CST) == 0);
  h = mix(h, __atomic_sub_fetch(&q[3], 1, __ATOMIC_SEQ_CST) == 0);
  u8 *bp = (u8 *)(a + 128);
  h = mix(h, __atomic_fetch_add(&bp[0], (u8)b, __ATOMIC_SEQ_CST));
  u16 *wp = (u16 *)(a + 136);
  h = mix(h, __atomic_fetch_add(&wp[0], (u16)c, __ATOMIC_SEQ_CST));
  return h;
}

/* Bitfields and partial-width memory stores. a = scratch. */
struct bf {
  u32 x : 3, y : 11, z : 18;
  u16 w : 9, v : 7;
  s8 s : 5;
  u8 t;
};
K(k_bitfield) {
  struct bf *p = (struct bf *)a;
  p->x += b;
  p->y ^= c;
  p->z -= d;
  p->w = p->w * 3 + e;
  p->v = p->v >> 1 | f;
  p->s += (s8)b;
  p->t = (u8)(p->t * 7);
  return (u64)p->x << 50 ^ (u64)p->y << 30 ^ p->z ^ (u64)p->w << 20 ^ (u64)(s64)p->s;
}

/*
 * The benchmark workload (bench/emu_bench.ts): `a` rounds of every kernel above on fresh
 * pseudo-random inputs. b = scratch (at least 2 KiB), c = seed. Calls stay calls (noinline), so
 * the mix has Xen's shape: return thunks, retpolines, short functions, loops.
 */
NOINLINE static u64 bench_next(u64 *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 11;
}
K(k_bench) {
  u8 *p = (u8 *)b;
  u64 h = 12, x = c | 1;
  for (int j = 0; j < 2048; j++) p[j] = 0;
  for (u64 i = 0; i < a; i++) {
    for (int j = 0; j < 512; j++) p[j] = bench_next(&x) >> 40;
    u64 r0 = bench_next(&x), r1 = bench_next(&x), r2 = bench_next(&x), r3 = bench_next(&x);
    h = mix(h, k_hash(b, 511, r0, r1, 0, 0));
    h = mix(h, k_arith8(r0, r1, r2, r3, h, i));
    h = mix(h, k_arith16(r1, r2, r3, r0, h, i));
    h = mix(h, k_arith32(r2, r3, r0, r1, h, i));
    h = mix(h, k_arith64(r3, r0, r1, r2, h, i));
    h = mix(h, k_cond(r0, r2, r1, r3, h, i));
    h = mix(h, k_div(r1, r3 | 1, r2, r0, h, i));
    h = mix(h, k_bits(r2, r0, r3, r1, h, i));
    h = mix(h, k_extend(r3, r1, r0, r2, h, i));
    h = mix(h, k_switch(r0, r1, r2, r3, h, i));
    h = mix(h, k_string(b, r0, r1, r2, r3, h));
    h = mix(h, k_repstr(b + 1024, r1, r2, r3, r0, h));
    h = mix(h, k_atomic(b + 1536, r2, r3, r0, r1, h));
    h = mix(h, k_bitfield(b + 1792, r3, r0, r1, r2, h));
    h = mix(h, k_sort(b, 64, r0, 0, 0, 0));
    h = mix(h, k_recurse(10 + (r1 & 3), 2, r2, 0, 0, 0));
  }
  return h;
}
