// Worked examples with the raw API (leaf tensors as parameters, ops, backward, SGD by hand):
// the lecture's two classic demonstrations, a 2-layer MLP that fits XOR and linear regression
// that converges to the known solution.
#include <gtest/gtest.h>

#include <cmath>

#include "nabla/nabla.h"

using namespace nabla;

namespace {

/// Plain SGD: p -= lr * p.grad, then clear the gradient (as an optimizer's zero_grad).
void sgd_step(TensorList& params, double lr) {
  NoGradGuard no_grad;  // the update itself must not be recorded
  for (Tensor& p : params) {
    ASSERT_TRUE(p.grad().defined());
    p.add_(p.grad(), -lr);
    p.set_grad(Tensor());
  }
}

}  // namespace

// XOR is not linearly separable: a hidden layer is needed (the lecture's motivating example).
TEST(Examples, TwoLayerMlpFitsXor) {
  manual_seed(0);
  Tensor x = from_vector<float>({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  Tensor y = from_vector<int64_t>({0, 1, 1, 0}, {4});

  // 2 -> 8 (tanh) -> 2 logits; small random weights break the symmetry.
  Tensor w1 = (randn({8, 2}) * 1.0).requires_grad_();
  Tensor b1 = zeros({8}, {.requires_grad = true});
  Tensor w2 = (randn({2, 8}) * 0.5).requires_grad_();
  Tensor b2 = zeros({2}, {.requires_grad = true});
  TensorList params{w1, b1, w2, b2};
  auto forward = [&](const Tensor& in) { return linear(tanh(linear(in, w1, b1)), w2, b2); };

  double first = 0, loss_value = 0;
  for (int step = 0; step < 2000; ++step) {
    Tensor loss = cross_entropy(forward(x), y);
    loss_value = loss.item();
    if (step == 0) first = loss_value;
    loss.backward();
    sgd_step(params, 0.5);
  }
  EXPECT_GT(first, 0.5);  // starts near chance (ln 2 = 0.69)
  EXPECT_LT(loss_value, 0.05);

  NoGradGuard ng;
  Tensor logits = forward(x);
  EXPECT_FALSE(logits.requires_grad());
  EXPECT_EQ(argmax(logits, 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 1, 0}));
  // Confident: probability of the right class above 0.9 for every input.
  Tensor p = softmax(logits, 1);
  auto pv = p.to_vector<double>();
  const int64_t want[] = {0, 1, 1, 0};
  for (int i = 0; i < 4; ++i) EXPECT_GT(pv[size_t(i * 2 + want[i])], 0.9) << "input " << i;
}

// Same network with relu and a mean-squared-error head, in f64.
TEST(Examples, ReluMlpRegressesXorWithMse) {
  manual_seed(3);
  Tensor x = from_vector<double>({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  Tensor y = from_vector<double>({0, 1, 1, 0}, {4, 1});
  Tensor w1 = (randn({16, 2}, {.dtype = kF64}) * 0.7).requires_grad_();
  Tensor b1 = full({16}, 0.1, {.dtype = kF64, .requires_grad = true});
  Tensor w2 = (randn({1, 16}, {.dtype = kF64}) * 0.3).requires_grad_();
  Tensor b2 = zeros({1}, {.dtype = kF64, .requires_grad = true});
  TensorList params{w1, b1, w2, b2};
  auto forward = [&](const Tensor& in) { return linear(relu(linear(in, w1, b1)), w2, b2); };
  double loss_value = 0;
  for (int step = 0; step < 3000; ++step) {
    Tensor loss = mse_loss(forward(x), y);
    loss_value = loss.item();
    loss.backward();
    sgd_step(params, 0.1);
  }
  EXPECT_LT(loss_value, 0.01);
  NoGradGuard ng;
  auto out = forward(x).to_vector<double>();
  const double want[] = {0, 1, 1, 0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[size_t(i)], want[i], 0.25) << "input " << i;
}

// y = X w* + b*: gradient descent on the mean squared error reaches w*, b*.
TEST(Examples, LinearRegressionConvergesToTheKnownSolution) {
  manual_seed(1);
  const std::vector<double> w_true{2.0, -3.5, 0.5};
  const double b_true = 1.25;
  Tensor X = randn({256, 3}, {.dtype = kF64});
  Tensor w_star = from_vector<double>(w_true, {3, 1});
  Tensor y = matmul(X, w_star) + b_true;  // [256, 1], noise-free: the least-squares solution is (w*, b*)

  Tensor w = zeros({3, 1}, {.dtype = kF64, .requires_grad = true});
  Tensor b = zeros({1}, {.dtype = kF64, .requires_grad = true});
  TensorList params{w, b};

  // The first gradient matches the closed form dL/dw = 2/N X^T (Xw - y) = -2/N X^T y at w = 0.
  {
    Tensor loss = mse_loss(matmul(X, w) + b, y);
    loss.backward();
    NoGradGuard ng;
    Tensor want = matmul(X.t(), y) * (-2.0 / 256);
    EXPECT_TRUE(allclose(w.grad(), want, 1e-10, 1e-12));
    EXPECT_NEAR(b.grad().item(), -2.0 * mean(y).item(), 1e-10);
    w.set_grad(Tensor());
    b.set_grad(Tensor());
  }

  double loss_value = 0;
  for (int step = 0; step < 500; ++step) {
    Tensor loss = mse_loss(matmul(X, w) + b, y);
    loss_value = loss.item();
    loss.backward();
    sgd_step(params, 0.1);
  }
  EXPECT_LT(loss_value, 1e-8);
  auto wv = w.to_vector<double>();
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(wv[i], w_true[i], 1e-3) << "weight " << i;
  EXPECT_NEAR(b.item(), b_true, 1e-3);
}

// With noise, gradient descent reaches the least-squares solution, which is close to w*.
TEST(Examples, NoisyLinearRegressionRecoversTheWeights) {
  manual_seed(2);
  Tensor X = randn({2000, 2}, {.dtype = kF64});
  Tensor y = matmul(X, from_vector<double>({-1.0, 4.0}, {2, 1})) + 0.3 + randn({2000, 1}, {.dtype = kF64}) * 0.01;
  Tensor w = zeros({2, 1}, {.dtype = kF64, .requires_grad = true});
  Tensor b = zeros({1}, {.dtype = kF64, .requires_grad = true});
  TensorList params{w, b};
  for (int step = 0; step < 300; ++step) {
    mse_loss(matmul(X, w) + b, y).backward();
    sgd_step(params, 0.2);
  }
  // Noise 0.01 over 2000 samples: the estimate is within ~1e-3 of the truth.
  auto wv = w.to_vector<double>();
  EXPECT_NEAR(wv[0], -1.0, 2e-3);
  EXPECT_NEAR(wv[1], 4.0, 2e-3);
  EXPECT_NEAR(b.item(), 0.3, 2e-3);
  // The residual is at the noise level.
  NoGradGuard ng;
  EXPECT_NEAR(nabla::std(matmul(X, w) + b - y).item(), 0.01, 0.002);
}
