// Reference values for tests/nn/layers_reference_test.cpp, computed with LibTorch 1.13 (Debian
// libtorch-dev). It writes tests/nn/layers_reference_values.h, which the tests include; the tests
// never link LibTorch.
//
//   g++ -std=c++17 -O1 scripts/dev/layers_reference.cpp -I/usr/include/torch/csrc/api/include \
//       -ltorch -ltorch_cpu -lc10 -o /tmp/layers_reference
//   /tmp/layers_reference > tests/nn/layers_reference_values.h
//
// Everything is f64. Floating inputs and parameters are deterministic, det(shape, seed) =
// scale * sin(0.37 i + 1.3 seed + 0.1) over the row-major index i (parameters: seed 10 + their
// position in named_parameters(), so no weight is left at its init); index inputs are literals,
// written out in the test too. Each case prints its floating inputs, its state_dict (name -> shape
// and values, %.17g so f64 round-trips), the output, and the gradients of sum(out * det(out.shape,
// 21)) with respect to every floating input and every parameter. The tests load the state_dict
// into nabla by name with a strict load_state_dict, so the key sets must be equal.
//
// Where LibTorch 1.13 has no module, the reference is built from its primitives, as PyTorch's
// Python computes it:
//   - RMSNorm (added in PyTorch 2.4): x * rsqrt(mean(x^2 over normalized_shape) + eps) * weight,
//     eps = DBL_EPSILON when not given (torch.finfo(float64).eps), weight registered as "weight";
//   - ChannelShuffle (a Python module): torch::channel_shuffle's channel order (it has no derivative
//     in 1.13) applied with index_select;
//   - ZeroPad1d and CircularPad1d/2d (PyTorch 2.1): F::pad with kConstant 0 / kCircular.
#include <torch/torch.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace F = torch::nn::functional;

namespace {

torch::Tensor det(std::vector<int64_t> shape, double seed, double scale = 1.0) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return (torch::arange(n, torch::kDouble) * 0.37 + 1.3 * seed + 0.1).sin().mul(scale).reshape(shape);
}

torch::Tensor idx(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong); }

std::string values(const torch::Tensor& t0) {
  torch::Tensor t = t0.contiguous().to(torch::kDouble).flatten();
  std::string s = "{";
  char buf[64];
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 4 == 0) s += "\n     ";
    std::snprintf(buf, sizeof buf, " %.17g,", t[i].item<double>());
    s += buf;
  }
  return s + "}";
}

std::string ref(const torch::Tensor& t) {
  std::string s = "{{";
  for (int64_t d : t.sizes()) s += std::to_string(d) + ", ";
  return s + "}, " + values(t) + "}";
}

/// RMSNorm as PyTorch 2.4 defines it, from LibTorch primitives (see the top of this file).
struct RMSNormRefImpl : torch::nn::Module {
  RMSNormRefImpl(std::vector<int64_t> shape, c10::optional<double> eps) : shape(shape), eps(eps) {
    weight = register_parameter("weight", torch::ones(shape, torch::kDouble));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<int64_t> dims;
    for (int64_t d = x.dim() - int64_t(shape.size()); d < x.dim(); ++d) dims.push_back(d);
    return x * torch::rsqrt(x.pow(2).mean(dims, /*keepdim=*/true) + eps.value_or(DBL_EPSILON)) * weight;
  }
  std::vector<int64_t> shape;
  c10::optional<double> eps;
  torch::Tensor weight;
};
TORCH_MODULE(RMSNormRef);

using Run = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

/// One case: `m` (may be null for parameter-free functional references) run on `inputs`.
void emit(const std::string& name, std::shared_ptr<torch::nn::Module> m, std::vector<torch::Tensor> inputs,
          const Run& run) {
  if (m) {
    m->to(torch::kDouble);
    torch::NoGradGuard ng;
    int seed = 10;
    for (auto& p : m->named_parameters()) p.value().copy_(det(p.value().sizes().vec(), seed++, 0.5));
  }
  for (auto& x : inputs)
    if (x.is_floating_point()) x.requires_grad_(true);
  torch::Tensor out = run(inputs);
  (out * det(out.sizes().vec(), 21)).sum().backward();
  std::printf("  {\"%s\",\n   {", name.c_str());
  for (auto& x : inputs)
    if (x.is_floating_point()) std::printf("%s,\n    ", ref(x.detach()).c_str());
  std::printf("},\n   {");
  if (m)
    for (auto& p : m->named_parameters()) std::printf("{\"%s\", %s},\n    ", p.key().c_str(), ref(p.value().detach()).c_str());
  std::printf("},\n   %s,\n   {", ref(out.detach()).c_str());
  for (auto& x : inputs)
    if (x.is_floating_point()) std::printf("%s,\n    ", ref(x.grad()).c_str());
  std::printf("},\n   {");
  if (m)
    for (auto& p : m->named_parameters()) std::printf("{\"%s\", %s},\n    ", p.key().c_str(), ref(p.value().grad()).c_str());
  std::printf("}},\n");
}

