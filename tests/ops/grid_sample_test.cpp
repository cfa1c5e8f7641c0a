// grid_sample and affine_grid against LibTorch 1.13 (values printed by a probe program on CPU,
// f64): every mode x padding x align_corners on one small image, with the gradient reaching the
// grid (sum of outputs), plus affine_grid in 2-D and 3-D and one trilinear case.
#include <gtest/gtest.h>

#include <cmath>

#include "nabla/nabla.h"
#include "ops/op_table.h"

namespace {

using namespace nabla;
using Mode = GridSampleMode;
using Pad = GridSamplePadding;

struct Case {
  Mode mode;
  Pad pad;
  bool align_corners;
  std::vector<double> out, grid_grad;
};

// LibTorch 1.13: torch::grid_sampler(x, grid, mode, padding, align_corners) with
// x = sin(0.5 * arange(12)).reshape(1, 1, 3, 4) and the grid below; grid_grad of y.sum().
const Case kCases[] = {
    {Mode::bilinear,
     Pad::zeros,
     false,
     {0, -0.21572498478671601, 0.27491022053195097, 0, -0.41545030000766647, 0},
     {0, 0, -0.53663416059363411, -1.5382733463581735, -0.91636740177316967, -1.213450392864307, 0, 0,
      0.015814966551664783, 1.4662951764976455, 0, 0}},
    {Mode::bilinear,
     Pad::zeros,
     true,
     {0.077290281280182907, -0.060780821472989938, 0.2059829835826921, -0.32951225791338834, -0.92644416792535977,
      0.36155223421054383},
     {0.13639461402385222, 0.77290281280182938, -0.54324081035231941, -1.1238421816753079, -0.34909851109684353,
      -1.2996836714777507, 0.89866979430924054, -0.19511640383442475, 0.026513326277790947, 0.97520438728985215,
      0.093614401077694739, 0.90388058552635975}},
    {Mode::bilinear,
     Pad::border,
     false,
     {0, -0.21572498478671601, 0.45818370088658483, -0.70554032557039192, -0.97753011766509701, 0.9506877860652071},
     {0, 0, -0.53663416059363411, -1.5382733463581735, 0, -2.0224173214405115, 0, 0, 0.03721168600391711, 0,
      0.31204800359231588, 0}},
    {Mode::bilinear,
     Pad::border,
     true,
     {0.090929742682568149, -0.060780821472989938, 0.2059829835826921, -0.59911319620616033, -0.97520438728985215,
      0.90388058552635975},
     {0, 0.90929742682568171, -0.54324081035231941, -1.1238421816753079, -0.34909851109684353, -1.2996836714777507, 0,
      -0.35475709788077209, 0.027908764502937833, 0, 0.23403600269423691, 0}},
    {Mode::bilinear,
     Pad::reflection,
     false,
     {0, -0.21572498478671601, 0.45818370088658489, -0.73087872047966651, -0.97753011766509701, 0.48912776885321452},
     {0, 0, -0.53663416059363411, -1.5382733463581735, 0, -2.0224173214405115, -0.50676789818549306, 0,
      0.03721168600391711, 0, -0.20629378644420027, 1.7308500645449714}},
    {Mode::bilinear,
     Pad::reflection,
     true,
     {0.15098981115330973, -0.060780821472989938, 0.2059829835826921, -0.6125222033441946, -0.89937901157043765,
      0.32816746246658712},
     {-0.60060068470741534, 0.79075980362679243, -0.54324081035231941, -1.1238421816753079, -0.34909851109684353,
      -1.2996836714777507, -0.044696690460114652, -0.69013633105977701, -0.0077880839255156211, 1.5165075143882976,
      -0.34909851109684364, 0.95952187176628756}},
    {Mode::nearest,
     Pad::zeros,
     false,
     {0, 0.14112000805986721, 0.99749498660405445, 0, 0, 0},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {Mode::nearest,
     Pad::zeros,
     true,
     {0, 0.14112000805986721, -0.35078322768961984, -0.70554032557039192, -0.97753011766509701, 0},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {Mode::nearest,
     Pad::border,
     false,
     {0, 0.14112000805986721, 0.99749498660405445, -0.70554032557039192, -0.97753011766509701, 0.99749498660405445},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {Mode::nearest,
     Pad::border,
     true,
     {0, 0.14112000805986721, -0.35078322768961984, -0.70554032557039192, -0.97753011766509701, 0.8414709848078965},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {Mode::nearest,
     Pad::reflection,
     false,
     {0, 0.14112000805986721, 0.99749498660405445, -0.70554032557039192, -0.97753011766509701, 0.99749498660405445},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {Mode::nearest,
     Pad::reflection,
     true,
     {0, 0.14112000805986721, -0.35078322768961984, -0.70554032557039192, -0.97753011766509701, 0.14112000805986721},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {Mode::bicubic,
     Pad::zeros,
     false,
     {-0.047388286853317606, -0.34589240085674999, 0.35759698558345221, 0.041905962484707855, -0.52925411034319181,
      -0.11675283404858708},
     {-0.41649163927591054, -0.047720801061401794, -1.1602137718529999, -2.0309351908377011, -1.3251569868429369,
      -1.5258833583374152, 0.65187052753990538, -0.033221917375449508, -0.059935291371050387, 2.1835166170291904,
      -0.005225218671048768, -0.14594104256073467}},
    {Mode::bicubic,
     Pad::zeros,
     true,
     {0.038832753867354262, -0.11153643701947165, 0.31410046911864531, -0.41169234102224672, -1.0066440852676777,
      0.47490326725174548},
     {0.35421591569599431, 0.92664487865386325, -0.89610353421900846, -1.4912194005779378, -0.59997941876037608,
      -1.7404939223088993, 1.2488727629225447, 0.092112890407492015, -0.14338111228084977, -0.10871299535126175,
      0.32581712894907411, 1.3973072693052644}},
    {Mode::bicubic,
     Pad::border,
     false,
     {-0.12764079187389907, -0.29735409374647309, 0.48381004658806348, -0.7175466361017937, -1.1002920750945377,
      0.97107093743605077},
     {-0.28069930040965696, -0.034611407200501217, -1.0211407266884445, -1.6767576962275654, 0.026825839862433035,
      -2.2626577131640149, 1.4353548149135431e-15, -0.32227465110606368, -0.23704371099285276, 0.54630640902103833,
      0.15311862795498937, 1.0478401677096923e-15}},
    {Mode::bicubic,
     Pad::border,
     true,
     {0.05215675946982936, -0.088289452596178056, 0.22926047079552783, -0.66875475539504936, -1.0457217862552766,
      1.0160066069282963},
     {0.21774696708650337, 1.0749355057412127, -0.90272928675429309, -1.2878082868741145, -0.38264947627389834,
      -1.4209979281894825, -0.0032125449829935085, 0.053289464999959027, -0.14999312321799091, -0.92505797305725468,
      0.28061280049062698, 0.24965800411163896}},
    {Mode::bicubic,
     Pad::reflection,
     false,
     {-0.25189515183852046, -0.29735409374647309, 0.47307971064308951, -0.740893158736183, -1.2663817822049566,
      0.5419510247053605},
     {-0.36855725099576442, 0.34889465177477208, -1.0211407266884445, -1.6767576962275654, -0.044709733104059672,
      -2.359649074232097, -0.48641633421197272, -0.41781615481276513, -0.14756159129172802, 0.26595038167352664,
      -0.32231495888992906, 1.8138882246890553}},
    {Mode::bicubic,
     Pad::reflection,
     true,
     {0.047112320797341178, -0.11574108957566712, 0.31055159871027965, -0.75091759944384928, -0.985703825459044,
      0.44164835490069249},
     {-0.32002206657480853, 0.57757105538918707, -0.87263348416303477, -1.5280101104446489, -0.1104639928799433,
      -1.7813086006020673, -0.21719985274214906, -0.28095894572763785, -0.17373510127667605, 0.32819974841212129,
      -0.53775672210108338, 1.4037820161811383}},
};

const std::vector<double> kGrid{-1.1, -0.9, 0.3, 0.2, 0.95, -0.4, 1.3, 0.7, -0.25, 1.05, 0.6, -1.6};

Tensor image() {
  std::vector<double> v;
  for (int i = 0; i < 12; ++i) v.push_back(std::sin(0.5 * i));
  return from_vector(v, {1, 1, 3, 4}, DType::f64);
}

TEST(GridSample, MatchesLibTorchForEveryModeAndPadding) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::to_string(int(c.mode)) + " " + std::to_string(int(c.pad)) + " " +
                 std::to_string(c.align_corners));
    Tensor grid = from_vector(kGrid, {1, 2, 3, 2}, DType::f64).requires_grad_(true);
    Tensor y = grid_sample(image(), grid, {.mode = c.mode, .padding_mode = c.pad, .align_corners = c.align_corners});
    ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 3}));
    std::vector<double> got = y.contiguous().to_vector<double>();
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], c.out[i], 1e-14) << "output " << i;
    y.sum().backward();
    std::vector<double> g = grid.grad().contiguous().to_vector<double>();
    for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], c.grid_grad[i], 1e-12) << "grid gradient " << i;
  }
}

