#include "nabla/tensor.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <limits>
#include <mutex>
#include <ostream>
#include <sstream>

#include "../backend/device_backend.h"
#include "nabla/allocator.h"

namespace nabla {

std::ostream& operator<<(std::ostream& os, DType d) { return os << dtype_name(d); }
std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }
std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  return os << ']';
}
std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 9 &&
      s.find_first_not_of("0123456789", 5) == std::string::npos)
    return cuda(std::stoi(s.substr(5)));
  fail("[device] cannot parse device \"", s, "\": expected cpu, cuda or cuda:N");
}

namespace {
// Device memory goes through the device's backend (core never names a GPU library).
backend::Backend& device_backend(Device d) {
  backend::Backend* b = backend::find_device_backend(d.type);
  if (!b || d.index < 0 || d.index >= b->device_count()) backend::no_device_backend(d);
  return *b;
}
}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->device = device;
  s->data = device.is_cpu() ? detail::cpu_alloc(nbytes) : device_backend(device).allocate(nbytes, device.index);
  return s;
}

Storage::~Storage() {
  if (deleter) {
    deleter(data);
  } else if (data) {
    if (device.is_cpu()) {
      detail::cpu_free(data, nbytes);
    } else if (backend::Backend* b = backend::find_device_backend(device.type)) {
      b->deallocate(data, nbytes, device.index);
    }
  }
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    NB_CHECK(s >= 0, "[shape] negative dimension in ", shape);
    NB_CHECK(!__builtin_mul_overflow(n, s, &n), "[shape] ", shape, " has more than 2^63 elements");
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1
  NB_CHECK(dim >= -n && dim < n, "[", op, "] dimension ", dim, " is out of range for a tensor with ",
           ndim, " dimension(s); expected a value in [", -n, ", ", n - 1, "]");
  return dim < 0 ? dim + n : dim;
}

Tensor empty(const Shape& shape, TensorOptions opts) {
  auto impl = std::make_shared<TensorImpl>();
  int64_t n = shape_numel(shape);
  NB_CHECK(n <= std::numeric_limits<int64_t>::max() / int64_t(dtype_size(opts.dtype)), "[empty] shape ", shape,
           " of dtype ", opts.dtype, " needs more than 2^63 bytes");
  impl->storage = Storage::allocate(size_t(n) * dtype_size(opts.dtype), opts.device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  impl->requires_grad = opts.requires_grad;
  NB_CHECK(!opts.requires_grad || is_floating(opts.dtype),
           "[empty] only floating tensors can require grad, got dtype ", opts.dtype);
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

// Unlike reductions, which accept dim 0 of a 0-d tensor (as PyTorch does), size and stride
// name an existing dimension: a scalar has none.
int64_t Tensor::size(int64_t d) const {
  NB_CHECK(dim() > 0, "[size] dimension ", d, " asked of a 0-d tensor, which has no dimensions");
  return impl().shape[size_t(wrap_dim(d, dim(), "size"))];
}
int64_t Tensor::stride(int64_t d) const {
  NB_CHECK(dim() > 0, "[stride] dimension ", d, " asked of a 0-d tensor, which has no dimensions");
  return impl().strides[size_t(wrap_dim(d, dim(), "stride"))];
}
int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : impl().shape) n *= s;
  return n;
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no elements: any strides describe the same (empty) layout
  int64_t expected = 1;
  const auto& sh = impl().shape;
  const auto& st = impl().strides;
  for (int64_t i = int64_t(sh.size()) - 1; i >= 0; --i) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data) + impl().offset * int64_t(dtype_size(dtype()));
}

