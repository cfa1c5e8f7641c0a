// The distance modules (CosineSimilarity, PairwiseDistance) and the margin, embedding and
// likelihood loss modules: PyTorch's defaults, options reaching the functional ops, printing,
// buffers, and the errors of the modules and of the functional ops (values are compared with
// LibTorch in loss_reference_test.cpp and with f64 references in tests/ops).
#include <cmath>

#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

namespace {

Tensor vec(std::vector<double> v, Shape s) { return from_vector<double>(v, s); }
Tensor idx(std::vector<int64_t> v, Shape s) { return from_vector<int64_t>(v, s); }

}  // namespace

TEST(MetricLosses, OptionDefaultsArePyTorchs) {
  EXPECT_EQ(nn::CosineSimilarityOptions().dim(), 1);
  EXPECT_EQ(nn::CosineSimilarityOptions().eps(), 1e-8);
  EXPECT_EQ(nn::PairwiseDistanceOptions().p(), 2.0);
  EXPECT_EQ(nn::PairwiseDistanceOptions().eps(), 1e-6);
  EXPECT_FALSE(nn::PairwiseDistanceOptions().keepdim());
  EXPECT_EQ(nn::CosineEmbeddingLossOptions().margin(), 0.0);
  EXPECT_EQ(nn::MarginRankingLossOptions().margin(), 0.0);
  EXPECT_EQ(nn::HingeEmbeddingLossOptions().margin(), 1.0);
  EXPECT_EQ(nn::MultiMarginLossOptions().p(), 1);
  EXPECT_EQ(nn::MultiMarginLossOptions().margin(), 1.0);
  EXPECT_FALSE(nn::MultiMarginLossOptions().weight().defined());
  EXPECT_FALSE(nn::MultiLabelSoftMarginLossOptions().weight().defined());
  EXPECT_EQ(nn::TripletMarginLossOptions().margin(), 1.0);
  EXPECT_EQ(nn::TripletMarginLossOptions().p(), 2.0);
  EXPECT_EQ(nn::TripletMarginLossOptions().eps(), 1e-6);
  EXPECT_FALSE(nn::TripletMarginLossOptions().swap());
  EXPECT_TRUE(nn::PoissonNLLLossOptions().log_input());
  EXPECT_FALSE(nn::PoissonNLLLossOptions().full());
  EXPECT_EQ(nn::PoissonNLLLossOptions().eps(), 1e-8);
  EXPECT_FALSE(nn::GaussianNLLLossOptions().full());
  EXPECT_EQ(nn::GaussianNLLLossOptions().eps(), 1e-6);
  for (Reduction r : {nn::CosineEmbeddingLossOptions().reduction(), nn::MarginRankingLossOptions().reduction(),
                      nn::HingeEmbeddingLossOptions().reduction(), nn::SoftMarginLossOptions().reduction(),
                      nn::MultiLabelSoftMarginLossOptions().reduction(), nn::MultiMarginLossOptions().reduction(),
                      nn::TripletMarginLossOptions().reduction(), nn::PoissonNLLLossOptions().reduction(),
                      nn::GaussianNLLLossOptions().reduction()})
    EXPECT_EQ(r, Reduction::Mean);
  // The functional defaults are the same.
  EXPECT_EQ(MultiMarginOptions().p, 1);
  EXPECT_EQ(TripletMarginOptions().eps, 1e-6);
  EXPECT_TRUE(PoissonNLLOptions().log_input);
  EXPECT_EQ(PoissonNLLOptions().eps, 1e-8);
  EXPECT_EQ(GaussianNLLOptions().eps, 1e-6);
  EXPECT_EQ(HingeEmbeddingOptions().margin, 1.0);
}

