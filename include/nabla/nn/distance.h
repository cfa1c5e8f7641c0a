// Distance modules wrapping cosine_similarity and pairwise_distance of ops.h; call as m(x1, x2).
#pragma once
#include <string>

#include "nabla/nn/module.h"
#include "nabla/ops.h"

namespace nabla::nn {

struct CosineSimilarityOptions {
  NB_ARG(int64_t, dim) = 1;
  NB_ARG(double, eps) = 1e-8;
};
/// x1·x2 / (max(‖x1‖, eps) max(‖x2‖, eps)) along dim, x1 and x2 broadcast.
class CosineSimilarity : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  explicit CosineSimilarity(const CosineSimilarityOptions& options = {});
  Tensor forward(const Tensor& x1, const Tensor& x2);
  /// Runs forward(x1, x2), prefixing errors with this module's tag.
  Tensor operator()(const Tensor& x1, const Tensor& x2);
  using Module::forward;
  std::string extra_repr() const override;
  CosineSimilarityOptions options;
};

struct PairwiseDistanceOptions {
  NB_ARG(double, p) = 2.0;
  NB_ARG(double, eps) = 1e-6;
  NB_ARG(bool, keepdim) = false;
};
/// ‖x1 - x2 + eps‖_p over the last dim, x1 and x2 broadcast.
class PairwiseDistance : public Module {
 public:
  /// Called with or returning several tensors: no module hooks (registering one throws).
  bool supports_module_hooks() const override { return false; }
  explicit PairwiseDistance(const PairwiseDistanceOptions& options = {});
  Tensor forward(const Tensor& x1, const Tensor& x2);
  /// Runs forward(x1, x2), prefixing errors with this module's tag.
  Tensor operator()(const Tensor& x1, const Tensor& x2);
  using Module::forward;
  std::string extra_repr() const override;
  PairwiseDistanceOptions options;
};

}  // namespace nabla::nn
