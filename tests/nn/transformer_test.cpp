// TransformerDecoderLayer, TransformerDecoder and Transformer against LibTorch 1.13 (values in
// transformer_reference_values.h, written by scripts/dev/transformer_reference.cpp): LibTorch's
// state_dict is loaded into nabla by name (strictly, so the key sets must be equal), then outputs,
// input gradients and every parameter's gradient are compared. Plus structure, init, dropout,
// gradcheck and error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "nn/helpers.h"
#include "nn/transformer_reference_values.h"

namespace {

using namespace nabla;
using nn_test::error_of;
using nn_test::expect_contains;
using xfmr_ref::NamedRef;
using xfmr_ref::Ref;

constexpr int64_t kE = 6, kH = 2, kT = 4, kS = 5, kN = 2, kFF = 8;

/// The reference program's deterministic values: scale * sin(0.37 i + 1.3 seed + 0.1), row-major, f64.
Tensor det(const Shape& shape, double seed, double scale = 1.0) {
  int64_t n = shape_numel(shape);
  return (sin(arange(0, double(n), 1, DType::f64) * 0.37 + (1.3 * seed + 0.1)) * scale).reshape(shape);
}

Tensor leaf(const Tensor& t) { return t.detach().requires_grad_(); }
Tensor loss_of(const Tensor& out) { return sum(out * det(out.shape(), 21)); }
Tensor tensor_of(const Ref& r) { return from_vector<double>(r.values, r.shape); }

/// Loads LibTorch's parameters into `m` by name: strict, so a missing or extra key fails.
void load_torch_params(nn::Module& m, const std::vector<NamedRef>& params) {
  nn::StateDict sd;
  for (const auto& p : params) sd.insert(p.name, tensor_of(p.ref));
  m.to(DType::f64);
  auto r = m.load_state_dict(sd, /*strict=*/true);
  ASSERT_TRUE(r.ok()) << r.to_string();
  ASSERT_EQ(m.state_dict().size(), params.size());
}

/// Max |got - ref| over the elements, after checking the shape; fails above atol + rtol |ref|.
double expect_near(const Tensor& t, const Ref& ref, const std::string& what, double tol = 1e-10) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(t.defined());
  if (!t.defined()) return INFINITY;
  EXPECT_EQ(t.shape(), ref.shape);
  std::vector<double> got = t.contiguous().to_double_vector();
  EXPECT_EQ(got.size(), ref.values.size());
  if (got.size() != ref.values.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double d = std::abs(got[i] - ref.values[i]);
    worst = std::max(worst, d);
    EXPECT_LE(d, tol * (1 + std::abs(ref.values[i]))) << "element " << i << ": " << got[i] << " vs " << ref.values[i];
  }
  return worst;
}

/// Every parameter's gradient against LibTorch's, by name; returns the largest difference.
double expect_param_grads(const nn::Module& m, const std::vector<NamedRef>& grads) {
  auto named = m.named_parameters();
  double worst = 0;
  for (const auto& g : grads) {
    auto it = std::find_if(named.begin(), named.end(), [&](const auto& p) { return p.first == g.name; });
    EXPECT_NE(it, named.end()) << g.name;
    if (it != named.end()) worst = std::max(worst, expect_near(it->second.grad(), g.ref, "grad " + g.name));
  }
  return worst;
}

void report(const std::string& name, double out_diff, double grad_diff) {
  std::printf("[ LibTorch ] %s: max |diff| output %.3g, gradients %.3g\n", name.c_str(), out_diff, grad_diff);
}

Tensor u8(const std::vector<uint8_t>& v, const Shape& s) { return from_vector<uint8_t>(v, s); }

// The reference's masks: causal tgt_mask, tgt padding at [1][T-1], memory padding at [0][S-1] and [1][0].
Tensor causal_mask() { return nn::Transformer::generate_square_subsequent_mask(kT, {.dtype = DType::f64}); }
Tensor tgt_kpm() { return u8({0, 0, 0, 0, 0, 0, 0, 1}, {kN, kT}); }
Tensor memory_kpm() { return u8({0, 0, 0, 0, 1, 1, 0, 0, 0, 0}, {kN, kS}); }

nn::TransformerDecoderLayerOptions layer_options(const std::string& act, bool norm_first, bool batch_first) {
  return nn::TransformerDecoderLayerOptions(kE, kH)
      .dim_feedforward(kFF)
      .activation(act)
      .norm_first(norm_first)
      .batch_first(batch_first);
}

