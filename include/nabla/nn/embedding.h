// Embedding: a lookup table of vectors indexed by integer ids; EmbeddingBag: their sums, means or
// maxima over bags of ids.
#pragma once
#include <optional>

#include "nabla/nn/module.h"
#include "nabla/ops.h"

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

struct EmbeddingBagOptions {
  EmbeddingBagOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  NB_ARG(int64_t, num_embeddings);
  NB_ARG(int64_t, embedding_dim);
  NB_ARG(EmbeddingBagMode, mode) = EmbeddingBagMode::Mean;
  /// offsets hold B + 1 entries, the last one the input's length (CSR layout).
  NB_ARG(bool, include_last_offset) = false;
  /// Entries of this index are left out of their bag; the row starts at zeros and gets no
  /// gradient from them (negative counts from the end).
  NB_ARG(std::optional<int64_t>, padding_idx);
};

/// The sum, mean or max of the embedding rows in each bag of ids (bags of varying length, as in
/// bag-of-words and recommendation models): input [B, n] (B bags of n), or 1-D with `offsets` (bag
/// starts); per_sample_weights scale each id's row (sum mode only). Returns [B, embedding_dim]; an
/// empty bag gives zeros.
/// Default init (PyTorch's): weight N(0, 1), the padding_idx row zero.
class EmbeddingBag : public Module {
 public:
  explicit EmbeddingBag(const EmbeddingBagOptions& options);
  Tensor forward(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights = Tensor());
  /// forward(input, offsets, per_sample_weights) with errors naming this module.
  Tensor operator()(const Tensor& input, const Tensor& offsets, const Tensor& per_sample_weights = Tensor());
  /// A 2-D input [B, n], no offsets.
  Tensor forward(const Tensor& input) override;
  using Module::operator();
  /// Called with offsets (and weights) too: module hooks, which see one tensor in, are refused
  /// rather than run for some calls and not for others.
  bool supports_module_hooks() const override { return false; }
  void reset_parameters();
  std::string extra_repr() const override;

  EmbeddingBagOptions options;
  Tensor weight;  ///< [num_embeddings, embedding_dim]
};

}  // namespace nabla::nn
