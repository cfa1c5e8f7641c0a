// Reference values for tests/nn/transformer_test.cpp, computed with LibTorch 1.13 (Debian libtorch-dev).
// It writes tests/nn/transformer_reference_values.h, which the tests include; the tests never link LibTorch.
//
//   g++ -std=c++17 -O1 scripts/dev/transformer_reference.cpp -I/usr/include/torch/csrc/api/include \
//       -ltorch -ltorch_cpu -lc10 -o /tmp/transformer_reference
//   /tmp/transformer_reference > tests/nn/transformer_reference_values.h
//
// Everything is f64 in eval mode (dropout off). Inputs and parameters are deterministic:
// det(shape, seed) = scale * sin(0.37 i + 1.3 seed + 0.1) over the row-major index i; parameters get
// seed = their position in LibTorch's named_parameters(). Each case prints its state_dict (name ->
// shape and values, %.17g so f64 round-trips exactly), which the tests load into nabla by name with
// a strict load_state_dict (so the key sets must be equal), the output, the gradients of
// sum(out * det(out.shape, 21)) with respect to the inputs, and every parameter's gradient by name.
//
// LibTorch 1.13's C++ MultiheadAttention adds a bool attn_mask as 0/1, so attention masks are passed
// as float (-inf where masked); key padding masks are bool. Its TransformerDecoderLayer has no
// norm_first (and registers its submodules in another order than Python, which the by-name loading
// makes irrelevant): the pre-norm variant is composed from the layer's own submodules, as Python's
// TransformerDecoderLayer(norm_first=True) computes it. No batch_first either: the tests check it by
// transposing.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "reference_values.h"

namespace {

const int64_t E = 6, H = 2, T = 4, S = 5, N = 2, FF = 8;

using ref_gen::det;
using ref_gen::shape_of;
using ref_gen::values;

void print(const std::string& name, const torch::Tensor& t) {
  std::printf("inline const Ref %s = {%s, %s};\n", name.c_str(), shape_of(t).c_str(), values(t).c_str());
}

void fill_params(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  int seed = 0;
  for (auto& p : m.named_parameters()) p.value().copy_(det(p.value().sizes().vec(), seed++, 0.5));
}

// name -> values of every parameter (or of its gradient).
void print_params(const std::string& name, torch::nn::Module& m, bool grads) {
  std::printf("inline const std::vector<NamedRef> %s = {\n", name.c_str());
  for (auto& p : m.named_parameters()) {
    torch::Tensor t = grads ? p.value().grad() : p.value();
    std::printf("  {\"%s\", {%s, %s}},\n", p.key().c_str(), shape_of(t).c_str(), values(t).c_str());
  }
  std::printf("};\n");
}

torch::Tensor loss_of(const torch::Tensor& out) { return (out * det(out.sizes().vec(), 21)).sum(); }

torch::Tensor causal(int64_t n) { return torch::nn::TransformerImpl::generate_square_subsequent_mask(n).to(torch::kDouble); }

torch::Tensor kpm(int64_t len, std::vector<std::pair<int, int>> on) {
  torch::Tensor m = torch::zeros({N, len}, torch::kBool);
  for (auto [b, j] : on) m[b][j] = true;
  return m;
}

torch::nn::TransformerDecoderLayerOptions layer_options(bool gelu) {
  torch::nn::TransformerDecoderLayerOptions o(E, H);
  o.dim_feedforward(FF).dropout(0.1);
  if (gelu) o.activation(torch::kGELU);
  return o;
}

// Masks of the decoder cases: causal tgt_mask, padding at tgt[1][T-1] and memory[0][S-1], [1][0], and
// (for the masked case) a float memory_mask.
struct Masks {
  torch::Tensor tgt_mask, memory_mask, tgt_kpm, memory_kpm;
};

void decoder_layer_case(const std::string& name, bool gelu, bool norm_first, const Masks& mk) {
  torch::nn::TransformerDecoderLayer layer(layer_options(gelu));
  layer->to(torch::kDouble);
  fill_params(*layer);
  layer->eval();
  print_params(name + "_params", *layer, false);
  torch::Tensor tgt = det({T, N, E}, 31).requires_grad_(), mem = det({S, N, E}, 32).requires_grad_();
  torch::Tensor out;
  if (!norm_first) {
    out = layer->forward(tgt, mem, mk.tgt_mask, mk.memory_mask, mk.tgt_kpm, mk.memory_kpm);
  } else {
    auto act = [&](const torch::Tensor& t) { return gelu ? torch::gelu(t) : torch::relu(t); };
    torch::Tensor h = layer->norm1(tgt);
    torch::Tensor x = tgt + std::get<0>(layer->self_attn(h, h, h, mk.tgt_kpm, false, mk.tgt_mask));
    h = layer->norm2(x);
    x = x + std::get<0>(layer->multihead_attn(h, mem, mem, mk.memory_kpm, false, mk.memory_mask));
    out = x + layer->linear2(act(layer->linear1(layer->norm3(x))));
  }
  loss_of(out).backward();
  print(name + "_out", out);
  print(name + "_gtgt", tgt.grad());
  print(name + "_gmem", mem.grad());
  print_params(name + "_grads", *layer, true);
}

// Two post-norm relu layers and a final LayerNorm; parameters layers.0.*, layers.1.*, norm.*.
void decoder_case(const std::string& name, const Masks& mk) {
  torch::nn::TransformerDecoder dec(torch::nn::TransformerDecoderOptions(layer_options(false), 2)
                                        .norm(torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({E})))));
  dec->to(torch::kDouble);
  fill_params(*dec);
  dec->eval();
  print_params(name + "_params", *dec, false);
  torch::Tensor tgt = det({T, N, E}, 31).requires_grad_(), mem = det({S, N, E}, 32).requires_grad_();
  torch::Tensor out = dec->forward(tgt, mem, mk.tgt_mask, mk.memory_mask, mk.tgt_kpm, mk.memory_kpm);
  loss_of(out).backward();
  print(name + "_out", out);
  print(name + "_gtgt", tgt.grad());
  print(name + "_gmem", mem.grad());
  print_params(name + "_grads", *dec, true);
}

