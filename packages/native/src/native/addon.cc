// N-API bindings (C API only). Float32Array arguments are read through
// napi_get_typedarray_info, so they may be views at any byte offset into any ArrayBuffer
// (including WebAssembly memory). Pointers are used only for the duration of the call.
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#ifdef __linux__
#include <cerrno>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "add.h"
#include "affinity.h"
#include "gemm.h"
#include "optimizers.h"
#include "ring.h"

namespace {

constexpr int kAbiVersion = 5;  // keep in sync with ABI_VERSION in src/index.ts

// Returned by the helpers when a JS exception is pending.
struct Pending {};

void check(napi_env env, napi_status st, const char* what) {
  if (st == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    std::string msg = std::string("mtl_native: N-API call failed: ") + what;
    napi_throw_error(env, nullptr, msg.c_str());
  }
  throw Pending{};
}

[[noreturn]] void throw_type(napi_env env, const std::string& msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg.c_str());
  throw Pending{};
}

[[noreturn]] void throw_range(napi_env env, const std::string& msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg.c_str());
  throw Pending{};
}

std::string prefix(const char* fn, const char* arg) {
  return std::string(fn) + ": argument '" + arg + "'";
}

struct Args {
  napi_value v[20];
  size_t n = 20;
};

Args get_args(napi_env env, napi_callback_info info) {
  Args a;
  check(env, napi_get_cb_info(env, info, &a.n, a.v, nullptr, nullptr), "napi_get_cb_info");
  return a;
}

napi_valuetype type_of(napi_env env, const Args& a, size_t i) {
  if (i >= a.n) return napi_undefined;
  napi_valuetype t;
  check(env, napi_typeof(env, a.v[i], &t), "napi_typeof");
  return t;
}

struct F32 {
  float* data = nullptr;
  size_t len = 0;
};

// Float32Array or (when nullable) null/undefined -> {nullptr, 0}.
F32 get_f32(napi_env env, const Args& a, size_t i, const char* fn, const char* name,
            bool nullable = false) {
  const napi_valuetype t = type_of(env, a, i);
  if (nullable && (t == napi_undefined || t == napi_null)) return {};
  bool is_ta = false;
  if (i < a.n) check(env, napi_is_typedarray(env, a.v[i], &is_ta), "napi_is_typedarray");
  if (!is_ta) throw_type(env, prefix(fn, name) + " must be a Float32Array" + (nullable ? " or null" : ""));
  napi_typedarray_type tt;
  size_t len = 0;
  void* data = nullptr;
  check(env, napi_get_typedarray_info(env, a.v[i], &tt, &len, &data, nullptr, nullptr),
        "napi_get_typedarray_info");
  if (tt != napi_float32_array) throw_type(env, prefix(fn, name) + " must be a Float32Array");
  if (len > 0 && data == nullptr) throw_type(env, prefix(fn, name) + " is detached");
  return {static_cast<float*>(data), len};
}

double get_number(napi_env env, const Args& a, size_t i, const char* fn, const char* name) {
  if (type_of(env, a, i) != napi_number) throw_type(env, prefix(fn, name) + " must be a number");
  double d;
  check(env, napi_get_value_double(env, a.v[i], &d), "napi_get_value_double");
  return d;
}

size_t get_dim(napi_env env, const Args& a, size_t i, const char* fn, const char* name) {
  const double d = get_number(env, a, i, fn, name);
  if (!(d >= 0) || d > 2147483647.0 || std::floor(d) != d)
    throw_range(env, prefix(fn, name) + " must be an integer in [0, 2^31), got " +
                         std::to_string(d));
  return static_cast<size_t>(d);
}

bool get_bool(napi_env env, const Args& a, size_t i, const char* fn, const char* name,
              bool optional = false) {
  const napi_valuetype t = type_of(env, a, i);
  if (optional && (t == napi_undefined || t == napi_null)) return false;
  if (t != napi_boolean) throw_type(env, prefix(fn, name) + " must be a boolean");
  bool b;
  check(env, napi_get_value_bool(env, a.v[i], &b), "napi_get_value_bool");
  return b;
}