/// Layout helpers: the reference is sequence-first; batch_first runs see [N, len, E].
Tensor to_layout(const Tensor& x, bool bf) { return bf ? x.transpose(0, 1) : x; }

struct LayerCase {
  std::string name, act;
  bool norm_first;
  bool memory_mask;
  const std::vector<NamedRef>& params;
  const Ref &out, &gtgt, &gmem;
  const std::vector<NamedRef>& grads;
};

void run_layer_case(const LayerCase& c) {
  double out_diff = 0, grad_diff = 0;
  for (bool bf : {false, true}) {
    SCOPED_TRACE(bf ? "batch_first" : "sequence first");
    nn::TransformerDecoderLayer layer(layer_options(c.act, c.norm_first, bf));
    load_torch_params(layer, c.params);
    layer.eval();  // dropout off, as in the reference
    Tensor tgt = leaf(det({kT, kN, kE}, 31)), mem = leaf(det({kS, kN, kE}, 32));
    nn::TransformerDecoderLayerForwardOptions o{.tgt_mask = causal_mask(),
                                                .tgt_key_padding_mask = tgt_kpm(),
                                                .memory_key_padding_mask = memory_kpm(),
                                                .tgt_is_causal = true};
    if (c.memory_mask) o.memory_mask = det({kT, kS}, 14, 0.5);
    Tensor out = to_layout(layer(to_layout(tgt, bf), to_layout(mem, bf), o), bf);
    loss_of(out).backward();
    out_diff = std::max(out_diff, expect_near(out, c.out, "out"));
    grad_diff = std::max({grad_diff, expect_near(tgt.grad(), c.gtgt, "grad tgt"),
                          expect_near(mem.grad(), c.gmem, "grad memory"), expect_param_grads(layer, c.grads)});
  }
  report(c.name, out_diff, grad_diff);
}

// ---- TransformerDecoderLayer ---------------------------------------------------------------------

TEST(TransformerDecoderLayer, ReluPostNormCausalAndPaddingMatchLibTorch) {
  using namespace xfmr_ref;
  run_layer_case({"decoder layer relu post-norm", "relu", false, false, dec_layer_relu_params, dec_layer_relu_out,
                  dec_layer_relu_gtgt, dec_layer_relu_gmem, dec_layer_relu_grads});
}

TEST(TransformerDecoderLayer, GeluPostNormWithMemoryMaskMatchesLibTorch) {
  using namespace xfmr_ref;
  run_layer_case({"decoder layer gelu post-norm + memory_mask", "gelu", false, true, dec_layer_gelu_memory_mask_params,
                  dec_layer_gelu_memory_mask_out, dec_layer_gelu_memory_mask_gtgt, dec_layer_gelu_memory_mask_gmem,
                  dec_layer_gelu_memory_mask_grads});
}

TEST(TransformerDecoderLayer, ReluNormFirstMatchesLibTorch) {
  using namespace xfmr_ref;
  run_layer_case({"decoder layer relu norm_first", "relu", true, false, dec_layer_relu_norm_first_params,
                  dec_layer_relu_norm_first_out, dec_layer_relu_norm_first_gtgt, dec_layer_relu_norm_first_gmem,
                  dec_layer_relu_norm_first_grads});
}

TEST(TransformerDecoderLayer, GeluNormFirstWithMemoryMaskMatchesLibTorch) {
  using namespace xfmr_ref;
  run_layer_case({"decoder layer gelu norm_first + memory_mask", "gelu", true, true,
                  dec_layer_gelu_norm_first_memory_mask_params, dec_layer_gelu_norm_first_memory_mask_out,
                  dec_layer_gelu_norm_first_memory_mask_gtgt, dec_layer_gelu_norm_first_memory_mask_gmem,
                  dec_layer_gelu_norm_first_memory_mask_grads});
}