TEST(MetricLosses, ModulesPassTheirOptionsToTheFunctionalOps) {
  manual_seed(21);
  const Tensor a = randn({5, 4}, {.dtype = kF64}), b = randn({5, 4}, {.dtype = kF64}), c = randn({5, 4}, {.dtype = kF64});
  const Tensor pm = vec({1, -1, -1, 1, 1}, {5}), pm2 = sign(randn({5, 4}, {.dtype = kF64}));
  EXPECT_TRUE(bitwise_equal(nn::CosineSimilarity()(a, b), cosine_similarity(a, b)));
  EXPECT_TRUE(bitwise_equal(nn::CosineSimilarity(nn::CosineSimilarityOptions().dim(0).eps(0.5))(a, b),
                            cosine_similarity(a, b, 0, 0.5)));
  EXPECT_TRUE(bitwise_equal(nn::PairwiseDistance()(a, b), pairwise_distance(a, b)));
  EXPECT_TRUE(bitwise_equal(nn::PairwiseDistance(nn::PairwiseDistanceOptions().p(1).eps(0.1).keepdim(true))(a, b),
                            pairwise_distance(a, b, 1, 0.1, true)));
  EXPECT_TRUE(bitwise_equal(
      nn::CosineEmbeddingLoss(nn::CosineEmbeddingLossOptions().margin(0.2).reduction(Reduction::Sum))(a, b, pm),
      cosine_embedding_loss(a, b, pm, {.margin = 0.2, .reduction = Reduction::Sum})));
  const Tensor s1 = a.select(1, 0), s2 = b.select(1, 0);
  EXPECT_TRUE(bitwise_equal(nn::MarginRankingLoss(nn::MarginRankingLossOptions().margin(0.5))(s1, s2, pm),
                            margin_ranking_loss(s1, s2, pm, {.margin = 0.5})));
  EXPECT_TRUE(bitwise_equal(nn::HingeEmbeddingLoss(nn::HingeEmbeddingLossOptions().margin(2).reduction(Reduction::None))(a, pm2),
                            hinge_embedding_loss(a, pm2, {.margin = 2, .reduction = Reduction::None})));
  EXPECT_TRUE(bitwise_equal(nn::SoftMarginLoss(Reduction::Sum)(a, pm2), soft_margin_loss(a, pm2, Reduction::Sum)));
  const Tensor w4 = vec({0.5, 1, 2, 1.5}, {4}), t01 = (pm2 + 1.0) * 0.5;
  nn::MultiLabelSoftMarginLoss mlsm(nn::MultiLabelSoftMarginLossOptions().weight(w4).reduction(Reduction::None));
  EXPECT_TRUE(bitwise_equal(mlsm(a, t01), multilabel_soft_margin_loss(a, t01, {.weight = w4, .reduction = Reduction::None})));
  const Tensor cls = idx({3, 0, 2, 1, 1}, {5});
  nn::MultiMarginLoss mm(nn::MultiMarginLossOptions().p(2).margin(0.5).weight(w4));
  EXPECT_TRUE(bitwise_equal(mm(a, cls), multi_margin_loss(a, cls, {.p = 2, .margin = 0.5, .weight = w4})));
  nn::TripletMarginLoss tm(nn::TripletMarginLossOptions().margin(0.3).p(1).eps(0.01).swap(true).reduction(Reduction::None));
  EXPECT_TRUE(bitwise_equal(tm(a, b, c), triplet_margin_loss(a, b, c, {.margin = 0.3, .p = 1, .eps = 0.01, .swap = true,
                                                                        .reduction = Reduction::None})));
  const Tensor counts = vec({0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3}, {5, 4});
  nn::PoissonNLLLoss pn(nn::PoissonNLLLossOptions().log_input(false).full(true).eps(1e-3));
  EXPECT_TRUE(bitwise_equal(pn(exp(a), counts), poisson_nll_loss(exp(a), counts, {.log_input = false, .full = true, .eps = 1e-3})));
  const Tensor var = exp(c);
  nn::GaussianNLLLoss gn(nn::GaussianNLLLossOptions().full(true).eps(1e-3).reduction(Reduction::Sum));
  EXPECT_TRUE(bitwise_equal(gn(a, b, var), gaussian_nll_loss(a, b, var, {.full = true, .eps = 1e-3, .reduction = Reduction::Sum})));
}

