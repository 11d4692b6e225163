// Minimal C ABI over libtorch (ATen + autograd + AdamW) for hopdb's graph networks.
//
// Why not the tch crate: tch and torch-sys depend on `zip` 0.6, whose zstd-sys (1.6.3) cannot
// coexist with the zstd-sys (1.6.2) of sled's compression in one Cargo graph (`links = "zstd"`).
// This shim exposes exactly the tensor operations the network in src/model/gnn/ needs.
// Every function catches C++ exceptions and reports them through `hs_last_error`; a function
// returning a pointer returns null on error, one returning int returns non-zero on error.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/optim/adamw.h>
#include <torch/nn/utils/clip_grad.h>
#include <cstring>
#include <string>
#include <vector>

namespace {
thread_local std::string last_error;
using T = at::Tensor;
T* wrap(const T& t) { return new T(t); }
}  // namespace

#define HS_TRY(expr, fail)                       \
  try {                                          \
    expr;                                        \
  } catch (const std::exception& e) {            \
    last_error = e.what();                       \
    return fail;                                 \
  } catch (...) {                                \
    last_error = "unknown C++ exception";        \
    return fail;                                 \
  }

extern "C" {

const char* hs_last_error() { return last_error.c_str(); }

void hs_free(T* t) { delete t; }

T* hs_from_f32(const float* data, const int64_t* dims, int ndim, int requires_grad) {
  HS_TRY({
    std::vector<int64_t> d(dims, dims + ndim);
    T t = at::empty(d, at::TensorOptions().dtype(at::kFloat));
    if (t.numel() > 0) std::memcpy(t.data_ptr<float>(), data, sizeof(float) * t.numel());
    if (requires_grad) t.set_requires_grad(true);
    return wrap(t);
  }, nullptr)
}

T* hs_from_i64(const int64_t* data, const int64_t* dims, int ndim) {
  HS_TRY({
    std::vector<int64_t> d(dims, dims + ndim);
    T t = at::empty(d, at::TensorOptions().dtype(at::kLong));
    if (t.numel() > 0) std::memcpy(t.data_ptr<int64_t>(), data, sizeof(int64_t) * t.numel());
    return wrap(t);
  }, nullptr)
}

int64_t hs_numel(T* t) { return t->numel(); }

int hs_dims(T* t, int64_t* out, int max) {
  int n = (int)t->dim();
  for (int i = 0; i < n && i < max; ++i) out[i] = t->size(i);
  return n;
}

int hs_to_f32(T* t, float* out, int64_t n) {
  HS_TRY({
    T c = t->detach().to(at::kFloat).contiguous();
    if (c.numel() != n) throw std::runtime_error("hs_to_f32: size mismatch");
    if (n > 0) std::memcpy(out, c.data_ptr<float>(), sizeof(float) * n);
    return 0;
  }, 1)
}

// 0 add, 1 sub, 2 mul, 3 div, 4 matmul
T* hs_binary(int op, T* a, T* b) {
  HS_TRY({
    switch (op) {
      case 0: return wrap(*a + *b);
      case 1: return wrap(*a - *b);
      case 2: return wrap(*a * *b);
      case 3: return wrap(*a / *b);
      case 4: return wrap(at::matmul(*a, *b));
    }
    throw std::runtime_error("hs_binary: bad op");
  }, nullptr)
}

// 0 sigmoid, 1 silu, 2 abs, 3 exp, 4 tanh, 5 neg, 6 relu, 7 mean, 8 sum, 9 softplus, 10 detach
T* hs_unary(int op, T* a) {
  HS_TRY({
    switch (op) {
      case 0: return wrap(at::sigmoid(*a));
      case 1: return wrap(at::silu(*a));
      case 2: return wrap(at::abs(*a));
      case 3: return wrap(at::exp(*a));
      case 4: return wrap(at::tanh(*a));
      case 5: return wrap(at::neg(*a));
      case 6: return wrap(at::relu(*a));
      case 7: return wrap(a->mean());
      case 8: return wrap(a->sum());
      case 9: return wrap(at::softplus(*a));
      case 10: return wrap(a->detach());
    }
    throw std::runtime_error("hs_unary: bad op");
  }, nullptr)
}

// 0 add, 1 mul, 2 pow
T* hs_scalar(int op, T* a, double s) {
  HS_TRY({
    switch (op) {
      case 0: return wrap(*a + s);
      case 1: return wrap(*a * s);
      case 2: return wrap(at::pow(*a, s));
    }
    throw std::runtime_error("hs_scalar: bad op");
  }, nullptr)
}

T* hs_index_select(T* a, int64_t dim, T* idx) { HS_TRY(return wrap(at::index_select(*a, dim, *idx)), nullptr) }

// Rows of `src` summed into `n` rows by `idx` (scatter-add along dim 0).
T* hs_segment_sum(T* src, T* idx, int64_t n) {
  HS_TRY({
    std::vector<int64_t> shape = src->sizes().vec();
    shape[0] = n;
    T z = at::zeros(shape, src->options());
    return wrap(at::index_add(z, 0, *idx, *src));
  }, nullptr)
}

T* hs_layer_norm(T* x, T* w, T* b) {
  HS_TRY({
    int64_t d = x->size(x->dim() - 1);
    return wrap(at::layer_norm(*x, {d}, *w, *b, 1e-5, false));
  }, nullptr)
}

T* hs_cat(T** ts, int n, int64_t dim) {
  HS_TRY({
    std::vector<T> v;
    for (int i = 0; i < n; ++i) v.push_back(*ts[i]);
    return wrap(at::cat(v, dim));
  }, nullptr)
}

T* hs_reshape(T* a, const int64_t* dims, int ndim) {
  HS_TRY(return wrap(a->reshape(std::vector<int64_t>(dims, dims + ndim))), nullptr)
}

int hs_backward(T* loss) { HS_TRY({ loss->backward(); return 0; }, 1) }

// Gradient of a leaf; null with an empty error when it has none.
T* hs_grad(T* t) {
  HS_TRY({
    last_error.clear();
    if (!t->grad().defined()) return (T*)nullptr;
    return wrap(t->grad().detach().clone());
  }, nullptr)
}

int hs_manual_seed(uint64_t seed) { HS_TRY({ at::manual_seed(seed); return 0; }, 1) }
int hs_set_num_threads(int n) { HS_TRY({ at::set_num_threads(n); return 0; }, 1) }
int hs_get_num_threads() { return at::get_num_threads(); }
void hs_set_grad_enabled(int on) { at::GradMode::set_enabled(on != 0); }

double hs_clip_grad_norm(T** ps, int n, double max_norm) {
  HS_TRY({
    std::vector<T> v;
    for (int i = 0; i < n; ++i) v.push_back(*ps[i]);
    return torch::nn::utils::clip_grad_norm_(v, max_norm);
  }, -1.0)
}

torch::optim::AdamW* hs_adamw_new(T** ps, int n, double lr, double b1, double b2, double eps, double wd) {
  HS_TRY({
    std::vector<T> v;
    for (int i = 0; i < n; ++i) v.push_back(*ps[i]);
    auto opts = torch::optim::AdamWOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd);
    return new torch::optim::AdamW(v, opts);
  }, nullptr)
}

int hs_adamw_step(torch::optim::AdamW* o) { HS_TRY({ o->step(); return 0; }, 1) }
int hs_adamw_zero_grad(torch::optim::AdamW* o) { HS_TRY({ o->zero_grad(true); return 0; }, 1) }
int hs_adamw_set_lr(torch::optim::AdamW* o, double lr) {
  HS_TRY({
    for (auto& g : o->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    return 0;
  }, 1)
}
void hs_adamw_free(torch::optim::AdamW* o) { delete o; }

}  // extern "C"