TEST(TransformerDecoderLayer, BoolCausalMaskAndUnbatchedAgreeWithLibTorch) {
  using namespace xfmr_ref;
  nn::TransformerDecoderLayer layer(layer_options("relu", false, false));
  load_torch_params(layer, dec_layer_relu_params);
  layer.eval();
  Tensor tgt = det({kT, kN, kE}, 31), mem = det({kS, kN, kE}, 32);
  // u8 causal mask (true above the diagonal = not allowed) gives what the float -inf mask gives.
  Tensor bool_causal = triu(ones({kT, kT}, {.dtype = DType::u8}), 1);
  Tensor out = layer(tgt, mem,
                     {.tgt_mask = bool_causal, .tgt_key_padding_mask = tgt_kpm(), .memory_key_padding_mask = memory_kpm()});
  expect_near(out, dec_layer_relu_out, "out, u8 causal mask");
  // The same masks as bool (PyTorch's form; u8 above is the legacy one) give the same output.
  Tensor out_bool = layer(tgt, mem, {.tgt_mask = bool_causal.to(DType::boolean),
                                     .tgt_key_padding_mask = tgt_kpm().to(DType::boolean),
                                     .memory_key_padding_mask = memory_kpm().to(DType::boolean)});
  expect_near(out_bool, dec_layer_relu_out, "out, bool causal mask");
  // Unbatched [T, E] / [S, E] inputs with batch 0's padding masks give batch 0's rows.
  Tensor un = layer(tgt.select(1, 0), mem.select(1, 0),
                    {.tgt_mask = causal_mask(),
                     .tgt_key_padding_mask = tgt_kpm().select(0, 0),
                     .memory_key_padding_mask = memory_kpm().select(0, 0)});
  Tensor ref0 = tensor_of(dec_layer_relu_out).select(1, 0);
  EXPECT_TRUE(allclose(un, ref0, 1e-10, 1e-10));
}

TEST(TransformerDecoderLayer, StateDictKeysArePyTorchs) {
  nn::TransformerDecoderLayer layer(kE, kH);
  std::vector<std::string> children;
  for (auto& [n, c] : layer.named_children()) children.push_back(n);
  EXPECT_EQ(children, (std::vector<std::string>{"self_attn", "multihead_attn", "linear1", "dropout", "linear2", "norm1",
                                                "norm2", "norm3", "dropout1", "dropout2", "dropout3"}));
  // Python's state_dict order (LibTorch's C++ layer registers in another order; the set is the same).
  std::vector<std::string> python_keys;
  for (const char* m : {"self_attn", "multihead_attn"})
    for (const char* p : {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"})
      python_keys.push_back(std::string(m) + "." + p);
  for (const char* m : {"linear1", "linear2", "norm1", "norm2", "norm3"})
    for (const char* p : {"weight", "bias"}) python_keys.push_back(std::string(m) + "." + p);
  EXPECT_EQ(layer.state_dict().keys(), python_keys);
  std::set<std::string> torch_keys;
  for (const auto& p : xfmr_ref::dec_layer_relu_params) torch_keys.insert(p.name);
  EXPECT_EQ(std::set<std::string>(python_keys.begin(), python_keys.end()), torch_keys);
  // Defaults: dim_feedforward 2048, dropout 0.1, relu, eps 1e-5, post-norm, sequence first.
  const auto& o = layer.options;
  EXPECT_EQ(o.dim_feedforward(), 2048);
  EXPECT_EQ(o.dropout(), 0.1);
  EXPECT_EQ(o.activation(), "relu");
  EXPECT_EQ(o.layer_norm_eps(), 1e-5);
  EXPECT_FALSE(o.norm_first());
  EXPECT_FALSE(o.batch_first());
  EXPECT_EQ(layer.linear1->weight.shape(), (Shape{2048, kE}));
  EXPECT_EQ(layer.norm3->options.eps(), 1e-5);
  nn::TransformerDecoderLayer nb(nn::TransformerDecoderLayerOptions(8, 2).bias(false).layer_norm_eps(1e-3));
  for (const auto& k : nb.state_dict().keys()) EXPECT_EQ(k.find("bias"), std::string::npos) << k;
  EXPECT_EQ(nb.norm2->options.eps(), 1e-3);
  expect_contains(layer.to_string(), {"TransformerDecoderLayer(d_model=6, nhead=2", "(multihead_attn): MultiheadAttention",
                                      "(norm3): LayerNorm", "(dropout3): Dropout"});
}

TEST(TransformerDecoderLayer, DropoutOnlyInTraining) {
  manual_seed(3);
  nn::TransformerDecoderLayer layer(nn::TransformerDecoderLayerOptions(8, 2).dim_feedforward(16).dropout(0.3));
  Tensor tgt = randn({4, 3, 8}), mem = randn({5, 3, 8});
  layer.eval();
  Tensor a = layer(tgt, mem), b = layer(tgt, mem);
  EXPECT_TRUE(allclose(a, b, 0, 0));  // eval: deterministic
  layer.train();
  Tensor c = layer(tgt, mem), d = layer(tgt, mem);
  EXPECT_FALSE(allclose(c, a, 1e-4, 1e-4));  // train: dropout on
  EXPECT_FALSE(allclose(c, d, 1e-4, 1e-4));  // and drawn afresh each call
}

TEST(TransformerDecoderLayer, Gradcheck) {
  manual_seed(1);
  nn::TransformerDecoderLayer layer(layer_options("gelu", true, true).dim_feedforward(5));
  layer.to(DType::f64);
  layer.eval();
  Tensor tgt = leaf(randn({2, 3, kE}, {.dtype = DType::f64})), mem = leaf(randn({2, 4, kE}, {.dtype = DType::f64}));
  Tensor mask = nn::Transformer::generate_square_subsequent_mask(3, {.dtype = DType::f64});
  Tensor mkpm = u8({0, 0, 0, 1, 0, 0, 0, 0}, {2, 4});
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& x) {
        Tensor out = layer(x[0], x[1], {.tgt_mask = mask, .memory_key_padding_mask = mkpm, .tgt_is_causal = true});
        return sum(out * det(out.shape(), 4));
      },
      {tgt, mem}));
}

