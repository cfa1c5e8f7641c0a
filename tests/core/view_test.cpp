// Views share storage with their base: geometry, values, and writes through the view.
#include <gtest/gtest.h>

#include "core/helpers.h"
#include "nabla/nabla.h"

using namespace nabla;

namespace {

/// 0, 1, ..., n-1 as f64 in the given shape.
Tensor iota(const Shape& shape) { return arange(0, double(shape_numel(shape)), 1, kF64).reshape(shape); }

std::vector<double> v(const Tensor& t) { return t.to_double_vector(); }

}  // namespace

TEST(Views, ReshapeAndViewShareStorage) {
  Tensor x = iota({2, 3});
  Tensor r = x.reshape({3, 2});
  Tensor w = x.view({6});
  Tensor inf = x.view({-1, 2});
  EXPECT_TRUE(r.shares_storage(x));
  EXPECT_TRUE(w.shares_storage(x));
  EXPECT_EQ(inf.shape(), (Shape{3, 2}));
  EXPECT_EQ(v(r), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  w.select(0, 4).fill_(40);
  EXPECT_EQ(v(x), (std::vector<double>{0, 1, 2, 3, 40, 5}));
  EXPECT_DOUBLE_EQ(r.select(0, 2).select(0, 0).item(), 40);
  // Writes bump the version seen through every view (one counter per storage).
  EXPECT_EQ(x.version(), r.version());
}

TEST(Views, ReshapeOfNonContiguousCopies) {
  Tensor x = iota({2, 3});
  Tensor t = x.t();  // [3, 2], not contiguous
  EXPECT_FALSE(t.is_contiguous());
  Tensor r = t.reshape({6});
  EXPECT_FALSE(r.shares_storage(x));
  EXPECT_EQ(v(r), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_ERROR(t.view({6}), "[view]", "without a copy", "use reshape()", "[3, 2]");
  // Some non-contiguous tensors can still be viewed: splitting a transposed dim.
  Tensor big = iota({4, 6}).t();  // [6, 4] strides [1, 6]
  Tensor split = big.view({2, 3, 4});
  EXPECT_TRUE(split.shares_storage(big));
  EXPECT_EQ(v(split), v(big));
}

TEST(Views, Transpose) {
  Tensor x = iota({2, 3});
  Tensor t = x.transpose(0, 1);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 3}));
  EXPECT_TRUE(t.shares_storage(x));
  EXPECT_EQ(v(t), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  t.select(0, 2).select(0, 1).fill_(-1);  // t[2][1] is x[1][2]
  EXPECT_DOUBLE_EQ(x.select(0, 1).select(0, 2).item(), -1);
  EXPECT_EQ(v(x.transpose(-1, -2)), v(t));
}

TEST(Views, Permute) {
  Tensor x = iota({2, 3, 4});
  Tensor p = x.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_TRUE(p.shares_storage(x));
  // p[k][i][j] == x[i][j][k]
  EXPECT_DOUBLE_EQ(p.select(0, 3).select(0, 1).select(0, 2).item(), 1 * 12 + 2 * 4 + 3);
  p.select(0, 0).fill_(0.5);  // x[..., 0] = 0.5
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(x.select(0, i).select(0, j).select(0, 0).item(), 0.5);
  EXPECT_ERROR(x.permute({0, 1}), "[permute]", "rank 3");
  EXPECT_ERROR(x.permute({0, 1, 1}), "[permute]", "repeated");
}

