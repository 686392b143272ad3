// Packed float32 GEMM in the BLIS/GotoBLAS style.
//
//   for jc in n step NC            B panel  op(B)[pc:pc+kc, jc:jc+nc] packed into NR-wide slivers
//     for pc in k (balanced KC)    (L3 / L2)
//       for ic in m step MC        A block  op(A)[ic:ic+mc, pc:pc+kc] packed into MR-tall slivers (L2)
//         for jr in nc step NR     one B sliver (kc x NR) stays in L1
//           for ir in mc step MR   register-blocked microkernel MR x NR, accumulate over kc
//
// All four transpose cases are handled by the packing routines; the microkernel only ever sees
// packed, 64-byte aligned, zero-padded buffers, so edge tiles and odd operand offsets never
// change the arithmetic: the bits of C depend only on the inputs and the shapes.
// Partial edge tiles go through a small aligned scratch tile with exactly the same epilogue.
// The k split (and so the summation order) depends only on k.
//
// Products with a tiny n (n <= 6..8, e.g. the n=1 task heads) skip packing and use dot /
// axpy loops, which are memory-bound anyway.
#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MTL_X86 1
#endif

namespace mtl {
namespace {

// Below these n the dot/axpy path beats packing (measured on 256x1024 @ 1024xn, Zen 1: one dot
// column ~30 us, one axpy column ~43 us, the packed path ~320-370 us for any n <= 16).
constexpr size_t kSmallNDot = 8;   // A not transposed: dot products per column
constexpr size_t kSmallNAxpy = 6;  // A transposed: axpy over the rows of the stored A
inline bool use_small_n(bool ta, size_t n) { return n <= (ta ? kSmallNAxpy : kSmallNDot); }

inline size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Grow-only aligned scratch buffer, one per thread (never shared, never returned to callers).
struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      p = nullptr;
      cap = 0;
      void* q = std::aligned_alloc(64, round_up(std::max<size_t>(n, 16) * sizeof(float), 64));
      if (q == nullptr) throw std::bad_alloc();
      p = static_cast<float*>(q);
      cap = n;
    }
    return p;
  }
};
thread_local Scratch g_apack, g_bpack, g_col, g_tmp;

struct Blocking {
  size_t mc, kc, nc;
};
constexpr Blocking kDefaultBlock = {96, 256, 1024};
Blocking g_block = kDefaultBlock;

inline float relu_f(float x) { return 0.0f > x ? 0.0f : x; }  // same as _mm256_max_ps(0, x)

// ---------------------------------------------------------------------------------------------
// Packing. op(A)(i,p) = trans ? a[p*lda + i] : a[i*lda + p];  op(B)(p,j) = trans ? b[j*ldb + p]
// : b[p*ldb + j]. A sliver: kc steps of MR values; B sliver: kc steps of NR values.

template <int MR>
void pack_a(bool trans, const float* a, size_t lda, size_t i0, size_t mc, size_t p0, size_t kc,
            float* dst) {
  for (size_t ir = 0; ir < mc; ir += MR) {
    const size_t mr = std::min<size_t>(MR, mc - ir);
    float* d = dst + ir * kc;
    if (!trans) {
      const float* rows[MR];
      for (size_t r = 0; r < MR; ++r) rows[r] = a + (i0 + ir + std::min(r, mr - 1)) * lda + p0;
      if (mr == MR) {
        for (size_t p = 0; p < kc; ++p)
          for (int r = 0; r < MR; ++r) d[p * MR + r] = rows[r][p];
      } else {
        for (size_t p = 0; p < kc; ++p)
          for (size_t r = 0; r < MR; ++r) d[p * MR + r] = r < mr ? rows[r][p] : 0.0f;
      }
    } else {
      const float* s = a + p0 * lda + i0 + ir;
      if (mr == MR) {
        for (size_t p = 0; p < kc; ++p, s += lda)
          for (int r = 0; r < MR; ++r) d[p * MR + r] = s[r];
      } else {
        for (size_t p = 0; p < kc; ++p, s += lda)
          for (size_t r = 0; r < MR; ++r) d[p * MR + r] = r < mr ? s[r] : 0.0f;
      }
    }
  }
}

