// Element-wise float32 add, dst[i] += src[i]: the reduce step of the collective's all-reduce.
// Every element is one IEEE binary32 add (round to nearest even), so the result is the same
// bit for bit as the JS loop (float64 add, rounded to float32 on store: exact for +) and the
// WebAssembly f32x4.add, on every CPU path. Never build with -ffast-math.
#pragma once
#include <cstddef>

namespace mtl {

// dst and src must not overlap unless they are the same array (then dst[i] = dst[i] + dst[i]).
void add_into(float* dst, const float* src, size_t n);

// Which path add_into dispatched to at load time: "avx" (8 floats a vector) or "generic".
const char* add_isa();

// Tests: force "generic" or "avx" ("auto" restores the default). Returns false if unsupported.
bool add_set_isa(const char* name);

}  // namespace mtl