void expect_len(napi_env env, const F32& x, size_t want, const char* fn, const char* name,
                const char* formula) {
  if (x.len != want)
    throw_range(env, prefix(fn, name) + " has length " + std::to_string(x.len) + ", expected " +
                         formula + " = " + std::to_string(want));
}

bool overlap(const F32& x, const F32& y) {
  if (x.len == 0 || y.len == 0) return false;
  const auto x0 = reinterpret_cast<uintptr_t>(x.data), y0 = reinterpret_cast<uintptr_t>(y.data);
  return x0 < y0 + y.len * sizeof(float) && y0 < x0 + x.len * sizeof(float);
}

void expect_disjoint(napi_env env, const F32& out, const F32& in, const char* fn,
                     const char* out_name, const char* in_name) {
  if (overlap(out, in))
    throw_range(env, prefix(fn, out_name) + " must not overlap '" + in_name + "'");
}

template <class F>
napi_value guarded(napi_env env, F&& f) {
  try {
    return f();
  } catch (const Pending&) {
    return nullptr;
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, "mtl_native: out of memory");
    return nullptr;
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("mtl_native: ") + e.what()).c_str());
    return nullptr;
  }
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// sgemm(transA, transB, m, n, k, a, b, c, bias?, relu?)
napi_value Sgemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const char* fn = "sgemm";
    const Args a = get_args(env, info);
    const bool ta = get_bool(env, a, 0, fn, "transA");
    const bool tb = get_bool(env, a, 1, fn, "transB");
    const size_t m = get_dim(env, a, 2, fn, "m");
    const size_t n = get_dim(env, a, 3, fn, "n");
    const size_t k = get_dim(env, a, 4, fn, "k");
    const F32 A = get_f32(env, a, 5, fn, "a");
    const F32 B = get_f32(env, a, 6, fn, "b");
    const F32 C = get_f32(env, a, 7, fn, "c");
    const F32 bias = get_f32(env, a, 8, fn, "bias", true);
    const bool relu = get_bool(env, a, 9, fn, "relu", true);
    expect_len(env, A, m * k, fn, "a", "m*k");
    expect_len(env, B, k * n, fn, "b", "k*n");
    expect_len(env, C, m * n, fn, "c", "m*n");
    if (bias.data != nullptr || bias.len != 0) expect_len(env, bias, n, fn, "bias", "n");
    expect_disjoint(env, C, A, fn, "c", "a");
    expect_disjoint(env, C, B, fn, "c", "b");
    expect_disjoint(env, C, bias, fn, "c", "bias");
    mtl::sgemm(ta, tb, m, n, k, A.data, B.data, C.data,
               (bias.data != nullptr && n > 0) ? bias.data : nullptr, relu);
    return undefined(env);
  });
}

// adamUpdate(p, g, m, v, stepSize, invSqrtBc2, beta1, beta2, eps, weightDecay)
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const char* fn = "adamUpdate";
    const Args a = get_args(env, info);
    const F32 p = get_f32(env, a, 0, fn, "p");
    const F32 g = get_f32(env, a, 1, fn, "g");
    const F32 m = get_f32(env, a, 2, fn, "m");
    const F32 v = get_f32(env, a, 3, fn, "v");
    const double ss = get_number(env, a, 4, fn, "stepSize");
    const double isb = get_number(env, a, 5, fn, "invSqrtBc2");
    const double b1 = get_number(env, a, 6, fn, "beta1");
    const double b2 = get_number(env, a, 7, fn, "beta2");
    const double eps = get_number(env, a, 8, fn, "eps");
    const double wd = get_number(env, a, 9, fn, "weightDecay");
    expect_len(env, g, p.len, fn, "g", "p.length");
    expect_len(env, m, p.len, fn, "m", "p.length");
    expect_len(env, v, p.len, fn, "v", "p.length");
    expect_disjoint(env, p, g, fn, "p", "g");
    expect_disjoint(env, p, m, fn, "p", "m");
    expect_disjoint(env, p, v, fn, "p", "v");
    expect_disjoint(env, m, g, fn, "m", "g");
    expect_disjoint(env, m, v, fn, "m", "v");
    expect_disjoint(env, v, g, fn, "v", "g");
    mtl::adam_update(p.data, g.data, m.data, v.data, p.len, ss, isb, b1, b2, eps, wd);
    return undefined(env);
  });
}