template <int NR>
void pack_b(bool trans, const float* b, size_t ldb, size_t p0, size_t kc, size_t j0, size_t nc,
            float* dst) {
  for (size_t jr = 0; jr < nc; jr += NR) {
    const size_t nr = std::min<size_t>(NR, nc - jr);
    float* d = dst + jr * kc;
    if (!trans) {
      const float* s = b + p0 * ldb + j0 + jr;
      if (nr == NR) {
        for (size_t p = 0; p < kc; ++p, s += ldb) std::memcpy(d + p * NR, s, NR * sizeof(float));
      } else {
        for (size_t p = 0; p < kc; ++p, s += ldb)
          for (size_t c = 0; c < NR; ++c) d[p * NR + c] = c < nr ? s[c] : 0.0f;
      }
    } else {
      // Column c of the sliver is row (j0+jr+c) of the stored B: contiguous along p. Work in
      // blocks of 8 p so each of the NR source rows streams while the sliver stays in L1.
      size_t p = 0;
      for (; p + 8 <= kc; p += 8) {
        for (size_t c = 0; c < nr; ++c) {
          const float* s = b + (j0 + jr + c) * ldb + p0 + p;
          for (int q = 0; q < 8; ++q) d[(p + q) * NR + c] = s[q];
        }
        for (size_t c = nr; c < NR; ++c)
          for (int q = 0; q < 8; ++q) d[(p + q) * NR + c] = 0.0f;
      }
      for (; p < kc; ++p)
        for (size_t c = 0; c < NR; ++c)
          d[p * NR + c] = c < nr ? b[(j0 + jr + c) * ldb + p0 + p] : 0.0f;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Microkernels. run(kc, A, B, C, ldc, first, bias, relu):
//   acc = sum_p A[p*MR + i] * B[p*NR + j]        (p ascending)
//   c = first ? acc : C + acc;  if (bias) c = c + bias[j];  if (relu) c = max(0, c);  C = c

template <int MR, int NR>
struct GenericKernel {
  static constexpr int kMR = MR, kNR = NR;
  static void run(size_t kc, const float* __restrict A, const float* __restrict B,
                  float* __restrict C, size_t ldc, bool first, const float* bias, bool relu) {
    float acc[MR][NR] = {};
    for (size_t p = 0; p < kc; ++p, A += MR, B += NR)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] += A[i] * B[j];
    for (int i = 0; i < MR; ++i) {
      float* c = C + i * ldc;
      for (int j = 0; j < NR; ++j) {
        float x = first ? acc[i][j] : c[j] + acc[i][j];
        if (bias != nullptr) x = x + bias[j];
        if (relu) x = relu_f(x);
        c[j] = x;
      }
    }
  }
};

#if MTL_X86
template <int MR, int NV>
__attribute__((target("avx2,fma"))) void avx2_ukr(size_t kc, const float* __restrict A,
                                                    const float* __restrict B,
                                                    float* __restrict C, size_t ldc, bool first,
                                                    const float* bias, bool relu) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);

#pragma GCC unroll 4
  for (size_t p = 0; p < kc; ++p) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm256_load_ps(B + 8 * j);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(A + i);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
    A += MR;
    B += 8 * NV;
  }

  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* c = C + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      __m256 x = first ? acc[i][j] : _mm256_add_ps(_mm256_loadu_ps(c + 8 * j), acc[i][j]);
      if (bias != nullptr) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + 8 * j));
      if (relu) x = _mm256_max_ps(zero, x);
      _mm256_storeu_ps(c + 8 * j, x);
    }
  }
}

template <int MR, int NV>
struct Avx2Kernel {
  static constexpr int kMR = MR, kNR = 8 * NV;
  static void run(size_t kc, const float* A, const float* B, float* C, size_t ldc, bool first,
                  const float* bias, bool relu) {
    avx2_ukr<MR, NV>(kc, A, B, C, ldc, first, bias, relu);
  }
};

// AVX-512 microkernel: the same arithmetic as avx2_ukr (one FMA per p, p ascending, the same
// epilogue), so every element of C gets the same bits as on the AVX2 path; only the tile is wider.
template <int MR, int NV>
__attribute__((target("avx512f"))) void avx512_ukr(size_t kc, const float* __restrict A,
                                                   const float* __restrict B,
                                                   float* __restrict C, size_t ldc, bool first,
                                                   const float* bias, bool relu) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);

