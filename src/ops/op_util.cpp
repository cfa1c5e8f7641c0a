#include "op_util.h"

#include <cmath>

namespace nabla {

DType result_type(const Tensor& a, const Tensor& b) {
  NB_CHECK(a.defined() && b.defined(), "[result_type] got an undefined tensor");
  const bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote(a.dtype(), b.dtype());
  // One 0-d operand: it acts as a number would, raising the result only to a higher category
  // (c10's combine_categories: bool < integral < floating). So a bool mask times an i64 0-d
  // tensor is i64 (not a wrapping u8), and a bool 0-d never changes a dimensioned tensor.
  const DType dim = a0 ? b.dtype() : a.dtype(), zero = a0 ? a.dtype() : b.dtype();
  if (dtype_category(zero) <= dtype_category(dim)) return dim;
  return promote(dim, zero);
}

}  // namespace nabla

namespace nabla::ops {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    NB_CHECK(da == db || da == 1 || db == 1, "[", op, "] shapes ", a, " and ", b,
             " cannot be broadcast: dimension ", i, " is ", da, " vs ", db, " (sizes must match or be 1)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape st(out_shape.size(), 0);
  size_t off = out_shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i) st[off + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

void check_tensor(const Tensor& t, const char* op) {
  NB_CHECK(t.defined(), "[", op, "] got an undefined tensor");
  NB_CHECK(t.dim() <= kMaxDims, "[", op, "] supports at most ", kMaxDims, " dimensions, got shape ", t.shape());
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  check_tensor(a, op);
  check_tensor(b, op);
  NB_CHECK(a.device() == b.device(), "[", op, "] expected all tensors on one device, got ", a.device(), " (shape ",
           a.shape(), ") and ", b.device(), " (shape ", b.shape(), "); move them with .to(device)");
}

Tensor scalar_to_device(const Tensor& t, Device d) {
  if (t.device() == d || t.dim() != 0 || !t.device().is_cpu()) return t;
  // A value the host holds becomes a fill kernel's argument, as PyTorch passes CPU scalars to
  // its kernels: an upload would make the host wait for the device's queue (one stall per
  // BatchNorm layer per step from num_batches_tracked += 1). Integers beyond 2^53, which a double
  // cannot hold, and scalars that need a gradient (a differentiable transfer) are copied.
  const double v = t.item();
  const int64_t limit = int64_t(1) << 53;  // a range check, not std::abs (undefined for INT64_MIN)
  const int64_t i = t.dtype() == DType::i64 ? *t.data_ptr<int64_t>() : 0;
  const bool exact = i >= -limit && i <= limit;
  if (t.requires_grad() || !exact) return t.to(d);
  return scalar_on(v, t.dtype(), d);
}

void check_floating(const Tensor& t, const char* op) {
  NB_CHECK(t.is_floating_point(), "[", op, "] expected a floating tensor (f16, bf16, f32 or f64), got dtype ", t.dtype(),
           " with shape ", t.shape());
}

void check_normalized_shape(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                            const char* op) {
  check_floating(x, op);
  const int64_t k = int64_t(normalized_shape.size());
  NB_CHECK(k >= 1 && k <= x.dim(), "[", op, "] normalized_shape ", normalized_shape, " does not fit input ", x.shape());
  NB_CHECK(Shape(x.shape().end() - k, x.shape().end()) == normalized_shape, "[", op, "] input ", x.shape(),
           " does not end with normalized_shape ", normalized_shape);
  if (weight.defined())
    NB_CHECK(weight.shape() == normalized_shape, "[", op, "] weight shape ", weight.shape(), " must equal ",
             normalized_shape);
  if (bias.defined())
    NB_CHECK(bias.shape() == normalized_shape, "[", op, "] bias shape ", bias.shape(), " must equal ", normalized_shape);
}

bool converts_without_overflow(DType dt, double v) {
  if (is_floating(dt) || dt == DType::boolean) return true;  // any value: non-zero (NaN too) is true
  // The half-open bounds are the ones a truncating conversion stays defined on (NaN fails both).
  return dt == DType::u8 ? (v > -1.0 && v < 256.0) : (v >= -0x1p63 && v < 0x1p63);
}

void check_fill_value(DType dt, double v, const char* op) {
  NB_CHECK(converts_without_overflow(dt, v), "[", op, "] value ", v, " cannot be converted to dtype ", dt,
           " without overflow");
  // A finite value past the 16-bit type's largest finite one would become inf: PyTorch refuses
  // it (inf and NaN themselves are fine).
  if (is_half(dt)) {
    const double largest = dt == DType::f16 ? 65504.0 : double(float(BFloat16::from_bits(0x7f7f)));
    NB_CHECK(!std::isfinite(v) || std::abs(v) <= largest, "[", op, "] value ", v, " cannot be converted to dtype ",
             dt, " without overflow (largest finite ", dt, ": ", largest, ")");
  }
}

namespace {
backend::Operand operand(const Tensor& t, const Shape& st) { return {t.raw_data(), st.data()}; }
}  // namespace

Tensor unary_kernel(backend::UnaryOp op, const Tensor& x, double a, double b) {
  check_tensor(x, backend::op_name(op));
  // The kernels run bool as u8: only ops whose result stays 0/1 may take it (the ops convert
  // or refuse bool before this; this is the backstop that keeps a bool tensor 0/1).
  NB_CHECK(x.dtype() != DType::boolean || op == backend::UnaryOp::Sign, "[", backend::op_name(op),
           "] is not implemented for bool (shape ", x.shape(), "); convert with .to(kI64) or .to(kF32) first");
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  backend::get(x.device()).unary(op, x.dtype(), {int(x.dim()), x.shape().data()}, operand(out, out.strides()),
                      operand(x, x.strides()), a, b);
  return out;
}

Tensor binary_kernel(backend::BinaryOp op, const Tensor& a0, const Tensor& b0, const char* name) {
  // A 0-d CPU tensor combines with a tensor on any device (like a Python scalar in PyTorch).
  Tensor a = scalar_to_device(a0, b0.device()), b = scalar_to_device(b0, a0.device());
  check_same_device(a, b, name);
  NB_CHECK(a.dtype() == b.dtype(), "[", name, "] internal: dtypes differ (", a.dtype(), ", ", b.dtype(), ")");
  NB_CHECK(a.dtype() != DType::boolean || op == backend::BinaryOp::Maximum || op == backend::BinaryOp::Minimum, "[", name,
           "] is not implemented for bool tensors (shapes ", a.shape(), " and ", b.shape(),
           "); convert with .to(kI64) or .to(kF32) first, or use the logical ops");
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, {.dtype = a.dtype(), .device = a.device()});
  Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  backend::get(a.device()).binary(op, a.dtype(), {int(shape.size()), shape.data()}, operand(out, out.strides()),
                       operand(a, sa), operand(b, sb));
  return out;
}

Tensor compare_kernel(backend::CompareOp op, const Tensor& a1, const Tensor& b1, const char* name) {
  Tensor a0 = scalar_to_device(a1, b1.device()), b0 = scalar_to_device(b1, a1.device());
  check_same_device(a0, b0, name);
  DType dt = result_type(a0, b0);
  Tensor a = a0.dtype() == dt ? a0 : copy_kernel(a0, dt);
  Tensor b = b0.dtype() == dt ? b0 : copy_kernel(b0, dt);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, {.dtype = DType::boolean, .device = a.device()});
  Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  backend::get(a.device()).compare(op, dt, {int(shape.size()), shape.data()}, operand(out, out.strides()), operand(a, sa),
                        operand(b, sb));
  return out;
}

