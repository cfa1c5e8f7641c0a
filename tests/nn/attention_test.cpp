// scaled_dot_product_attention, MultiheadAttention, TransformerEncoderLayer and TransformerEncoder
// against LibTorch 1.13 (values in attention_reference_values.h, written by
// scripts/dev/attention_reference.cpp), plus gradcheck, dropout and error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "nn/attention_reference_values.h"
#include "nn/helpers.h"

namespace {

using namespace nabla;
using nn_test::error_of;
using nn_test::expect_contains;

/// The reference program's deterministic values: scale * sin(0.37 i + 1.3 seed + 0.1), row-major, f64.
Tensor det(const Shape& shape, double seed, double scale = 1.0) {
  int64_t n = shape_numel(shape);
  return (sin(arange(0, double(n), 1, DType::f64) * 0.37 + (1.3 * seed + 0.1)) * scale).reshape(shape);
}

/// Fills the parameters in named_parameters() order with det(shape, position, 0.5), after checking
/// that the names and their order are PyTorch's.
void fill_params(nn::Module& m, const std::vector<std::string>& torch_names) {
  auto named = m.named_parameters();
  std::vector<std::string> names;
  for (auto& [n, p] : named) names.push_back(n);
  ASSERT_EQ(names, torch_names);
  NoGradGuard ng;
  int seed = 0;
  for (auto& [n, p] : named) p.copy_(det(p.shape(), seed++, 0.5));
}

/// Same shape and every element within atol + rtol |ref| of LibTorch's.
void expect_near(const Tensor& t, const std::vector<double>& ref, const Shape& shape, double tol = 1e-9,
                 const std::string& what = "") {
  SCOPED_TRACE(what);
  ASSERT_TRUE(t.defined());
  ASSERT_EQ(t.shape(), shape);
  std::vector<double> got = t.contiguous().to_double_vector();
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], ref[i], tol * (1 + std::abs(ref[i]))) << "element " << i;
}

Tensor leaf(const Tensor& t) { return t.detach().requires_grad_(); }

/// The reference program's loss weights: gradients are of sum(out * det(out.shape, 21)).
Tensor loss_of(const Tensor& out) { return sum(out * det(out.shape(), 21)); }

// ---- scaled_dot_product_attention ----------------------------------------------------------------

struct SdpaCase {
  Shape q, k, v;
  SdpaOptions opts;
  const std::vector<double>&out, &gq, &gk, &gv;
};

void run_sdpa(const SdpaCase& c) {
  Tensor q = leaf(det(c.q, 1)), k = leaf(det(c.k, 2)), v = leaf(det(c.v, 3));
  Tensor out = scaled_dot_product_attention(q, k, v, c.opts);
  loss_of(out).backward();
  Shape os = out.shape();
  expect_near(out, c.out, os, 1e-10, "out");
  expect_near(q.grad(), c.gq, c.q, 1e-10, "grad q");
  expect_near(k.grad(), c.gk, c.k, 1e-10, "grad k");
  expect_near(v.grad(), c.gv, c.v, 1e-10, "grad v");
}

Tensor sdpa_bool_mask() {
  std::vector<uint8_t> m;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) m.push_back((i + 2 * j) % 3 != 0);
  return from_vector<uint8_t>(m, {3, 5});
}

TEST(ScaledDotProductAttention, MatchesLibTorch) {
  using namespace attn_ref;
  run_sdpa({{2, 3, 4}, {2, 5, 4}, {2, 5, 6}, {}, sdpa_basic_out, sdpa_basic_gq, sdpa_basic_gk, sdpa_basic_gv});
}

TEST(ScaledDotProductAttention, BoolMaskKeepsWhereTrue) {
  using namespace attn_ref;
  run_sdpa({{2, 3, 4}, {2, 5, 4}, {2, 5, 6}, {.attn_mask = sdpa_bool_mask()}, sdpa_bool_mask_out, sdpa_bool_mask_gq,
            sdpa_bool_mask_gk, sdpa_bool_mask_gv});
}

