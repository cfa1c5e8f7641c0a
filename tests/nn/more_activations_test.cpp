// The activation modules ReLU6, Hardtanh, SELU, CELU, Softsign, LogSigmoid, Tanhshrink,
// Softshrink, Hardshrink, Threshold, GLU and Softmin: each wraps its functional op (values are
// checked in tests/ops against f64 references and LibTorch), has PyTorch's defaults, prints as
// PyTorch's does and refuses bad options naming the module.
#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

TEST(MoreActivations, ModulesWrapTheirOps) {
  manual_seed(4);
  Tensor v = randn({5, 8}) * 4.0;
  EXPECT_TRUE(bitwise_equal(nn::ReLU6()(v), relu6(v)));
  EXPECT_TRUE(bitwise_equal(nn::Hardtanh()(v), hardtanh(v, -1, 1)));
  EXPECT_TRUE(bitwise_equal(nn::Hardtanh(nn::HardtanhOptions().min_val(-2).max_val(3))(v), hardtanh(v, -2, 3)));
  EXPECT_TRUE(bitwise_equal(nn::SELU()(v), selu(v)));
  EXPECT_TRUE(bitwise_equal(nn::CELU()(v), celu(v, 1.0)));
  EXPECT_TRUE(bitwise_equal(nn::CELU(nn::CELUOptions().alpha(0.5))(v), celu(v, 0.5)));
  EXPECT_TRUE(bitwise_equal(nn::Softsign()(v), softsign(v)));
  EXPECT_TRUE(bitwise_equal(nn::LogSigmoid()(v), logsigmoid(v)));
  EXPECT_TRUE(bitwise_equal(nn::Tanhshrink()(v), tanhshrink(v)));
  EXPECT_TRUE(bitwise_equal(nn::Softshrink()(v), softshrink(v, 0.5)));
  EXPECT_TRUE(bitwise_equal(nn::Softshrink(nn::SoftshrinkOptions().lambd(2))(v), softshrink(v, 2)));
  EXPECT_TRUE(bitwise_equal(nn::Hardshrink()(v), hardshrink(v, 0.5)));
  EXPECT_TRUE(bitwise_equal(nn::Hardshrink(nn::HardshrinkOptions().lambd(1.5))(v), hardshrink(v, 1.5)));
  EXPECT_TRUE(bitwise_equal(nn::Threshold(nn::ThresholdOptions(0.1, 20))(v), threshold(v, 0.1, 20)));
  EXPECT_TRUE(bitwise_equal(nn::GLU()(v), glu(v, -1)));
  Tensor w = randn({4, 3});
  EXPECT_TRUE(bitwise_equal(nn::GLU(nn::GLUOptions().dim(0))(w), glu(w, 0)));
  EXPECT_TRUE(bitwise_equal(nn::Softmin(1)(v), softmin(v, 1)));
  EXPECT_TRUE(bitwise_equal(nn::Softmin(0)(v), softmin(v, 0)));
  // The functional ops' PyTorch defaults.
  EXPECT_TRUE(bitwise_equal(hardtanh(v), hardtanh(v, -1, 1)));
  EXPECT_TRUE(bitwise_equal(celu(v), celu(v, 1.0)));
  EXPECT_TRUE(bitwise_equal(softshrink(v), softshrink(v, 0.5)));
  EXPECT_TRUE(bitwise_equal(hardshrink(v), hardshrink(v, 0.5)));
  EXPECT_TRUE(bitwise_equal(glu(v), glu(v, 1)));
  EXPECT_EQ(nn::HardtanhOptions().min_val(), -1.0);
  EXPECT_EQ(nn::HardtanhOptions().max_val(), 1.0);
  EXPECT_EQ(nn::CELUOptions().alpha(), 1.0);
  EXPECT_EQ(nn::ShrinkOptions().lambd(), 0.5);
  EXPECT_EQ(nn::GLUOptions().dim(), -1);
}

TEST(MoreActivations, ReprAsPyTorch) {
  EXPECT_EQ(nn::ReLU6().to_string(), "ReLU6()");
  EXPECT_EQ(nn::Hardtanh().to_string(), "Hardtanh(min_val=-1, max_val=1)");
  EXPECT_EQ(nn::Hardtanh(nn::HardtanhOptions().min_val(-0.5).max_val(2.5)).to_string(),
            "Hardtanh(min_val=-0.5, max_val=2.5)");
  EXPECT_EQ(nn::SELU().to_string(), "SELU()");
  EXPECT_EQ(nn::CELU(nn::CELUOptions().alpha(0.5)).to_string(), "CELU(alpha=0.5)");
  EXPECT_EQ(nn::Softsign().to_string(), "Softsign()");
  EXPECT_EQ(nn::LogSigmoid().to_string(), "LogSigmoid()");
  EXPECT_EQ(nn::Tanhshrink().to_string(), "Tanhshrink()");
  EXPECT_EQ(nn::Softshrink().to_string(), "Softshrink(0.5)");
  EXPECT_EQ(nn::Hardshrink(nn::HardshrinkOptions().lambd(1.5)).to_string(), "Hardshrink(1.5)");
  EXPECT_EQ(nn::Threshold(nn::ThresholdOptions(0.1, 20)).to_string(), "Threshold(threshold=0.1, value=20)");
  EXPECT_EQ(nn::GLU().to_string(), "GLU(dim=-1)");
  EXPECT_EQ(nn::Softmin(1).to_string(), "Softmin(dim=1)");
}

TEST(MoreActivations, BadOptionsAndInputsNameTheModule) {
  EXPECT_ERROR(nn::Hardtanh(nn::HardtanhOptions().min_val(1).max_val(1)),
               "[Hardtanh] max_val must be greater than min_val, got min_val=1 and max_val=1");
  EXPECT_ERROR(nn::CELU(nn::CELUOptions().alpha(0)), "[CELU] alpha cannot be 0");
  EXPECT_ERROR(nn::Softshrink(nn::SoftshrinkOptions().lambd(-1)), "[Softshrink] lambd must be greater or equal to 0, got -1");
  EXPECT_ERROR(nn::GLU()(randn({2, 3})), "[GLU]", "halving dimension must be even, but dimension 1 of input [2, 3] has size 3");
  EXPECT_ERROR(nn::Softmin(2)(randn({2, 3})), "[Softmin]", "dimension 2 is out of range");
  EXPECT_ERROR(nn::SELU()(ones({2}, {.dtype = DType::i64})), "[SELU]", "[selu] expected a floating tensor", "i64");
}