TEST(TransformerDecoderLayer, ErrorsNameTheLayerShapesAndExpectation) {
  nn::TransformerDecoderLayer layer(layer_options("relu", false, false));
  layer.to(DType::f64);
  Tensor tgt = det({kT, kN, kE}, 1), mem = det({kS, kN, kE}, 2);
  expect_contains(error_of([&] { layer(det({kT, kN, 7}, 1), mem); }),
                  {"[TransformerDecoderLayer]", "tgt [T, N, E]", "d_model = 6", "[4, 2, 7]"});
  expect_contains(error_of([&] { layer(tgt, det({kS, kN, 5}, 1)); }),
                  {"[TransformerDecoderLayer]", "memory [S, N, E]", "d_model = 6", "[5, 2, 5]"});
  expect_contains(error_of([&] { layer(tgt, det({kS, kE}, 1)); }), {"memory", "[S, N, E]", "[5, 6]"});
  expect_contains(error_of([&] { layer(tgt, det({kS, 3, kE}, 1)); }),
                  {"[TransformerDecoderLayer]", "batch sizes of tgt [4, 2, 6] and memory [5, 3, 6] differ: 2 and 3"});
  expect_contains(error_of([&] { layer(tgt, mem, {.tgt_mask = zeros({kT, kS}, {.dtype = DType::f64})}); }),
                  {"[TransformerDecoderLayer]", "tgt_mask of shape [4, 5]", "expected [4, 4] or [4, 4, 4]"});
  expect_contains(error_of([&] { layer(tgt, mem, {.memory_mask = zeros({kT, kT}, {.dtype = DType::f64})}); }),
                  {"memory_mask of shape [4, 4]", "expected [4, 5] or [4, 4, 5]"});
  expect_contains(error_of([&] { layer(tgt, mem, {.tgt_key_padding_mask = zeros({kN, kS}, {.dtype = DType::u8})}); }),
                  {"tgt_key_padding_mask of shape [2, 5]", "expected [2, 4]"});
  expect_contains(error_of([&] { layer(tgt, mem, {.memory_key_padding_mask = zeros({kS, kN}, {.dtype = DType::u8})}); }),
                  {"memory_key_padding_mask of shape [5, 2]", "expected [2, 5]"});
  expect_contains(error_of([&] { layer(tgt, mem, {.tgt_mask = zeros({kT, kT}, {.dtype = DType::f32})}); }),
                  {"tgt_mask must be bool", "f64", "got f32"});
  expect_contains(error_of([&] { layer(tgt, mem, {.tgt_is_causal = true}); }),
                  {"tgt_is_causal", "tgt_mask", "generate_square_subsequent_mask(4)"});
  expect_contains(error_of([&] { layer(tgt); }), {"[TransformerDecoderLayer]", "memory"});
  expect_contains(error_of([] { nn::TransformerDecoderLayer(nn::TransformerDecoderLayerOptions(8, 2).activation("tanh")); }),
                  {"[TransformerDecoderLayer]", "activation", "tanh"});
  expect_contains(error_of([] { nn::TransformerDecoderLayer(8, 3); }), {"embed_dim 8", "num_heads 3"});
  // Inside a model the error names the layer's place.
  nn::TransformerDecoder dec(nn::TransformerDecoderOptions(layer_options("relu", false, true), 2));
  expect_contains(error_of([&] { dec(randn({2, 4, 6}), randn({3, 5, 6})); }),
                  {"[TransformerDecoder]", "batch sizes", "(batch is dim 0, batch_first=true)"});
}