namespace {
/// x != 0 as bool: the conversion to bool (NaN and any non-zero are true, as PyTorch). A plain
/// conversion kernel would keep a u8's 2 or truncate 0.5 to 0.
Tensor nonzero_as_bool(const Tensor& x) {
  return compare_kernel(backend::CompareOp::Ne, x, scalar_on(0.0, x.dtype(), x.device()), "to");
}
}  // namespace

Tensor copy_kernel(const Tensor& x, DType dtype) {
  check_tensor(x, "copy");
  if (dtype == DType::boolean && x.dtype() != DType::boolean) return nonzero_as_bool(x);
  Tensor out = empty(x.shape(), {.dtype = dtype, .device = x.device()});
  backend::get(x.device()).copy(dtype, x.dtype(), {int(x.dim()), x.shape().data()}, operand(out, out.strides()),
                     operand(x, x.strides()));
  return out;
}

namespace {
// dst and src live on different devices: make src one contiguous block of dst's shape and
// dtype on its own device, move the bytes in one transfer, then place them (on dst's device).
void copy_across_devices(const Tensor& dst, const Tensor& src) {
  Tensor s = src;
  if (s.shape() != dst.shape() || s.dtype() != dst.dtype() || !s.is_contiguous()) {
    s = empty(dst.shape(), {.dtype = dst.dtype(), .device = src.device()});
    copy_into(s, src);
  }
  Tensor d = dst.is_contiguous() ? dst : empty(dst.shape(), {.dtype = dst.dtype(), .device = dst.device()});
  size_t bytes = size_t(d.numel()) * dtype_size(d.dtype());
  if (src.device().is_cpu()) {
    backend::get(dst.device()).copy_from_host(d.raw_data(), s.raw_data(), bytes, dst.device().index);
  } else if (dst.device().is_cpu()) {
    backend::get(src.device()).copy_to_host(d.raw_data(), s.raw_data(), bytes, src.device().index);
  } else {  // between two GPUs: through the host
    Tensor h = empty(dst.shape(), {.dtype = dst.dtype()});
    backend::get(src.device()).copy_to_host(h.raw_data(), s.raw_data(), bytes, src.device().index);
    backend::get(dst.device()).copy_from_host(d.raw_data(), h.raw_data(), bytes, dst.device().index);
  }
  if (d.raw_data() != dst.raw_data()) copy_into(dst, d);
}
}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  check_tensor(dst, "copy_");
  check_tensor(src, "copy_");
  NB_CHECK(broadcast_shapes(src.shape(), dst.shape(), "copy_") == dst.shape(), "[copy_] source shape ", src.shape(),
           " cannot be broadcast to destination shape ", dst.shape());
  if (dst.numel() == 0) return;
  if (dst.device() != src.device()) return copy_across_devices(dst, src);
  if (dst.dtype() == DType::boolean && src.dtype() != DType::boolean) return copy_into(dst, nonzero_as_bool(src));
  Shape st = broadcast_strides(src, dst.shape());
  Tensor from = src;
  if (src.shares_storage(dst)) {
    if (src.raw_data() == dst.raw_data() && st == dst.strides() && src.dtype() == dst.dtype()) return;  // x.copy_(x)
    // Partly overlapping (y.copy_(y.t()), y[1:].copy_(y[:-1])): elements would be read after they
    // were overwritten, so read from a copy (PyTorch refuses these).
    from = copy_kernel(src, src.dtype());
    st = broadcast_strides(from, dst.shape());
  }
  backend::get(dst.device()).copy(dst.dtype(), from.dtype(), {int(dst.dim()), dst.shape().data()},
                                  operand(dst, dst.strides()), operand(from, st));
}