// sgdUpdate(p, g, buf | null, lr, momentum, weightDecay, nesterov)
napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const char* fn = "sgdUpdate";
    const Args a = get_args(env, info);
    const F32 p = get_f32(env, a, 0, fn, "p");
    const F32 g = get_f32(env, a, 1, fn, "g");
    const F32 buf = get_f32(env, a, 2, fn, "buf", true);
    const double lr = get_number(env, a, 3, fn, "lr");
    const double mu = get_number(env, a, 4, fn, "momentum");
    const double wd = get_number(env, a, 5, fn, "weightDecay");
    const bool nesterov = get_bool(env, a, 6, fn, "nesterov", true);
    expect_len(env, g, p.len, fn, "g", "p.length");
    expect_disjoint(env, p, g, fn, "p", "g");
    if (mu != 0) {
      if (buf.data == nullptr && p.len > 0)
        throw_type(env, prefix(fn, "buf") + " must be a Float32Array when momentum != 0");
      expect_len(env, buf, p.len, fn, "buf", "p.length");
      expect_disjoint(env, buf, p, fn, "buf", "p");
      expect_disjoint(env, buf, g, fn, "buf", "g");
    }
    mtl::sgd_update(p.data, g.data, mu != 0 ? buf.data : nullptr, p.len, lr, mu, wd, nesterov);
    return undefined(env);
  });
}

// addInto(dst, src): dst[i] += src[i]. Equal lengths; no partial overlap (the same array is fine).
napi_value AddInto(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const char* fn = "addInto";
    const Args a = get_args(env, info);
    const F32 dst = get_f32(env, a, 0, fn, "dst");
    const F32 src = get_f32(env, a, 1, fn, "src");
    expect_len(env, src, dst.len, fn, "src", "dst.length");
    if (src.data != dst.data) expect_disjoint(env, dst, src, fn, "dst", "src");
    mtl::add_into(dst.data, src.data, dst.len);
    return undefined(env);
  });
}

// Shared body of the path switches below: takes a name, selects it with `set` (false: unknown or
// unsupported here, a RangeError naming `what`), returns the active path's name from `active`.
napi_value SelectPath(napi_env env, napi_callback_info info, const char* fn, const char* what,
                      bool (*set)(const char*), const char* (*active)()) {
  return guarded(env, [&]() -> napi_value {
    const Args a = get_args(env, info);
    if (type_of(env, a, 0) != napi_string) throw_type(env, std::string(fn) + ": name must be a string");
    char name[64];
    size_t len = 0;
    check(env, napi_get_value_string_utf8(env, a.v[0], name, sizeof name, &len), "string");
    if (!set(name)) throw_range(env, std::string(fn) + ": unknown or unsupported " + what + " '" + name + "'");
    napi_value s;
    check(env, napi_create_string_utf8(env, active(), NAPI_AUTO_LENGTH, &s), "string");
    return s;
  });
}

// _setAddIsa(name) -> active add path ("auto", "generic", "avx"). Tests only.
napi_value SetAddIsa(napi_env env, napi_callback_info info) {
  return SelectPath(env, info, "_setAddIsa", "path", mtl::add_set_isa, mtl::add_isa);
}

// _setIsa(name) -> active isa name (tests / tuning). Throws for an unknown/unsupported name.
napi_value SetIsa(napi_env env, napi_callback_info info) {
  return SelectPath(env, info, "_setIsa", "isa", mtl::sgemm_set_isa, mtl::sgemm_isa);
}