/// A parameter-free module or functional reference applied to one input.
void emit1(const std::string& name, std::vector<int64_t> shape, std::function<torch::Tensor(const torch::Tensor&)> f) {
  emit(name, nullptr, {det(shape, 1)}, [&](const std::vector<torch::Tensor>& x) { return f(x[0]); });
}

template <typename M>
void emit_module(const std::string& name, M m, std::vector<torch::Tensor> inputs) {
  emit(name, m.ptr(), std::move(inputs), [&](const std::vector<torch::Tensor>& x) { return m->forward(x[0]); });
}

}  // namespace

int main() {
  torch::set_default_dtype(caffe2::TypeMeta::Make<double>());
  std::printf("// Generated by scripts/dev/layers_reference.cpp (LibTorch %s); do not edit.\n#pragma once\n"
              "#include <cstdint>\n#include <string>\n#include <vector>\n\nnamespace layers_ref {\n"
              "struct Ref {\n  std::vector<int64_t> shape;\n  std::vector<double> values;\n};\n"
              "struct NamedRef {\n  std::string name;\n  Ref ref;\n};\n"
              "struct Case {\n  std::string name;\n  std::vector<Ref> inputs;  // the floating inputs\n"
              "  std::vector<NamedRef> params;\n  Ref out;\n  std::vector<Ref> input_grads;\n"
              "  std::vector<NamedRef> param_grads;\n};\n"
              "inline const std::vector<Case> kCases = {\n",
              TORCH_VERSION);

  // ---- RMSNorm (composed, see above) -----------------------------------------------------------
  emit_module("rmsnorm_default_eps", RMSNormRef(std::vector<int64_t>{4}, c10::nullopt), {det({2, 3, 4}, 1)});
  emit_module("rmsnorm_2d_shape_eps", RMSNormRef(std::vector<int64_t>{3, 4}, 1e-3), {det({2, 3, 4}, 2, 0.1)});

  // ---- rearrangements ------------------------------------------------------------------------------
  emit_module("pixel_shuffle", torch::nn::PixelShuffle(2), {det({2, 8, 3, 2}, 1)});
  emit_module("pixel_unshuffle", torch::nn::PixelUnshuffle(2), {det({2, 2, 4, 6}, 1)});
  emit1("channel_shuffle", {2, 6, 2, 2}, [](const torch::Tensor& x) {
    // torch::channel_shuffle has no derivative in 1.13: its channel order, read off a shuffle of the
    // channel numbers, applied with index_select.
    const torch::Tensor order = torch::channel_shuffle(torch::arange(6, torch::kDouble).reshape({1, 6, 1}), 3);
    return x.index_select(1, order.flatten().to(torch::kLong));
  });
  emit_module("unfold", torch::nn::Unfold(torch::nn::UnfoldOptions({2, 3}).dilation({2, 1}).padding({1, 2}).stride({2, 1})),
              {det({2, 3, 5, 6}, 1)});
  // 18 rows = 3 channels x (2 x 3) taps; 5 x 6 output, padding 1 / 2, stride (2, 1): 3 x 8 = 24 blocks.
  emit_module("fold",
              torch::nn::Fold(torch::nn::FoldOptions({5, 6}, {2, 3}).dilation({2, 1}).padding({1, 2}).stride({2, 1})),
              {det({2, 18, 24}, 1)});

  // ---- ConvTranspose1d, Bilinear ----------------------------------------------------------------
  emit_module("conv_transpose1d",
              torch::nn::ConvTranspose1d(
                  torch::nn::ConvTranspose1dOptions(4, 6, 3).stride(2).padding(1).output_padding(1).dilation(2).groups(2)),
              {det({2, 4, 5}, 1)});
  emit_module("conv_transpose1d_no_bias", torch::nn::ConvTranspose1d(torch::nn::ConvTranspose1dOptions(3, 2, 4).bias(false)),
              {det({1, 3, 6}, 1)});
  {
    torch::nn::Bilinear m(torch::nn::BilinearOptions(4, 3, 5));
    emit("bilinear", m.ptr(), {det({2, 3, 4}, 1), det({2, 3, 3}, 2)},
         [&](const std::vector<torch::Tensor>& x) { return m->forward(x[0], x[1]); });
    torch::nn::Bilinear nb(torch::nn::BilinearOptions(2, 3, 4).bias(false));
    emit("bilinear_no_bias", nb.ptr(), {det({5, 2}, 1), det({5, 3}, 2)},
         [&](const std::vector<torch::Tensor>& x) { return nb->forward(x[0], x[1]); });
  }

  // ---- padding layers ----------------------------------------------------------------------------
  emit1("zero_pad1d", {2, 3, 4}, [](const torch::Tensor& x) { return F::pad(x, F::PadFuncOptions({2, 1})); });
  emit_module("zero_pad2d", torch::nn::ZeroPad2d(torch::nn::ZeroPad2dOptions({1, 2, 0, 3})), {det({2, 2, 3, 4}, 1)});
  emit_module("constant_pad1d", torch::nn::ConstantPad1d(torch::nn::ConstantPad1dOptions({2, 1}, 3.5)), {det({2, 3, 4}, 1)});
  emit_module("constant_pad2d_crop", torch::nn::ConstantPad2d(torch::nn::ConstantPad2dOptions({1, -1, 2, 0}, -1.0)),
              {det({2, 2, 3, 4}, 1)});
  emit_module("reflection_pad1d", torch::nn::ReflectionPad1d(torch::nn::ReflectionPad1dOptions({2, 3})), {det({2, 3, 5}, 1)});
  emit_module("reflection_pad2d", torch::nn::ReflectionPad2d(torch::nn::ReflectionPad2dOptions({1, 2, 2, 0})),
              {det({2, 2, 4, 5}, 1)});
  emit_module("replication_pad1d", torch::nn::ReplicationPad1d(torch::nn::ReplicationPad1dOptions({3, 1})),
              {det({2, 3, 4}, 1)});
  emit_module("replication_pad2d", torch::nn::ReplicationPad2d(torch::nn::ReplicationPad2dOptions({2, 0, 1, 3})),
              {det({2, 2, 3, 4}, 1)});
  emit1("circular_pad1d", {2, 3, 4},
        [](const torch::Tensor& x) { return F::pad(x, F::PadFuncOptions({3, 2}).mode(torch::kCircular)); });
  emit1("circular_pad2d", {2, 2, 3, 4},
        [](const torch::Tensor& x) { return F::pad(x, F::PadFuncOptions({1, 2, 3, 0}).mode(torch::kCircular)); });

  // ---- LocalResponseNorm -------------------------------------------------------------------------
  emit_module("local_response_norm_3d", torch::nn::LocalResponseNorm(torch::nn::LocalResponseNormOptions(3).alpha(0.5)),
              {det({2, 5, 3}, 1)});
  emit_module("local_response_norm_4d",
              torch::nn::LocalResponseNorm(torch::nn::LocalResponseNormOptions(4).alpha(0.3).beta(0.6).k(2.0)),
              {det({2, 6, 2, 3}, 1)});
  emit_module("local_response_norm_defaults", torch::nn::LocalResponseNorm(torch::nn::LocalResponseNormOptions(2)),
              {det({1, 3, 2, 2, 2}, 1, 3.0)});

  // ---- EmbeddingBag ------------------------------------------------------------------------------
  const torch::Tensor flat = idx({1, 3, 4, 0, 4, 2, 5, 7}), offsets = idx({0, 2, 2, 5});
  for (auto [mode, name] : {std::pair{torch::nn::EmbeddingBagMode(torch::kSum), "sum"},
                            std::pair{torch::nn::EmbeddingBagMode(torch::kMean), "mean"},
                            std::pair{torch::nn::EmbeddingBagMode(torch::kMax), "max"}}) {
    torch::nn::EmbeddingBag m(torch::nn::EmbeddingBagOptions(8, 3).mode(mode));
    emit(std::string("embedding_bag_offsets_") + name, m.ptr(), {},
         [&](const std::vector<torch::Tensor>&) { return m->forward(flat, offsets); });
    torch::nn::EmbeddingBag p(torch::nn::EmbeddingBagOptions(8, 2).mode(mode).padding_idx(2));
    emit(std::string("embedding_bag_2d_padding_idx_") + name, p.ptr(), {},
         [&](const std::vector<torch::Tensor>&) { return p->forward(idx({0, 2, 5, 2, 2, 2, 1, 1, 3}).reshape({3, 3})); });
  }
  {
    torch::nn::EmbeddingBag m(torch::nn::EmbeddingBagOptions(6, 2).mode(torch::kSum).include_last_offset(true));
    emit("embedding_bag_sum_per_sample_weights_last_offset", m.ptr(), {det({5}, 3)},
         [&](const std::vector<torch::Tensor>& x) { return m->forward(idx({4, 0, 4, 1, 3}), idx({0, 3, 5}), x[0]); });
  }
  std::printf("};\n}  // namespace layers_ref\n");
}