#pragma GCC unroll 2
  for (size_t p = 0; p < kc; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_load_ps(B + 16 * j);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(A[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
    A += MR;
    B += 16 * NV;
  }

  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* c = C + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      __m512 x = first ? acc[i][j] : _mm512_add_ps(_mm512_loadu_ps(c + 16 * j), acc[i][j]);
      if (bias != nullptr) x = _mm512_add_ps(x, _mm512_loadu_ps(bias + 16 * j));
      if (relu) x = _mm512_max_ps(zero, x);
      _mm512_storeu_ps(c + 16 * j, x);
    }
  }
}

template <int MR, int NV>
struct Avx512Kernel {
  static constexpr int kMR = MR, kNR = 16 * NV;
  static void run(size_t kc, const float* A, const float* B, float* C, size_t ldc, bool first,
                  const float* bias, bool relu) {
    avx512_ukr<MR, NV>(kc, A, B, C, ldc, first, bias, relu);
  }
};
#endif

// ---------------------------------------------------------------------------------------------
// Packed driver.

template <class K>
void gemm_packed(bool ta, bool tb, size_t m, size_t n, size_t k, const float* a, const float* b,
                 float* c, const float* bias, bool relu) {
  constexpr size_t MR = K::kMR, NR = K::kNR;
  const size_t lda = ta ? m : k, ldb = tb ? k : n;
  const size_t MC = std::max(MR, g_block.mc / MR * MR);
  const size_t NC = std::max(NR, g_block.nc / NR * NR);
  const size_t kblocks = (k + g_block.kc - 1) / g_block.kc;  // balanced k split, depends on k only
  const size_t kc_max = (k + kblocks - 1) / kblocks;
  float* bp = g_bpack.get(kc_max * round_up(std::min(NC, n), NR));
  float* ap = g_apack.get(kc_max * round_up(std::min(MC, m), MR));

  for (size_t jc = 0; jc < n; jc += NC) {
    const size_t nc = std::min(NC, n - jc);
    size_t pc = 0;
    for (size_t kb = 0; kb < kblocks; ++kb) {
      const size_t kc = k / kblocks + (kb < k % kblocks ? 1 : 0);
      const bool first = kb == 0, last = kb + 1 == kblocks;
      pack_b<NR>(tb, b, ldb, pc, kc, jc, nc, bp);
      for (size_t ic = 0; ic < m; ic += MC) {
        const size_t mc = std::min(MC, m - ic);
        pack_a<MR>(ta, a, lda, ic, mc, pc, kc, ap);
        for (size_t jr = 0; jr < nc; jr += NR) {
          const size_t nr = std::min(NR, nc - jr);
          const float* bsl = bp + jr * kc;
          const float* bias_j = (last && bias != nullptr) ? bias + jc + jr : nullptr;
          const bool relu_j = last && relu;
          for (size_t ir = 0; ir < mc; ir += MR) {
            const size_t mr = std::min(MR, mc - ir);
            float* cc = c + (ic + ir) * n + jc + jr;
            if (mr == MR && nr == NR) {
              K::run(kc, ap + ir * kc, bsl, cc, n, first, bias_j, relu_j);
            } else {
              alignas(64) float tile[MR * NR];
              alignas(64) float tbias[NR];
              for (size_t i = 0; i < MR; ++i)
                for (size_t j = 0; j < NR; ++j)
                  tile[i * NR + j] = (!first && i < mr && j < nr) ? cc[i * n + j] : 0.0f;
              if (bias_j != nullptr)
                for (size_t j = 0; j < NR; ++j) tbias[j] = j < nr ? bias_j[j] : 0.0f;
              K::run(kc, ap + ir * kc, bsl, tile, NR, first, bias_j ? tbias : nullptr, relu_j);
              for (size_t i = 0; i < mr; ++i)
                for (size_t j = 0; j < nr; ++j) cc[i * n + j] = tile[i * NR + j];
            }
          }
        }
      }
      pc += kc;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small-n path: C[:, j] from dot products (A not transposed) or axpys (A transposed).

inline float finish(float x, const float* bias, size_t j, bool relu) {
  if (bias != nullptr) x = x + bias[j];
  if (relu) x = relu_f(x);
  return x;
}

// Column j of op(B), contiguous (copied only when strided).
inline const float* b_column(bool tb, const float* b, size_t n, size_t k, size_t j) {
  if (tb) return b + j * k;
  if (n == 1) return b;
  float* col = g_col.get(k);
  for (size_t p = 0; p < k; ++p) col[p] = b[p * n + j];
  return col;
}

float dot_generic(const float* x, const float* y, size_t k) {
  float s[8] = {};
  size_t p = 0;
  for (; p + 8 <= k; p += 8)
    for (int q = 0; q < 8; ++q) s[q] += x[p + q] * y[p + q];
  float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; p < k; ++p) t += x[p] * y[p];
  return t;
}

void axpy_generic(float* y, const float* x, float s, size_t m) {
  for (size_t i = 0; i < m; ++i) y[i] += s * x[i];
}

#if MTL_X86
__attribute__((target("avx2,fma"))) float dot_avx2(const float* x, const float* y, size_t k) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t p = 0;
  for (; p + 32 <= k; p += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(y + p), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 8), _mm256_loadu_ps(y + p + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 16), _mm256_loadu_ps(y + p + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 24), _mm256_loadu_ps(y + p + 24), s3);
  }
  for (; p + 8 <= k; p += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(y + p), s0);
  const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float t = _mm_cvtss_f32(h);
  for (; p < k; ++p) t = std::fma(x[p], y[p], t);
  return t;
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float* y, const float* x, float s, size_t m) {
  const __m256 sv = _mm256_set1_ps(s);
  size_t i = 0;
  for (; i + 8 <= m; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(sv, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < m; ++i) y[i] = std::fma(s, x[i], y[i]);
}
#endif

using DotFn = float (*)(const float*, const float*, size_t);
using AxpyFn = void (*)(float*, const float*, float, size_t);

void gemm_small_n(DotFn dot, AxpyFn axpy, bool ta, bool tb, size_t m, size_t n, size_t k,
                  const float* a, const float* b, float* c, const float* bias, bool relu) {
  for (size_t j = 0; j < n; ++j) {
    const float* bj = b_column(tb, b, n, k, j);
    if (!ta) {
      for (size_t i = 0; i < m; ++i) c[i * n + j] = finish(dot(a + i * k, bj, k), bias, j, relu);
    } else {
      float* acc = g_tmp.get(m);
      std::fill(acc, acc + m, 0.0f);
      for (size_t p = 0; p < k; ++p) axpy(acc, a + p * m, bj[p], m);
      for (size_t i = 0; i < m; ++i) c[i * n + j] = finish(acc[i], bias, j, relu);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

using GemmFn = void (*)(bool, bool, size_t, size_t, size_t, const float*, const float*, float*,
                        const float*, bool);

template <class K>
void gemm_generic_impl(bool ta, bool tb, size_t m, size_t n, size_t k, const float* a,
                       const float* b, float* c, const float* bias, bool relu) {
  if (use_small_n(ta, n))
    gemm_small_n(dot_generic, axpy_generic, ta, tb, m, n, k, a, b, c, bias, relu);
  else
    gemm_packed<K>(ta, tb, m, n, k, a, b, c, bias, relu);
}

#if MTL_X86
// A packed SIMD kernel K (AVX2 or AVX-512) with the AVX2 dot/axpy loops for small n.
template <class K>
void gemm_x86_impl(bool ta, bool tb, size_t m, size_t n, size_t k, const float* a,
                   const float* b, float* c, const float* bias, bool relu) {
  if (use_small_n(ta, n))
    gemm_small_n(dot_avx2, axpy_avx2, ta, tb, m, n, k, a, b, c, bias, relu);
  else
    gemm_packed<K>(ta, tb, m, n, k, a, b, c, bias, relu);
}
#endif

// The ISA level a path needs; auto picks the first path (in kImpls order) the CPU supports.
enum Level { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

struct Impl {
  const char* name;
  GemmFn fn;
  Level level;
};

const Impl kImpls[] = {
#if MTL_X86
    // The small-n path stays on AVX2 dot/axpy loops under AVX-512 (memory-bound; and the same
    // summation order as the AVX2 path, so AVX-512 and AVX2 give the same bits everywhere).
    // 6x64 first: 1.7-1.8x the AVX2 6x16 path on the reference step's products (Xeon with
    // AVX-512, interleaved runs; docs/performance.md), a little ahead of 14x32 (and of 12x32,
    // measured and not kept).
    {"avx512 6x64", gemm_x86_impl<Avx512Kernel<6, 4>>, kAvx512},
    {"avx512 14x32", gemm_x86_impl<Avx512Kernel<14, 2>>, kAvx512},
    {"avx512 8x48", gemm_x86_impl<Avx512Kernel<8, 3>>, kAvx512},
    {"avx2+fma 6x16", gemm_x86_impl<Avx2Kernel<6, 2>>, kAvx2},
    {"avx2+fma 4x24", gemm_x86_impl<Avx2Kernel<4, 3>>, kAvx2},
    {"avx2+fma 8x8", gemm_x86_impl<Avx2Kernel<8, 1>>, kAvx2},
#endif
    {"generic 4x8", gemm_generic_impl<GenericKernel<4, 8>>, kGeneric},
};

Level cpu_level() {
#if MTL_X86
  __builtin_cpu_init();
  // libgcc's check includes the OS's support for the wider register state (XCR0).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
#endif
  return kGeneric;
}

const Impl* auto_impl() {
  const Level cpu = cpu_level();
  for (const Impl& im : kImpls)
    if (im.level <= cpu) return &im;
  return &kImpls[0];
}

const Impl* g_impl = nullptr;

const Impl* impl() {
  if (g_impl == nullptr) g_impl = auto_impl();
  return g_impl;
}

// "avx2" / "avx512" / "generic" select a family's first path; "avx2-6x16" or "avx512 14x32" one path.
bool name_matches(const char* name, const char* full) {
  const char* space = std::strchr(full, ' ');
  const size_t fam_len = static_cast<size_t>(space - full);
  const char* plus = static_cast<const char*>(std::memchr(full, '+', fam_len));
  const size_t short_len = plus != nullptr ? static_cast<size_t>(plus - full) : fam_len;  // "avx2"
  for (size_t len : {fam_len, short_len}) {
    if (std::strncmp(name, full, len) != 0) continue;
    const char* rest = name + len;
    if (*rest == '\0') return true;
    if ((*rest == '-' || *rest == ' ') && std::strcmp(rest + 1, space + 1) == 0) return true;
  }
  return false;
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, const float* a,
           const float* b, float* c, const float* bias, bool relu) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) c[i * n + j] = finish(0.0f, bias, j, relu);
    return;
  }
  if (k == 1) {
    // Outer product (e.g. dy[256,1] @ W^T[1,1024] of an n=1 head): bound by writing C, so no
    // packing. A and B are contiguous vectors whatever the transposes. Same bits as the packed
    // path (one product, no sum).
    for (size_t i = 0; i < m; ++i) {
      const float ai = a[i];
      float* ci = c + i * n;
      if (bias == nullptr && !relu) {
        for (size_t j = 0; j < n; ++j) ci[j] = ai * b[j];
      } else {
        for (size_t j = 0; j < n; ++j) ci[j] = finish(ai * b[j], bias, j, relu);
      }
    }
    return;
  }
  impl()->fn(trans_a, trans_b, m, n, k, a, b, c, bias, relu);
}

const char* sgemm_isa() { return impl()->name; }

bool sgemm_set_isa(const char* name) {
  if (std::strcmp(name, "auto") == 0) {
    g_impl = auto_impl();
    return true;
  }
  const Level cpu = cpu_level();
  for (const Impl& im : kImpls) {
    if (name_matches(name, im.name) && im.level <= cpu) {
      g_impl = &im;
      return true;
    }
  }
  return false;
}

void sgemm_set_blocking(size_t mc, size_t kc, size_t nc) {
  g_block.mc = mc != 0 ? mc : kDefaultBlock.mc;
  g_block.kc = kc != 0 ? kc : kDefaultBlock.kc;
  g_block.nc = nc != 0 ? nc : kDefaultBlock.nc;
}

}  // namespace mtl