Tensor contiguous_data(const Tensor& x) { return x.is_contiguous() ? x : copy_kernel(x, x.dtype()); }

Tensor scalar_on(double v, DType dtype, Device device) {
  Tensor t = empty({}, {.dtype = dtype, .device = device});
  backend::get(device).fill(dtype, t.raw_data(), 1, v);
  return t;
}

Tensor scalar_like(double v, const Tensor& like) { return scalar_on(v, like.dtype(), like.device()); }

void check_no_internal_overlap(const Tensor& t, const char* op) {
  if (t.numel() == 0) return;
  for (int64_t d = 0; d < t.dim(); ++d) {
    NB_CHECK(t.stride(d) != 0 || t.size(d) <= 1, "[", op, "] cannot write in place into a tensor of shape ", t.shape(),
             " and strides ", t.strides(), ": dimension ", d,
             " has stride 0, so several elements are one memory location (an expanded view); clone() it first");
  }
}

Tensor sqrt_zero_grad_at_zero(const Tensor& v) {
  // Both branches stay finite: where() would pass sqrt's NaN slope at 0 on to a double backward.
  const Tensor is_zero = eq(v, scalar_like(0, v));
  return where(is_zero, zeros_like(v), sqrt(where(is_zero, ones_like(v), v)));
}

void move_retained_grad(const Tensor& t) {
  TensorImpl& i = t.impl();
  if (!i.retains_grad || !i.grad_fn) return;
  i.retains_grad = false;
  t.retain_grad();
}

}  // namespace nabla::ops
