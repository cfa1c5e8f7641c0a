// The classifier head on CUDA: the row-wise log-softmax kernel, cross-entropy's two kernels
// (class_nll.h) and index checks that run on the device and report at the next synchronization
// (src/backend/index_checks.h). Each is compared with the CPU on the edge cases the kernels
// promise to treat alike: -inf and NaN rows, ignored targets, label smoothing, every reduction,
// and batches large enough to take the multi-block path.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "gpu_test_util.h"
#include "nabla/nabla.h"

namespace {

using namespace nabla;
using gputest::expect_same;
using gputest::gpu;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(CudaLoss, SoftmaxAndLogSoftmaxRowsLikeTheCpu) {
  NB_REQUIRE_CUDA();
  manual_seed(11);
  for (bool log : {true, false}) {
    auto op = [log](const Tensor& x, int64_t dim) { return log ? log_softmax(x, dim) : softmax(x, dim); };
    const std::string name = log ? "log_softmax " : "softmax ";
    for (DType dt : {DType::f32, DType::f64}) {
      const double tol = dt == DType::f32 ? 1e-6 : 1e-13;
      for (Shape s : {Shape{64, 10}, Shape{3, 5000}, Shape{4097, 7}, Shape{2, 3, 33}}) {
        Tensor x = (randn(s) * 4.0).to(dt);
        expect_same(op(x.cuda(), -1), op(x, -1), tol, tol, name + shape_str(s));
      }
      // A row with a -inf entry, a row of -inf only (shifted by 0: NaN), a row with a NaN.
      Tensor edge = from_vector<double>({0, -kInf, 1, -kInf, -kInf, -kInf, 2, kNaN, 3}, {3, 3}, dt);
      expect_same(op(edge.cuda(), 1), op(edge, 1), tol, tol, name + "edge rows");
    }
  }
}

struct CeCase {
  Reduction reduction;
  double smoothing;
};

TEST(CudaLoss, CrossEntropyKernelsMatchTheCpu) {
  NB_REQUIRE_CUDA();
  manual_seed(12);
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    // 64 rows: one block; 5000 rows: block partials and the finishing kernel.
    for (int64_t rows : {int64_t(64), int64_t(5000)}) {
      Tensor logits = (randn({rows, 10}) * 3.0).to(dt);
      Tensor target = randint(0, 10, {rows});
      std::vector<int64_t> t = target.to_vector<int64_t>();
      for (size_t i = 0; i < t.size(); i += 7) t[i] = -100;  // every seventh target ignored
      Tensor ignore = from_vector<int64_t>(t, {rows});
      for (CeCase c : {CeCase{Reduction::Mean, 0}, CeCase{Reduction::Sum, 0}, CeCase{Reduction::None, 0},
                       CeCase{Reduction::Mean, 0.1}, CeCase{Reduction::None, 0.25}}) {
        const CrossEntropyOptions o{.label_smoothing = c.smoothing, .reduction = c.reduction};
        const std::string what = std::string(dtype_name(dt)) + " rows " + std::to_string(rows) + " reduction " +
                                 std::to_string(int(c.reduction)) + " smoothing " + std::to_string(c.smoothing);
        Tensor xc = logits.clone().requires_grad_(true), xg = logits.cuda().requires_grad_(true);
        Tensor lc = cross_entropy(xc, ignore, o), lg = cross_entropy(xg, ignore.cuda(), o);
        expect_same(lg, lc, tol, tol, what + ": loss");
        Tensor up = c.reduction == Reduction::None ? randn({rows}).to(dt) : full({}, 0.5, {.dtype = dt});
        lc.backward(up);
        lg.backward(up.cuda());
        expect_same(xg.grad(), xc.grad(), tol, tol, what + ": gradient");
      }
      // The split depends on the row count alone: the same inputs give the same bits.
      Tensor a = cross_entropy(logits.cuda(), target.cuda()), b = cross_entropy(logits.cuda(), target.cuda());
      EXPECT_EQ(a.item(), b.item()) << "repeat " << rows;
    }
  }
}

