// LBFGS against LibTorch 1.13's torch::optim::LBFGS. The reference values below were printed
// (%.17g) by a throwaway program linking LibTorch 1.13 that runs the same problems from the
// same start with the same options: after each step(), the loss step() returned, every
// parameter element (in group order), and the state's func_evals and n_iter. Problems:
//   rosenbrock: f(x) = Σᵢ 100(xᵢ₊₁ - xᵢ²)² + (1 - xᵢ)², x ∈ R⁴ from (-1.2, 1, -1.2, 1);
//               lr 1, max_iter 5, history_size 3 (so the history drops old pairs), 6 steps.
//   lsq:        mean((X Wᵀ + b - Y)²), W [3, 4] and b [3] (two parameters, flattened together),
//               X [10, 4], Y [10, 3] from sin/cos formulas; max_iter 4, history 100, 4 steps;
//               lr 0.5 without a line search, 1 with strong_wolfe.
// Each without a line search and with "strong_wolfe".
// f64: the same func_evals and n_iter after every step, the loss to 1e-12 relative and every
// parameter to 1e-8 relative + 2e-9. The last bits of the dot products differ (LibTorch's BLAS,
// nabla's sums), and near convergence the curvature pairs are differences of nearly equal
// gradients, which amplify them: measured here, the largest parameter difference is 3.7e-10
// (lsq without line search, step 4; 1.4e-14 for rosenbrock), the largest loss difference 1.4e-14
// relative.
// f32: LibTorch keeps the scalars (step length, ρ, H₀) as f32 tensors, nabla as doubles, and the
// difference grows the same way, so the loss is held to 2e-5 relative (measured 1.6e-6) and the
// parameters to 1e-3 absolute (measured 3.5e-4); the counts are not compared (a line search
// may take one evaluation more or less).
#include <unistd.h>

#include <functional>

#include "optim_test_util.h"

using namespace nabla;
using optim_test::expect_near_rel;

