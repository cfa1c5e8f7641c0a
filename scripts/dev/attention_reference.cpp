// Reference values for tests/nn/attention_test.cpp, computed with LibTorch 1.13 (Debian libtorch-dev).
// It writes tests/nn/attention_reference_values.h, which the tests include; the tests never link LibTorch.
//
//   g++ -std=c++17 -O1 scripts/dev/attention_reference.cpp -I/usr/include/torch/csrc/api/include \
//       -ltorch -ltorch_cpu -lc10 -o /tmp/attention_reference
//   /tmp/attention_reference > tests/nn/attention_reference_values.h
//
// Every input and parameter is deterministic: det(shape, seed) = scale * sin(0.37 i + 1.3 seed + 0.1) over
// the row-major index i, so the tests rebuild them without storing arrays. Parameters are filled in
// named_parameters() order with seed = their position in that list. Gradients are of
// sum(out * det(out.shape, 21)). LibTorch 1.13 has no scaled_dot_product_attention: it is written here
// with torch ops as PyTorch 2.x's math path (softmax(Q K^T * scale + bias) V). Its C++
// MultiheadAttention adds a bool attn_mask as 0/1 and has no batch_first, so bool attention masks are
// passed as float (-inf where true) and batch_first cases are checked in the tests by transposing.
// Its TransformerEncoderLayer has no norm_first: that variant is composed from the layer's own submodules.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "reference_values.h"

namespace {

using ref_gen::det;

void print(const std::string& name, const torch::Tensor& t0) {
  torch::Tensor t = t0.contiguous().to(torch::kDouble).flatten();
  std::printf("inline const std::vector<double> %s = {", name.c_str());
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 5 == 0) std::printf("\n    ");
    std::printf("%.15g,%s", t[i].item<double>(), i % 5 == 4 ? "" : " ");
  }
  std::printf("};\n");
}

void print_names(const std::string& name, torch::nn::Module& m) {
  std::printf("inline const std::vector<std::string> %s = {", name.c_str());
  for (auto& p : m.named_parameters()) std::printf("\"%s\", ", p.key().c_str());
  std::printf("};\n");
}

void fill_params(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  int seed = 0;
  for (auto& p : m.named_parameters()) {
    auto s = p.value().sizes().vec();
    p.value().copy_(det(s, seed++, 0.5));
  }
}

torch::Tensor weight_of(const torch::Tensor& out) { return det(out.sizes().vec(), 21); }

// PyTorch 2.x scaled_dot_product_attention, math path.
torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask,
                   bool causal, double scale) {
  int64_t L = q.size(-2), S = k.size(-2);
  torch::Tensor bias = torch::zeros({L, S}, torch::kDouble);
  if (causal) bias.masked_fill_(torch::ones({L, S}, torch::kBool).tril().logical_not(), -INFINITY);
  if (mask.defined()) {
    if (mask.scalar_type() == torch::kBool)
      bias = bias.masked_fill(mask.logical_not(), -INFINITY);
    else
      bias = bias + mask;
  }
  torch::Tensor w = torch::matmul(q, k.transpose(-2, -1)) * scale + bias;
  return torch::matmul(torch::softmax(w, -1), v);
}

void sdpa_case(const std::string& name, std::vector<int64_t> sq, std::vector<int64_t> sk, std::vector<int64_t> sv,
               const torch::Tensor& mask, bool causal, double scale) {
  torch::Tensor q = det(sq, 1).requires_grad_(), k = det(sk, 2).requires_grad_(), v = det(sv, 3).requires_grad_();
  if (scale <= 0) scale = 1.0 / std::sqrt(double(q.size(-1)));
  torch::Tensor out = sdpa(q, k, v, mask, causal, scale);
  (out * weight_of(out)).sum().backward();
  print(name + "_out", out);
  print(name + "_gq", q.grad());
  print(name + "_gk", k.grad());
  print(name + "_gv", v.grad());
}