TEST(ScaledDotProductAttention, FloatMaskAndBroadcastBatchDims) {
  using namespace attn_ref;
  run_sdpa({{2, 2, 3, 4}, {1, 2, 5, 4}, {2, 1, 5, 6}, {.attn_mask = det({2, 1, 3, 5}, 7, 0.8)},
            sdpa_float_mask_broadcast_out, sdpa_float_mask_broadcast_gq, sdpa_float_mask_broadcast_gk,
            sdpa_float_mask_broadcast_gv});
}

TEST(ScaledDotProductAttention, CausalWithCustomScale) {
  using namespace attn_ref;
  run_sdpa({{1, 2, 4, 4}, {1, 2, 4, 4}, {1, 2, 4, 3}, {.is_causal = true, .scale = 0.3}, sdpa_causal_scale_out,
            sdpa_causal_scale_gq, sdpa_causal_scale_gk, sdpa_causal_scale_gv});
}

TEST(ScaledDotProductAttention, CausalRectangularIsTopLeftAligned) {
  using namespace attn_ref;
  run_sdpa({{3, 4}, {5, 4}, {5, 2}, {.is_causal = true}, sdpa_causal_rect_out, sdpa_causal_rect_gq,
            sdpa_causal_rect_gk, sdpa_causal_rect_gv});
}

TEST(ScaledDotProductAttention, FullyMaskedRowGivesZerosNotNaN) {
  // Query row 1 may attend to nothing: output 0 there (PyTorch >= 2.5), other rows unaffected, and
  // the gradient stays finite (no NaN leaks from the empty softmax).
  Tensor q = leaf(det({3, 4}, 1)), k = leaf(det({5, 4}, 2)), v = leaf(det({5, 2}, 3));
  std::vector<uint8_t> m(15, 1);
  for (int j = 0; j < 5; ++j) m[size_t(5 + j)] = 0;
  Tensor mask = from_vector<uint8_t>(m, {3, 5});
  Tensor out = scaled_dot_product_attention(q, k, v, {.attn_mask = mask});
  Tensor plain = scaled_dot_product_attention(q.detach(), k.detach(), v.detach());
  auto o = out.to_double_vector(), p = plain.to_double_vector();
  EXPECT_EQ(o[2], 0.0);
  EXPECT_EQ(o[3], 0.0);
  for (size_t i : {0, 1, 4, 5}) EXPECT_NEAR(o[i], p[i], 1e-12);  // rows 0 and 2 see every key
  sum(out).backward();
  for (const Tensor& g : {q.grad(), k.grad(), v.grad()})
    for (double x : g.to_double_vector()) EXPECT_TRUE(std::isfinite(x));
  for (int e = 0; e < 4; ++e) EXPECT_EQ(q.grad().to_double_vector()[size_t(4 + e)], 0.0);  // row 1 of q
  // The same through a float mask of -inf.
  Tensor fmask = where(mask, zeros({}, {.dtype = DType::f64}), full({}, -INFINITY, {.dtype = DType::f64}));
  Tensor out2 = scaled_dot_product_attention(q.detach(), k.detach(), v.detach(), {.attn_mask = fmask});
  EXPECT_TRUE(allclose(out2, out.detach(), 0, 1e-12));
}

TEST(ScaledDotProductAttention, Gradcheck) {
  Tensor q = leaf(det({2, 3, 4}, 1)), k = leaf(det({2, 5, 4}, 2)), v = leaf(det({1, 5, 3}, 3));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, {q, k, v}));
  Tensor fm = leaf(det({3, 5}, 4));  // a float mask is differentiable too
  EXPECT_TRUE(gradcheck(
      [](const TensorList& x) { return scaled_dot_product_attention(x[0], x[1], x[2], {.attn_mask = x[3]}); },
      {q, k, v, fm}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& x) {
        return scaled_dot_product_attention(x[0], x[1], x[2], {.attn_mask = sdpa_bool_mask(), .scale = 0.7});
      },
      {q, k, v}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& x) { return scaled_dot_product_attention(x[0], x[1], x[2], {.is_causal = true}); },
      {q, k, v}));
}