TEST(Views, SliceAndNarrow) {
  Tensor x = iota({4, 5});
  Tensor s = x.slice(1, 1, 5, 2);  // columns 1 and 3
  EXPECT_EQ(s.shape(), (Shape{4, 2}));
  EXPECT_EQ(s.strides(), (Shape{5, 2}));
  EXPECT_EQ(s.offset(), 1);
  EXPECT_TRUE(s.shares_storage(x));
  EXPECT_EQ(v(s.select(0, 1)), (std::vector<double>{6, 8}));
  s.fill_(-7);
  EXPECT_EQ(v(x.select(0, 0)), (std::vector<double>{0, -7, 2, -7, 4}));
  // Python-style negative and clamped bounds.
  EXPECT_EQ(x.slice(0, -2, 100).shape(), (Shape{2, 5}));
  EXPECT_EQ(x.slice(0, 3, 1).shape(), (Shape{0, 5}));
  Tensor n = x.narrow(0, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 5}));
  EXPECT_EQ(n.offset(), 5);
  n.zero_();
  EXPECT_EQ(v(x.select(0, 1)), std::vector<double>(5, 0.0));
  EXPECT_ERROR(x.narrow(0, 3, 2), "[narrow]", "outside dimension 0 of size 4");
  EXPECT_ERROR(x.slice(0, 0, 2, 0), "[slice]", "step must be positive");
}

TEST(Views, Select) {
  Tensor x = iota({3, 4});
  Tensor row = x.select(0, -1);
  EXPECT_EQ(row.shape(), (Shape{4}));
  EXPECT_EQ(v(row), (std::vector<double>{8, 9, 10, 11}));
  Tensor col = x.select(1, 2);
  EXPECT_EQ(v(col), (std::vector<double>{2, 6, 10}));
  col.fill_(100);
  EXPECT_DOUBLE_EQ(x.select(0, 0).select(0, 2).item(), 100);
  EXPECT_ERROR(x.select(0, 3), "[select]", "index 3 is out of range", "size 3");
}

// A 0-d tensor has no dimension to index: size, stride, select and narrow say so (they used to
// read past the end of the empty shape). Reductions still take dim 0 of a scalar, as in PyTorch.
TEST(Views, ZeroDimTensorHasNoDimensionsToIndex) {
  Tensor s = scalar_tensor(1.0);
  EXPECT_ERROR(s.size(0), "[size]", "0-d tensor");
  EXPECT_ERROR(s.stride(-1), "[stride]", "0-d tensor");
  EXPECT_ERROR(s.select(0, 0), "[select]", "0-d tensor");
  EXPECT_ERROR(s.narrow(0, 0, 1), "[narrow]", "0-d tensor");
  EXPECT_DOUBLE_EQ(sum(s, {0}).item(), 1.0);
}

TEST(Views, ExpandSharesStorageWithZeroStrides) {
  Tensor x = from_vector<double>({1, 2, 3}, {3, 1});
  Tensor e = x.expand({3, 4});
  EXPECT_EQ(e.shape(), (Shape{3, 4}));
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_TRUE(e.shares_storage(x));
  EXPECT_EQ(v(e.select(0, 1)), std::vector<double>(4, 2.0));
  Tensor e3 = x.expand({2, -1, 2});
  EXPECT_EQ(e3.shape(), (Shape{2, 3, 2}));
  x.select(0, 0).fill_(9);
  EXPECT_EQ(v(e.select(0, 0)), std::vector<double>(4, 9.0));  // the view sees the write
  EXPECT_ERROR(x.expand({3, 4}).expand({2, 4}), "[expand]", "only size-1 dimensions can grow");
  EXPECT_ERROR(x.expand({4}), "[expand]", "fewer dimensions");
  EXPECT_ERROR(x.expand({-5, 1}), "[expand]", "negative size -5");
  EXPECT_ERROR(x.expand({int64_t(1) << 62, 3, 4}), "[shape]", "more than 2^63 elements");
}