// _setBlocking(mc, kc, nc) (0 selects the default). Tuning only.
napi_value SetBlocking(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const Args a = get_args(env, info);
    const size_t mc = get_dim(env, a, 0, "_setBlocking", "mc");
    const size_t kc = get_dim(env, a, 1, "_setBlocking", "kc");
    const size_t nc = get_dim(env, a, 2, "_setBlocking", "nc");
    mtl::sgemm_set_blocking(mc, kc, nc);
    return undefined(env);
  });
}

// setSockOpt(fd, which, value) -> 0 or an errno. which: 0 SO_RCVLOWAT, 1 SO_RCVBUF,
// 2 SO_SNDBUF (SOL_SOCKET, int value). Linux only; elsewhere returns -1 (not supported).
napi_value SetSockOpt(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const Args a = get_args(env, info);
    int32_t fd = -1, which = -1, value = 0;
    if (type_of(env, a, 0) != napi_number || type_of(env, a, 1) != napi_number ||
        type_of(env, a, 2) != napi_number)
      throw_type(env, "setSockOpt: fd, which and value must be numbers");
    check(env, napi_get_value_int32(env, a.v[0], &fd), "int32");
    check(env, napi_get_value_int32(env, a.v[1], &which), "int32");
    check(env, napi_get_value_int32(env, a.v[2], &value), "int32");
    int32_t rc = -1;
#ifdef __linux__
    int opt = which == 0 ? SO_RCVLOWAT : which == 1 ? SO_RCVBUF : which == 2 ? SO_SNDBUF : -1;
    if (opt < 0) throw_range(env, "setSockOpt: which must be 0, 1 or 2");
    if (fd < 0) throw_range(env, "setSockOpt: fd must be >= 0");
    const int v = value;
    rc = setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) == 0 ? 0 : errno;
#else
    (void)fd; (void)which; (void)value;
#endif
    napi_value r;
    check(env, napi_create_int32(env, rc, &r), "int32");
    return r;
  });
}

// getSockOpt(fd, which) -> the value, or -1 when it cannot be read. Tests only.
napi_value GetSockOpt(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const Args a = get_args(env, info);
    int32_t fd = -1, which = -1;
    if (type_of(env, a, 0) != napi_number || type_of(env, a, 1) != napi_number)
      throw_type(env, "getSockOpt: fd and which must be numbers");
    check(env, napi_get_value_int32(env, a.v[0], &fd), "int32");
    check(env, napi_get_value_int32(env, a.v[1], &which), "int32");
    int32_t out = -1;
#ifdef __linux__
    int opt = which == 0 ? SO_RCVLOWAT : which == 1 ? SO_RCVBUF : which == 2 ? SO_SNDBUF : -1;
    int v = 0;
    socklen_t len = sizeof v;
    if (opt >= 0 && fd >= 0 && getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0) out = v;
#else
    (void)fd; (void)which;
#endif
    napi_value r;
    check(env, napi_create_int32(env, out, &r), "int32");
    return r;
  });
}

// --- ring all-reduce off the JS thread (ring.h) -------------------------------------------

#ifdef __linux__
struct RingWork {
  napi_threadsafe_function tsfn = nullptr;
  napi_ref buf_ref = nullptr;
  napi_ref pre_ref = nullptr;
  mtl::RingSpec spec;
  mtl::RingResult result;
  std::atomic<bool> cancelled{false};
  uint32_t id = 0;
};

std::mutex g_ring_mu;
std::unordered_map<uint32_t, RingWork*> g_ring_ops;
uint32_t g_ring_next = 1;

// Ring ops run on threads of their own, not on the libuv pool: a ring op waits on its peers, and
// with several ranks in one process (tests) ops on a fixed-size pool could wait on each other
// forever. Threads are kept and reused (usually one per process); a new one starts only when
// every existing one is busy, so concurrent ops never wait for each other.
class RingThreads {
 public:
  void submit(RingWork* w) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool spare = idle_ > queue_.size();
    queue_.push_back(w);
    if (spare) {
      cv_.notify_one();
    } else {
      std::thread([this] { loop(); }).detach();
    }
  }

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RingWork*> queue_;
  size_t idle_ = 0;
};

