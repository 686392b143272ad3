// Optimizer element loops in float64, rounded to float32 on store, in exactly the operation
// order of the JS references. IEEE add/mul/div/sqrt and the double->float conversion are
// correctly rounded, so the AVX2 (4 doubles a vector) and scalar loops give the same bits as V8.
// Compiled with -ffp-contract=off (no fused multiply-add) and never with -ffast-math.
#include "optimizers.h"

#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#define MTL_X86 1
#endif

namespace mtl {
namespace {

// JS reference (c1 = 1 - b1, c2 = 1 - b2):
//   pi = p[i]; gi = g[i] + wd * pi;
//   mi = b1 * m[i] + c1 * gi;  vi = b2 * v[i] + c2 * gi * gi;  m[i] = mi; v[i] = vi;
//   p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
inline void adam_one(float* p, const float* g, float* m, float* v, size_t i, double ss,
                     double isb, double b1, double b2, double c1, double c2, double eps,
                     double wd) {
  const double pi = p[i];
  const double gi = static_cast<double>(g[i]) + wd * pi;
  const double mi = b1 * static_cast<double>(m[i]) + c1 * gi;
  const double vi = b2 * static_cast<double>(v[i]) + (c2 * gi) * gi;
  m[i] = static_cast<float>(mi);
  v[i] = static_cast<float>(vi);
  p[i] = static_cast<float>(pi - (ss * mi) / (std::sqrt(vi) * isb + eps));
}

// JS reference: mu === 0: p[i] = p[i] - lr * (g[i] + wd * p[i]);
//   else gi = g[i] + wd * p[i]; b = (buf[i] = mu * buf[i] + gi); p[i] = p[i] - lr * (nesterov ?
//   gi + mu * b : b)   (b keeps the double value; buf[i] gets it rounded to float32)
inline void sgd_plain_one(float* p, const float* g, size_t i, double lr, double wd) {
  const double pi = p[i];
  p[i] = static_cast<float>(pi - lr * (static_cast<double>(g[i]) + wd * pi));
}

inline void sgd_momentum_one(float* p, const float* g, float* buf, size_t i, double lr,
                             double mu, double wd, bool nesterov) {
  const double pi = p[i];
  const double gi = static_cast<double>(g[i]) + wd * pi;
  const double b = mu * static_cast<double>(buf[i]) + gi;
  buf[i] = static_cast<float>(b);
  p[i] = static_cast<float>(pi - lr * (nesterov ? gi + mu * b : b));
}

#if MTL_X86
#define LD(x) _mm256_cvtps_pd(_mm_loadu_ps(x))
#define ST(x, y) _mm_storeu_ps(x, _mm256_cvtpd_ps(y))

__attribute__((target("avx2"))) size_t adam_avx2(float* p, const float* g, float* m, float* v,
                                                 size_t n, double ss, double isb, double b1,
                                                 double b2, double c1, double c2, double eps,
                                                 double wd) {
  const __m256d vss = _mm256_set1_pd(ss), visb = _mm256_set1_pd(isb), vb1 = _mm256_set1_pd(b1),
                vb2 = _mm256_set1_pd(b2), vc1 = _mm256_set1_pd(c1), vc2 = _mm256_set1_pd(c2),
                veps = _mm256_set1_pd(eps), vwd = _mm256_set1_pd(wd);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d pi = LD(p + i);
    const __m256d gi = _mm256_add_pd(LD(g + i), _mm256_mul_pd(vwd, pi));
    const __m256d mi = _mm256_add_pd(_mm256_mul_pd(vb1, LD(m + i)), _mm256_mul_pd(vc1, gi));
    const __m256d vi =
        _mm256_add_pd(_mm256_mul_pd(vb2, LD(v + i)), _mm256_mul_pd(_mm256_mul_pd(vc2, gi), gi));
    ST(m + i, mi);
    ST(v + i, vi);
    const __m256d den = _mm256_add_pd(_mm256_mul_pd(_mm256_sqrt_pd(vi), visb), veps);
    ST(p + i, _mm256_sub_pd(pi, _mm256_div_pd(_mm256_mul_pd(vss, mi), den)));
  }
  return i;
}

__attribute__((target("avx2"))) size_t sgd_plain_avx2(float* p, const float* g, size_t n,
                                                      double lr, double wd) {
  const __m256d vlr = _mm256_set1_pd(lr), vwd = _mm256_set1_pd(wd);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d pi = LD(p + i);
    const __m256d gi = _mm256_add_pd(LD(g + i), _mm256_mul_pd(vwd, pi));
    ST(p + i, _mm256_sub_pd(pi, _mm256_mul_pd(vlr, gi)));
  }
  return i;
}

__attribute__((target("avx2"))) size_t sgd_momentum_avx2(float* p, const float* g, float* buf,
                                                         size_t n, double lr, double mu,
                                                         double wd, bool nesterov) {
  const __m256d vlr = _mm256_set1_pd(lr), vmu = _mm256_set1_pd(mu), vwd = _mm256_set1_pd(wd);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d pi = LD(p + i);
    const __m256d gi = _mm256_add_pd(LD(g + i), _mm256_mul_pd(vwd, pi));
    const __m256d b = _mm256_add_pd(_mm256_mul_pd(vmu, LD(buf + i)), gi);
    ST(buf + i, b);
    const __m256d d = nesterov ? _mm256_add_pd(gi, _mm256_mul_pd(vmu, b)) : b;
    ST(p + i, _mm256_sub_pd(pi, _mm256_mul_pd(vlr, d)));
  }
  return i;
}
#undef LD
#undef ST

bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
const bool g_avx2 = has_avx2();
#endif

}  // namespace

void adam_update(float* p, const float* g, float* m, float* v, size_t n, double step_size,
                 double inv_sqrt_bc2, double beta1, double beta2, double eps,
                 double weight_decay) {
  const double c1 = 1 - beta1, c2 = 1 - beta2;
  size_t i = 0;
#if MTL_X86
  if (g_avx2)
    i = adam_avx2(p, g, m, v, n, step_size, inv_sqrt_bc2, beta1, beta2, c1, c2, eps,
                  weight_decay);
#endif
  for (; i < n; ++i)
    adam_one(p, g, m, v, i, step_size, inv_sqrt_bc2, beta1, beta2, c1, c2, eps, weight_decay);
}

void sgd_update(float* p, const float* g, float* buf, size_t n, double lr, double momentum,
                double weight_decay, bool nesterov) {
  size_t i = 0;
  if (momentum == 0) {
#if MTL_X86
    if (g_avx2) i = sgd_plain_avx2(p, g, n, lr, weight_decay);
#endif
    for (; i < n; ++i) sgd_plain_one(p, g, i, lr, weight_decay);
  } else {
#if MTL_X86
    if (g_avx2) i = sgd_momentum_avx2(p, g, buf, n, lr, momentum, weight_decay, nesterov);
#endif
    for (; i < n; ++i) sgd_momentum_one(p, g, buf, i, lr, momentum, weight_decay, nesterov);
  }
}

}  // namespace mtl