TEST(ScaledDotProductAttention, DropoutDropsProbabilitiesAndRescales) {
  // With V = I (S x S) the output is the (dropped) probability matrix itself: each entry is either
  // 0 or the undropped probability / (1 - p), and about p of them are 0.
  manual_seed(3);
  const int64_t L = 64, S = 64;
  const double p = 0.25;
  Tensor q = det({L, 8}, 1), k = det({S, 8}, 2), v = eye(S, {.dtype = DType::f64});
  std::vector<double> ref = scaled_dot_product_attention(q, k, v).to_double_vector();
  std::vector<double> got = scaled_dot_product_attention(q, k, v, {.dropout_p = p}).to_double_vector();
  int64_t zeros_n = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == 0.0) {
      ++zeros_n;
    } else {
      ASSERT_NEAR(got[i], ref[i] / (1 - p), 1e-12) << i;
    }
  }
  double frac = double(zeros_n) / double(got.size());
  EXPECT_NEAR(frac, p, 0.03);  // 4096 draws: sd 0.007
}

TEST(ScaledDotProductAttention, F32MatchesF64) {
  Tensor q = det({2, 3, 4}, 1), k = det({2, 5, 4}, 2), v = det({2, 5, 6}, 3);
  Tensor ref = scaled_dot_product_attention(q, k, v, {.is_causal = true});
  Tensor got = scaled_dot_product_attention(q.to(DType::f32), k.to(DType::f32), v.to(DType::f32), {.is_causal = true});
  EXPECT_EQ(got.dtype(), DType::f32);
  EXPECT_TRUE(allclose(got.to(DType::f64), ref, 1e-5, 1e-6));
}

TEST(ScaledDotProductAttention, Errors) {
  Tensor q = det({2, 3, 4}, 1), k = det({2, 5, 4}, 2), v = det({2, 5, 6}, 3);
  expect_contains(error_of([&] { scaled_dot_product_attention(q, det({2, 5, 3}, 2), v); }),
                  {"[scaled_dot_product_attention]", "[2, 3, 4]", "[2, 5, 3]", "embedding size"});
  expect_contains(error_of([&] { scaled_dot_product_attention(q, k, det({2, 4, 6}, 3)); }),
                  {"[scaled_dot_product_attention]", "[2, 5, 4]", "[2, 4, 6]", "sequence length"});
  expect_contains(error_of([&] { scaled_dot_product_attention(det({3, 3, 4}, 1), k, v); }),
                  {"[scaled_dot_product_attention]", "batch dims", "[3, 3, 4]"});
  expect_contains(error_of([&] { scaled_dot_product_attention(det({4}, 1), k, v); }),
                  {"[scaled_dot_product_attention]", "at least 2 dims"});
  expect_contains(error_of([&] { scaled_dot_product_attention(q.to(DType::f32), k, v); }),
                  {"[scaled_dot_product_attention]", "one dtype", "f32", "f64"});
  expect_contains(error_of([&] { scaled_dot_product_attention(q, k, v, {.attn_mask = det({3, 4}, 5)}); }),
                  {"[scaled_dot_product_attention]", "attn_mask of shape [3, 4]", "[2, 3, 5]"});
  expect_contains(error_of([&] { scaled_dot_product_attention(q, k, v, {.attn_mask = det({3, 5}, 5).to(DType::f32)}); }),
                  {"[scaled_dot_product_attention]", "attn_mask must be bool", "f32"});
  expect_contains(error_of([&] { scaled_dot_product_attention(q, k, v, {.attn_mask = sdpa_bool_mask(), .is_causal = true}); }),
                  {"[scaled_dot_product_attention]", "not both"});
  expect_contains(error_of([&] { scaled_dot_product_attention(q, k, v, {.dropout_p = 1.0}); }),
                  {"[scaled_dot_product_attention]", "dropout_p"});
  expect_contains(error_of([&] { scaled_dot_product_attention(q.to(DType::i64), k.to(DType::i64), v.to(DType::i64)); }),
                  {"[scaled_dot_product_attention]", "floating"});
}

