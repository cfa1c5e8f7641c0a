// ConvTranspose1d/2d forward(x, output_size): PyTorch's choice of output_padding from the wanted
// size (a U-Net decoder matching its encoder's sizes), against the same layer given that
// output_padding as an option, and the error for sizes out of the valid range.
#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

TEST(ConvTransposeOutputSize, PicksTheOutputPaddingOfTheWantedSize2d) {
  // Conv2d stride 2 maps 7x7 and 8x8 both to 4x4; the transposed layer resolves which.
  nn::Conv2d down(nn::Conv2dOptions(3, 4, 3).stride(2).padding(1));
  nn::ConvTranspose2d up(nn::ConvTranspose2dOptions(4, 3, 3).stride(2).padding(1));
  for (int64_t side : {7, 8}) {
    Tensor x = randn({2, 3, side, side});
    Tensor h = down(x);
    ASSERT_EQ(h.shape(), (Shape{2, 4, 4, 4}));
    nn::ConvTranspose2d same(nn::ConvTranspose2dOptions(4, 3, 3).stride(2).padding(1).output_padding(side - 7));
    same.weight = same.register_parameter("weight", up.weight);
    same.bias = same.register_parameter("bias", up.bias);
    Tensor y = up.forward(h, {side, side});
    EXPECT_EQ(y.shape(), x.shape());
    EXPECT_TRUE(bitwise_equal(y, same(h)));
    EXPECT_TRUE(bitwise_equal(up.forward(h, x.shape()), y)) << "the whole shape [N, C, H, W] works too";
  }
  // Mixed: 7 rows, 8 columns.
  EXPECT_EQ(up.forward(randn({1, 4, 4, 4}), {7, 8}).shape(), (Shape{1, 3, 7, 8}));
  // Unbatched input with [C, H, W].
  EXPECT_EQ(up.forward(randn({4, 4, 4}), {3, 8, 7}).shape(), (Shape{3, 8, 7}));
  EXPECT_ERROR(up.forward(randn({1, 4, 4, 4}), {9, 8}), "[ConvTranspose2d]", "output size of [9, 8]",
               "valid sizes range from 7 to 8");
  EXPECT_ERROR(up.forward(randn({1, 4, 4, 4}), {8}), "[ConvTranspose2d]", "output_size [8]", "2 spatial sizes");
}

TEST(ConvTransposeOutputSize, PicksTheOutputPaddingOfTheWantedSize1d) {
  nn::ConvTranspose1d up(nn::ConvTranspose1dOptions(2, 3, 4).stride(3).dilation(2));
  Tensor h = randn({2, 2, 5});
  // Smallest: (5 - 1) * 3 + 2 * (4 - 1) + 1 = 19; valid 19..21.
  for (int64_t len : {19, 20, 21}) {
    nn::ConvTranspose1d same(nn::ConvTranspose1dOptions(2, 3, 4).stride(3).dilation(2).output_padding(len - 19));
    same.weight = same.register_parameter("weight", up.weight);
    same.bias = same.register_parameter("bias", up.bias);
    Tensor y = up.forward(h, {len});
    EXPECT_EQ(y.shape(), (Shape{2, 3, len}));
    EXPECT_TRUE(bitwise_equal(y, same(h)));
  }
  EXPECT_ERROR(up.forward(h, {22}), "[ConvTranspose1d]", "valid sizes range from 19 to 21");
  EXPECT_ERROR(up.forward(h, {3, 22}), "[ConvTranspose1d]", "output_size [3, 22]");
}
