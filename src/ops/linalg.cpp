// matmul and linear on BLAS. Transposed operands are passed to GEMM as transposes
// (no copy), which is what every linear layer's backward needs. bilinear is composed of the two.
#include "autocast.h"
#include "op_util.h"

namespace nabla {

namespace {

struct MatOperand {
  Tensor data;  // possibly a copy
  bool trans;
  int64_t ld;
};

// A [.., r, c] operand whose last two dims are row- or column-major can go to GEMM as is.
MatOperand as_gemm_operand(const Tensor& t) {
  int64_t nd = t.dim();
  int64_t r = t.size(nd - 2), c = t.size(nd - 1);
  int64_t sr = t.stride(nd - 2), sc = t.stride(nd - 1);
  const bool batch_ok = nd <= 3;  // callers pass [B, r, c]: one batch stride
  if (batch_ok && (sc == 1 || c == 1) && sr >= std::max<int64_t>(c, 1)) return {t, false, std::max<int64_t>(sr, 1)};
  if (batch_ok && (sr == 1 || r == 1) && sc >= std::max<int64_t>(r, 1)) return {t, true, std::max<int64_t>(sc, 1)};
  Tensor cc = ops::copy_kernel(t, t.dtype());
  return {cc, false, std::max<int64_t>(c, 1)};
}

/// Plain batched GEMM of [B, m, k] x [B, k, n] (B may be 1 via stride 0), no autograd.
Tensor gemm_3d(const Tensor& a, const Tensor& b) {
  NoGradGuard ng;
  int64_t B = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  MatOperand A = as_gemm_operand(a), Bm = as_gemm_operand(b);
  Tensor out = empty({B, m, n}, {.dtype = a.dtype(), .device = a.device()});
  if (out.numel() == 0) return out;
  if (k == 0) {
    backend::get(out.device()).fill(out.dtype(), out.raw_data(), out.numel(), 0.0);
    return out;
  }
  backend::get(a.device()).gemm(a.dtype(), {.trans_a = A.trans, .trans_b = Bm.trans, .m = m, .n = n, .k = k, .alpha = 1,
                                 .beta = 0, .a = A.data.raw_data(), .lda = A.ld,
                                 .stride_a = A.data.size(0) == 1 ? 0 : A.data.stride(0), .b = Bm.data.raw_data(),
                                 .ldb = Bm.ld, .stride_b = Bm.data.size(0) == 1 ? 0 : Bm.data.stride(0),
                                 .c = out.raw_data(), .ldc = n, .stride_c = m * n, .batch = B});
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a0, const Tensor& b0) {
  if (ops::AutocastRegion ac(ops::autocast_op::matmul, {&a0, &b0}); ac.active())
    return matmul(ac.cast(a0), ac.cast(b0));
  ops::check_same_device(a0, b0, "matmul");
  NB_CHECK(a0.dim() >= 1 && b0.dim() >= 1, "[matmul] both arguments need at least 1 dimension, got shapes ",
           a0.shape(), " and ", b0.shape());
  DType dt = promote(a0.dtype(), b0.dtype());
  NB_CHECK(dt != DType::boolean, "[matmul] is not implemented for two bool tensors (shapes ", a0.shape(), " and ",
           b0.shape(), "), as in PyTorch; convert them with .to(kI64) or .to(kF32)");
  // As in PyTorch: integer matrices multiply (wrapping) on the CPU; cuBLAS has no integer GEMM.
  NB_CHECK(is_floating(dt) || a0.device().is_cpu(), "[matmul] integer operands (", a0.dtype(), " and ",
           b0.dtype(), ") multiply on the CPU only, got them on ", a0.device(),
           "; convert them with .to(DType::f32) or move them to the CPU");
  Tensor a = a0.to(dt), b = b0.to(dt);
  // 1-D operands become matrices and the added dimension is dropped at the end.
  Tensor A = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor B = b.dim() == 1 ? b.unsqueeze(1) : b;
  int64_t k = A.size(-1);
  NB_CHECK(k == B.size(-2), "[matmul] cannot multiply ", a.shape(), " by ", b.shape(), ": inner sizes ", k, " and ",
           B.size(-2), " differ");
  int64_t m = A.size(-2), n = B.size(-1);
  Shape batch_a(A.shape().begin(), A.shape().end() - 2), batch_b(B.shape().begin(), B.shape().end() - 2);
  Shape batch = ops::broadcast_shapes(batch_a, batch_b, "matmul");
  int64_t nb = shape_numel(batch);

  Tensor out;
  {
    NoGradGuard ng;
    auto to3d = [&](const Tensor& t, const Shape& tb, int64_t r, int64_t c) {
      if (tb == batch) return t.reshape({nb, r, c});
      if (shape_numel(tb) == 1) return t.reshape({1, r, c}).expand({nb, r, c});
      Shape full = batch;
      full.push_back(r);
      full.push_back(c);
      return t.expand(full).contiguous().reshape({nb, r, c});
    };
    Tensor A3 = to3d(A, batch_a, m, k), B3 = to3d(B, batch_b, k, n);
    if (A3.size(0) == nb && B3.size(0) == nb && A3.stride(0) == 0) A3 = A3.contiguous();
    if (B3.stride(0) == 0 && nb > 1 && A3.stride(0) != 0) {
      // Shared right operand: one GEMM over all batch rows at once when A is a stack.
      if (A3.is_contiguous()) {
        Tensor flat = gemm_3d(A3.reshape({1, nb * m, k}), B3.slice(0, 0, 1));
        out = flat.reshape({nb, m, n});
      }
    }
    if (!out.defined()) {
      if (B3.stride(0) == 0 && nb > 1) B3 = B3.contiguous();
      if (A3.stride(0) == 0 && nb > 1) A3 = A3.contiguous();
      out = gemm_3d(A3, B3);
    }
    Shape out_shape = batch;
    if (a.dim() > 1) out_shape.push_back(m);
    if (b.dim() > 1) out_shape.push_back(n);
    out = out.reshape(out_shape);
  }
  if (auto node = autograd::record("matmul", {a, b}, {out})) {
    bool na = node->needs_input_grad(0), nbg = node->needs_input_grad(1);
    node->backward_fn = [sa = nbg ? node->save(a) : autograd::SavedTensor(),
                         sb = na ? node->save(b) : autograd::SavedTensor(), na, nbg, ash = a.shape(),
                         bsh = b.shape()](const TensorList& g) {
      // Work in the matrix form of each operand, then drop the added dims and sum the
      // broadcast batch dims.
      Tensor G = g[0];
      if (ash.size() == 1) G = G.unsqueeze(G.dim() == 0 ? 0 : -2);  // 1-D . 1-D: G is 0-d
      if (bsh.size() == 1) G = G.unsqueeze(-1);
      Tensor ga, gb;
      if (na) {
        Tensor bv = sb.get();
        Tensor Bm = bv.dim() == 1 ? bv.unsqueeze(1) : bv;
        ga = matmul(G, Bm.transpose(-1, -2));
        if (ash.size() == 1) ga = ga.squeeze(-2);
        ga = sum_to(ga, ash);
      }
      if (nbg) {
        Tensor av = sa.get();
        Tensor Am = av.dim() == 1 ? av.unsqueeze(0) : av;
        gb = matmul(Am.transpose(-1, -2), G);
        if (bsh.size() == 1) gb = gb.squeeze(-1);
        gb = sum_to(gb, bsh);
      }
      return TensorList{ga, gb};
    };
  }
  return out;
}

namespace {

/// linear, or relu(linear) when `fuse_relu`: for a 2-D input of the weight's dtype one backend
/// call (on the CPU, f32: one oneDNN matmul with the bias and the ReLU riding along), otherwise
/// composed from matmul, add and relu. The fused VJP masks the gradient with the saved output, as
/// relu's does, then takes linear's.
Tensor linear_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, bool fuse_relu, const char* name) {
  NB_CHECK(weight.dim() == 2, "[", name, "] weight must be 2-D [out_features, in_features], got shape ",
           weight.shape());
  NB_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "[", name, "] input shape ", x.shape(),
           " does not match weight shape ", weight.shape(), ": expected input [..., ", weight.size(1), "]");
  if (bias.defined())
    NB_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "[", name, "] bias must have shape [",
             weight.size(0), "], got ", bias.shape());
  bool fused = x.dim() == 2 && x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == weight.dtype()) &&
               x.is_floating_point();
  if (!fused) {
    Tensor y = matmul(x, weight.t());
    if (bias.defined()) y = y + bias;
    return fuse_relu ? relu(y) : y;
  }
  ops::check_same_device(x, weight, name);
  if (bias.defined()) ops::check_same_device(x, bias, name);
  int64_t n = x.size(0), in = x.size(1), out_f = weight.size(0);
  Tensor out = empty({n, out_f}, {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) {
    NoGradGuard ng;
    backend::Backend& be = backend::get(x.device());
    Tensor b = bias.defined() ? ops::contiguous_data(bias) : Tensor();
    if (in == 0) {
      // No products: the output is the bias rows (or zeros), then the activation.
      if (b.defined()) ops::copy_into(out, b);
      else be.fill(out.dtype(), out.raw_data(), out.numel(), 0.0);
      if (fuse_relu) out = relu(out);
    } else {
      Tensor xw = x.unsqueeze(0), ww = weight.t().unsqueeze(0);
      MatOperand X = as_gemm_operand(xw), W = as_gemm_operand(ww);
      be.gemm_bias_relu(x.dtype(),
                        {.trans_a = X.trans, .trans_b = W.trans, .m = n, .n = out_f, .k = in, .alpha = 1, .beta = 0,
                         .a = X.data.raw_data(), .lda = X.ld, .stride_a = 0, .b = W.data.raw_data(), .ldb = W.ld,
                         .stride_b = 0, .c = out.raw_data(), .ldc = out_f, .stride_c = 0, .batch = 1},
                        b.defined() ? b.raw_data() : nullptr, fuse_relu);
    }
  }
  if (auto node = autograd::record(name, {x, weight, bias}, {out})) {
    bool nx = node->needs_input_grad(0), nw = node->needs_input_grad(1), nbias = node->needs_input_grad(2);
    node->backward_fn = [sx = nw ? node->save(x) : autograd::SavedTensor(),
                         sw = nx ? node->save(weight) : autograd::SavedTensor(),
                         so = fuse_relu ? node->save(out) : autograd::SavedTensor(), nx, nw,
                         nbias](const TensorList& g) {
      Tensor go = so.defined() ? threshold_backward(g[0], so.get()) : g[0];
      return TensorList{nx ? matmul(go, sw.get()) : Tensor(), nw ? matmul(go.t(), sx.get()) : Tensor(),
                        nbias ? sum(go, {0}) : Tensor()};
    };
  }
  return out;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (ops::AutocastRegion ac(ops::autocast_op::linear, {&x, &weight, &bias}); ac.active())
    return linear(ac.cast(x), ac.cast(weight), ac.cast(bias));
  return linear_impl(x, weight, bias, false, "linear");
}

Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (ops::AutocastRegion ac(ops::autocast_op::linear, {&x, &weight, &bias}); ac.active())
    return linear_relu(ac.cast(x), ac.cast(weight), ac.cast(bias));
  return linear_impl(x, weight, bias, true, "linear_relu");
}

Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor& bias) {
  if (ops::AutocastRegion ac(ops::autocast_op::bilinear, {&x1, &x2, &weight, &bias}); ac.active())
    return bilinear(ac.cast(x1), ac.cast(x2), ac.cast(weight), ac.cast(bias));
  for (const Tensor* t : {&x1, &x2, &weight}) ops::check_floating(*t, "bilinear");
  ops::check_same_device(x1, x2, "bilinear");
  ops::check_same_device(x1, weight, "bilinear");
  NB_CHECK(weight.dim() == 3, "[bilinear] expected weight [out, in1, in2], got shape ", weight.shape());
  NB_CHECK(x1.dim() >= 1 && x1.dim() == x2.dim() &&
               Shape(x1.shape().begin(), x1.shape().end() - 1) == Shape(x2.shape().begin(), x2.shape().end() - 1),
           "[bilinear] input1 ", x1.shape(), " and input2 ", x2.shape(),
           " must have the same size except the last dimension");
  NB_CHECK(x1.size(-1) == weight.size(1) && x2.size(-1) == weight.size(2), "[bilinear] inputs [..., ", x1.size(-1),
           "] and [..., ", x2.size(-1), "] do not fit weight ", weight.shape(), " ([out, in1, in2])");
  const int64_t out = weight.size(0), in1 = weight.size(1), in2 = weight.size(2);
  NB_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == out), "[bilinear] bias must have shape [", out,
           "], got ", bias.defined() ? bias.shape() : Shape{});
  Shape s(x1.shape().begin(), x1.shape().end() - 1);
  const int64_t B = shape_numel(s);
  // One GEMM for x1 against every A_o at once ([B, in1] x [in1, out in2]), then a batched
  // matrix-vector product with x2: B (in1 + 1) out in2 multiply-adds, no [B, out, in1, in2] temporary.
  Tensor t = linear(x1.reshape({B, in1}), weight.transpose(1, 2).reshape({out * in2, in1}));
  Tensor y = matmul(t.reshape({B, out, in2}), x2.reshape({B, in2, 1})).reshape({B, out});
  if (bias.defined()) y = y + bias;
  s.push_back(out);
  return y.reshape(s);
}

}  // namespace nabla