// Sequence-first (L, N, E) inputs; returns (output, weights).
void mha_case(const std::string& name, int64_t kdim, int64_t vdim, bool self, const torch::Tensor& kpm,
              const torch::Tensor& attn_mask, bool average) {
  const int64_t E = 6, H = 2, L = 3, S = 4, N = 2;
  torch::nn::MultiheadAttention mha(torch::nn::MultiheadAttentionOptions(E, H).kdim(kdim).vdim(vdim));
  mha->to(torch::kDouble);
  fill_params(*mha);
  print_names(name + "_names", *mha);
  torch::Tensor q = det({L, N, E}, 11).requires_grad_();
  torch::Tensor k = self ? q : det({S, N, kdim}, 12).requires_grad_();
  torch::Tensor v = self ? q : det({S, N, vdim}, 13).requires_grad_();
  auto [out, w] = mha->forward(q, k, v, kpm, true, attn_mask, average);
  ((out * weight_of(out)).sum() + (w * det(w.sizes().vec(), 22)).sum()).backward();
  print(name + "_out", out);
  print(name + "_w", w);
  print(name + "_gq", q.grad());
  if (!self) {
    print(name + "_gk", k.grad());
    print(name + "_gv", v.grad());
  }
  print(name + "_g_out_proj_weight", mha->out_proj->weight.grad());
  print(name + "_g_in_proj_bias", mha->in_proj_bias.grad());
}

// kdim != vdim, which LibTorch 1.13's C++ MultiheadAttention refuses (key and value must have one shape):
// composed by hand as PyTorch's multi_head_attention_forward with separate projection weights,
// parameters named and ordered as Python's nn.MultiheadAttention(6, 2, kdim=5, vdim=3).
void mha_manual_kv_case(const std::string& name, const torch::Tensor& kpm) {
  const int64_t E = 6, H = 2, L = 3, S = 4, N = 2, hd = E / H;
  torch::Tensor qw = det({E, E}, 0, 0.5).requires_grad_(), kw = det({E, 5}, 1, 0.5).requires_grad_(),
                vw = det({E, 3}, 2, 0.5).requires_grad_(), ib = det({3 * E}, 3, 0.5).requires_grad_(),
                ow = det({E, E}, 4, 0.5).requires_grad_(), ob = det({E}, 5, 0.5).requires_grad_();
  torch::Tensor q = det({L, N, E}, 11).requires_grad_(), k = det({S, N, 5}, 12).requires_grad_(),
                v = det({S, N, 3}, 13).requires_grad_();
  auto heads = [&](const torch::Tensor& t, int64_t len) {  // (len, N, E) -> (N, H, len, hd)
    return t.reshape({len, N, H, hd}).permute({1, 2, 0, 3});
  };
  torch::Tensor qp = heads(torch::nn::functional::linear(q, qw, ib.slice(0, 0, E)), L);
  torch::Tensor kp = heads(torch::nn::functional::linear(k, kw, ib.slice(0, E, 2 * E)), S);
  torch::Tensor vp = heads(torch::nn::functional::linear(v, vw, ib.slice(0, 2 * E, 3 * E)), S);
  torch::Tensor scores = torch::matmul(qp / std::sqrt(double(hd)), kp.transpose(-2, -1));
  scores = scores.masked_fill(kpm.view({N, 1, 1, S}), -INFINITY);
  torch::Tensor w = torch::softmax(scores, -1);
  torch::Tensor o = torch::matmul(w, vp).permute({2, 0, 1, 3}).reshape({L, N, E});
  torch::Tensor out = torch::nn::functional::linear(o, ow, ob);
  ((out * weight_of(out)).sum() + (w * det(w.sizes().vec(), 22)).sum()).backward();
  print(name + "_out", out);
  print(name + "_w", w);
  print(name + "_gq", q.grad());
  print(name + "_gk", k.grad());
  print(name + "_gv", v.grad());
  print(name + "_g_out_proj_weight", ow.grad());
  print(name + "_g_in_proj_bias", ib.grad());
}

void tel_case(const std::string& name, bool gelu, bool norm_first, const torch::Tensor& src_mask,
              const torch::Tensor& kpm) {
  const int64_t E = 6, H = 2, L = 3, N = 2;
  torch::nn::TransformerEncoderLayerOptions o(E, H);
  o.dim_feedforward(8).dropout(0.1);
  if (gelu) o.activation(torch::kGELU);
  torch::nn::TransformerEncoderLayer layer(o);
  layer->to(torch::kDouble);
  fill_params(*layer);
  layer->eval();
  print_names(name + "_names", *layer);
  torch::Tensor x = det({L, N, E}, 31).requires_grad_();
  torch::Tensor out;
  if (!norm_first) {
    out = layer->forward(x, src_mask, kpm);
  } else {
    auto act = [&](const torch::Tensor& t) { return gelu ? torch::gelu(t) : torch::relu(t); };
    torch::Tensor h = layer->norm1(x);
    out = x + std::get<0>(layer->self_attn(h, h, h, kpm, false, src_mask));
    out = out + layer->linear2(act(layer->linear1(layer->norm2(out))));
  }
  (out * weight_of(out)).sum().backward();
  print(name + "_out", out);
  print(name + "_gx", x.grad());
  print(name + "_g_linear1_weight", layer->linear1->weight.grad());
}