TEST(MetricLosses, PrintTheirSettings) {
  EXPECT_EQ(nn::CosineSimilarity().to_string(), "CosineSimilarity(dim=1, eps=1e-08)");
  EXPECT_EQ(nn::PairwiseDistance().to_string(), "PairwiseDistance(p=2, eps=1e-06, keepdim=false)");
  EXPECT_EQ(nn::CosineEmbeddingLoss().to_string(), "CosineEmbeddingLoss(margin=0)");
  EXPECT_EQ(nn::MarginRankingLoss(nn::MarginRankingLossOptions().margin(0.5).reduction(Reduction::Sum)).to_string(),
            "MarginRankingLoss(margin=0.5, reduction=sum)");
  EXPECT_EQ(nn::HingeEmbeddingLoss().to_string(), "HingeEmbeddingLoss(margin=1)");
  EXPECT_EQ(nn::SoftMarginLoss().to_string(), "SoftMarginLoss()");
  EXPECT_EQ(nn::SoftMarginLoss(Reduction::None).to_string(), "SoftMarginLoss(reduction=none)");
  EXPECT_EQ(nn::MultiLabelSoftMarginLoss().to_string(), "MultiLabelSoftMarginLoss()");
  EXPECT_EQ(nn::MultiMarginLoss().to_string(), "MultiMarginLoss(p=1, margin=1)");
  EXPECT_EQ(nn::TripletMarginLoss().to_string(), "TripletMarginLoss(margin=1, p=2, eps=1e-06, swap=false)");
  EXPECT_EQ(nn::PoissonNLLLoss().to_string(), "PoissonNLLLoss(log_input=true, full=false, eps=1e-08)");
  EXPECT_EQ(nn::GaussianNLLLoss(nn::GaussianNLLLossOptions().full(true)).to_string(), "GaussianNLLLoss(full=true, eps=1e-06)");
}

