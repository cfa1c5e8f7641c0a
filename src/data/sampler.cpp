// WeightedRandomSampler and SubsetRandomSampler (nabla/data/sampler.h), drawing from the
// loader's shuffle streams keyed by (seed, epoch).
#include "nabla/data/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "nabla/data/rng.h"
#include "nabla/data/split.h"
#include "nabla/error.h"

namespace nabla::data {

namespace {
// Another stream than the loader's whole-set shuffle of the same epoch.
constexpr uint64_t kSamplerStream = uint64_t(1) << 32;

void check_fits(int64_t max_index, int64_t dataset_size, const char* sampler) {
  NB_CHECK(max_index < dataset_size, "[", sampler, "] has indices up to ", max_index, " but the data set has ",
           dataset_size, " examples");
}
}  // namespace

WeightedRandomSampler::WeightedRandomSampler(std::vector<double> weights, int64_t num_samples, bool replacement)
    : weights_(std::move(weights)), num_samples_(num_samples), replacement_(replacement) {
  const char* me = "WeightedRandomSampler";
  NB_CHECK(num_samples_ >= 0, "[", me, "] num_samples must be >= 0, got ", num_samples_);
  int64_t positive = 0;
  double total = 0;
  for (size_t i = 0; i < weights_.size(); ++i) {
    NB_CHECK(std::isfinite(weights_[i]) && weights_[i] >= 0, "[", me, "] weight ", i, " is ", weights_[i],
             " (weights must be finite and >= 0)");
    positive += weights_[i] > 0;
    total += weights_[i];
    cumulative_.push_back(total);
  }
  NB_CHECK(num_samples_ == 0 || positive > 0, "[", me, "] every weight is 0: nothing can be drawn");
  NB_CHECK(replacement_ || num_samples_ <= positive, "[", me, "] cannot draw ", num_samples_,
           " examples without replacement from ", positive, " with a positive weight");
}

int64_t WeightedRandomSampler::num_samples(int64_t) const { return num_samples_; }

std::vector<int64_t> WeightedRandomSampler::indices(int64_t dataset_size, uint64_t seed, int64_t epoch) const {
  NB_CHECK(int64_t(weights_.size()) == dataset_size, "[WeightedRandomSampler] has ", weights_.size(),
           " weights but the data set has ", dataset_size, " examples (one weight per example)");
  Rng rng = Rng::for_domain(seed, RngDomain::shuffle, kSamplerStream + uint64_t(epoch));
  std::vector<int64_t> out;
  out.reserve(size_t(num_samples_));
  if (replacement_) {  // inverse CDF: the first cumulative weight above u·total
    const double total = cumulative_.empty() ? 0 : cumulative_.back();
    for (int64_t k = 0; k < num_samples_; ++k) {
      const double u = rng.uniform(0.0, total);
      auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
      if (it == cumulative_.end()) --it;
      while (weights_[size_t(it - cumulative_.begin())] == 0) --it;  // u landed on a zero-width step's edge
      out.push_back(int64_t(it - cumulative_.begin()));
    }
    return out;
  }
  // Without replacement: the num_samples largest keys log(u)/w (Efraimidis & Spirakis 2006).
  std::vector<std::pair<double, int64_t>> keys;
  for (size_t i = 0; i < weights_.size(); ++i) {
    const double u = rng.uniform(0.0, 1.0);
    if (weights_[i] > 0) keys.emplace_back(std::log1p(-u) / weights_[i], int64_t(i));
  }
  std::partial_sort(keys.begin(), keys.begin() + num_samples_, keys.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int64_t k = 0; k < num_samples_; ++k) out.push_back(keys[size_t(k)].second);
  return out;
}

SubsetRandomSampler::SubsetRandomSampler(std::vector<int64_t> indices) : indices_(std::move(indices)) {
  for (size_t i = 0; i < indices_.size(); ++i)
    NB_CHECK(indices_[i] >= 0, "[SubsetRandomSampler] index ", indices_[i], " at position ", i, " is negative");
}

int64_t SubsetRandomSampler::num_samples(int64_t) const { return int64_t(indices_.size()); }

std::vector<int64_t> SubsetRandomSampler::indices(int64_t dataset_size, uint64_t seed, int64_t epoch) const {
  if (!indices_.empty()) check_fits(*std::max_element(indices_.begin(), indices_.end()), dataset_size, "SubsetRandomSampler");
  Rng rng = Rng::for_domain(seed, RngDomain::shuffle, kSamplerStream + uint64_t(epoch));
  std::vector<int64_t> out;
  for (int64_t p : random_permutation(int64_t(indices_.size()), rng)) out.push_back(indices_[size_t(p)]);
  return out;
}

std::vector<double> class_balanced_weights(const std::vector<int64_t>& labels) {
  std::vector<int64_t> count;
  for (size_t i = 0; i < labels.size(); ++i) {
    NB_CHECK(labels[i] >= 0, "[class_balanced_weights] label ", labels[i], " at position ", i, " is negative");
    if (size_t(labels[i]) >= count.size()) count.resize(size_t(labels[i]) + 1, 0);
    ++count[size_t(labels[i])];
  }
  std::vector<double> w;
  w.reserve(labels.size());
  for (int64_t l : labels) w.push_back(1.0 / double(count[size_t(l)]));
  return w;
}

}  // namespace nabla::data