// ---- MultiheadAttention -----------------------------------------------------------------------

constexpr int64_t kE = 6, kH = 2, kL = 3, kS = 4, kN = 2;

std::shared_ptr<nn::MultiheadAttention> make_mha(int64_t kdim, int64_t vdim, const std::vector<std::string>& names) {
  auto m = std::make_shared<nn::MultiheadAttention>(nn::MultiheadAttentionOptions(kE, kH).kdim(kdim).vdim(vdim));
  m->to(DType::f64);
  fill_params(*m, names);
  return m;
}

Tensor torch_kpm() {  // [N, S]: batch 0 ignores key 3, batch 1 keys 0 and 1
  return from_vector<uint8_t>({0, 0, 0, 1, 1, 1, 0, 0}, {kN, kS});
}

struct MhaRef {
  const std::vector<double>&out, &w, &gq, &g_out_proj_weight, &g_in_proj_bias;
  const std::vector<double>* gk = nullptr;
  const std::vector<double>* gv = nullptr;
};

/// Runs a sequence-first case (batch_first transposes the inputs and outputs, as PyTorch does) and
/// checks output, weights and gradients of sum(out * det21) + sum(w * det22) against LibTorch.
void run_mha(nn::MultiheadAttention& m, bool self, int64_t kdim, int64_t vdim,
             const nn::MultiheadAttentionForwardOptions& o, const MhaRef& ref, bool batch_first = false) {
  m.zero_grad();
  Tensor q = leaf(det({kL, kN, kE}, 11));
  Tensor k = self ? q : leaf(det({kS, kN, kdim}, 12));
  Tensor v = self ? q : leaf(det({kS, kN, vdim}, 13));
  m.options.batch_first(batch_first);
  auto tr = [&](const Tensor& t) { return batch_first ? t.transpose(0, 1) : t; };
  Tensor qi = tr(q), ki = self ? qi : tr(k), vi = self ? qi : tr(v);
  auto [out, w] = m(qi, ki, vi, o);
  out = tr(out);
  (loss_of(out) + sum(w * det(w.shape(), 22))).backward();
  const int64_t S = self ? kL : kS;
  expect_near(out, ref.out, {kL, kN, kE}, 1e-10, "out");
  expect_near(w, ref.w, o.average_attn_weights ? Shape{kN, kL, S} : Shape{kN, kH, kL, S}, 1e-10, "weights");
  expect_near(q.grad(), ref.gq, q.shape(), 1e-10, "grad query");
  if (ref.gk) expect_near(k.grad(), *ref.gk, k.shape(), 1e-10, "grad key");
  if (ref.gv) expect_near(v.grad(), *ref.gv, v.shape(), 1e-10, "grad value");
  expect_near(m.out_proj->weight.grad(), ref.g_out_proj_weight, {kE, kE}, 1e-10, "grad out_proj.weight");
  expect_near(m.in_proj_bias.grad(), ref.g_in_proj_bias, {3 * kE}, 1e-10, "grad in_proj_bias");
}

TEST(MultiheadAttention, SelfAttentionMatchesLibTorch) {
  using namespace attn_ref;
  auto m = make_mha(kE, kE, mha_self_names);
  MhaRef ref{mha_self_out, mha_self_w, mha_self_gq, mha_self_g_out_proj_weight, mha_self_g_in_proj_bias};
  run_mha(*m, true, kE, kE, {}, ref);
  run_mha(*m, true, kE, kE, {}, ref, /*batch_first=*/true);
}