namespace {
double load_as_double(const void* base, DType dt, int64_t idx) {
  switch (dt) {
    case DType::boolean:
    case DType::u8: return static_cast<const uint8_t*>(base)[idx];
    case DType::i64: return double(static_cast<const int64_t*>(base)[idx]);
    case DType::f16: return float(static_cast<const Half*>(base)[idx]);
    case DType::bf16: return float(static_cast<const BFloat16*>(base)[idx]);
    case DType::f32: return static_cast<const float*>(base)[idx];
    case DType::f64: return static_cast<const double*>(base)[idx];
  }
  return 0;
}

// Integers exactly; a floating value truncated, when int64 can hold it (the conversion is
// undefined otherwise).
int64_t load_as_int64(const void* base, DType dt, int64_t idx, const char* op) {
  if (dt == DType::i64) return static_cast<const int64_t*>(base)[idx];
  if (dt == DType::u8 || dt == DType::boolean) return static_cast<const uint8_t*>(base)[idx];
  const double v = load_as_double(base, dt, idx);
  NB_CHECK(v >= -0x1p63 && v < 0x1p63, "[", op, "] value ", v, " (dtype ", dt, ") does not fit an int64");
  return int64_t(v);
}

// Visits element offsets of a strided view in row-major order.
template <typename F>
void for_each_offset(const Shape& shape, const Shape& strides, F&& f) {
  int64_t n = shape_numel(shape);
  if (n == 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(off);
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}
}  // namespace

double Tensor::item_double() const {
  NB_CHECK(numel() == 1, "[item] expected a tensor with one element, got shape ", shape());
  if (!device().is_cpu()) return to(Device::cpu()).item_double();
  return load_as_double(raw_data(), dtype(), 0);
}

int64_t Tensor::item_int64() const {
  NB_CHECK(numel() == 1, "[item] expected a tensor with one element, got shape ", shape());
  if (!device().is_cpu()) return to(Device::cpu()).item_int64();
  return load_as_int64(raw_data(), dtype(), 0, "item");
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  if (!device().is_cpu()) return to(Device::cpu()).to_int64_vector();
  std::vector<int64_t> out;
  out.reserve(size_t(numel()));
  const void* base = raw_data();
  for_each_offset(shape(), strides(), [&](int64_t off) { out.push_back(load_as_int64(base, dtype(), off, "to_vector")); });
  return out;
}

std::vector<double> Tensor::to_double_vector() const {
  if (!device().is_cpu()) return to(Device::cpu()).to_double_vector();
  std::vector<double> out;
  out.reserve(size_t(numel()));
  const void* base = raw_data();
  for_each_offset(shape(), strides(), [&](int64_t off) { out.push_back(load_as_double(base, dtype(), off)); });
  return out;
}

bool Tensor::requires_grad() const { return impl().requires_grad || grad_fn() != nullptr; }

ViewOrigin::~ViewOrigin() {
  std::shared_ptr<const ViewOrigin> p = std::move(parent);
  // Only the last owner unlinks; each origin freed here has no parent left to free recursively.
  while (p && p.use_count() == 1) p = std::move(p->parent);
}

/// The view ops from the root down to `o`, applied to `root` (a loop: chains can be long).
Tensor replay_view(const ViewOrigin& o, const Tensor& root) {
  std::vector<const ViewOrigin*> chain;
  for (const ViewOrigin* v = &o; v != nullptr; v = v->parent.get()) chain.push_back(v);
  Tensor t = root;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) t = (*it)->remake(t);
  return t;
}

void Tensor::remake_view_history() const {
  // A remake runs view ops and adopt() runs retain_grad, which read these accessors again: on
  // this thread they see the history as it was until the remake is done (no re-entry into the
  // lock below).
  thread_local bool remaking = false;
  if (remaking) return;
  // One remake at a time: the accessors are const and may be called from several threads.
  static std::mutex remake_lock;
  std::lock_guard<std::mutex> lock(remake_lock);
  remaking = true;
  struct Reset {
    ~Reset() { remaking = false; }
  } reset;
  TensorImpl& i = impl();
  const uint64_t h = i.view_history.load(std::memory_order_acquire);
  if (h == TensorImpl::kNoViewOrigin || h == i.storage->history) return;  // another thread did it
  const std::shared_ptr<TensorImpl>& root = i.view_origin->root;
  if (root->storage != i.storage) {
    // The root was moved to new memory (Module::to) and this view still reads the old one: the
    // root's history is no longer this memory's. Keep the history the view has and stop checking.
    i.view_origin = nullptr;
    i.view_history.store(TensorImpl::kNoViewOrigin, std::memory_order_release);
    return;
  }
  Tensor fresh = replay_view(*i.view_origin, Tensor(root));
  i.view_origin->adopt(*this, fresh);
}