namespace {

struct RefStep {
  double loss;
  std::vector<double> params;
  int64_t func_evals, n_iter;
};

// clang-format off
const std::vector<RefStep> k_rosenbrock_none_f64 = {
    {532.40000000000009, {-0.20132035099419468, -0.086526194608643095, 0.46982166477971893, -0.3175662218047709}, 5,
        5},
    {54.871018147394793, {-0.19518248915784456, 0.050649038634777335, 0.012261424521239787, 0.00034527082925713405},
        10, 10},
    {3.3305185233492467, {-0.15836195759127286, 0.038995273129806496, 0.010682698754660568, 6.8651281407371476e-05},
        15, 15},
    {3.2718434177823585, {-0.10798261806122116, 0.023878117524128231, 0.0089165971779635953,
        -1.4493017922389577e-07}, 20, 20},
    {3.184580289934869, {-0.052314281806955021, 0.012193975557284844, 0.0072948845191377022,
        -8.4232595707258549e-05}, 25, 25},
    {3.0826420774433476, {0.0053818590263386545, 0.0063417652152938167, 0.0060204204048583312,
        -0.00015917160335941635}, 30, 30},
};
const std::vector<RefStep> k_rosenbrock_wolfe_f64 = {
    {532.40000000000009, {-0.28506683953195339, 0.0044486957405538534, 0.035583315171139121, 0.018790828327229475},
        7, 5},
    {4.319851822451672, {-0.11444267123207867, -0.0025307107531649456, 0.0021536051136775919,
        -0.0066114392801530607}, 13, 10},
    {3.2720089412089868, {0.16556291330938366, -0.0048285726027419793, -0.0069285889075635654,
        0.000582683975873246}, 19, 13},
    {2.8286718889961735, {0.48755481371757864, 0.2329500632486978, 0.051698108770659626, 0.0042684572439739849}, 26,
        17},
    {1.7534214768544749, {0.72326893313605756, 0.52583647283571788, 0.23709793267465287, 0.031802445237694932}, 32,
        21},
    {1.0990528999327447, {0.835488047900108, 0.70931574496854233, 0.50242032792319602, 0.2455860859363671}, 38, 25},
};
const std::vector<RefStep> k_lsq_none_f64 = {
    {0.54155088319277322, {-0.58533756493378375, -0.14197210650631334, 0.28197960670221023, 0.68188583076735154,
        -0.61958811652853196, -0.27186148694178169, 0.12575990313313903, 0.46691825912009699, -0.50680968904155099,
        -0.38112258008769867, -0.18871763770299455, 0.085850152707089442, 0.022855930546976502, 0.0049685193037125874,
        0.03332562734123333}, 4, 4},
    {0.096974485863360924, {-0.86112990765933162, -0.24703282333626359, 0.3618699909286886, 0.93591452732793923,
        -0.78108478874290121, -0.32452068446092175, 0.18906535565798049, 0.63762026566898566, -0.63021772387072994,
        -0.41047604284811351, -0.12004367491334209, 0.24325684234735301, -0.011123827879641751, -0.0098784286566729659,
        0.026391825202777233}, 8, 8},
    {0.066041226765708283, {-0.87807788700863065, -0.25320675208371929, 0.36730572507583509, 0.95222422325305345,
        -0.79128470528452421, -0.32791618561100205, 0.19293383505108996, 0.64822914506728502, -0.63819623331458952,
        -0.41265246626355923, -0.1161234436011572, 0.25274314346970084, -0.014611189038445478, -0.011889500200692474,
        0.023877904307325289}, 12, 12},
    {0.065924599260574882, {-0.87878821427114961, -0.25347391389345675, 0.36751788781651429, 0.95288699531249887,
        -0.79170943860872467, -0.32806028525131881, 0.19308987230497135, 0.64866420030505589, -0.63853238145103097,
        -0.41274813339441752, -0.11596568162906562, 0.25313298220191471, -0.01468671550088488, -0.011925201654461318,
        0.023862338248503839}, 16, 16},
};
const std::vector<RefStep> k_lsq_wolfe_f64 = {
    {0.54155088319277322, {-0.88055697934638344, -0.25271730531708181, 0.37069746662309733, 0.95805920327389715,
        -0.78860643324145696, -0.32255156548420744, 0.20025872709402143, 0.65652291925096407, -0.62757369149315079,
        -0.39900050031796347, -0.10128978307787315, 0.26675083220669388, -0.051538796691940475, -0.033779731196795296,
        -0.01495374831953776}, 5, 4},
    {0.067336280207769397, {-0.87883184908284639, -0.25349044865534259, 0.3675306910068929, 0.95292740360338646,
        -0.79173560847110203, -0.32806930699848957, 0.19309921972416458, 0.64869065176127538, -0.63855335149640713,
        -0.41275441486385578, -0.1159564243551449, 0.25315652529059679, -0.014689681661900223, -0.011926332852136087,
        0.023863308261609397}, 9, 8},
    {0.06592439601602626, {-0.87883184908284639, -0.25349044865534259, 0.3675306910068929, 0.95292740360338646,
        -0.79173560847110203, -0.32806930699848957, 0.19309921972416458, 0.64869065176127538, -0.63855335149640713,
        -0.41275441486385578, -0.1159564243551449, 0.25315652529059679, -0.014689681661900223, -0.011926332852136087,
        0.023863308261609397}, 10, 9},
    {0.06592439601602626, {-0.87883184908284639, -0.25349044865534259, 0.3675306910068929, 0.95292740360338646,
        -0.79173560847110203, -0.32806930699848957, 0.19309921972416458, 0.64869065176127538, -0.63855335149640713,
        -0.41275441486385578, -0.1159564243551449, 0.25315652529059679, -0.014689681661900223, -0.011926332852136087,
        0.023863308261609397}, 11, 10},
};
const std::vector<RefStep> k_rosenbrock_none_f32 = {
    {532.4000244140625, {-0.20132042467594147, -0.086525909602642059, 0.4698215126991272, -0.31756609678268433}, 5,
        5},
    {54.870975494384766, {-0.19518262147903442, 0.050649087876081467, 0.012261428870260715, 0.00034527061507105827},
        10, 10},
    {3.3305184841156006, {-0.1583617776632309, 0.038995232433080673, 0.010682684369385242, 6.8655863287858665e-05},
        15, 15},
    {3.2718429565429688, {-0.10798198729753494, 0.02387797087430954, 0.0089165624231100082,
        -1.3934550224803388e-07}, 20, 20},
    {3.1845793724060059, {-0.052313115447759628, 0.012193800881505013, 0.0072948313318192959,
        -8.4226034232415259e-05}, 25, 25},
    {3.0826401710510254, {0.0053835185244679451, 0.0063416915945708752, 0.0060203582979738712,
        -0.00015916401753202081}, 30, 30},
};
const std::vector<RefStep> k_rosenbrock_wolfe_f32 = {
    {532.4000244140625, {-0.28506693243980408, 0.0044488278217613697, 0.035583294928073883, 0.018790824338793755},
        7, 5},
    {4.3198509216308594, {-0.11444290727376938, -0.0025306232273578644, 0.0021535763517022133,
        -0.0066114263609051704}, 13, 10},
    {3.2720093727111816, {0.1655629426240921, -0.0048285992816090584, -0.006928734015673399,
        0.00058252504095435143}, 19, 13},
    {2.8286726474761963, {0.4875546395778656, 0.23294976353645325, 0.051697868853807449, 0.0042684213258326054}, 26,
        17},
    {1.753422737121582, {0.72327107191085815, 0.5258411169052124, 0.23710101842880249, 0.031803704798221588}, 32, 21},
    {1.0990585088729858, {0.83551770448684692, 0.70936000347137451, 0.50247663259506226, 0.24564105272293091}, 38,
        25},
};
const std::vector<RefStep> k_lsq_none_f32 = {
    {0.54155087471008301, {-0.58533751964569092, -0.14197209477424622, 0.28197968006134033, 0.68188589811325073,
        -0.61958813667297363, -0.27186152338981628, 0.12575992941856384, 0.46691834926605225, -0.50680965185165405,
        -0.38112261891365051, -0.18871761858463287, 0.08585018664598465, 0.022855978459119797, 0.0049685277044773102,
        0.033325672149658203}, 4, 4},
    {0.096974477171897888, {-0.86111485958099365, -0.24701458215713501, 0.36188903450965881, 0.9359317421913147,
        -0.78107917308807373, -0.32451391220092773, 0.189072385430336, 0.63762670755386353, -0.63021457195281982,
        -0.41047227382659912, -0.12003974616527557, 0.24326054751873016, -0.011114507913589478, -0.0098751969635486603,
        0.026394074782729149}, 8, 8},
    {0.066041223704814911, {-0.87819761037826538, -0.25308400392532349, 0.36765444278717041, 0.95275163650512695,
        -0.79140287637710571, -0.32789206504821777, 0.19309686124324799, 0.64850920438766479, -0.63830357789993286,
        -0.41264316439628601, -0.11599861085414886, 0.25296664237976074, -0.014569524675607681, -0.011891398578882217,
        0.023840906098484993}, 12, 12},
    {0.065924614667892456, {-0.87880116701126099, -0.25346943736076355, 0.36753928661346436, 0.95292234420776367,
        -0.79171979427337646, -0.32806017994880676, 0.19310033321380615, 0.64868372678756714, -0.63854128122329712,
        -0.41274848580360413, -0.11595731228590012, 0.25314897298812866, -0.014685126021504402, -0.011925660073757172,
        0.023860061541199684}, 16, 16},
};
const std::vector<RefStep> k_lsq_wolfe_f32 = {
    {0.54155087471008301, {-0.88055706024169922, -0.25271740555763245, 0.3706972599029541, 0.95805907249450684,
        -0.78860604763031006, -0.32255113124847412, 0.20025908946990967, 0.65652322769165039, -0.62757390737533569,
        -0.39900067448616028, -0.1012900173664093, 0.26675063371658325, -0.051538705825805664, -0.033779449760913849,
        -0.014953587204217911}, 5, 4},
    {0.067336268723011017, {-0.8787386417388916, -0.25346314907073975, 0.36748826503753662, 0.95282107591629028,
        -0.79166543483734131, -0.32803782820701599, 0.19308771193027496, 0.64863777160644531, -0.63848215341567993,
        -0.41271284222602844, -0.11595026403665543, 0.25312650203704834, -0.014676386490464211, -0.011910524219274521,
        0.023889258503913879}, 15, 7},
    {0.065924391150474548, {-0.8787386417388916, -0.25346314907073975, 0.36748826503753662, 0.95282107591629028,
        -0.79166543483734131, -0.32803782820701599, 0.19308771193027496, 0.64863777160644531, -0.63848215341567993,
        -0.41271284222602844, -0.11595026403665543, 0.25312650203704834, -0.014676386490464211, -0.011910524219274521,
        0.023889258503913879}, 23, 8},
    {0.065924391150474548, {-0.8787386417388916, -0.25346314907073975, 0.36748826503753662, 0.95282107591629028,
        -0.79166543483734131, -0.32803782820701599, 0.19308771193027496, 0.64863777160644531, -0.63848215341567993,
        -0.41271284222602844, -0.11595026403665543, 0.25312650203704834, -0.014676386490464211, -0.011910524219274521,
        0.023889258503913879}, 31, 9},
};
// clang-format on

struct Problem {
  std::vector<Tensor> params;
  std::function<Tensor()> loss;
};

Problem rosenbrock(DType dt) {
  Problem p;
  p.params = {from_vector(std::vector<double>{-1.2, 1.0, -1.2, 1.0}, {4}, dt).requires_grad_()};
  Tensor x = p.params[0];
  p.loss = [x] {
    Tensor a = x.narrow(0, 0, 3), b = x.narrow(0, 1, 3);
    return sum(square(b - a * a) * 100.0 + square(1.0 - a));
  };
  return p;
}

Problem lsq(DType dt) {
  std::vector<double> x(40), y(30), w(12), b(3);
  for (int i = 0; i < 40; ++i) x[i] = std::sin(0.37 * i + 0.1);
  for (int i = 0; i < 30; ++i) y[i] = std::cos(0.53 * i) + 0.2 * std::sin(1.7 * i);
  for (int i = 0; i < 12; ++i) w[i] = 0.1 * std::cos(0.9 * i);
  for (int i = 0; i < 3; ++i) b[i] = 0.05 * i;
  Problem p;
  Tensor X = from_vector(x, {10, 4}, dt), Y = from_vector(y, {10, 3}, dt);
  p.params = {from_vector(w, {3, 4}, dt).requires_grad_(), from_vector(b, {3}, dt).requires_grad_()};
  Tensor W = p.params[0], B = p.params[1];
  p.loss = [=] { return square(matmul(X, W.t()) + B - Y).mean(); };
  return p;
}

std::vector<double> flat(const std::vector<Tensor>& ps) {
  std::vector<double> out;
  for (const Tensor& p : ps) {
    auto v = p.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

Tensor step(optim::LBFGS& opt, const Problem& p) {
  return opt.step([&] {
    opt.zero_grad();
    Tensor l = p.loss();
    l.backward();
    return l;
  });
}

struct Case {
  const char* name;
  Problem (*make)(DType);
  double lr;
  int64_t max_iter, history;
  bool wolfe;
  const std::vector<RefStep>* f64;
  const std::vector<RefStep>* f32;
};

const Case kCases[] = {
    {"rosenbrock_none", rosenbrock, 1.0, 5, 3, false, &k_rosenbrock_none_f64, &k_rosenbrock_none_f32},
    {"rosenbrock_wolfe", rosenbrock, 1.0, 5, 3, true, &k_rosenbrock_wolfe_f64, &k_rosenbrock_wolfe_f32},
    {"lsq_none", lsq, 0.5, 4, 100, false, &k_lsq_none_f64, &k_lsq_none_f32},
    {"lsq_wolfe", lsq, 1.0, 4, 100, true, &k_lsq_wolfe_f64, &k_lsq_wolfe_f32},
};

void check_against_libtorch(const Case& c, DType dt) {
  const bool f64 = dt == kF64;
  const std::vector<RefStep>& ref = f64 ? *c.f64 : *c.f32;
  const double rtol = f64 ? 1e-8 : 0.0, atol = f64 ? 2e-9 : 1e-3, loss_rtol = f64 ? 1e-12 : 2e-5;
  Problem p = c.make(dt);
  auto o = optim::LBFGSOptions(c.lr).max_iter(c.max_iter).history_size(c.history);
  if (c.wolfe) o.line_search_fn("strong_wolfe");
  optim::LBFGS opt(p.params, o);
  for (size_t k = 0; k < ref.size(); ++k) {
    const std::string what = std::string(c.name) + (f64 ? " f64" : " f32") + " step " + std::to_string(k + 1);
    Tensor loss = step(opt, p);
    EXPECT_NEAR(loss.item(), ref[k].loss, loss_rtol * std::abs(ref[k].loss)) << what << " loss";
    expect_near_rel(flat(p.params), ref[k].params, rtol, atol, what);
    if (f64) {
      EXPECT_EQ(opt.lbfgs_state().func_evals, ref[k].func_evals) << what;
      EXPECT_EQ(opt.lbfgs_state().n_iter, ref[k].n_iter) << what;
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(OptimLBFGS, FollowsLibTorchF64) {
  for (const Case& c : kCases) check_against_libtorch(c, kF64);
}

TEST(OptimLBFGS, FollowsLibTorchF32) {
  for (const Case& c : kCases) check_against_libtorch(c, kF32);
}

TEST(OptimLBFGS, DefaultsArePyTorchs) {
  optim::LBFGSOptions d;
  EXPECT_EQ(d.lr(), 1.0);
  EXPECT_EQ(d.max_iter(), 20);
  EXPECT_FALSE(d.max_eval().has_value());
  EXPECT_EQ(d.tolerance_grad(), 1e-7);
  EXPECT_EQ(d.tolerance_change(), 1e-9);
  EXPECT_EQ(d.history_size(), 100);
  EXPECT_FALSE(d.line_search_fn().has_value());
  Tensor w = zeros({2}, {.requires_grad = true});
  optim::LBFGS opt({w});
  // As LibTorch, the default max_eval (max_iter * 5 / 4) is written into the options.
  EXPECT_EQ(static_cast<const optim::LBFGSOptions&>(opt.param_groups()[0].options()).max_eval(), 25);
  optim::LBFGS opt7({zeros({2}, {.requires_grad = true})}, optim::LBFGSOptions().max_iter(7));
  EXPECT_EQ(static_cast<const optim::LBFGSOptions&>(opt7.param_groups()[0].options()).max_eval(), 8);
}

TEST(OptimLBFGS, BadInputNamesTheOption) {
  using optim::LBFGS;
  using optim::LBFGSOptions;
  std::vector<Tensor> p{zeros({2}, {.requires_grad = true})};
  EXPECT_ERROR(LBFGS(p, LBFGSOptions(-1)), "[LBFGS] invalid lr: -1 (must be >= 0)");
  EXPECT_ERROR(LBFGS(p, LBFGSOptions().max_iter(0)), "[LBFGS] invalid max_iter: 0 (must be >= 1)");
  EXPECT_ERROR(LBFGS(p, LBFGSOptions().max_eval(0)), "[LBFGS] invalid max_eval: 0", "max_iter * 5 / 4");
  EXPECT_ERROR(LBFGS(p, LBFGSOptions().history_size(0)), "[LBFGS] invalid history_size: 0 (must be >= 1)");
  EXPECT_ERROR(LBFGS(p, LBFGSOptions().tolerance_grad(-1e-3)), "[LBFGS] invalid tolerance_grad: -0.001");
  EXPECT_ERROR(LBFGS(p, LBFGSOptions().tolerance_change(std::nan(""))), "[LBFGS] invalid tolerance_change: nan");
  EXPECT_ERROR(LBFGS(p, LBFGSOptions().line_search_fn("backtracking")),
               "[LBFGS] invalid line_search_fn: \"backtracking\" (must be \"strong_wolfe\" or unset)");
  std::vector<optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{zeros({2}, {.requires_grad = true})});
  groups.emplace_back(std::vector<Tensor>{zeros({2}, {.requires_grad = true})});
  EXPECT_ERROR(LBFGS(std::move(groups)), "[LBFGS] got 2 parameter groups; LBFGS supports one");

  Tensor w = zeros({2}, {.dtype = kF64, .requires_grad = true});
  LBFGS opt({w});
  optim::Optimizer& base = opt;
  EXPECT_ERROR(base.step(), "[LBFGS] step() needs a closure that re-evaluates the loss");
  EXPECT_ERROR(opt.step([&] { return w * 2.0; }), "[LBFGS] the closure must return the loss",
               "it returned shape [2]");
  Tensor v = zeros({2}, {.dtype = kF32, .requires_grad = true});
  LBFGS mixed({w, v});
  EXPECT_ERROR(mixed.step([&] { return sum(w) + sum(v); }), "[LBFGS] all parameters must have one dtype and device",
               "f64", "f32");
  opt.add_param_group(optim::OptimizerParamGroup({v}));
  EXPECT_ERROR(opt.step([&] { return sum(w); }), "[LBFGS] has 2 parameter groups");
}

// At a stationary point the first evaluation ends the step: nothing moves.
TEST(OptimLBFGS, StopsAtAStationaryPoint) {
  Tensor w = from_vector(std::vector<double>{1.0, 2.0}, {2}, kF64).requires_grad_();
  optim::LBFGS opt({w});
  Tensor target = from_vector(std::vector<double>{1.0, 2.0}, {2}, kF64);
  Tensor loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = sum(square(w - target));
    l.backward();
    return l;
  });
  EXPECT_EQ(loss.item(), 0.0);
  EXPECT_EQ(w.to_vector(), (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(opt.lbfgs_state().func_evals, 1);
  EXPECT_EQ(opt.lbfgs_state().n_iter, 0);
}

// A linear least-squares problem in R⁵ (‖Ax - b‖², A symmetric positive definite with
// condition number about 5): one step() of at most 20 iterations with the Wolfe search solves
// it to a residual below 1e-10 (LibTorch 1.13: 7.0e-14 after 19 iterations). The loss-change
// tolerance is lowered, as the loss is ~1e-20 near the solution.
TEST(OptimLBFGS, SolvesLeastSquaresToTolerance) {
  std::vector<double> a(25, 0.0), b = {1, -2, 3, 0.5, -1};
  for (int i = 0; i < 5; ++i) {
    a[i * 5 + i] = 1.0 + i;
    if (i + 1 < 5) a[i * 5 + i + 1] = a[(i + 1) * 5 + i] = 0.3;
  }
  Tensor A = from_vector(a, {5, 5}, kF64), B = from_vector(b, {5, 1}, kF64);
  Tensor x = zeros({5, 1}, {.dtype = kF64, .requires_grad = true});
  optim::LBFGS opt(
      {x}, optim::LBFGSOptions().line_search_fn("strong_wolfe").tolerance_grad(1e-12).tolerance_change(1e-30));
  opt.step([&] {
    opt.zero_grad();
    Tensor l = sum(square(matmul(A, x) - B));
    l.backward();
    return l;
  });
  Tensor residual = matmul(A, x.detach()) - B;
  EXPECT_LT(max(abs(residual)).item(), 1e-10);
}

// state_dict round trip: two steps, copy the parameters and the state (in memory and through a
// safetensors checkpoint), then both continue for two steps bit for bit.
TEST(OptimLBFGS, StateDictRoundTripContinuesBitForBit) {
  for (bool wolfe : {false, true}) {
    for (bool through_file : {false, true}) {
      SCOPED_TRACE(std::string(wolfe ? "wolfe" : "none") + (through_file ? " file" : " memory"));
      auto opts = optim::LBFGSOptions(0.5).max_iter(3).history_size(2);
      if (wolfe) opts.line_search_fn("strong_wolfe");
      Problem a = lsq(kF64), b = lsq(kF64);
      optim::LBFGS oa(a.params, opts), ob(b.params, optim::LBFGSOptions());
      step(oa, a);
      step(oa, a);
      for (size_t i = 0; i < a.params.size(); ++i) {
        NoGradGuard ng;
        b.params[i].copy_(a.params[i]);
      }
      optim::OptimizerStateDict d = oa.state_dict();
      EXPECT_EQ(d.metadata.at("optimizer"), "LBFGS");
      EXPECT_EQ(d.metadata.at("state.0.func_evals"), std::to_string(oa.lbfgs_state().func_evals));
      EXPECT_EQ(d.metadata.at("state.0.history"), "2");
      EXPECT_EQ(d.metadata.at("param_groups.0.max_eval"), "3");  // 3 * 5 / 4
      EXPECT_EQ(d.metadata.count("param_groups.0.line_search_fn"), wolfe ? 1u : 0u);
      EXPECT_TRUE(d.tensors.count("state.0.old_dirs.1") && d.tensors.count("state.0.prev_flat_grad"));
      if (through_file) {
        const std::string path = ::testing::TempDir() + "nabla_lbfgs_" + std::to_string(getpid()) + ".safetensors";
        optim::save_checkpoint(path, oa);
        optim::load_checkpoint(path, ob);
      } else {
        ob.load_state_dict(d);
      }
      const auto& ob_opts = static_cast<const optim::LBFGSOptions&>(ob.param_groups()[0].options());
      EXPECT_EQ(ob_opts.lr(), 0.5);
      EXPECT_EQ(ob_opts.history_size(), 2);
      EXPECT_EQ(ob_opts.line_search_fn().has_value(), wolfe);
      EXPECT_EQ(ob.lbfgs_state().n_iter, oa.lbfgs_state().n_iter);
      for (int k = 0; k < 2; ++k) {
        Tensor la = step(oa, a), lb = step(ob, b);
        EXPECT_EQ(la.item(), lb.item());
      }
      EXPECT_EQ(flat(a.params), flat(b.params));
      EXPECT_EQ(oa.lbfgs_state().func_evals, ob.lbfgs_state().func_evals);
    }
  }
}

TEST(OptimLBFGS, BadStateIsRejectedAndLeavesTheOptimizerIntact) {
  Problem a = lsq(kF64);
  optim::LBFGS oa(a.params, optim::LBFGSOptions().max_iter(4));
  step(oa, a);
  const optim::OptimizerStateDict good = oa.state_dict();
  const std::string pairs = good.metadata.at("state.0.history");
  ASSERT_NE(pairs, "0");
  Problem b = lsq(kF64);
  optim::LBFGS ob(b.params, optim::LBFGSOptions().max_iter(3));
  auto bad = good;
  bad.tensors["state.0.d"] = zeros({7}, {.dtype = kF64});
  EXPECT_ERROR(ob.load_state_dict(bad), "[LBFGS] load_state_dict: state.0.d has shape [7]", "15 elements");
  bad = good;
  bad.metadata["state.0.ro"] = "1,2,3,4,5,6,7";
  EXPECT_ERROR(ob.load_state_dict(bad), "state.0.ro has 7 values for " + pairs + " pairs");
  bad = good;
  bad.metadata["param_groups.0.max_iter"] = "2.5";
  EXPECT_ERROR(ob.load_state_dict(bad), "[LBFGS] invalid max_iter: 2.5 (must be an integer)");
  bad = good;
  bad.metadata["state.0.n_iter"] = "-3";
  EXPECT_ERROR(ob.load_state_dict(bad), "[LBFGS] load_state_dict: state.0.n_iter: expected a count, got \"-3\"");
  bad = good;
  bad.tensors.erase("state.0.old_stps.0");
  EXPECT_ERROR(ob.load_state_dict(bad), "[LBFGS] load_state_dict: no tensor state.0.old_stps.0");
  EXPECT_EQ(ob.lbfgs_state().func_evals, 0);
  EXPECT_EQ(static_cast<const optim::LBFGSOptions&>(ob.param_groups()[0].options()).max_iter(), 3);
  // A smaller history_size than the saved history is fine: the next iteration drops the oldest.
  Problem c = lsq(kF64);
  optim::LBFGS oc(c.params, optim::LBFGSOptions().max_iter(4));
  oc.load_state_dict(good);
  static_cast<optim::LBFGSOptions&>(oc.param_groups()[0].options()).history_size(1);
  step(oc, c);
  EXPECT_EQ(oc.lbfgs_state().old_dirs.size(), 1u);
}

}  // namespace