TEST(GridSample, AffineGridAndTrilinearMatchLibTorch) {
  Tensor theta = from_vector(std::vector<double>{0.9, -0.2, 0.1, 0.3, 1.1, -0.05}, {1, 2, 3}, DType::f64);
  const std::vector<double> want0{-0.4, -0.8, 0.2, -0.6, 0.8, -0.4, -0.6, 0.3, 0, 0.5, 0.6, 0.7};
  const std::vector<double> want1{-0.6, -1.45, 0.3, -1.15, 1.2, -0.85, -1, 0.75, -0.1, 1.05, 0.8, 1.35};
  for (bool ac : {false, true}) {
    Tensor g = affine_grid(theta, {1, 1, 2, 3}, ac);
    ASSERT_EQ(g.shape(), (Shape{1, 2, 3, 2}));
    std::vector<double> got = g.contiguous().to_vector<double>();
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], (ac ? want1 : want0)[i], 1e-15) << i;
  }
  Tensor t3 = from_vector(std::vector<double>{0.9, -0.2, 0.1, 0.3, 0.3, 1.1, -0.05, 0.0, 0.1, 0.0, 0.8, 0.2}, {1, 3, 4},
                          DType::f64);
  const std::vector<double> want3{
      -0.35, -0.175, -0.26666666666666666, 0.25, 0.025,  -0.2, 0.85, 0.225, -0.13333333333333336,
      -0.25, -0.225, 0.53333333333333344,  0.35, -0.025, 0.6,  0.95, 0.175, 0.66666666666666674};
  Tensor g3 = affine_grid(t3, {1, 1, 2, 1, 3});
  ASSERT_EQ(g3.shape(), (Shape{1, 2, 1, 3, 3}));
  std::vector<double> got3 = g3.contiguous().to_vector<double>();
  for (size_t i = 0; i < got3.size(); ++i) EXPECT_NEAR(got3[i], want3[i], 1e-15) << i;
  // Trilinear: LibTorch gives 0.2445, 0.1060, 0.1395 (printed to 4 digits).
  std::vector<double> xv;
  for (int i = 0; i < 24; ++i) xv.push_back(std::cos(0.3 * i));
  Tensor g =
      from_vector(std::vector<double>{-0.9, 0.2, 0.5, 0.4, -1.2, -0.3, 1.1, 0.7, 0.9}, {1, 1, 1, 3, 3}, DType::f64);
  std::vector<double> y = grid_sample(from_vector(xv, {1, 1, 2, 3, 4}, DType::f64), g).contiguous().to_vector<double>();
  const std::vector<double> want_y{0.2445, 0.1060, 0.1395};
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(y[i], want_y[i], 5e-5) << i;
}

