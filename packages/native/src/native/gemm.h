// Single-threaded float32 GEMM, row-major:
//   C[m,n] = op(A)[m,k] @ op(B)[k,n] (+ bias[n] broadcast over rows) (then relu)
// A is stored [m,k] ([k,m] when trans_a); B is stored [k,n] ([n,k] when trans_b).
// C is overwritten and must not overlap A, B or bias.
// Deterministic: the bits of C depend only on the inputs, the shapes and the selected ISA path
// (never on pointer alignment or on earlier calls).
#pragma once
#include <cstddef>

namespace mtl {

void sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, const float* a,
           const float* b, float* c, const float* bias, bool relu);

// Name of the active path, e.g. "avx512 14x32", "avx2+fma 6x16" or "generic 4x8".
const char* sgemm_isa();

// Select a path by name ("auto", "generic", "avx2", "avx2-6x16", "avx512", "avx512-14x32", ...).
// Returns false when the name is unknown or the CPU does not support it. For tests and tuning.
bool sgemm_set_isa(const char* name);

// Cache blocking (0 selects the default for that value). For tuning only.
void sgemm_set_blocking(size_t mc, size_t kc, size_t nc);

}  // namespace mtl