void RingThread(RingWork* w);

void RingThreads::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    while (queue_.empty()) {
      ++idle_;
      cv_.wait(lock);
      --idle_;
    }
    RingWork* w = queue_.front();
    queue_.pop_front();
    lock.unlock();
    RingThread(w);
    lock.lock();
  }
}

RingThreads* g_ring_threads = new RingThreads();  // never destroyed: detached threads use it to the end

void RingThread(RingWork* w) {
  mtl::ring_all_reduce(w->spec, w->result);
  // w belongs to the JS thread from the call on (RingComplete deletes it): copy what we still need.
  napi_threadsafe_function tsfn = w->tsfn;
  napi_call_threadsafe_function(tsfn, w, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
}

void set_num(napi_env env, napi_value obj, const char* key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

// On the JS thread, once the op's thread is done with the sockets and the buffer.
void RingComplete(napi_env env, napi_value cb, void*, void* data) {
  auto* w = static_cast<RingWork*>(data);
  if (env == nullptr) {  // the environment is going away: nothing to call
    close(w->spec.cancel_fd);
    close(w->spec.prev_fd);
    if (w->spec.next_fd != w->spec.prev_fd) close(w->spec.next_fd);
    delete w;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(g_ring_mu);
    g_ring_ops.erase(w->id);
  }
  close(w->spec.cancel_fd);
  close(w->spec.prev_fd);
  if (w->spec.next_fd != w->spec.prev_fd) close(w->spec.next_fd);
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value res, global, s;
  napi_create_object(env, &res);
  const mtl::RingResult& r = w->result;
  set_num(env, res, "status", static_cast<int>(r.status));
  napi_create_string_utf8(env, r.message.c_str(), NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, res, "message", s);
  napi_value rest;
  if (r.rest.empty()) {
    napi_get_null(env, &rest);
  } else {
    void* copy = nullptr;
    napi_create_buffer_copy(env, r.rest.size(), r.rest.data(), &copy, &rest);
  }
  napi_set_named_property(env, res, "rest", rest);
  set_num(env, res, "framesSent", static_cast<double>(r.frames_sent));
  set_num(env, res, "payloadSent", static_cast<double>(r.payload_sent));
  set_num(env, res, "framesReceived", static_cast<double>(r.frames_received));
  set_num(env, res, "payloadReceived", static_cast<double>(r.payload_received));
  napi_get_global(env, &global);
  napi_delete_reference(env, w->buf_ref);
  if (w->pre_ref != nullptr) napi_delete_reference(env, w->pre_ref);
  delete w;
  napi_call_function(env, global, cb, 1, &res, nullptr);
  napi_close_handle_scope(env, scope);
}

uint32_t get_u32(napi_env env, const Args& a, size_t i, const char* fn, const char* name) {
  const double d = get_number(env, a, i, fn, name);
  if (!(d >= 0) || d > 4294967295.0 || std::floor(d) != d)
    throw_range(env, prefix(fn, name) + " must be an integer in [0, 2^32)");
  return static_cast<uint32_t>(d);
}
#endif

// ringAllReduce(prevFd, nextFd, prevMasked, nextMasked, n, i, chunkElems, kind, group, seq,
//               maxFrame, maxRest, buf, callback, worldMask, pairMask, pre) -> op id.
// pre: a Buffer of frames of this op that arrived before it began (32-byte header + payload
// each), or null.
// The sockets are duplicated, so the op never writes to a descriptor number that JS has since
// closed and reused; buf is referenced until the callback, which gets
// { status, message, rest: Buffer | null, framesSent, payloadSent, framesReceived, payloadReceived }.
napi_value RingAllReduce(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const char* fn = "ringAllReduce";
#ifdef __linux__
    const Args a = get_args(env, info);
    const uint32_t prev = get_u32(env, a, 0, fn, "prevFd");
    const uint32_t next = get_u32(env, a, 1, fn, "nextFd");
    const bool prev_masked = get_bool(env, a, 2, fn, "prevMasked");
    const bool next_masked = get_bool(env, a, 3, fn, "nextMasked");
    const uint32_t n = get_u32(env, a, 4, fn, "n");
    const uint32_t i = get_u32(env, a, 5, fn, "i");
    const uint32_t ce = get_u32(env, a, 6, fn, "chunkElems");
    const uint32_t kind = get_u32(env, a, 7, fn, "kind");
    const uint32_t group = get_u32(env, a, 8, fn, "group");
    const uint32_t seq = get_u32(env, a, 9, fn, "seq");
    const double max_frame = get_number(env, a, 10, fn, "maxFrame");
    const double max_rest = get_number(env, a, 11, fn, "maxRest");
    const F32 buf = get_f32(env, a, 12, fn, "buf");
    if (type_of(env, a, 13) != napi_function) throw_type(env, prefix(fn, "callback") + " must be a function");
    const uint32_t world_mask = get_u32(env, a, 14, fn, "worldMask");
    const uint32_t pair_mask = get_u32(env, a, 15, fn, "pairMask");
    const uint8_t* pre = nullptr;
    size_t pre_bytes = 0;
    const napi_valuetype pre_type = type_of(env, a, 16);
    if (pre_type != napi_undefined && pre_type != napi_null) {
      bool is_buf = false;
      check(env, napi_is_buffer(env, a.v[16], &is_buf), "napi_is_buffer");
      if (!is_buf) throw_type(env, prefix(fn, "pre") + " must be a Buffer or null");
      void* data = nullptr;
      check(env, napi_get_buffer_info(env, a.v[16], &data, &pre_bytes), "napi_get_buffer_info");
      pre = static_cast<const uint8_t*>(data);
    }
    if (n < 2 || n > 32 || i >= n) throw_range(env, std::string(fn) + ": need 2 <= n <= 32 and i < n");
    if (ce == 0 || kind < 1 || kind > 255) throw_range(env, std::string(fn) + ": bad chunkElems or kind");
    if (buf.len > 0xffffffffu) throw_range(env, prefix(fn, "buf") + " is too long");
    auto* w = new RingWork();
    mtl::RingSpec& s = w->spec;
    s.prev_masked = prev_masked;
    s.next_masked = next_masked;
    s.buf = buf.data;
    s.len = static_cast<uint32_t>(buf.len);
    s.n = n;
    s.i = i;
    s.chunk_elems = ce;
    s.kind = static_cast<uint8_t>(kind);
    s.group = group;
    s.seq = seq;
    s.cancelled = &w->cancelled;
    s.pre = pre;
    s.pre_bytes = pre_bytes;
    s.world_mask = world_mask;
    s.pair_mask = pair_mask;
    s.max_frame = static_cast<uint64_t>(max_frame);
    s.max_rest = static_cast<uint64_t>(max_rest);
    s.prev_fd = fcntl(static_cast<int>(prev), F_DUPFD_CLOEXEC, 0);
    s.next_fd = prev == next ? s.prev_fd : fcntl(static_cast<int>(next), F_DUPFD_CLOEXEC, 0);
    s.cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s.prev_fd < 0 || s.next_fd < 0 || s.cancel_fd < 0) {
      const int e = errno;
      if (s.prev_fd >= 0) close(s.prev_fd);
      if (s.next_fd >= 0 && s.next_fd != s.prev_fd) close(s.next_fd);
      if (s.cancel_fd >= 0) close(s.cancel_fd);
      delete w;
      throw_range(env, std::string(fn) + ": cannot duplicate the sockets: " + std::strerror(e));
    }
    napi_value name;
    check(env, napi_create_string_utf8(env, "mtl.ringAllReduce", NAPI_AUTO_LENGTH, &name), "string");
    check(env, napi_create_threadsafe_function(env, a.v[13], nullptr, name, 0, 1, nullptr, nullptr,
                                               nullptr, RingComplete, &w->tsfn),
          "threadsafe function");
    check(env, napi_create_reference(env, a.v[12], 1, &w->buf_ref), "reference");
    if (pre != nullptr) check(env, napi_create_reference(env, a.v[16], 1, &w->pre_ref), "reference");
    {
      std::lock_guard<std::mutex> lock(g_ring_mu);
      w->id = g_ring_next++;
      if (g_ring_next == 0) g_ring_next = 1;
      g_ring_ops[w->id] = w;
    }
    const uint32_t id = w->id;
    g_ring_threads->submit(w);
    napi_value r;
    check(env, napi_create_uint32(env, id, &r), "uint32");
    return r;
#else
    (void)info;
    throw_type(env, std::string(fn) + " is only available on Linux");
#endif
  });
}