TEST(GridSample, AnIdentityGridReproducesTheImage) {
  // affine_grid of the identity map samples every pixel centre exactly (align_corners either way).
  Tensor x = randn({2, 3, 5, 7}, {.dtype = DType::f64});
  Tensor eye = from_vector(std::vector<double>{1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0}, {2, 2, 3}, DType::f64);
  for (bool ac : {false, true}) {
    for (Mode m : {Mode::bilinear, Mode::nearest, Mode::bicubic}) {
      Tensor y = grid_sample(x, affine_grid(eye, x.shape(), ac), {.mode = m, .align_corners = ac});
      EXPECT_TRUE(allclose(y, x, 0, 1e-12)) << int(m) << " " << ac;
    }
  }
}

TEST(GridSample, BadShapesAreRefusedWithTheReason) {
  Tensor x = zeros({1, 2, 3, 4});
  EXPECT_NABLA_ERROR(grid_sample(x, zeros({1, 3, 3, 3})), "[grid_sample]", "grid must be [N, Ho, Wo, 2]",
                     "[1, 3, 3, 3]");
  EXPECT_NABLA_ERROR(grid_sample(zeros({2, 3}), zeros({2, 3})), "[grid_sample]", "[N, C, H, W]");
  EXPECT_NABLA_ERROR(grid_sample(x, zeros({1, 3, 3, 2}, {.dtype = DType::f64})), "[grid_sample]", "f32", "f64");
  EXPECT_NABLA_ERROR(grid_sample(zeros({1, 1, 2, 2, 2}), zeros({1, 1, 1, 1, 3}), {.mode = Mode::bicubic}),
                     "[grid_sample]", "bicubic");
  EXPECT_NABLA_ERROR(affine_grid(zeros({1, 2, 3}), {2, 1, 4, 4}), "[affine_grid]", "theta must be [N, 2, 3]", "N = 2");
  EXPECT_NABLA_ERROR(affine_grid(zeros({1, 2, 3}), {1, 4, 4}), "[affine_grid]", "size must be");
}

