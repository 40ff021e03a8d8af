#ifndef MOPPS_CPU_FEATURES_H
#define MOPPS_CPU_FEATURES_H

/* What the running x86-64 CPU and OS support, for choosing a kernel variant at run time.
   Each returns 1 only when every instruction-set extension that variant's code may contain is
   present and the OS saves the register state it needs (XGETBV); 0 on other architectures. */

/* x86-64-v3: AVX, AVX2, FMA, F16C, BMI1, BMI2, LZCNT, MOVBE (+ the v2 set), YMM state enabled. */
int mopps_cpu_supports_x86_64_v3(void);

/* x86-64-v4: v3 + AVX-512 F, BW, CD, DQ, VL, opmask and ZMM state enabled. */
int mopps_cpu_supports_x86_64_v4(void);

/* SSE4.2, whose CRC32 instruction computes CRC-32C (Castagnoli). */
int mopps_cpu_supports_crc32c(void);

/* CRC-32C of n bytes with the CRC32 instruction, continuing from `crc` (the running value, not
   inverted); only when mopps_cpu_supports_crc32c() is 1. */
unsigned mopps_crc32c_hardware(unsigned crc, const void *bytes, unsigned long n);

/* The CPU's brand string (up to 48 characters), or "" when unknown. */
void mopps_cpu_brand(char out[49]);

#endif
