// Embedding / EmbeddingBag: from_pretrained (the weight shared with the caller's tensor, frozen or
// trainable, as PyTorch's) and the max_norm / norm_type / scale_grad_by_freq options through the
// layers; the op-level values are checked in tests/ops/embedding_options_test.cpp.
#include <gtest/gtest.h>

#include "nn/helpers.h"

namespace {

using namespace nabla;
using nn_test::error_of;
using nn_test::expect_contains;

Tensor idx(const std::vector<int64_t>& v) { return from_vector<int64_t>(v, {int64_t(v.size())}); }

TEST(EmbeddingFromPretrained, SharesTheTableAndFreezesByDefault) {
  Tensor table = from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  auto emb = nn::Embedding::from_pretrained(table);
  EXPECT_EQ(emb->options.num_embeddings(), 3);
  EXPECT_EQ(emb->options.embedding_dim(), 2);
  EXPECT_FALSE(emb->weight.requires_grad());
  ASSERT_EQ(emb->parameters().size(), 1u);  // listed, as PyTorch lists a frozen Parameter
  EXPECT_EQ((*emb)(idx({2, 0})).to_double_vector(), (std::vector<double>{5, 6, 1, 2}));
  // The same storage: a write to the caller's tensor shows in the layer.
  table.select(0, 2).fill_(9);
  EXPECT_EQ((*emb)(idx({2})).to_double_vector(), (std::vector<double>{9, 9}));
}

TEST(EmbeddingFromPretrained, TrainableWhenNotFrozenAndKeepsThePaddingRow) {
  Tensor table = from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  auto emb = nn::Embedding::from_pretrained(table, nn::EmbeddingFromPretrainedOptions().freeze(false).padding_idx(1));
  EXPECT_TRUE(emb->weight.requires_grad());
  EXPECT_FALSE(table.requires_grad()) << "the caller's tensor keeps its flag";
  Tensor out = (*emb)(idx({1, 0, 1}));
  EXPECT_EQ(out.to_double_vector(), (std::vector<double>{3, 4, 1, 2, 3, 4})) << "padding row values kept";
  sum(out).backward();
  EXPECT_EQ(emb->weight.grad().to_double_vector(), (std::vector<double>{1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(emb->to_string(), "Embedding(3, 2, padding_idx=1)");
}

TEST(EmbeddingFromPretrained, EmbeddingBagAndBadTables) {
  Tensor table = from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  auto bag = nn::EmbeddingBag::from_pretrained(table, nn::EmbeddingBagFromPretrainedOptions().mode(EmbeddingBagMode::Sum));
  EXPECT_EQ((*bag)(idx({0, 2, 1}), idx({0, 2})).to_double_vector(), (std::vector<double>{6, 8, 3, 4}));
  EXPECT_FALSE(bag->weight.requires_grad());
  expect_contains(error_of([&] { nn::Embedding::from_pretrained(zeros({6})); }),
                  {"[Embedding.from_pretrained]", "2-D", "[6]"});
  expect_contains(error_of([&] { nn::EmbeddingBag::from_pretrained(idx({1, 2}).reshape({1, 2})); }),
                  {"[EmbeddingBag.from_pretrained]", "floating", "i64"});
}

TEST(EmbeddingFromPretrained, IntegerTablesAreTakenFrozen) {
  // PyTorch: nn.Embedding.from_pretrained(torch.tensor([[10, 11], [20, 21], [30, 31]])) looks rows
  // up and keeps the dtype; with freeze=False it fails, as a Long parameter cannot require grad.
  Tensor table = from_vector<int64_t>({10, 11, 20, 21, 30, 31}, {3, 2});
  auto emb = nn::Embedding::from_pretrained(table);
  EXPECT_FALSE(emb->weight.requires_grad());
  Tensor out = (*emb)(idx({2, 0, 2}).reshape({3, 1}));
  EXPECT_EQ(out.dtype(), DType::i64);
  EXPECT_EQ(out.shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(out.to_double_vector(), (std::vector<double>{30, 31, 10, 11, 30, 31}));
  table.select(0, 0).fill_(7);  // shared, as a floating table is
  EXPECT_EQ((*emb)(idx({0})).to_double_vector(), (std::vector<double>{7, 7}));
  auto padded = nn::Embedding::from_pretrained(table, nn::EmbeddingFromPretrainedOptions().padding_idx(1));
  EXPECT_EQ((*padded)(idx({1})).to_double_vector(), (std::vector<double>{20, 21})) << "padding row kept";

  expect_contains(error_of([&] {
                    nn::Embedding::from_pretrained(table, nn::EmbeddingFromPretrainedOptions().freeze(false));
                  }),
                  {"[Embedding.from_pretrained]", "freeze=false", "i64", "cannot require grad"});
  expect_contains(error_of([&] {
                    nn::Embedding::from_pretrained(table, nn::EmbeddingFromPretrainedOptions().max_norm(1.0));
                  }),
                  {"[Embedding.from_pretrained]", "max_norm", "i64"});
}

TEST(EmbeddingOptions, MaxNormAndScaleGradByFreqThroughTheLayer) {
  Tensor table = from_vector<double>({3, 4, 0.3, 0.4, 6, 8}, {3, 2});
  auto emb = nn::Embedding::from_pretrained(
      table, nn::EmbeddingFromPretrainedOptions().freeze(false).max_norm(1.0).scale_grad_by_freq(true));
  EXPECT_EQ(emb->to_string(), "Embedding(3, 2, max_norm=1, scale_grad_by_freq=true)");
  Tensor out = (*emb)(idx({0, 0, 1}));
  // Row 0 (norm 5) renormalized to norm 1 in the layer's weight; row 1 (0.5) and row 2 (not looked up) kept.
  const double s = 1.0 / (5 + 1e-7);
  const std::vector<double> w = emb->weight.detach().to_double_vector();
  EXPECT_NEAR(w[0], 3 * s, 1e-15);
  EXPECT_NEAR(w[1], 4 * s, 1e-15);
  EXPECT_EQ(std::vector<double>(w.begin() + 2, w.end()), (std::vector<double>{0.3, 0.4, 6, 8}));
  sum(out).backward();
  // Row 0 looked up twice: its summed gradient 2 is divided by 2.
  EXPECT_EQ(emb->weight.grad().to_double_vector(), (std::vector<double>{1, 1, 1, 1, 0, 0}));
  expect_contains(error_of([&] { nn::Embedding(nn::EmbeddingOptions(3, 2).max_norm(-1.0)); }),
                  {"[Embedding]", "max_norm", ">= 0"});
  nn::EmbeddingBag bag(nn::EmbeddingBagOptions(4, 2).mode(EmbeddingBagMode::Sum).norm_type(1.0).scale_grad_by_freq(true));
  EXPECT_EQ(bag.to_string(), "EmbeddingBag(4, 2, mode=sum, norm_type=1, scale_grad_by_freq=true)");
}

}  // namespace