// ringCancel(id) -> true if the op was still running (it stops soon and calls back "cancelled").
napi_value RingCancel(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    bool found = false;
#ifdef __linux__
    const Args a = get_args(env, info);
    const uint32_t id = get_u32(env, a, 0, "ringCancel", "id");
    std::lock_guard<std::mutex> lock(g_ring_mu);
    auto it = g_ring_ops.find(id);
    if (it != g_ring_ops.end()) {
      const uint64_t one = 1;
      it->second->cancelled.store(true, std::memory_order_relaxed);
      found = write(it->second->spec.cancel_fd, &one, sizeof one) == sizeof one;
    }
#else
    (void)info;
#endif
    napi_value r;
    check(env, napi_get_boolean(env, found, &r), "boolean");
    return r;
  });
}

// setProcessAffinity(cpus: Int32Array) -> 0 or an errno (ENOSYS where unsupported): pins every
// thread of the process to those CPUs (affinity.h).
napi_value SetProcessAffinity(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const Args a = get_args(env, info);
    bool is_ta = false;
    if (a.n < 1) throw_type(env, "setProcessAffinity: cpus must be an Int32Array");
    check(env, napi_is_typedarray(env, a.v[0], &is_ta), "typedarray");
    if (!is_ta) throw_type(env, "setProcessAffinity: cpus must be an Int32Array");
    napi_typedarray_type type;
    size_t len = 0;
    void* data = nullptr;
    check(env, napi_get_typedarray_info(env, a.v[0], &type, &len, &data, nullptr, nullptr), "typedarray");
    if (type != napi_int32_array) throw_type(env, "setProcessAffinity: cpus must be an Int32Array");
    if (len == 0) throw_range(env, "setProcessAffinity: cpus must not be empty");
    const int32_t rc = mtl::set_process_affinity(static_cast<const int*>(data), len);
    napi_value r;
    check(env, napi_create_int32(env, rc, &r), "int32");
    return r;
  });
}

