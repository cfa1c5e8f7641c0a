// Embedding: a lookup table of vectors indexed by integer ids.
#pragma once
#include <optional>

#include "nabla/nn/module.h"

namespace nabla::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  NB_ARG(int64_t, num_embeddings);
  NB_ARG(int64_t, embedding_dim);
  /// This row is initialized to zeros and receives no gradient (negative counts from the end).
  NB_ARG(std::optional<int64_t>, padding_idx);
};

/// out[..., :] = weight[indices[...], :] for i64 indices of any shape: [..., embedding_dim].
/// Default init (PyTorch's): weight N(0, 1), the padding_idx row zero.
class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& options);
  Embedding(int64_t num_embeddings, int64_t embedding_dim)
      : Embedding(EmbeddingOptions(num_embeddings, embedding_dim)) {}
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();
  std::string extra_repr() const override;

  EmbeddingOptions options;
  Tensor weight;  ///< [num_embeddings, embedding_dim]
};

}  // namespace nabla::nn
