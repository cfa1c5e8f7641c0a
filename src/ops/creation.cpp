// Tensor creation and random fills (no autograd history; `requires_grad` makes a leaf).
#include <cmath>

#include "nabla/random.h"
#include "op_util.h"

namespace nabla {

namespace {
Tensor filled(const Shape& shape, double value, TensorOptions opts, const char* op = "full") {
  ops::check_fill_value(opts.dtype, value, op);
  Tensor t = empty(shape, {.dtype = opts.dtype, .device = opts.device});
  backend::get(opts.device).fill(opts.dtype, t.raw_data(), t.numel(), value);
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor zeros(const Shape& shape, TensorOptions opts) { return filled(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return filled(shape, 1.0, opts); }
Tensor full(const Shape& shape, double value, TensorOptions opts) { return filled(shape, value, opts); }
Tensor zeros_like(const Tensor& t) { return filled(t.shape(), 0.0, {.dtype = t.dtype(), .device = t.device()}); }
Tensor ones_like(const Tensor& t) { return filled(t.shape(), 1.0, {.dtype = t.dtype(), .device = t.device()}); }
Tensor full_like(const Tensor& t, double v) {
  return filled(t.shape(), v, {.dtype = t.dtype(), .device = t.device()}, "full_like");
}
Tensor scalar_tensor(double value, DType dtype) { return filled({}, value, {.dtype = dtype}, "scalar_tensor"); }

Tensor arange(double start, double end, double step, std::optional<DType> dtype) {
  NB_CHECK(step != 0, "[arange] step must be non-zero");
  NB_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), "[arange] start, end and step must be finite, got ",
           start, ", ", end, ", ", step);
  NB_CHECK((end - start) / step >= 0 || start == end, "[arange] step ", step, " points away from end: start ", start,
           ", end ", end);
  bool integral = start == std::floor(start) && end == std::floor(end) && step == std::floor(step);
  DType dt = dtype.value_or(integral ? DType::i64 : DType::f32);
  const double count = std::ceil((end - start) / step);
  NB_CHECK(count < 0x1p62, "[arange] ", start, " to ", end, " by ", step, " has ", count,
           " elements, more than a tensor can hold");
  int64_t n = int64_t(count);
  if (n > 0) {  // the first and last values must fit an integer dtype, as a fill value must
    ops::check_fill_value(dt, start, "arange");
    ops::check_fill_value(dt, start + double(n - 1) * step, "arange");
  }
  NB_CHECK(dt != DType::boolean, "[arange] is not implemented for bool, as in PyTorch");
  Tensor t = empty({std::max<int64_t>(n, 0)}, {.dtype = dt});
  NB_DISPATCH_ALL_AND_HALF(dt, "arange", [&] {
    scalar_t* p = t.data_ptr<scalar_t>();
    if (integral && !is_floating(dt)) {
      // In integers: start + i * step in doubles repeats values beyond 2^53. Every value lies
      // between the first and the last, which fit (checked above).
      const int64_t first = int64_t(start), by = int64_t(step);
      for (int64_t i = 0; i < n; ++i) p[i] = scalar_t(first + i * by);
    } else {
      for (int64_t i = 0; i < n; ++i) p[i] = scalar_t(start + double(i) * step);
    }
  });
  return t;
}
Tensor arange(double end) { return arange(0, end, 1); }

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  NB_CHECK(steps >= 0, "[linspace] steps must be non-negative, got ", steps);
  NB_CHECK(opts.dtype != DType::boolean, "[linspace] is not implemented for bool, as in PyTorch");
  if (steps > 0) {  // every value lies between the two ends, which must fit an integer dtype
    ops::check_fill_value(opts.dtype, start, "linspace");
    ops::check_fill_value(opts.dtype, end, "linspace");
  }
  Tensor t = empty({steps}, {.dtype = opts.dtype});
  NB_DISPATCH_ALL_AND_HALF(opts.dtype, "linspace", [&] {
    scalar_t* p = t.data_ptr<scalar_t>();
    for (int64_t i = 0; i < steps; ++i)
      p[i] = scalar_t(steps == 1 ? start : start + (end - start) * double(i) / double(steps - 1));
  });
  t = t.to(opts.device);  // written on the host, then moved in one transfer
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor eye(int64_t n, TensorOptions opts) {
  NB_CHECK(n >= 0, "[eye] n must be non-negative, got ", n);
  Tensor t = zeros({n, n}, {.dtype = opts.dtype});
  NB_DISPATCH_ALL_AND_HALF(opts.dtype, "eye", [&] {
    scalar_t* p = t.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) p[i * n + i] = scalar_t(1);
  });
  t = t.to(opts.device);
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

void uniform_(Tensor& t, double low, double high) {
  ops::check_floating(t, "uniform_");
  ops::check_no_internal_overlap(t, "uniform_");
  NB_CHECK(low <= high, "[uniform_] low ", low, " is greater than high ", high);
  Tensor dst = t.is_contiguous() ? t : empty(t.shape(), {.dtype = t.dtype(), .device = t.device()});
  auto st = detail::reserve_blocks(uint64_t(dst.numel() + 3) / 4);
  backend::get(t.device()).rand_uniform(t.dtype(), dst.raw_data(), dst.numel(), st.seed, st.offset, low, high);
  if (!t.is_contiguous()) ops::copy_into(t, dst);
  ops::bump_version(t, "uniform_");
}

void normal_(Tensor& t, double mean, double std) {
  ops::check_floating(t, "normal_");
  ops::check_no_internal_overlap(t, "normal_");
  NB_CHECK(std >= 0, "[normal_] std must be non-negative, got ", std);
  Tensor dst = t.is_contiguous() ? t : empty(t.shape(), {.dtype = t.dtype(), .device = t.device()});
  auto st = detail::reserve_blocks(uint64_t(dst.numel() + 3) / 4);
  backend::get(t.device()).rand_normal(t.dtype(), dst.raw_data(), dst.numel(), st.seed, st.offset, mean, std);
  if (!t.is_contiguous()) ops::copy_into(t, dst);
  ops::bump_version(t, "normal_");
}

Tensor rand(const Shape& shape, TensorOptions opts) {
  NB_CHECK(is_floating(opts.dtype), "[rand] expected a floating dtype, got ", opts.dtype);
  Tensor t = empty(shape, {.dtype = opts.dtype, .device = opts.device});
  uniform_(t, 0.0, 1.0);
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor randn(const Shape& shape, TensorOptions opts) {
  NB_CHECK(is_floating(opts.dtype), "[randn] expected a floating dtype, got ", opts.dtype);
  Tensor t = empty(shape, {.dtype = opts.dtype, .device = opts.device});
  normal_(t, 0.0, 1.0);
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device) {
  NB_CHECK(low < high, "[randint] expected low < high, got low ", low, " and high ", high);
  Tensor t = empty(shape, {.dtype = DType::i64, .device = device});
  auto st = detail::reserve_blocks(uint64_t(t.numel() + 1) / 2);
  backend::get(device).rand_int(static_cast<int64_t*>(t.raw_data()), t.numel(), st.seed, st.offset, low, high);
  return t;
}

Tensor randperm(int64_t n) {
  NB_CHECK(n >= 0, "[randperm] n must be non-negative, got ", n);
  // Fisher-Yates driven by one block of draws, so it is reproducible for a seed.
  Tensor t = arange(0, double(n), 1, DType::i64);
  if (n < 2) return t;
  Tensor r = rand({n}, {.dtype = DType::f64});
  int64_t* p = t.data_ptr<int64_t>();
  const double* u = r.data_ptr<double>();
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[int64_t(u[i] * double(i + 1))]);
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, std::optional<DType> dtype) {
  NB_CHECK(int64_t(values.size()) == shape_numel(shape), "[from_vector] got ", values.size(),
           " values for shape ", shape, " which holds ", shape_numel(shape));
  Tensor t = empty(shape, {.dtype = dtype_of<T>::value});
  std::copy(values.begin(), values.end(), t.data_ptr<T>());
  return dtype && *dtype != t.dtype() ? ops::copy_kernel(t, *dtype) : t;
}
template Tensor from_vector(const std::vector<float>&, const Shape&, std::optional<DType>);
template Tensor from_vector(const std::vector<double>&, const Shape&, std::optional<DType>);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, std::optional<DType>);
template Tensor from_vector(const std::vector<uint8_t>&, const Shape&, std::optional<DType>);
template Tensor from_vector(const std::vector<bool>&, const Shape&, std::optional<DType>);

Tensor from_vector(std::initializer_list<bool> values, const Shape& shape) {
  return from_vector(std::vector<bool>(values), shape);
}

}  // namespace nabla