TEST(MetricLosses, ClassWeightsAreBuffers) {
  nn::MultiMarginLoss mm(nn::MultiMarginLossOptions().weight(ones({3})));
  EXPECT_EQ(mm.state_dict().keys(), (std::vector<std::string>{"weight"}));
  mm.to(DType::f64);
  EXPECT_EQ(mm.weight.dtype(), DType::f64);
  nn::MultiLabelSoftMarginLoss ml(nn::MultiLabelSoftMarginLossOptions().weight(ones({3})));
  EXPECT_EQ(ml.state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_TRUE(nn::MultiMarginLoss().state_dict().empty());
  EXPECT_EQ(mm(randn({2, 3}, {.dtype = kF64}), idx({0, 2}, {2})).dtype(), DType::f64);
}

TEST(MetricLosses, ModuleErrorsNameTheModule) {
  EXPECT_ERROR(nn::MultiMarginLoss(nn::MultiMarginLossOptions().p(3)), "[MultiMarginLoss] p must be 1 or 2, got 3");
  EXPECT_ERROR(nn::MultiMarginLoss(nn::MultiMarginLossOptions().weight(ones({2, 2}))), "[MultiMarginLoss] weight must be 1-D",
               "[2, 2]");
  EXPECT_ERROR(nn::GaussianNLLLoss(nn::GaussianNLLLossOptions().eps(-1)), "[GaussianNLLLoss] eps must be non-negative, got -1");
  EXPECT_ERROR(nn::CosineSimilarity(nn::CosineSimilarityOptions().eps(-1e-3)), "[CosineSimilarity] eps must be non-negative");
  EXPECT_ERROR(nn::PairwiseDistance(nn::PairwiseDistanceOptions().p(NAN)), "[PairwiseDistance] p must be a number");
  EXPECT_ERROR(nn::TripletMarginLoss(nn::TripletMarginLossOptions().p(NAN)), "[TripletMarginLoss] p must be a number");
  // Errors from the functional op inside forward carry the module's tag, for 2 and 3 inputs.
  nn::TripletMarginLoss tm;
  EXPECT_ERROR(tm(randn({4, 3}), randn({4, 3}), randn({3})), "[TripletMarginLoss] [triplet_margin_loss]",
               "same number of dimensions", "[4, 3], [4, 3] and [3]");
  nn::CosineSimilarity cs;
  EXPECT_ERROR(cs(randn({4, 3}), randn({5, 3})), "[CosineSimilarity]", "[4, 3]", "[5, 3]");
  nn::PairwiseDistance pd;
  EXPECT_ERROR(pd(randn({4, 3}), randn({4, 2})), "[PairwiseDistance]", "[4, 3]", "[4, 2]");
  nn::SoftMarginLoss sm;
  EXPECT_ERROR(sm(randn({4}), zeros({4})), "[SoftMarginLoss] [soft_margin_loss] target must hold 1 or -1, got 0 at position 0");
}

TEST(MetricLosses, FunctionalErrorsSayWhatWasExpected) {
  const Tensor x = randn({4, 3}), y = ones({4});
  // Targets of ±1: a 0/1 target is the usual mistake.
  EXPECT_ERROR(cosine_embedding_loss(x, x, vec({1, -1, 0, 1}, {4}).to(DType::f32)), "[cosine_embedding_loss]",
               "target must hold 1 or -1, got 0 at position 2", "[4]");
  EXPECT_ERROR(margin_ranking_loss(y, y, idx({1, 0, 1, 1}, {4})), "[margin_ranking_loss] target must hold 1 or -1, got 0");
  EXPECT_ERROR(hinge_embedding_loss(x, full({4, 3}, 2.0)), "[hinge_embedding_loss] target must hold 1 or -1, got 2");
  EXPECT_ERROR(soft_margin_loss(x, full({4, 3}, NAN)), "[soft_margin_loss] target must hold 1 or -1, got");
  // Shapes.
  EXPECT_ERROR(cosine_embedding_loss(x, randn({4, 2}), y), "[cosine_embedding_loss] input1 shape [4, 3] and input2 shape [4, 2]");
  EXPECT_ERROR(cosine_embedding_loss(x, x, ones({5})), "[cosine_embedding_loss] a 1-D target [5] expects inputs [5, D], got [4, 3]");
  EXPECT_ERROR(cosine_embedding_loss(x, x, ones({4, 1})), "[cosine_embedding_loss] target must be 0-d or 1-D");
  EXPECT_ERROR(cosine_embedding_loss(x, x, ones({})), "[cosine_embedding_loss] a 0-d target expects 1-D inputs [D], got [4, 3]");
  EXPECT_ERROR(margin_ranking_loss(y, ones({4, 1}), y), "[margin_ranking_loss]", "the same number of dimensions", "[4], [4, 1] and [4]");
  EXPECT_ERROR(margin_ranking_loss(y, ones({3}), y), "[margin_ranking_loss]", "[4]", "[3]");
  EXPECT_ERROR(soft_margin_loss(x, ones({4})), "[soft_margin_loss] input shape [4, 3] and target shape [4] differ");
  EXPECT_ERROR(multilabel_soft_margin_loss(x, ones({4, 2})), "[multilabel_soft_margin_loss] input shape [4, 3] and target shape [4, 2]");
  EXPECT_ERROR(multilabel_soft_margin_loss(x, zeros({4, 3}), {.weight = ones({2})}),
               "[multilabel_soft_margin_loss] weight shape [2] does not broadcast to the input shape [4, 3]");
  EXPECT_ERROR(poisson_nll_loss(x, ones({3})), "[poisson_nll_loss] input shape [4, 3] and target shape [3] differ");
  EXPECT_ERROR(cosine_similarity(x, x, 2), "[cosine_similarity] dim 2 is out of range for the broadcast shape [4, 3]");
  EXPECT_ERROR(cosine_similarity(idx({1, 2}, {1, 2}), idx({1, 2}, {1, 2})), "[cosine_similarity] expected floating inputs");
  EXPECT_ERROR(pairwise_distance(x, x, NAN), "[pairwise_distance] p must be a number");
  // multi_margin_loss: p, class indices, target and weight shapes.
  const Tensor t = idx({0, 1, 2, 1}, {4});
  EXPECT_ERROR(multi_margin_loss(x, t, {.p = 3}), "[multi_margin_loss] p must be 1 or 2, got 3");
  EXPECT_ERROR(multi_margin_loss(x, idx({0, 1, 3, 1}, {4})),
               "[multi_margin_loss] target 3 at position 2 is out of range for input of shape [4, 3]",
               "expected a class index in [0, 3)");
  EXPECT_ERROR(multi_margin_loss(x, idx({0, -1, 2, 1}, {4})), "[multi_margin_loss] target -1 at position 1");
  EXPECT_ERROR(multi_margin_loss(x, idx({0, 1}, {2})), "[multi_margin_loss] target shape [2] does not match input shape [4, 3]",
               "expected 4 class indices");
  EXPECT_ERROR(multi_margin_loss(x, t.to(DType::f32)), "[multi_margin_loss] target must hold i64 class indices, got f32");
  EXPECT_ERROR(multi_margin_loss(x, t, {.weight = ones({4})}), "[multi_margin_loss] class weight must have shape [3], got [4]");
  EXPECT_ERROR(multi_margin_loss(randn({2, 3, 4}), t), "[multi_margin_loss] input must be [N, C], [C] or 0-d, got shape [2, 3, 4]");
  // gaussian_nll_loss: var shape and sign.
  EXPECT_ERROR(gaussian_nll_loss(x, x, ones({3})), "[gaussian_nll_loss] var shape [3] does not fit the input shape [4, 3]",
               "expected [4, 3] (one variance per element), or [4] or [4, 1] (one per sample)");
  EXPECT_ERROR(gaussian_nll_loss(x, x, ones({4, 2})), "[gaussian_nll_loss] var shape [4, 2]");
  EXPECT_ERROR(gaussian_nll_loss(x, x, vec({1, 2, -0.5, 1}, {4}).to(DType::f32)),
               "[gaussian_nll_loss] var must be non-negative, got -0.5 at position 2 (var shape [4])");
  EXPECT_ERROR(gaussian_nll_loss(x, ones({2, 3}), ones({4, 3})), "[gaussian_nll_loss] target shape [2, 3] does not broadcast");
  // triplet_margin_loss: ranks.
  EXPECT_ERROR(triplet_margin_loss(x, x, randn({2, 4, 3})), "[triplet_margin_loss]", "[4, 3], [4, 3] and [2, 4, 3]");
  // Reductions: BatchMean belongs to kl_div.
  EXPECT_ERROR(soft_margin_loss(x, ones({4, 3}), Reduction::BatchMean), "[soft_margin_loss] reduction BatchMean");
}

// Properties the formulas promise, in the cases where a mistake would show.
TEST(MetricLosses, DistancesBehaveAtTheExtremes) {
  // Parallel f32 vectors of norm 1e12: ‖x1‖² ‖x2‖² (1e48) overflows f32; the cosine is still 1.
  const Tensor big = full({1, 3}, 1e12), twice = full({1, 3}, 2e12);
  EXPECT_NEAR(cosine_similarity(big, twice).item(), 1.0, 1e-6);
  // A zero vector: cosine 0 (not NaN), with a finite gradient.
  Tensor z = zeros({1, 3}, {.dtype = kF64}).requires_grad_(true);
  Tensor cz = cosine_similarity(z, vec({1, 2, 2}, {1, 3}));
  EXPECT_EQ(cz.item(), 0.0);
  cz.sum().backward();
  for (double g : z.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));
  // pairwise_distance adds eps to the difference: identical inputs are sqrt(D) eps apart.
  EXPECT_NEAR(pairwise_distance(ones({2, 4}), ones({2, 4})).to_vector<double>()[0], 2e-6, 1e-11);
  // soft_margin_loss of a confident wrong answer is linear (no overflow to inf), a right one ~0.
  const Tensor l = soft_margin_loss(vec({200, 200}, {2}), vec({-1, 1}, {2}), Reduction::None);
  EXPECT_DOUBLE_EQ(l.to_vector<double>()[0], 200.0);
  EXPECT_LT(l.to_vector<double>()[1], 1e-80);
}

