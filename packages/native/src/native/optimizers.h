// Optimizer element loops, bit-identical to the float64 JS references in @mtl/mtl's optimizers:
// every operation in double, in the same order, rounded to float32 only on store.
// This file's .cc must be compiled with -ffp-contract=off and never with -ffast-math.
#pragma once
#include <cstddef>

namespace mtl {

// Adam (torch semantics). step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t),
// both computed by the caller with JS Math.pow so the scalars match the JS reference.
void adam_update(float* p, const float* g, float* m, float* v, size_t n, double step_size,
                 double inv_sqrt_bc2, double beta1, double beta2, double eps, double weight_decay);

// SGD with optional (Nesterov) momentum. buf may be null when momentum == 0 (then unused).
void sgd_update(float* p, const float* g, float* buf, size_t n, double lr, double momentum,
                double weight_decay, bool nesterov);

}  // namespace mtl