TEST(MultiheadAttention, CrossAttentionWithMasksPerHeadWeights) {
  using namespace attn_ref;
  auto m = make_mha(kE, kE, mha_cross_names);
  MhaRef ref{mha_cross_out, mha_cross_w,     mha_cross_gq, mha_cross_g_out_proj_weight, mha_cross_g_in_proj_bias,
             &mha_cross_gk, &mha_cross_gv};
  nn::MultiheadAttentionForwardOptions o{
      .key_padding_mask = torch_kpm(), .attn_mask = det({kL, kS}, 14, 0.5), .average_attn_weights = false};
  run_mha(*m, false, kE, kE, o, ref);
  run_mha(*m, false, kE, kE, o, ref, true);
  // A float key_padding_mask (-inf where padded) is the same mask.
  o.key_padding_mask = where(torch_kpm(), full({}, -INFINITY, {.dtype = DType::f64}), zeros({}, {.dtype = DType::f64}));
  run_mha(*m, false, kE, kE, o, ref);
}

TEST(MultiheadAttention, BoolAttnMaskIsTrueForMaskedOut) {
  using namespace attn_ref;
  auto m = make_mha(kE, kE, mha_bool_mask_names);
  std::vector<uint8_t> am;
  for (int i = 0; i < kL; ++i)
    for (int j = 0; j < kS; ++j) am.push_back((i + j) % 3 == 1);
  Tensor mask = from_vector<uint8_t>(am, {kL, kS});
  MhaRef ref{mha_bool_mask_out, mha_bool_mask_w,     mha_bool_mask_gq, mha_bool_mask_g_out_proj_weight,
             mha_bool_mask_g_in_proj_bias, &mha_bool_mask_gk, &mha_bool_mask_gv};
  run_mha(*m, false, kE, kE, {.attn_mask = mask}, ref);
  // The same mask per batch and head as [N * H, L, S].
  run_mha(*m, false, kE, kE, {.attn_mask = expand(mask.unsqueeze(0), {kN * kH, kL, kS}).contiguous()}, ref);
}

TEST(MultiheadAttention, SeparateKeyValueDims) {
  using namespace attn_ref;
  auto m = make_mha(5, 5, mha_kvdim_names);
  EXPECT_FALSE(m->qkv_same_embed_dim());
  EXPECT_EQ(m->k_proj_weight.shape(), (Shape{kE, 5}));
  run_mha(*m, false, 5, 5, {.key_padding_mask = torch_kpm(), .average_attn_weights = false},
          {mha_kvdim_out, mha_kvdim_w, mha_kvdim_gq, mha_kvdim_g_out_proj_weight, mha_kvdim_g_in_proj_bias,
           &mha_kvdim_gk, &mha_kvdim_gv});
  auto m2 = make_mha(5, 3, mha_kvdim_names);
  run_mha(*m2, false, 5, 3, {.key_padding_mask = torch_kpm(), .average_attn_weights = false},
          {mha_kdim5_vdim3_out, mha_kdim5_vdim3_w, mha_kdim5_vdim3_gq, mha_kdim5_vdim3_g_out_proj_weight,
           mha_kdim5_vdim3_g_in_proj_bias, &mha_kdim5_vdim3_gk, &mha_kdim5_vdim3_gv});
}

TEST(MultiheadAttention, UnbatchedAndNoWeights) {
  using namespace attn_ref;
  auto m = make_mha(kE, kE, mha_self_names);
  m->eval();
  NoGradGuard ng;
  Tensor x = det({kL, kN, kE}, 11);
  Tensor ref_out = from_vector<double>(mha_self_out, {kL, kN, kE});
  Tensor ref_w = from_vector<double>(mha_self_w, {kN, kL, kL});
  for (int64_t n = 0; n < kN; ++n) {
    Tensor xn = x.select(1, n).contiguous();  // [L, E]
    auto [out, w] = (*m)(xn, xn, xn);
    EXPECT_TRUE(allclose(out, ref_out.select(1, n), 1e-10, 1e-10));
    EXPECT_TRUE(allclose(w, ref_w.select(0, n), 1e-10, 1e-10));
    auto [out2, w2] = (*m)(xn, xn, xn, {.need_weights = false});
    EXPECT_FALSE(w2.defined());
    EXPECT_TRUE(allclose(out2, ref_out.select(1, n), 1e-10, 1e-10));
  }
  // forward(x): self-attention output, as in a Sequential.
  EXPECT_TRUE(allclose((*m)(x), ref_out, 1e-10, 1e-10));
}