TEST(MetricLosses, GaussianVarianceShapesAreOneModel) {
  manual_seed(5);
  const Tensor mu = randn({4, 3}, {.dtype = kF64}), y = randn({4, 3}, {.dtype = kF64});
  const Tensor v = rand({4}, {.dtype = kF64}) + 0.5;
  const Tensor per_elem = v.unsqueeze(1).expand({4, 3}).contiguous();
  const double want = gaussian_nll_loss(mu, y, per_elem).item();
  EXPECT_NEAR(gaussian_nll_loss(mu, y, v).item(), want, 1e-15);
  EXPECT_NEAR(gaussian_nll_loss(mu, y, v.unsqueeze(1)).item(), want, 1e-15);
  // full adds log(2π)/2 per element.
  EXPECT_NEAR(gaussian_nll_loss(mu, y, v, {.full = true}).item() - want, 0.5 * std::log(2 * M_PI), 1e-14);
}

TEST(MetricLosses, MultiMarginMeanDividesByTheBatchNotTheWeights) {
  const Tensor x = vec({0.1, 0.9, 0.3, 0.5, 0.2, 0.8}, {2, 3});
  const Tensor t = idx({1, 2}, {2});
  const Tensor w = vec({1, 4, 2}, {3});
  // Sample 0: y = 1, terms max(0, 1 - 0.9 + 0.1) = 0.2 and max(0, 1 - 0.9 + 0.3) = 0.4, times w_1 = 4.
  // Sample 1: y = 2, terms 1 - 0.8 + 0.5 = 0.7 and 1 - 0.8 + 0.2 = 0.4, times w_2 = 2. Each / C = 3.
  const double s0 = 4 * (0.2 + 0.4) / 3, s1 = 2 * (0.7 + 0.4) / 3;
  EXPECT_NEAR(multi_margin_loss(x, t, {.weight = w}).item(), (s0 + s1) / 2, 1e-15);
  EXPECT_NEAR(multi_margin_loss(x, t, {.weight = w, .reduction = Reduction::Sum}).item(), s0 + s1, 1e-15);
}
