// Distance modules over cosine_similarity and pairwise_distance.
#include "nabla/nn/distance.h"

#include <cmath>

#include "repr.h"

namespace nabla::nn {

namespace {
/// f(), with errors prefixed by the module's tag (as Module::operator() does for one input).
template <typename F>
Tensor tagged(const Module& m, F&& f) {
  try {
    return f();
  } catch (const ModuleError&) {
    throw;
  } catch (const Error& e) {
    throw ModuleError(::nabla::detail::concat("[", m.tag(), "] ", e.what()));
  }
}
}  // namespace

CosineSimilarity::CosineSimilarity(const CosineSimilarityOptions& o) : Module("CosineSimilarity"), options(o) {
  if (!(o.eps() >= 0)) fail("eps must be non-negative, got ", o.eps());
}
Tensor CosineSimilarity::forward(const Tensor& x1, const Tensor& x2) {
  return cosine_similarity(x1, x2, options.dim(), options.eps());
}
Tensor CosineSimilarity::operator()(const Tensor& x1, const Tensor& x2) {
  return tagged(*this, [&] { return forward(x1, x2); });
}
std::string CosineSimilarity::extra_repr() const {
  return "dim=" + std::to_string(options.dim()) + ", eps=" + detail::num_str(options.eps());
}

PairwiseDistance::PairwiseDistance(const PairwiseDistanceOptions& o) : Module("PairwiseDistance"), options(o) {
  if (std::isnan(o.p())) fail("p must be a number, got NaN");
}
Tensor PairwiseDistance::forward(const Tensor& x1, const Tensor& x2) {
  return pairwise_distance(x1, x2, options.p(), options.eps(), options.keepdim());
}
Tensor PairwiseDistance::operator()(const Tensor& x1, const Tensor& x2) {
  return tagged(*this, [&] { return forward(x1, x2); });
}
std::string PairwiseDistance::extra_repr() const {
  return "p=" + detail::num_str(options.p()) + ", eps=" + detail::num_str(options.eps()) +
         ", keepdim=" + detail::bool_str(options.keepdim());
}

}  // namespace nabla::nn
