#include "cpu_features.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

/* Leaf 1 ECX, leaf 7 EBX, leaf 0x80000001 ECX, or 0 when the leaf is missing. */
static void leaves(unsigned *l1c, unsigned *l7b, unsigned *l7c, unsigned *ext_c) {
  unsigned a, b, c, d;
  *l1c = *l7b = *l7c = *ext_c = 0;
  if (__get_cpuid(1, &a, &b, &c, &d)) *l1c = c;
  if (__get_cpuid_max(0, 0) >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    *l7b = b;
    *l7c = c;
  }
  if (__get_cpuid(0x80000001, &a, &b, &c, &d)) *ext_c = c;
}

static int v3(unsigned l1c, unsigned l7b, unsigned ext_c) {
  const unsigned need1 = bit_SSE3 | bit_SSSE3 | bit_SSE4_1 | bit_SSE4_2 | bit_POPCNT | bit_CMPXCHG16B |
                         bit_FMA | bit_MOVBE | bit_F16C | bit_AVX | bit_OSXSAVE;
  const unsigned need7 = bit_AVX2 | bit_BMI | bit_BMI2;
  if ((l1c & need1) != need1 || (l7b & need7) != need7 || !(ext_c & bit_LZCNT)) return 0;
  /* XMM and YMM state saved by the OS. */
  return (xgetbv0() & 0x6) == 0x6;
}

int mopps_cpu_supports_x86_64_v3(void) {
  unsigned l1c, l7b, l7c, ext_c;
  leaves(&l1c, &l7b, &l7c, &ext_c);
  return v3(l1c, l7b, ext_c);
}

int mopps_cpu_supports_x86_64_v4(void) {
  unsigned l1c, l7b, l7c, ext_c;
  leaves(&l1c, &l7b, &l7c, &ext_c);
  if (!v3(l1c, l7b, ext_c)) return 0;
  const unsigned need7 = bit_AVX512F | bit_AVX512BW | bit_AVX512CD | bit_AVX512DQ | bit_AVX512VL;
  if ((l7b & need7) != need7) return 0;
  /* Opmask, upper halves of ZMM0-15 and ZMM16-31 saved by the OS. */
  return (xgetbv0() & 0xE6) == 0xE6;
}

int mopps_cpu_supports_crc32c(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) != 0;
}

/* Compiled for SSE4.2 alone, so that the rest of the library stays baseline x86-64. */
__attribute__((target("sse4.2"))) unsigned mopps_crc32c_hardware(unsigned crc, const void *bytes,
                                                                  unsigned long n) {
  const unsigned char *p = bytes;
  unsigned long long c = crc;
  while (n >= 8) {
    unsigned long long word;
    memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    n -= 8;
  }
  unsigned c32 = (unsigned)c;
  while (n > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p++);
    n--;
  }
  return c32;
}

void mopps_cpu_brand(char out[49]) {
  unsigned regs[12];
  memset(out, 0, 49);
  if (__get_cpuid_max(0x80000000, 0) < 0x80000004) return;
  for (unsigned i = 0; i < 3; i++)
    __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  memcpy(out, regs, 48);
}

#else
int mopps_cpu_supports_crc32c(void) { return 0; }
unsigned mopps_crc32c_hardware(unsigned crc, const void *bytes, unsigned long n) {
  (void)bytes;
  (void)n;
  return crc;
}
int mopps_cpu_supports_x86_64_v3(void) { return 0; }
int mopps_cpu_supports_x86_64_v4(void) { return 0; }
void mopps_cpu_brand(char out[49]) { memset(out, 0, 49); }
#endif