TEST(Views, SqueezeUnsqueeze) {
  Tensor x = iota({1, 3, 1, 2});
  Tensor s = x.squeeze();
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_TRUE(s.shares_storage(x));
  EXPECT_EQ(x.squeeze(0).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(x.squeeze(-2).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(x.squeeze(1).shape(), (Shape{1, 3, 1, 2}));  // not size 1: unchanged
  Tensor u = s.unsqueeze(1);
  EXPECT_EQ(u.shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(s.unsqueeze(-1).shape(), (Shape{3, 2, 1}));
  EXPECT_EQ(s.unsqueeze(0).shape(), (Shape{1, 3, 2}));
  EXPECT_TRUE(u.shares_storage(x));
  u.select(0, 2).fill_(-2);
  EXPECT_EQ(v(x), (std::vector<double>{0, 1, 2, 3, -2, -2}));
  EXPECT_ERROR(s.unsqueeze(4), "[unsqueeze]", "out of range");
}

TEST(Views, Flatten) {
  Tensor x = iota({2, 3, 4});
  Tensor f = x.flatten();
  EXPECT_EQ(f.shape(), (Shape{24}));
  EXPECT_TRUE(f.shares_storage(x));
  EXPECT_EQ(x.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(x.flatten(0, 1).shape(), (Shape{6, 4}));
  f.slice(0, 0, 4).fill_(1);
  EXPECT_EQ(v(x.select(0, 0).select(0, 0)), std::vector<double>(4, 1.0));
  // Flattening a transposed tensor must copy, and gives row-major order of the view.
  Tensor tf = iota({2, 3}).t().flatten();
  EXPECT_EQ(v(tf), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_ERROR(x.flatten(2, 1), "[flatten]", "start_dim 2 comes after end_dim 1");
}

TEST(Views, ChainedViewsWriteThroughToBase) {
  Tensor base = zeros({4, 6}, {.dtype = kF32});
  Tensor view = base.t().slice(0, 1, 5).narrow(1, 2, 2).unsqueeze(0).expand({3, 4, 2}).select(0, 1);
  EXPECT_TRUE(view.shares_storage(base));
  EXPECT_EQ(view.shape(), (Shape{4, 2}));
  view.select(1, 0).fill_(1.0);  // base[2][1..4]
  auto b = base.to_vector<double>();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(b[size_t(i * 6 + j)], (i == 2 && j >= 1 && j <= 4) ? 1.0 : 0.0);
  // copy_ through a view.
  base.select(0, 3).copy_(arange(0, 6, 1, kF32));
  EXPECT_EQ(v(base.select(0, 3)), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  // In-place arithmetic through a strided view touches only the view.
  Tensor col = base.select(1, 5);
  col.add_(ones({4}));
  EXPECT_EQ(v(col), (std::vector<double>{1, 1, 1, 6}));
  EXPECT_DOUBLE_EQ(base.select(0, 3).select(0, 4).item(), 4);
}

TEST(Views, Contiguous) {
  Tensor x = iota({3, 4});
  EXPECT_TRUE(x.contiguous().shares_storage(x));  // already contiguous: same tensor
  Tensor t = x.t();
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_EQ(c.strides(), (Shape{3, 1}));
  EXPECT_EQ(v(c), v(t));
  c.fill_(0);
  EXPECT_DOUBLE_EQ(x.sum().item(), 66);  // the copy is independent
  // Size-1 dims with odd strides still count as contiguous.
  EXPECT_TRUE(x.select(0, 1).unsqueeze(0).is_contiguous());
}

TEST(Views, CloneIsIndependent) {
  Tensor x = iota({2, 2});
  Tensor c = x.clone();
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_EQ(v(c), v(x));
  c.fill_(5);
  EXPECT_EQ(v(x), (std::vector<double>{0, 1, 2, 3}));
  Tensor ct = x.t().clone();
  EXPECT_TRUE(ct.is_contiguous());
  EXPECT_EQ(v(ct), (std::vector<double>{0, 2, 1, 3}));
}

TEST(Views, DetachSharesStorage) {
  Tensor x = iota({3}).requires_grad_();
  Tensor d = x.detach();
  EXPECT_TRUE(d.shares_storage(x));
  EXPECT_FALSE(d.requires_grad());
  d.fill_(2);
  EXPECT_EQ(v(x), std::vector<double>(3, 2.0));
}