// nn.Transformer(d_model 6, nhead 2, 2 encoder layers, 2 decoder layers, dim_feedforward 8): src [S, N, E],
// tgt [T, N, E], causal tgt_mask, src padding used as src_key_padding_mask and memory_key_padding_mask,
// tgt padding.
void transformer_case(const std::string& name, const Masks& mk) {
  torch::nn::Transformer model(
      torch::nn::TransformerOptions(E, H).num_encoder_layers(2).num_decoder_layers(2).dim_feedforward(FF).dropout(0.1));
  model->to(torch::kDouble);
  fill_params(*model);
  model->eval();
  print_params(name + "_params", *model, false);
  torch::Tensor src = det({S, N, E}, 33).requires_grad_(), tgt = det({T, N, E}, 31).requires_grad_();
  torch::Tensor out = model->forward(src, tgt, {}, mk.tgt_mask, {}, mk.memory_kpm, mk.tgt_kpm, mk.memory_kpm);
  loss_of(out).backward();
  print(name + "_out", out);
  print(name + "_gsrc", src.grad());
  print(name + "_gtgt", tgt.grad());
  print_params(name + "_grads", *model, true);
}

}  // namespace

int main() {
  torch::set_default_dtype(caffe2::TypeMeta::Make<double>());
  std::printf("// Generated by scripts/dev/transformer_reference.cpp (LibTorch %s); do not edit.\n#pragma once\n"
              "#include <cmath>\n#include <cstdint>\n#include <string>\n#include <vector>\n\nnamespace xfmr_ref {\n"
              "struct Ref {\n  std::vector<int64_t> shape;\n  std::vector<double> values;\n};\n"
              "struct NamedRef {\n  std::string name;\n  Ref ref;\n};\n",
              TORCH_VERSION);
  print("square_subsequent_mask_4", torch::nn::TransformerImpl::generate_square_subsequent_mask(4).to(torch::kDouble));
  Masks causal_pad{causal(T), {}, kpm(T, {{1, T - 1}}), kpm(S, {{0, S - 1}, {1, 0}})};
  Masks with_memory_mask = causal_pad;
  with_memory_mask.memory_mask = det({T, S}, 14, 0.5);
  decoder_layer_case("dec_layer_relu", false, false, causal_pad);
  decoder_layer_case("dec_layer_gelu_memory_mask", true, false, with_memory_mask);
  decoder_layer_case("dec_layer_relu_norm_first", false, true, causal_pad);
  decoder_layer_case("dec_layer_gelu_norm_first_memory_mask", true, true, with_memory_mask);
  decoder_case("decoder2", causal_pad);
  transformer_case("transformer", causal_pad);
  std::printf("}  // namespace xfmr_ref\n");
}