// TransformerEncoder: two post-norm relu layers and a final LayerNorm; parameters named and filled
// as in the module tree layers.0.*, layers.1.*, norm.*.
void encoder_case(const std::string& name) {
  const int64_t E = 6, H = 2, L = 3, N = 2;
  torch::nn::TransformerEncoderLayerOptions o(E, H);
  o.dim_feedforward(8);
  torch::nn::TransformerEncoder enc(torch::nn::TransformerEncoderOptions(o, 2).norm(
      torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({E})))));
  enc->to(torch::kDouble);
  fill_params(*enc);
  enc->eval();
  print_names(name + "_names", *enc);
  torch::Tensor x = det({L, N, E}, 31).requires_grad_();
  torch::Tensor out = enc->forward(x);
  (out * weight_of(out)).sum().backward();
  print(name + "_out", out);
  print(name + "_gx", x.grad());
}

}  // namespace

int main() {
  torch::set_default_dtype(caffe2::TypeMeta::Make<double>());
  std::printf("// Generated by scripts/dev/attention_reference.cpp (LibTorch %s); do not edit.\n#pragma once\n"
              "#include <string>\n#include <vector>\n\nnamespace attn_ref {\n",
              TORCH_VERSION);
  // ---- scaled_dot_product_attention
  sdpa_case("sdpa_basic", {2, 3, 4}, {2, 5, 4}, {2, 5, 6}, {}, false, 0);
  torch::Tensor bmask = torch::empty({3, 5}, torch::kBool);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) bmask[i][j] = (i + 2 * j) % 3 != 0;
  sdpa_case("sdpa_bool_mask", {2, 3, 4}, {2, 5, 4}, {2, 5, 6}, bmask, false, 0);
  sdpa_case("sdpa_float_mask_broadcast", {2, 2, 3, 4}, {1, 2, 5, 4}, {2, 1, 5, 6}, det({2, 1, 3, 5}, 7, 0.8), false,
            0);
  sdpa_case("sdpa_causal_scale", {1, 2, 4, 4}, {1, 2, 4, 4}, {1, 2, 4, 3}, {}, true, 0.3);
  sdpa_case("sdpa_causal_rect", {3, 4}, {5, 4}, {5, 2}, {}, true, 0);

  // ---- MultiheadAttention (E = 6, 2 heads, L = 3, S = 4, N = 2)
  mha_case("mha_self", 6, 6, true, {}, {}, true);
  torch::Tensor kpm = torch::zeros({2, 4}, torch::kBool);
  kpm[0][3] = true;
  kpm[1][0] = true;
  kpm[1][1] = true;
  mha_case("mha_cross", 6, 6, false, kpm, det({3, 4}, 14, 0.5), false);
  // bool attn_mask (true = not allowed) at (i + j) % 3 == 1, passed as float.
  torch::Tensor am = torch::zeros({3, 4}, torch::kDouble);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      if ((i + j) % 3 == 1) am[i][j] = -INFINITY;
  mha_case("mha_bool_mask", 6, 6, false, {}, am, true);
  mha_case("mha_kvdim", 5, 5, false, kpm, {}, false);
  mha_manual_kv_case("mha_kdim5_vdim3", kpm);

  // ---- TransformerEncoderLayer (d_model 6, 2 heads, dim_feedforward 8), eval mode
  tel_case("tel_relu", false, false, {}, {});
  torch::Tensor tkpm = torch::zeros({2, 3}, torch::kBool);
  tkpm[1][2] = true;
  tel_case("tel_gelu_kpm", true, false, {}, tkpm);
  tel_case("tel_relu_norm_first", false, true, {}, {});
  tel_case("tel_gelu_norm_first_mask", true, true, det({3, 3}, 15, 0.7), {});
  encoder_case("encoder2");
  std::printf("}  // namespace attn_ref\n");
}