TEST(MultiheadAttention, GradcheckInputs) {
  auto m = make_mha(5, 3, attn_ref::mha_kvdim_names);
  Tensor q = leaf(det({kL, kN, kE}, 11)), k = leaf(det({kS, kN, 5}, 12)), v = leaf(det({kS, kN, 3}, 13));
  Tensor kpm = torch_kpm();
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& x) {
        auto [out, w] = (*m)(x[0], x[1], x[2], {.key_padding_mask = kpm, .average_attn_weights = false});
        return out.sum() + (w * det(w.shape(), 3)).sum();
      },
      {q, k, v}));
}

TEST(MultiheadAttention, DropoutOnlyInTraining) {
  auto m = make_mha(kE, kE, attn_ref::mha_self_names);
  m->options.dropout(0.5);
  Tensor x = det({kL, kN, kE}, 11);
  m->eval();
  auto [o1, w1] = (*m)(x, x, x);
  EXPECT_TRUE(allclose(o1, from_vector<double>(attn_ref::mha_self_out, {kL, kN, kE}), 1e-10, 1e-10));
  m->train();
  manual_seed(5);
  auto [o2, w2] = (*m)(x, x, x, {.average_attn_weights = false});
  // Dropped weights are 0, kept ones doubled: rows no longer sum to 1 and some entries are exactly 0.
  std::vector<double> w = w2.to_double_vector();
  int zeros_n = 0;
  for (double e : w) zeros_n += e == 0.0;
  EXPECT_GT(zeros_n, 0);
  EXPECT_FALSE(allclose(o2, o1, 1e-6, 1e-6));
}

TEST(MultiheadAttention, ParametersInitAndRepr) {
  manual_seed(0);
  nn::MultiheadAttention m(64, 4);
  auto sd = m.state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(m.in_proj_weight.shape(), (Shape{192, 64}));
  // xavier_uniform_ on [3E, E]: bound sqrt(6 / (E + 3E)).
  double bound = std::sqrt(6.0 / (64 + 192));
  EXPECT_LE(max(abs(m.in_proj_weight)).item(), bound);
  EXPECT_GT(max(abs(m.in_proj_weight)).item(), 0.95 * bound);
  EXPECT_EQ(max(abs(m.in_proj_bias)).item(), 0.0);
  EXPECT_EQ(max(abs(m.out_proj->bias)).item(), 0.0);
  EXPECT_LE(max(abs(m.out_proj->weight)).item(), 1.0 / 8.0);  // Linear's default: 1/sqrt(64)
  EXPECT_GT(max(abs(m.out_proj->weight)).item(), 0.9 / 8.0);
  nn::MultiheadAttention nb(nn::MultiheadAttentionOptions(8, 2).bias(false).vdim(3));
  EXPECT_EQ(nb.state_dict().keys(),
            (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}));
  std::string s = m.to_string();
  expect_contains(s, {"MultiheadAttention(embed_dim=64, num_heads=4", "(out_proj): Linear(in_features=64"});
}