TEST(GridSample, NonFiniteGridCoordinatesSampleLikeLibTorch) {
  // A diverging spatial transformer produces NaN / inf grids; they must not reach gather as an
  // out-of-range index. LibTorch 1.13 (2-D CPU kernel, f64), x = 1 + arange(12) as [1, 1, 3, 4],
  // grid points (NaN, 0.2), (0.1, NaN), (inf, 0), (-inf, 0.5), align_corners false:
  //   zeros:      bilinear NaN NaN NaN NaN, nearest 0 0 0 0, bicubic NaN x 4;
  //   border:     bilinear 6.2 2.7 8 8, nearest 5 3 8 9;
  //   reflection: bilinear 6.2 2.7 5 8, nearest 5 3 5 9
  // (border and reflection take a NaN position to 0, as PyTorch's CPU and CUDA 2-D kernels do).
  Tensor x = arange(0, 12, 1, DType::f64).reshape({1, 1, 3, 4}) + 1.0;
  Tensor grid = from_vector(std::vector<double>{NAN, 0.2, 0.1, NAN, INFINITY, 0.0, -INFINITY, 0.5}, {1, 2, 2, 2},
                            DType::f64);
  auto run = [&](Mode m, Pad p) { return grid_sample(x, grid, {.mode = m, .padding_mode = p}).reshape({4}); };
  for (Mode m : {Mode::bilinear, Mode::bicubic}) {
    std::vector<double> y = run(m, Pad::zeros).to_vector<double>();
    for (double v : y) EXPECT_TRUE(std::isnan(v)) << int(m);
  }
  EXPECT_TRUE(allclose(run(Mode::nearest, Pad::zeros), zeros({4}, {.dtype = DType::f64})));
  auto expect = [&](Mode m, Pad p, std::vector<double> want) {
    EXPECT_TRUE(allclose(run(m, p), from_vector(want, {4}, DType::f64), 0, 1e-12)) << int(m) << " " << int(p);
  };
  expect(Mode::bilinear, Pad::border, {6.2, 2.7, 8, 8});
  expect(Mode::nearest, Pad::border, {5, 3, 8, 9});
  expect(Mode::bilinear, Pad::reflection, {6.2, 2.7, 5, 8});
  expect(Mode::nearest, Pad::reflection, {5, 3, 5, 9});
  // The gradient w.r.t. the grid still runs (LibTorch's border/reflection backward crashes on
  // NaN here, so only that it runs and stays finite on the finite points is checked).
  Tensor g = grid.clone().requires_grad_(true);
  Tensor y = grid_sample(x, g, {.padding_mode = Pad::border});
  std::vector<double> dg = nabla::grad({sum(y)}, {g})[0].contiguous().to_vector<double>();
  for (double v : dg) EXPECT_TRUE(std::isfinite(v));
}

TEST(GridSample, EmptyBatchOrChannelsGiveEmptyOutputs) {
  // LibTorch 1.13: [0, 2, 3, 4] with grid [0, 2, 2, 2] -> [0, 2, 2, 2]; [1, 0, 3, 4] -> [1, 0, 2, 2].
  EXPECT_EQ(grid_sample(zeros({0, 2, 3, 4}), zeros({0, 2, 2, 2})).shape(), (Shape{0, 2, 2, 2}));
  EXPECT_EQ(grid_sample(zeros({1, 0, 3, 4}), zeros({1, 2, 2, 2})).shape(), (Shape{1, 0, 2, 2}));
  EXPECT_EQ(grid_sample(zeros({1, 0, 2, 3, 4}), zeros({1, 1, 2, 2, 3})).shape(), (Shape{1, 0, 1, 2, 2}));
}

}  // namespace