// ---- TransformerDecoder --------------------------------------------------------------------------

TEST(TransformerDecoder, TwoLayersAndFinalNormMatchLibTorch) {
  using namespace xfmr_ref;
  double out_diff = 0, grad_diff = 0;
  for (bool bf : {false, true}) {
    SCOPED_TRACE(bf ? "batch_first" : "sequence first");
    nn::TransformerDecoder dec(nn::TransformerDecoderOptions(layer_options("relu", false, bf), 2)
                                   .norm(std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({kE}))));
    load_torch_params(dec, decoder2_params);
    dec.eval();
    Tensor tgt = leaf(det({kT, kN, kE}, 31)), mem = leaf(det({kS, kN, kE}, 32));
    Tensor out = to_layout(dec(to_layout(tgt, bf), to_layout(mem, bf),
                               {.tgt_mask = causal_mask(),
                                .tgt_key_padding_mask = tgt_kpm(),
                                .memory_key_padding_mask = memory_kpm(),
                                .tgt_is_causal = true}),
                           bf);
    loss_of(out).backward();
    out_diff = std::max(out_diff, expect_near(out, decoder2_out, "out"));
    grad_diff = std::max({grad_diff, expect_near(tgt.grad(), decoder2_gtgt, "grad tgt"),
                          expect_near(mem.grad(), decoder2_gmem, "grad memory"), expect_param_grads(dec, decoder2_grads)});
  }
  report("decoder, 2 layers + norm", out_diff, grad_diff);
}

