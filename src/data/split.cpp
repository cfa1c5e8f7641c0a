#include "nabla/data/split.h"

#include <algorithm>
#include <cmath>

namespace nabla::data {

std::vector<int64_t> random_permutation(int64_t n, Rng& rng) {
  NB_CHECK(n >= 0, "[random_permutation] n must be >= 0, got ", n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(rng.randint(0, i))]);
  return p;
}

std::vector<DatasetPtr> random_split(DatasetPtr ds, const std::vector<double>& lengths, uint64_t seed) {
  NB_CHECK(ds != nullptr, "[random_split] data set is null");
  const int64_t n = ds->size();
  double total = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    NB_CHECK(std::isfinite(lengths[i]) && lengths[i] >= 0, "[random_split] length ", i, " is ", lengths[i],
             " (lengths are counts or fractions >= 0)");
    total += lengths[i];
  }
  std::vector<int64_t> counts;
  if (std::fabs(total - 1.0) <= 1e-9 && total <= 1.0) {  // fractions (PyTorch's isclose(sum, 1) and sum <= 1)
    int64_t assigned = 0;
    for (double f : lengths) counts.push_back(int64_t(std::floor(double(n) * f))), assigned += counts.back();
    for (size_t i = 0; assigned < n && !counts.empty(); i = (i + 1) % counts.size()) ++counts[i], ++assigned;
  } else {
    for (size_t i = 0; i < lengths.size(); ++i) {
      NB_CHECK(lengths[i] == std::floor(lengths[i]), "[random_split] length ", i, " is ", lengths[i],
               ": lengths are whole counts (or fractions summing to 1)");
      counts.push_back(int64_t(lengths[i]));
    }
    NB_CHECK(total == double(n), "[random_split] the lengths sum to ", total, " but the data set has ", n,
             " examples");
  }
  int64_t assigned = 0;
  for (int64_t c : counts) assigned += c;
  NB_CHECK(assigned == n, "[random_split] the lengths give ", assigned, " examples but the data set has ", n);
  Rng rng = Rng::for_domain(seed, RngDomain::split, uint64_t(n) ^ (uint64_t(1) << 48));
  const std::vector<int64_t> p = random_permutation(n, rng);
  std::vector<DatasetPtr> out;
  int64_t at = 0;
  for (int64_t c : counts) {
    out.push_back(std::make_shared<Subset>(ds, std::vector<int64_t>(p.begin() + at, p.begin() + at + c)));
    at += c;
  }
  return out;
}

SplitIndices split_indices(int64_t n, double val_fraction, uint64_t seed) {
  NB_CHECK(n >= 0, "[split] data set size must be >= 0, got ", n);
  NB_CHECK(val_fraction >= 0.0 && val_fraction < 1.0, "[split] validation fraction must be in [0, 1), got ",
           val_fraction);
  Rng rng = Rng::for_domain(seed, RngDomain::split, uint64_t(n));
  std::vector<int64_t> p = random_permutation(n, rng);
  auto n_val = int64_t(std::llround(double(n) * val_fraction));
  SplitIndices s;
  s.val.assign(p.begin(), p.begin() + n_val);
  s.train.assign(p.begin() + n_val, p.end());
  std::sort(s.val.begin(), s.val.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

TrainValSplit train_val_split(DatasetPtr ds, double val_fraction, uint64_t seed) {
  NB_CHECK(ds != nullptr, "[train_val_split] data set is null");
  SplitIndices s = split_indices(ds->size(), val_fraction, seed);
  return {std::make_shared<Subset>(ds, std::move(s.train)), std::make_shared<Subset>(ds, std::move(s.val))};
}

ChannelStats channel_stats(const Dataset& ds) {
  int64_t n = ds.size();
  NB_CHECK(n > 0, "[channel_stats] the data set is empty");
  std::vector<double> mean, m2;
  int64_t per_channel = 0;
  Shape first_shape;
  for (int64_t i = 0; i < n; ++i) {
    Tensor x = ds.get(i).input;
    NB_CHECK(x.defined() && x.dim() >= 1 && x.is_floating_point(), "[channel_stats] example ", i,
             " has no floating input (got ", x.defined() ? dtype_name(x.dtype()) : "undefined", ")");
    if (i == 0) {
      first_shape = x.shape();
      int64_t c = x.dim() == 2 ? 1 : x.size(0);
      mean.assign(size_t(c), 0.0);
      m2.assign(size_t(c), 0.0);
    }
    NB_CHECK(x.shape() == first_shape, "[channel_stats] example ", i, " has shape ", x.shape(), " but example 0 has ",
             first_shape);
    // Welford's update per element: no cancellation when |mean| >> std (raw CSV features).
    std::vector<double> v = x.to_double_vector();
    size_t c = mean.size(), inner = v.size() / c;
    for (size_t ch = 0; ch < c; ++ch) {
      double cnt = double(per_channel);
      for (size_t k = 0; k < inner; ++k) {
        double e = v[ch * inner + k];
        cnt += 1.0;
        double delta = e - mean[ch];
        mean[ch] += delta / cnt;
        m2[ch] += delta * (e - mean[ch]);
      }
    }
    per_channel += int64_t(inner);
  }
  ChannelStats s;
  for (size_t ch = 0; ch < mean.size(); ++ch) {
    double m = mean[ch];
    double sd = std::sqrt(std::max(0.0, m2[ch] / double(per_channel)));
    s.mean.push_back(m);
    s.std.push_back(sd > 1e-12 * std::max(1.0, std::abs(m)) ? sd : 1.0);
  }
  return s;
}

Transform normalize(const ChannelStats& stats) { return normalize(stats.mean, stats.std); }

}  // namespace nabla::data