Tensor& Tensor::requires_grad_(bool on) {
  if (on && !is_leaf()) return *this;  // a computed tensor requires grad already (PyTorch: a no-op)
  NB_CHECK(is_leaf(), "[requires_grad_] can only change requires_grad of a leaf tensor; "
                      "use detach() to get a leaf from a computed tensor");
  NB_CHECK(!on || is_floating(dtype()), "[requires_grad_] only floating tensors can require grad, got dtype ",
           dtype());
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    NB_CHECK(g.shape() == shape(), "[set_grad] gradient shape ", g.shape(), " does not match tensor shape ",
             shape());
    NB_CHECK(g.dtype() == dtype(), "[set_grad] gradient dtype ", g.dtype(), " does not match tensor dtype ",
             dtype());
  }
  impl().grad = g.impl_ptr();
}

Tensor Tensor::detach() const {
  Tensor v = make_view(*this, shape(), strides(), offset());
  v.impl().is_view = impl().is_view;
  return v;
}

// ---- printing ------------------------------------------------------------------------
namespace {
/// `v`: the values as doubles (for the layout decisions); `ints`: an integer tensor's values,
/// printed exactly (a double holds integers only up to 2^53).
void print_values(std::ostream& os, const Tensor& t, const std::vector<double>& v, const std::vector<int64_t>& ints) {
  const int64_t kEdge = 3, kMaxFull = 1000;
  bool summarize = t.numel() > kMaxFull;
  bool fp = t.is_floating_point();
  bool all_int = true;
  double maxabs = 0;
  for (double x : v) {
    if (std::isfinite(x)) {
      all_int = all_int && x == std::floor(x);
      maxabs = std::max(maxabs, std::abs(x));
    }
  }
  bool sci = fp && (maxabs >= 1e8 || (maxabs > 0 && maxabs < 1e-4));
  auto fmt = [&](size_t i) {
    const double x = v[i];
    std::ostringstream s;
    if (t.dtype() == DType::boolean) {
      s << (ints[i] ? "True" : "False");  // as PyTorch prints bool tensors
    } else if (!fp) {
      s << ints[i];
    } else if (!std::isfinite(x)) {
      s << (std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf"));
    } else if (sci) {
      s << std::scientific << std::setprecision(4) << x;
    } else if (all_int) {
      s << int64_t(x) << '.';
    } else {
      s << std::fixed << std::setprecision(4) << x;
    }
    return s.str();
  };
  const Shape& sh = t.shape();
  if (sh.empty()) {
    os << fmt(0);
    return;
  }
  Shape st = contiguous_strides(sh);
  // Recursive over dims is fine here: depth = ndim, not data size.
  std::function<void(size_t, int64_t, int)> rec = [&](size_t d, int64_t base, int indent) {
    os << '[';
    int64_t n = sh[d];
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdge && i == kEdge) {
        os << "...";
        i = n - kEdge - 1;
        os << (d + 1 == sh.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
        continue;
      }
      if (d + 1 == sh.size()) {
        os << fmt(size_t(base + i * st[d]));
      } else {
        rec(d + 1, base + i * st[d], indent + 1);
      }
      if (i + 1 < n) os << (d + 1 == sh.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
    }
    os << ']';
  };
  rec(0, 0, 7);
}
}  // namespace

std::string Tensor::to_string() const {
  std::ostringstream os;
  if (!defined()) return "tensor(undefined)";
  os << "tensor(";
  if (device().is_cpu()) {
    print_values(os, *this, to_double_vector(), is_floating_point() ? std::vector<int64_t>() : to_int64_vector());
  } else {
    os << "<on " << device() << ">";
  }
  os << ", shape=" << shape() << ", dtype=" << dtype();
  if (!device().is_cpu()) os << ", device=" << device();
  if (requires_grad()) os << (is_leaf() ? ", requires_grad=true" : ", grad_fn=<op>");
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace nabla
