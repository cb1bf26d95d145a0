/* isa — which x86-64 level this CPU runs, asked once with cpuid (and the
 * operating system's register-state flags), capped by LETHE_ISA.
 *
 * The levels are the psABI's: x86-64-v3 (AVX, AVX2, FMA, BMI1/2, F16C, LZCNT,
 * MOVBE) and x86-64-v4 (v3 + AVX-512 F/BW/CD/DQ/VL). lethe's own kernels are
 * compiled once per level (model/kernels, tensor/gemm) and the level chosen
 * here picks the variant. Not here: what oneDNN does (tensor.c asks it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

/* The CPU's level and whether it has AVX512_BF16 (both usable by the OS). */
static tensor_isa cpu_level(int *bf16) {
  unsigned a, b, c, d;
  *bf16 = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return TENSOR_ISA_BASELINE;
  unsigned c1 = c;
  int osxsave = (c1 >> 27) & 1;
  unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  if ((xcr0 & 0x6) != 0x6) return TENSOR_ISA_BASELINE; /* no YMM state */
  int v3 = ((c1 >> 12) & 1) && ((c1 >> 22) & 1) && ((c1 >> 28) & 1) && ((c1 >> 29) & 1);
  if (__get_cpuid_max(0, NULL) < 7) return TENSOR_ISA_BASELINE;
  __cpuid_count(7, 0, a, b, c, d);
  unsigned b7 = b;
  v3 = v3 && ((b7 >> 3) & 1) && ((b7 >> 5) & 1) && ((b7 >> 8) & 1);
  unsigned a81 = 0, b81, c81 = 0, d81;
  if (__get_cpuid(0x80000001, &a81, &b81, &c81, &d81)) v3 = v3 && ((c81 >> 5) & 1);
  else v3 = 0;
  if (!v3) return TENSOR_ISA_BASELINE;
  int zmm = (xcr0 & 0xe0) == 0xe0; /* opmask and both ZMM halves */
  int v4 = zmm && ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 28) & 1) && ((b7 >> 30) & 1) &&
           ((b7 >> 31) & 1);
  if (!v4) return TENSOR_ISA_AVX2;
  __cpuid_count(7, 1, a, b, c, d);
  *bf16 = (a >> 5) & 1;
  return TENSOR_ISA_AVX512;
}
#else
static tensor_isa cpu_level(int *bf16) {
  *bf16 = 0;
  return TENSOR_ISA_BASELINE;
}
#endif

static const char *const isa_names[] = {"baseline", "avx2", "avx512"};

const char *tensor_isa_name(tensor_isa isa) {
  return isa >= 0 && isa <= TENSOR_ISA_AVX512 ? isa_names[isa] : "?";
}

static struct {
  int ready, bad_cap;
  tensor_isa cpu, level;
  int cpu_bf16;
  char cap_text[32];
} isa;

static void isa_detect(void) {
  if (isa.ready) return;
  isa.cpu = isa.level = cpu_level(&isa.cpu_bf16);
  const char *cap = getenv("LETHE_ISA");
  if (cap && *cap) {
    int found = -1;
    for (int i = 0; i <= TENSOR_ISA_AVX512; i++)
      if (!strcmp(cap, isa_names[i])) found = i;
    if (found < 0) {
      isa.bad_cap = 1;
      snprintf(isa.cap_text, sizeof isa.cap_text, "%s", cap);
    } else if ((tensor_isa)found < isa.level) {
      isa.level = (tensor_isa)found;
    }
  }
  isa.ready = 1;
}

int tensor_env_check(lethe_err *err) {
  isa_detect();
  if (isa.bad_cap)
    return lethe_errf(err, LETHE_E_USAGE,
                      "environment variable LETHE_ISA is '%s'; expected baseline, avx2 or avx512 "
                      "(or unset: everything this CPU has)",
                      isa.cap_text);
  const char *mm = getenv("LETHE_MATMUL");
  if (mm && *mm && strcmp(mm, "onednn") && strcmp(mm, "lethe"))
    return lethe_errf(err, LETHE_E_USAGE,
                      "environment variable LETHE_MATMUL is '%s'; expected onednn or lethe (or "
                      "unset: lethe decides)",
                      mm);
  return 0;
}

tensor_isa tensor_isa_level(void) {
  isa_detect();
  if (isa.bad_cap) { /* a caller skipped tensor_env_check */
    fprintf(stderr, "lethe: LETHE_ISA='%s' is not baseline, avx2 or avx512\n", isa.cap_text);
    abort();
  }
  return isa.level;
}

tensor_isa tensor_isa_cpu(void) {
  isa_detect();
  return isa.cpu;
}

int tensor_isa_cpu_bf16(void) {
  isa_detect();
  return isa.cpu_bf16;
}