void set_fn(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &f);
  napi_set_named_property(env, exports, name, f);
}

}  // namespace

NAPI_MODULE_INIT() {
  set_fn(env, exports, "sgemm", Sgemm);
  set_fn(env, exports, "adamUpdate", AdamUpdate);
  set_fn(env, exports, "sgdUpdate", SgdUpdate);
  set_fn(env, exports, "addInto", AddInto);
  set_fn(env, exports, "_setIsa", SetIsa);
  set_fn(env, exports, "_setAddIsa", SetAddIsa);
  set_fn(env, exports, "_setBlocking", SetBlocking);
  set_fn(env, exports, "setSockOpt", SetSockOpt);
  set_fn(env, exports, "getSockOpt", GetSockOpt);
  set_fn(env, exports, "setProcessAffinity", SetProcessAffinity);
  set_fn(env, exports, "ringAllReduce", RingAllReduce);
  set_fn(env, exports, "ringCancel", RingCancel);
  napi_value v;
  napi_create_int32(env, kAbiVersion, &v);
  napi_set_named_property(env, exports, "abiVersion", v);
  napi_create_string_utf8(env, mtl::sgemm_isa(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "isa", v);
  napi_create_string_utf8(env, mtl::add_isa(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "addIsa", v);
  return exports;
}