TEST(MultiheadAttention, Errors) {
  expect_contains(error_of([] { nn::MultiheadAttention(10, 3); }), {"MultiheadAttention", "embed_dim 10", "num_heads 3"});
  expect_contains(error_of([] { nn::MultiheadAttention(nn::MultiheadAttentionOptions(8, 2).add_bias_kv(true)); }),
                  {"add_bias_kv", "not implemented"});
  auto m = make_mha(kE, kE, attn_ref::mha_self_names);
  Tensor q = det({kL, kN, kE}, 11), k = det({kS, kN, kE}, 12);
  expect_contains(error_of([&] { (*m)(q, det({kS, kN, 5}, 1), det({kS, kN, 5}, 1)); }),
                  {"[MultiheadAttention]", "[3, 2, 6]", "[4, 2, 5]", "kdim = 6"});
  expect_contains(error_of([&] { (*m)(q, k, det({kS + 1, kN, kE}, 1)); }), {"[MultiheadAttention]", "lengths differ"});
  expect_contains(error_of([&] { (*m)(q, det({kS, 3, kE}, 1), det({kS, 3, kE}, 1)); }),
                  {"[MultiheadAttention]", "batch sizes differ"});
  expect_contains(error_of([&] { (*m)(q, k, k, {.key_padding_mask = zeros({kN, kS + 1}, {.dtype = DType::u8})}); }),
                  {"[MultiheadAttention]", "key_padding_mask of shape [2, 5]", "expected [2, 4]"});
  expect_contains(error_of([&] { (*m)(q, k, k, {.attn_mask = zeros({kL, kS}, {.dtype = DType::f32})}); }),
                  {"[MultiheadAttention]", "attn_mask must be bool", "f32"});
  expect_contains(error_of([&] { (*m)(q, k, k, {.attn_mask = zeros({kN, kL, kS}, {.dtype = DType::u8})}); }),
                  {"attn_mask of shape [2, 3, 4]", "expected [3, 4] or [4, 3, 4]"});
  expect_contains(error_of([&] { (*m)(q, k, k, {.is_causal = true}); }), {"is_causal", "attn_mask"});
  expect_contains(error_of([&] { (*m)(q.to(DType::f32), k.to(DType::f32), k.to(DType::f32)); }),
                  {"[MultiheadAttention]", "f64"});
}

// ---- TransformerEncoderLayer / TransformerEncoder ----------------------------------------------

std::shared_ptr<nn::TransformerEncoderLayer> make_layer(const std::string& act, bool norm_first, bool batch_first,
                                                        const std::vector<std::string>& names) {
  auto l = std::make_shared<nn::TransformerEncoderLayer>(nn::TransformerEncoderLayerOptions(kE, kH)
                                                             .dim_feedforward(8)
                                                             .activation(act)
                                                             .norm_first(norm_first)
                                                             .batch_first(batch_first));
  l->to(DType::f64);
  fill_params(*l, names);
  l->eval();  // dropout off, as in the reference
  return l;
}

void run_layer(const std::string& act, bool norm_first, const nn::TransformerEncoderLayerForwardOptions& o,
               const std::vector<std::string>& names, const std::vector<double>& out_ref,
               const std::vector<double>& gx_ref, const std::vector<double>& gw_ref) {
  for (bool bf : {false, true}) {
    SCOPED_TRACE(bf ? "batch_first" : "sequence first");
    auto l = make_layer(act, norm_first, bf, names);
    Tensor x = leaf(det({kL, kN, kE}, 31));
    Tensor out = (*l)(bf ? x.transpose(0, 1) : x, o);
    if (bf) out = out.transpose(0, 1);
    loss_of(out).backward();
    expect_near(out, out_ref, {kL, kN, kE}, 1e-10, "out");
    expect_near(x.grad(), gx_ref, {kL, kN, kE}, 1e-10, "grad x");
    expect_near(l->linear1->weight.grad(), gw_ref, {8, kE}, 1e-10, "grad linear1.weight");
  }
}

TEST(TransformerEncoderLayer, ReluPostNormMatchesLibTorch) {
  using namespace attn_ref;
  run_layer("relu", false, {}, tel_relu_names, tel_relu_out, tel_relu_gx, tel_relu_g_linear1_weight);
}

TEST(TransformerEncoderLayer, GeluPostNormWithKeyPaddingMask) {
  using namespace attn_ref;
  Tensor kpm = from_vector<uint8_t>({0, 0, 0, 0, 0, 1}, {kN, kL});
  run_layer("gelu", false, {.src_key_padding_mask = kpm}, tel_gelu_kpm_names, tel_gelu_kpm_out, tel_gelu_kpm_gx,
            tel_gelu_kpm_g_linear1_weight);
}

