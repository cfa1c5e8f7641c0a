// multinomial: category indices drawn from rows of non-negative weights.
//
// The uniforms come from nabla's generator (rand, so manual_seed reproduces a draw on every
// device); the draws themselves run on the host, one row at a time.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "op_util.h"

namespace nabla {

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  const char* op = "multinomial";
  ops::check_tensor(probs, op);
  NB_CHECK(probs.is_floating_point(), "[multinomial] expected floating weights, got ", probs.dtype());
  NB_CHECK(probs.dim() == 1 || probs.dim() == 2, "[multinomial] weights must be 1-D or 2-D, got shape ", probs.shape());
  NB_CHECK(num_samples > 0, "[multinomial] cannot draw ", num_samples, " samples; expected num_samples > 0");
  const int64_t C = probs.size(-1), R = probs.dim() == 2 ? probs.size(0) : 1;
  NB_CHECK(C > 0, "[multinomial] the weights have no categories (shape ", probs.shape(), ")");
  NB_CHECK(replacement || num_samples <= C, "[multinomial] cannot draw ", num_samples,
           " samples without replacement from ", C, " categories");
  std::vector<double> w = ops::copy_kernel(probs.detach().to(Device::cpu()), DType::f64).to_vector<double>();
  for (int64_t r = 0; r < R; ++r) {
    double total = 0;
    int64_t nonzero = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double p = w[size_t(r * C + c)];
      NB_CHECK(std::isfinite(p) && p >= 0, "[multinomial] weights must be finite and non-negative; row ", r, " has ", p,
               " at category ", c);
      total += p;
      nonzero += p > 0;
    }
    NB_CHECK(total > 0, "[multinomial] row ", r, " of the weights sums to 0; expected a positive sum");
    NB_CHECK(replacement || nonzero >= num_samples, "[multinomial] cannot draw ", num_samples,
             " samples without replacement from row ", r, ", which has only ", nonzero, " non-zero weights");
  }
  // With replacement: one uniform per sample, inverted through the row's cumulative weights.
  // Without: one uniform per category, key log(u) / w (Efraimidis-Spirakis; the same law as
  // PyTorch's exponential race): the num_samples largest keys, in descending order, are a
  // draw in sequence, each without the ones before it.
  const int64_t per_row = replacement ? num_samples : C;
  std::vector<double> u = rand({R, per_row}, {.dtype = DType::f64}).to_vector<double>();
  std::vector<int64_t> out(size_t(R * num_samples));
  std::vector<double> cdf(static_cast<size_t>(C)), key(static_cast<size_t>(C));
  std::vector<int64_t> order(static_cast<size_t>(C));
  for (int64_t r = 0; r < R; ++r) {
    const double* row = w.data() + r * C;
    int64_t* dst = out.data() + r * num_samples;
    if (replacement) {
      std::partial_sum(row, row + C, cdf.begin());
      int64_t last = C - 1;
      while (row[last] == 0) --last;  // rounding must never land on a zero-weight tail
      for (int64_t s = 0; s < num_samples; ++s) {
        const double target = u[size_t(r * per_row + s)] * cdf.back();
        const auto it = std::upper_bound(cdf.begin(), cdf.end(), target);
        dst[s] = std::min<int64_t>(it - cdf.begin(), last);
      }
    } else {
      for (int64_t c = 0; c < C; ++c)
        key[size_t(c)] = row[c] > 0 ? std::log1p(-u[size_t(r * per_row + c)]) / row[c] : -INFINITY;
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + num_samples, order.end(),
                        [&](int64_t a, int64_t b) { return key[size_t(a)] > key[size_t(b)]; });
      std::copy(order.begin(), order.begin() + num_samples, dst);
    }
  }
  Shape shape = probs.dim() == 2 ? Shape{R, num_samples} : Shape{num_samples};
  return from_vector(out, shape).to(probs.device());
}

}  // namespace nabla