TEST(TransformerDecoder, LayersAreDeepCopies) {
  manual_seed(0);
  nn::TransformerDecoder dec(nn::TransformerDecoderOptions(nn::TransformerDecoderLayerOptions(8, 2).dim_feedforward(16), 3));
  EXPECT_EQ(dec.norm, nullptr);
  EXPECT_EQ(dec.layers->size(), 3u);
  auto sd0 = dec.layer(0)->state_dict();
  for (int64_t i = 1; i < 3; ++i) {
    auto sdi = dec.layer(i)->state_dict();
    for (const auto& [k, v] : sd0) EXPECT_TRUE(allclose(sdi.at(k), v, 0, 0)) << "layer " << i << " " << k;
  }
  // Independent tensors: changing layer 1 leaves layer 0 alone, and each has its own gradient.
  {
    NoGradGuard ng;
    dec.layer(1)->linear1->weight.fill_(0.5);
  }
  EXPECT_FALSE(allclose(dec.layer(0)->linear1->weight, dec.layer(1)->linear1->weight));
  EXPECT_EQ(dec.parameters().size(), 3 * dec.layer(0)->parameters().size());
  auto keys = dec.state_dict().keys();
  EXPECT_EQ(keys.front(), "layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(keys.back(), "layers.2.norm3.bias");
  expect_contains(error_of([] { nn::TransformerDecoder(nn::TransformerDecoderOptions({8, 2}, 0)); }),
                  {"[TransformerDecoder]", "num_layers"});
}

// ---- Transformer ---------------------------------------------------------------------------------

nn::TransformerOptions small_options(bool bf) {
  return nn::TransformerOptions(kE, kH).num_encoder_layers(2).num_decoder_layers(2).dim_feedforward(kFF).batch_first(bf);
}

TEST(Transformer, MatchesLibTorch) {
  using namespace xfmr_ref;
  double out_diff = 0, grad_diff = 0;
  for (bool bf : {false, true}) {
    SCOPED_TRACE(bf ? "batch_first" : "sequence first");
    nn::Transformer model(small_options(bf));
    load_torch_params(model, transformer_params);
    model.eval();
    Tensor src = leaf(det({kS, kN, kE}, 33)), tgt = leaf(det({kT, kN, kE}, 31));
    Tensor out = to_layout(model(to_layout(src, bf), to_layout(tgt, bf),
                                 {.tgt_mask = causal_mask(),
                                  .src_key_padding_mask = memory_kpm(),
                                  .tgt_key_padding_mask = tgt_kpm(),
                                  .memory_key_padding_mask = memory_kpm(),
                                  .tgt_is_causal = true}),
                           bf);
    loss_of(out).backward();
    out_diff = std::max(out_diff, expect_near(out, transformer_out, "out"));
    grad_diff = std::max({grad_diff, expect_near(src.grad(), transformer_gsrc, "grad src"),
                          expect_near(tgt.grad(), transformer_gtgt, "grad tgt"),
                          expect_param_grads(model, transformer_grads)});
    // encode + decode is forward.
    NoGradGuard ng;
    Tensor memory = model.encode(to_layout(src, bf), {}, memory_kpm());
    Tensor dec = model.decode(to_layout(tgt, bf), memory,
                              {.tgt_mask = causal_mask(), .tgt_key_padding_mask = tgt_kpm(), .memory_key_padding_mask = memory_kpm()});
    EXPECT_TRUE(allclose(to_layout(dec, bf), out.detach(), 1e-12, 1e-12));
  }
  report("transformer, 2+2 layers", out_diff, grad_diff);
  // Unbatched src [S, E] and tgt [T, E] with batch 0's padding masks give batch 0's rows.
  nn::Transformer model(small_options(false));
  load_torch_params(model, transformer_params);
  model.eval();
  Tensor un = model(det({kS, kN, kE}, 33).select(1, 0), det({kT, kN, kE}, 31).select(1, 0),
                    {.tgt_mask = causal_mask(),
                     .src_key_padding_mask = memory_kpm().select(0, 0),
                     .tgt_key_padding_mask = tgt_kpm().select(0, 0),
                     .memory_key_padding_mask = memory_kpm().select(0, 0)});
  EXPECT_TRUE(allclose(un, tensor_of(transformer_out).select(1, 0), 1e-10, 1e-10));
  expect_contains(error_of([&] { model(randn({kS, kE}, {.dtype = DType::f64}), randn({kT, kN, kE}, {.dtype = DType::f64})); }),
                  {"[Transformer]", "expected src [S, N, E] (the rank of tgt [4, 2, 6])", "[5, 6]"});
}

TEST(Transformer, GenerateSquareSubsequentMaskIsPyTorchs) {
  Tensor m = nn::Transformer::generate_square_subsequent_mask(4);
  EXPECT_EQ(m.dtype(), DType::f32);
  EXPECT_EQ(m.shape(), (Shape{4, 4}));
  EXPECT_EQ(m.to_double_vector(), xfmr_ref::square_subsequent_mask_4.values);  // -inf above the diagonal, 0 elsewhere
  EXPECT_EQ(nn::Transformer::generate_square_subsequent_mask(3, {.dtype = DType::f64}).dtype(), DType::f64);
  EXPECT_EQ(nn::Transformer::generate_square_subsequent_mask(0).shape(), (Shape{0, 0}));
  expect_contains(error_of([] { nn::Transformer::generate_square_subsequent_mask(-1); }),
                  {"generate_square_subsequent_mask", "-1"});
  expect_contains(error_of([] { nn::Transformer::generate_square_subsequent_mask(3, {.dtype = DType::i64}); }),
                  {"generate_square_subsequent_mask", "floating", "i64"});
}

TEST(Transformer, DefaultsStructureAndInit) {
  nn::TransformerOptions d;
  EXPECT_EQ(d.d_model(), 512);
  EXPECT_EQ(d.nhead(), 8);
  EXPECT_EQ(d.num_encoder_layers(), 6);
  EXPECT_EQ(d.num_decoder_layers(), 6);
  EXPECT_EQ(d.dim_feedforward(), 2048);
  EXPECT_EQ(d.dropout(), 0.1);
  EXPECT_EQ(d.activation(), "relu");
  EXPECT_EQ(d.layer_norm_eps(), 1e-5);
  EXPECT_FALSE(d.batch_first());
  EXPECT_FALSE(d.norm_first());

  manual_seed(0);
  nn::Transformer model(nn::TransformerOptions(16, 4).num_encoder_layers(2).num_decoder_layers(2).dim_feedforward(32));
  // The key set is LibTorch's (the reference model has the same layer counts).
  std::set<std::string> ours, torch;
  for (const auto& k : model.state_dict().keys()) ours.insert(k);
  for (const auto& p : xfmr_ref::transformer_params) torch.insert(p.name);
  EXPECT_EQ(ours, torch);
  EXPECT_NE(model.encoder->norm, nullptr);
  EXPECT_NE(model.decoder->norm, nullptr);
  // xavier_uniform_ on every matrix: bound sqrt(6 / (fan_in + fan_out)), reached within a few %;
  // vectors keep their defaults (zero biases, unit LayerNorm weights).
  for (const auto& [name, p] : model.named_parameters()) {
    SCOPED_TRACE(name);
    double m = max(abs(p)).item();
    if (p.dim() > 1) {
      double bound = std::sqrt(6.0 / double(p.size(0) + p.size(1)));
      EXPECT_LE(m, bound);
      EXPECT_GT(m, 0.85 * bound);
    } else if (name.find("norm") != std::string::npos && name.ends_with("weight")) {
      EXPECT_EQ(min(p).item(), 1.0);
      EXPECT_EQ(m, 1.0);
    } else if (name.find("attn") != std::string::npos) {
      EXPECT_EQ(m, 0.0);  // attention biases start at 0
    }
  }
  // Each matrix drawn separately: the decoder's layers no longer share values.
  EXPECT_FALSE(allclose(model.decoder->layer(0)->linear1->weight, model.decoder->layer(1)->linear1->weight));
  expect_contains(model.to_string(), {"Transformer(d_model=16, nhead=4", "(encoder): TransformerEncoder(num_layers=2",
                                      "(decoder): TransformerDecoder(num_layers=2"});
}

TEST(Transformer, DropoutOnlyInTraining) {
  manual_seed(2);
  nn::Transformer model(nn::TransformerOptions(8, 2).num_encoder_layers(1).num_decoder_layers(1).dim_feedforward(16));
  Tensor src = randn({5, 2, 8}), tgt = randn({4, 2, 8});
  model.eval();
  Tensor a = model(src, tgt), b = model(src, tgt);
  EXPECT_TRUE(allclose(a, b, 0, 0));
  model.train();
  EXPECT_FALSE(allclose(model(src, tgt), a, 1e-4, 1e-4));
}

TEST(Transformer, ErrorsNameTheModelShapesAndExpectation) {
  nn::Transformer model(small_options(false));
  Tensor src = randn({kS, kN, kE}), tgt = randn({kT, kN, kE});
  expect_contains(error_of([&] { model(randn({kS, 3, kE}), tgt); }),
                  {"[Transformer]", "batch sizes of tgt [4, 2, 6] and src [5, 3, 6] differ: 2 and 3"});
  expect_contains(error_of([&] { model(src, randn({kT, kN, 8})); }),
                  {"[Transformer]", "tgt [T, N, E]", "d_model = 6", "[4, 2, 8]"});
  expect_contains(error_of([&] { model(randn({kS, kN, 4}), tgt); }), {"[Transformer]", "src [S, N, E]", "[5, 2, 4]"});
  expect_contains(error_of([&] { model(src, tgt, {.src_mask = zeros({kT, kT})}); }),
                  {"[Transformer]", "src_mask of shape [4, 4]", "expected [5, 5] or [4, 5, 5]"});
  expect_contains(error_of([&] { model(src, tgt, {.memory_mask = zeros({kS, kT})}); }),
                  {"[Transformer]", "memory_mask of shape [5, 4]", "expected [4, 5] or [4, 4, 5]"});
  expect_contains(error_of([&] { model(src, tgt, {.src_key_padding_mask = zeros({kN, kT}, {.dtype = DType::u8})}); }),
                  {"src_key_padding_mask of shape [2, 4]", "expected [2, 5]"});
  expect_contains(error_of([&] { model(src, tgt, {.tgt_is_causal = true}); }), {"tgt_is_causal", "tgt_mask"});
  expect_contains(error_of([&] { model(src); }), {"[Transformer]", "src and tgt"});
  expect_contains(error_of([] { nn::Transformer(nn::TransformerOptions(6, 4)); }), {"embed_dim 6", "num_heads 4"});
}

}  // namespace