TEST(TransformerEncoderLayer, ReluNormFirst) {
  using namespace attn_ref;
  run_layer("relu", true, {}, tel_relu_norm_first_names, tel_relu_norm_first_out, tel_relu_norm_first_gx,
            tel_relu_norm_first_g_linear1_weight);
}

TEST(TransformerEncoderLayer, GeluNormFirstWithFloatMask) {
  using namespace attn_ref;
  run_layer("gelu", true, {.src_mask = det({kL, kL}, 15, 0.7)}, tel_gelu_norm_first_mask_names,
            tel_gelu_norm_first_mask_out, tel_gelu_norm_first_mask_gx, tel_gelu_norm_first_mask_g_linear1_weight);
}

TEST(TransformerEncoderLayer, StructureDropoutAndErrors) {
  nn::TransformerEncoderLayer l(nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16).dropout(0.5));
  std::vector<std::string> children;
  for (auto& [n, c] : l.named_children()) children.push_back(n);
  EXPECT_EQ(children, (std::vector<std::string>{"self_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
                                                "dropout1", "dropout2"}));
  EXPECT_EQ(l.num_parameters(), 3 * 8 * 8 + 3 * 8 + 8 * 8 + 8 + 16 * 8 + 16 + 8 * 16 + 8 + 4 * 8);
  Tensor x = randn({5, 3, 8});
  l.eval();
  Tensor a = l(x), b = l(x);
  EXPECT_TRUE(allclose(a, b, 0, 0));  // eval: deterministic
  l.train();
  EXPECT_FALSE(allclose(l(x), a, 1e-4, 1e-4));  // train: dropout on
  expect_contains(error_of([] { nn::TransformerEncoderLayer(nn::TransformerEncoderLayerOptions(8, 2).activation("tanh")); }),
                  {"activation", "tanh"});
  expect_contains(error_of([] { nn::TransformerEncoderLayer(8, 3); }), {"embed_dim 8", "num_heads 3"});
  expect_contains(error_of([&] { l(randn({5, 3, 7})); }), {"[TransformerEncoderLayer]", "[5, 3, 7]"});
}

TEST(TransformerEncoder, TwoLayersAndFinalNormMatchLibTorch) {
  using namespace attn_ref;
  auto layer = nn::TransformerEncoderLayerOptions(kE, kH).dim_feedforward(8);
  nn::TransformerEncoder enc(
      nn::TransformerEncoderOptions(layer, 2).norm(std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({kE}))));
  enc.to(DType::f64);
  fill_params(enc, encoder2_names);
  enc.eval();
  Tensor x = leaf(det({kL, kN, kE}, 31));
  Tensor out = enc(x);
  loss_of(out).backward();
  expect_near(out, encoder2_out, {kL, kN, kE}, 1e-10, "out");
  expect_near(x.grad(), encoder2_gx, {kL, kN, kE}, 1e-10, "grad x");
  // As PyTorch's deep copies of one layer: every layer starts from the same values, in tensors
  // of its own (a step on one layer leaves the others alone).
  manual_seed(0);
  nn::TransformerEncoder fresh(nn::TransformerEncoderOptions(layer, 2));
  auto l0 = fresh.layers->at<nn::TransformerEncoderLayer>(0), l1 = fresh.layers->at<nn::TransformerEncoderLayer>(1);
  const auto p0 = l0->named_parameters(), p1 = l1->named_parameters();
  ASSERT_EQ(p0.size(), p1.size());
  for (size_t i = 0; i < p0.size(); ++i) {
    EXPECT_EQ(p0[i].first, p1[i].first);
    EXPECT_TRUE(allclose(p0[i].second, p1[i].second, 0, 0)) << p0[i].first;
    EXPECT_NE(p0[i].second.impl_ptr(), p1[i].second.impl_ptr()) << p0[i].first;
  }
  {
    NoGradGuard ng;
    l0->linear1->weight.add_(1.0);
  }
  EXPECT_FALSE(allclose(l0->linear1->weight, l1->linear1->weight));
  EXPECT_EQ(fresh.norm, nullptr);
}

}  // namespace
