// Element-wise float32 add (see add.h). An AVX loop of 4 x 8 floats a step with unaligned loads
// and stores (views may start at any 4-byte offset), chosen at load time with
// __builtin_cpu_supports, and a scalar loop for the tail and for CPUs without AVX. vaddps and
// addss are both correctly rounded IEEE adds, so the path never changes a bit.
#include "add.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#define MTL_X86 1
#include <immintrin.h>
#else
#define MTL_X86 0
#endif

namespace mtl {
namespace {

void add_generic(float* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] += src[i];
}

#if MTL_X86
__attribute__((target("avx"))) void add_avx(float* dst, const float* src, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 a0 = _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i));
    const __m256 a1 = _mm256_add_ps(_mm256_loadu_ps(dst + i + 8), _mm256_loadu_ps(src + i + 8));
    const __m256 a2 = _mm256_add_ps(_mm256_loadu_ps(dst + i + 16), _mm256_loadu_ps(src + i + 16));
    const __m256 a3 = _mm256_add_ps(_mm256_loadu_ps(dst + i + 24), _mm256_loadu_ps(src + i + 24));
    _mm256_storeu_ps(dst + i, a0);
    _mm256_storeu_ps(dst + i + 8, a1);
    _mm256_storeu_ps(dst + i + 16, a2);
    _mm256_storeu_ps(dst + i + 24, a3);
  }
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
  for (; i < n; ++i) dst[i] += src[i];
}

bool cpu_has_avx() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx");
}
#endif

using AddFn = void (*)(float*, const float*, size_t);

struct Path {
  const char* name;
  AddFn fn;
};

Path auto_path() {
#if MTL_X86
  if (cpu_has_avx()) return {"avx", add_avx};
#endif
  return {"generic", add_generic};
}

Path g_path = auto_path();

}  // namespace

void add_into(float* dst, const float* src, size_t n) { g_path.fn(dst, src, n); }

const char* add_isa() { return g_path.name; }

bool add_set_isa(const char* name) {
  if (std::strcmp(name, "auto") == 0) {
    g_path = auto_path();
    return true;
  }
  if (std::strcmp(name, "generic") == 0) {
    g_path = {"generic", add_generic};
    return true;
  }
#if MTL_X86
  if (std::strcmp(name, "avx") == 0 && cpu_has_avx()) {
    g_path = {"avx", add_avx};
    return true;
  }
#endif
  return false;
}

}  // namespace mtl
