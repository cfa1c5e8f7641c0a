// Embedding: a lookup table of vectors indexed by integer ids; EmbeddingBag: their sums, means or
// maxima over bags of ids.
#pragma once
#include <memory>
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
  /// Each forward first rescales, in place, the looked-up rows whose norm_type-norm exceeds
  /// max_norm to that norm (nabla::embedding_renorm_), as PyTorch's.
  NB_ARG(std::optional<double>, max_norm);
  NB_ARG(double, norm_type) = 2.0;
  /// Each row's gradient is divided by how many times the batch looks it up.
  NB_ARG(bool, scale_grad_by_freq) = false;
};

/// Embedding::from_pretrained's settings (PyTorch's keyword arguments).
struct EmbeddingFromPretrainedOptions {
  /// The table is not trained (its weight does not require grad).
  NB_ARG(bool, freeze) = true;
  /// Lookups of this row pass it no gradient; unlike a new layer's, its values are kept.
  NB_ARG(std::optional<int64_t>, padding_idx);
  NB_ARG(std::optional<double>, max_norm);
  NB_ARG(double, norm_type) = 2.0;
  NB_ARG(bool, scale_grad_by_freq) = false;
};

/// out[..., :] = weight[indices[...], :] for i64 indices of any shape: [..., embedding_dim].
/// Default init (PyTorch's): weight N(0, 1), the padding_idx row zero.
class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& options);
  Embedding(int64_t num_embeddings, int64_t embedding_dim)
      : Embedding(EmbeddingOptions(num_embeddings, embedding_dim)) {}
  /// An Embedding whose weight is `embeddings` [num_embeddings, embedding_dim] itself (its storage
  /// is shared, not copied, as PyTorch's; the tensor passed in keeps its requires_grad), e.g.
  /// word vectors trained elsewhere. An integer table (ids, counts: looked up as PyTorch does) is
  /// taken frozen only, since it cannot require grad, and without max_norm.
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings,
                                                    const EmbeddingFromPretrainedOptions& options = {});
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();
  std::string extra_repr() const override;

  EmbeddingOptions options;
  Tensor weight;  ///< [num_embeddings, embedding_dim]

 private:
  Embedding(const EmbeddingOptions& options, const Tensor& weight, bool requires_grad);
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
  /// As EmbeddingOptions' (in place, before each forward).
  NB_ARG(std::optional<double>, max_norm);
  NB_ARG(double, norm_type) = 2.0;
  /// Each row's gradient divided by how often the input holds it; sum and mean modes only.
  NB_ARG(bool, scale_grad_by_freq) = false;
};

/// EmbeddingBag::from_pretrained's settings (PyTorch's keyword arguments).
struct EmbeddingBagFromPretrainedOptions {
  NB_ARG(bool, freeze) = true;
  NB_ARG(EmbeddingBagMode, mode) = EmbeddingBagMode::Mean;
  NB_ARG(bool, include_last_offset) = false;
  NB_ARG(std::optional<int64_t>, padding_idx);
  NB_ARG(std::optional<double>, max_norm);
  NB_ARG(double, norm_type) = 2.0;
  NB_ARG(bool, scale_grad_by_freq) = false;
};

/// The sum, mean or max of the embedding rows in each bag of ids (bags of varying length, as in
/// bag-of-words and recommendation models): input [B, n] (B bags of n), or 1-D with `offsets` (bag
/// starts); per_sample_weights scale each id's row (sum mode only). Returns [B, embedding_dim]; an
/// empty bag gives zeros.
/// Default init (PyTorch's): weight N(0, 1), the padding_idx row zero.
class EmbeddingBag : public Module {
 public:
  explicit EmbeddingBag(const EmbeddingBagOptions& options);
  /// An EmbeddingBag over `embeddings` [num_embeddings, embedding_dim] itself (shared, not copied).
  static std::shared_ptr<EmbeddingBag> from_pretrained(const Tensor& embeddings,
                                                       const EmbeddingBagFromPretrainedOptions& options = {});
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

 private:
  EmbeddingBag(const EmbeddingBagOptions& options, const Tensor& weight, bool requires_grad);
};

}  // namespace nabla::nn
