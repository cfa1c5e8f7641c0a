// Activations and normalizations, nabla vs LibTorch in one process (DESIGN §8): forward plus
// backward (autograd engine included) of relu, gelu (erf and tanh), silu, mish, hardswish, hardsigmoid,
// softplus, softmax and log_softmax over the last dim (rows of 28, as attention scores), layer_norm
// over the last dim (affine), group_norm
// (plain and affine) and instance_norm (affine) on a CNN-sized activation [64, 32, 28, 28] f32,
// the same input and output gradient in both libraries. Rounds of the two libraries are interleaved (ABBA order);
// printed per op: median and IQR of the per-call time for each library and the ratio of medians
// nabla / LibTorch (< 1: nabla is faster). The outputs are compared first (max abs difference).
//
// Usage: bench_activations [--rounds R] [--block K] [--warmup W] [--threads 1,2] [--shape N,C,H,W]
#include <torch/torch.h>

#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "nabla/nabla.h"

namespace {

using bench::clk;
using bench::summarize;

struct Op {
  std::string name;
  std::function<nabla::Tensor(const nabla::Tensor&)> nf;
  std::function<torch::Tensor(const torch::Tensor&)> tf;
};

nabla::Tensor to_nabla(const torch::Tensor& t, bool requires_grad);

/// `C` channels: the per-channel weight and bias of the affine normalizations (the same values,
/// requiring grad, in both libraries).
std::vector<Op> ops(int64_t C, int64_t W) {
  namespace F = torch::nn::functional;
  torch::Tensor tw = (torch::rand({C}) + 0.5).requires_grad_(true), tb = torch::randn({C}).requires_grad_(true);
  nabla::Tensor nw = to_nabla(tw.detach(), true), nb = to_nabla(tb.detach(), true);
  // layer_norm over the last dim (W values: a transformer's d_model would be larger).
  torch::Tensor tlw = (torch::rand({W}) + 0.5).requires_grad_(true), tlb = torch::randn({W}).requires_grad_(true);
  nabla::Tensor nlw = to_nabla(tlw.detach(), true), nlb = to_nabla(tlb.detach(), true);
  return {
      {"relu", [](const nabla::Tensor& x) { return nabla::relu(x); }, [](const torch::Tensor& x) { return torch::relu(x); }},
      {"gelu", [](const nabla::Tensor& x) { return nabla::gelu(x); }, [](const torch::Tensor& x) { return torch::gelu(x); }},
      {"gelu(tanh)", [](const nabla::Tensor& x) { return nabla::gelu(x, true); },
       [](const torch::Tensor& x) { return torch::gelu(x, "tanh"); }},
      {"silu", [](const nabla::Tensor& x) { return nabla::silu(x); }, [](const torch::Tensor& x) { return torch::silu(x); }},
      {"mish", [](const nabla::Tensor& x) { return nabla::mish(x); }, [](const torch::Tensor& x) { return torch::mish(x); }},
      {"hardswish", [](const nabla::Tensor& x) { return nabla::hardswish(x); },
       [](const torch::Tensor& x) { return torch::hardswish(x); }},
      {"hardsigmoid", [](const nabla::Tensor& x) { return nabla::hardsigmoid(x); },
       [](const torch::Tensor& x) { return torch::hardsigmoid(x); }},
      {"softplus", [](const nabla::Tensor& x) { return nabla::softplus(x); },
       [](const torch::Tensor& x) { return torch::softplus(x, 1.0, 20.0); }},
      {"softmax(-1)", [](const nabla::Tensor& x) { return nabla::softmax(x, -1); },
       [](const torch::Tensor& x) { return torch::softmax(x, -1); }},
      {"log_softmax(-1)", [](const nabla::Tensor& x) { return nabla::log_softmax(x, -1); },
       [](const torch::Tensor& x) { return torch::log_softmax(x, -1); }},
      {"layer_norm(-1)+w,b", [=](const nabla::Tensor& x) { return nabla::layer_norm(x, {W}, nlw, nlb); },
       [=](const torch::Tensor& x) { return torch::layer_norm(x, {W}, tlw, tlb); }},
      {"group_norm(8)", [](const nabla::Tensor& x) { return nabla::group_norm(x, 8); },
       [](const torch::Tensor& x) { return torch::group_norm(x, 8); }},
      {"group_norm(8)+w,b", [=](const nabla::Tensor& x) { return nabla::group_norm(x, 8, nw, nb); },
       [=](const torch::Tensor& x) { return torch::group_norm(x, 8, tw, tb); }},
      {"instance_norm+w,b",
       [=](const nabla::Tensor& x) {
         nabla::InstanceNormOptions o;
         o.weight = nw, o.bias = nb;
         return nabla::instance_norm(x, o);
       },
       [=](const torch::Tensor& x) { return F::instance_norm(x, F::InstanceNormFuncOptions().weight(tw).bias(tb)); }},
  };
}

nabla::Tensor to_nabla(const torch::Tensor& t, bool requires_grad) {
  torch::Tensor c = t.contiguous();
  std::vector<float> v(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  nabla::Tensor n = nabla::from_vector(v, nabla::Shape(c.sizes().begin(), c.sizes().end()));
  if (requires_grad) n.requires_grad_(true);
  return n;
}

double max_abs_diff(const nabla::Tensor& a, const torch::Tensor& b) {
  std::vector<double> av = a.to_vector<double>();
  torch::Tensor bc = b.detach().to(torch::kDouble).contiguous();
  double worst = 0;
  for (size_t i = 0; i < av.size(); ++i) worst = std::max(worst, std::abs(av[i] - bc.data_ptr<double>()[i]));
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  bench::TimingOptions t;
  t.rounds = 11;
  t.block = 5;
  t.warmup = 3;
  std::vector<int64_t> shape{64, 32, 28, 28};
  bench::ArgWalker args(argc, argv);
  while (args.next()) {
    if (args.timing(t)) continue;
    if (args.flag() == "--shape") {
      shape.clear();
      std::stringstream ss(args.value());
      for (std::string n; std::getline(ss, n, ',');) shape.push_back(std::atoll(n.c_str()));
      continue;
    }
    std::fprintf(stderr, "usage: bench_activations [--rounds R] [--block K] [--warmup W] [--threads 1,2] [--shape N,C,H,W]\n");
    return args.usage_status();
  }
  bench::set_interop_threads();
  torch::manual_seed(0);
  torch::Tensor tx = torch::randn(shape).requires_grad_(true);
  torch::Tensor tg = torch::randn(shape);
  nabla::Tensor nx = to_nabla(tx, true), ng = to_nabla(tg, false);
  std::printf("forward + backward, input [%lld, %lld, %lld, %lld] f32; ms per call: median (IQR); ratio of medians\n",
              (long long)shape[0], (long long)shape[1], (long long)shape[2], (long long)shape[3]);
  for (int threads : t.threads) {
    bench::set_threads(threads);
    std::printf("\n%d thread(s)\n%-14s %22s %22s %8s %10s\n", threads, "op", "nabla", "LibTorch", "ratio", "max|diff|");
    for (const Op& op : ops(shape[1], shape.back())) {
      auto n_step = [&] {
        nabla::Tensor y = op.nf(nx);
        y.backward(ng);
        nx.set_grad(nabla::Tensor());
      };
      auto t_step = [&] {
        torch::Tensor y = op.tf(tx);
        y.backward(tg);
        tx.mutable_grad() = torch::Tensor();
      };
      const double diff = max_abs_diff(op.nf(nx).detach(), op.tf(tx));
      for (int i = 0; i < t.warmup; ++i) n_step(), t_step();
      std::vector<double> nt, tt;
      for (int r = 0; r < t.rounds; ++r) {
        if (r % 2 == 0) {
          nt.push_back(bench::time_block(n_step, t.block));
          tt.push_back(bench::time_block(t_step, t.block));
        } else {
          tt.push_back(bench::time_block(t_step, t.block));
          nt.push_back(bench::time_block(n_step, t.block));
        }
      }
      const bench::Summary ns = summarize(nt), ts = summarize(tt);
      std::printf("%-18s %8.3f (%5.3f-%5.3f) %8.3f (%5.3f-%5.3f) %8.2f %10.2e\n", op.name.c_str(), ns.median * 1e3,
                  ns.q1 * 1e3, ns.q3 * 1e3, ts.median * 1e3, ts.q1 * 1e3, ts.q3 * 1e3, ns.median / ts.median, diff);
    }
  }
  return 0;
}