TEST(CudaLoss, CrossEntropyGradOfGradUsesTheComposedVjp) {
  NB_REQUIRE_CUDA();
  manual_seed(13);
  Tensor x = randn({6, 4}, {.dtype = DType::f64});
  Tensor t = from_vector<int64_t>({0, 3, -100, 1, 2, 2}, {6});
  auto f = [&](const TensorList& in) {
    return cross_entropy(in[0].to(gpu()), t.cuda(), {.label_smoothing = 0.1}).cpu();
  };
  EXPECT_TRUE(gradgradcheck(f, {x.requires_grad_(true)}));
}

TEST(CudaIndexChecks, BadIndexIsReportedAtTheNextSynchronization) {
  NB_REQUIRE_CUDA();
  synchronize(gpu());
  Tensor x = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).cuda();
  Tensor idx = from_vector<int64_t>({0, 2, 7, 1}, {2, 2}).cuda();
  Tensor y;
  ASSERT_NO_THROW(y = gather(x, 1, idx)) << "queued without waiting for the device";
  EXPECT_ERROR(synchronize(gpu()), "[gather] index 7 is out of range for dimension 1 of size 3");
  // The kernel skipped the bad index, and the device (its CUDA context) stays usable.
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 3, 0, 5}));
  Tensor ok = from_vector<int64_t>({1, 0, 2, 2}, {2, 2}).cuda();
  EXPECT_EQ(gather(x, 1, ok).to_vector(), (std::vector<double>{2, 1, 6, 6}));

  Tensor logits = randn({4, 10}).cuda();
  Tensor loss = cross_entropy(logits, from_vector<int64_t>({1, 2, 10, 3}, {4}).cuda());
  EXPECT_ERROR(loss.item(), "[cross_entropy] target 10 at position 2 is out of range for input of shape [4, 10]");
  Tensor bad_scatter = from_vector<int64_t>({-1}, {1}).cuda();
  Tensor z = index_add(zeros({3}).cuda(), 0, bad_scatter, ones({1}).cuda());
  EXPECT_ERROR(z.to_vector(), "[index_add] index -1 is out of range");
  EXPECT_EQ(z.to_vector(), (std::vector<double>{0, 0, 0})) << "the add was skipped";
}

TEST(CudaIndexChecks, LargeIndexTensorsReportTheFirstBadPosition) {
  NB_REQUIRE_CUDA();
  // 200000 indices: the multi-block check (more than 65536), bad at 70001 and 150000.
  std::vector<int64_t> idx(200000);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = int64_t(i % 5);
  idx[150000] = 9;
  idx[70001] = -3;
  Tensor x = arange(0, 5, 1, DType::f32).cuda();
  Tensor y = index_select(x, 0, from_vector<int64_t>(idx, {200000}).cuda());
  EXPECT_ERROR(synchronize(gpu()), "[index_select] index -3 is out of range for dimension 0 of size 5");
  Tensor ok = index_select(x, 0, from_vector<int64_t>(std::vector<int64_t>(100000, 4), {100000}).cuda());
  EXPECT_NO_THROW(synchronize(gpu()));
  EXPECT_EQ(sum(ok).item(), 400000.0);
}

TEST(CudaIndexChecks, ManyChecksWithoutASynchronizationStayCorrect) {
  NB_REQUIRE_CUDA();
  Tensor x = arange(0, 5, 1, DType::f32).cuda();
  Tensor idx = from_vector<int64_t>({4, 0}, {2}).cuda();
  Tensor acc = zeros({2}).cuda();
  for (int i = 0; i < 1000; ++i) acc = acc + index_select(x, 0, idx);  // more checks than slots
  EXPECT_EQ(acc.to_vector(), (std::vector<double>{4000, 0}));
}

}  // namespace
