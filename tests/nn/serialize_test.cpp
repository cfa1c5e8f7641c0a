// Checkpoints: save -> load into a freshly initialized module gives bitwise-identical state
// and outputs for every layer type (BatchNorm running statistics included); metadata, state
// dicts, dtype conversion on load, and strict/non-strict loading from files.
#include <functional>

#include "helpers.h"

using namespace nabla;
using nn_test::bitwise_equal;

namespace {

using Factory = std::function<std::shared_ptr<nn::Module>()>;

/// Builds two instances from different seeds, gives the first non-default state (random
/// parameters, a few training steps for running statistics), saves it, loads it into the
/// second, and checks state and outputs bit for bit in eval and in train mode.
void expect_round_trip(const std::string& label, const Factory& make, const Tensor& input) {
  SCOPED_TRACE(label);
  nn_test::TempDir dir;
  std::string path = dir.file("model.safetensors");
  manual_seed(100);
  auto a = make();
  {
    NoGradGuard ng;
    for (Tensor& p : a->parameters()) nn::init::normal_(p, 0.1, 0.5);
  }
  a->train();
  for (int i = 0; i < 3; ++i) (*a)(input);
  nn::save(*a, path, {{"layer", label}});

  manual_seed(200);
  auto b = make();
  io::Metadata md;
  auto r = nn::load(*b, path, /*strict=*/true, &md);
  EXPECT_TRUE(r.ok()) << r.to_string();
  EXPECT_EQ(md.at("layer"), label);

  auto sa = a->state_dict(), sb = b->state_dict();
  ASSERT_EQ(sa.keys(), sb.keys());
  for (const auto& [k, t] : sa) EXPECT_TRUE(bitwise_equal(t, sb.at(k))) << k;

  for (bool training : {false, true}) {
    a->train(training);
    b->train(training);
    manual_seed(300);
    Tensor ya = (*a)(input);
    manual_seed(300);
    Tensor yb = (*b)(input);
    EXPECT_TRUE(bitwise_equal(ya, yb)) << (training ? "train" : "eval") << " mode";
  }
  // Training-mode forwards moved both sets of running statistics identically.
  sa = a->state_dict();
  sb = b->state_dict();
  for (const auto& [k, t] : sa) EXPECT_TRUE(bitwise_equal(t, sb.at(k))) << k << " after a training step";
}

template <typename M, typename... Args>
Factory factory(Args... args) {
  return [=] { return std::static_pointer_cast<nn::Module>(std::make_shared<M>(args...)); };
}

}  // namespace

TEST(Serialize, RoundTripEveryLayerBitwise) {
  manual_seed(1);
  Tensor img = randn({4, 6, 8, 8});
  Tensor vec = randn({5, 12});
  Tensor seq = randn({4, 6, 10});
  Tensor ids = from_vector<int64_t>({0, 3, 7, 7, 1, 0}, {2, 3});

  expect_round_trip("Linear", factory<nn::Linear>(12, 7), vec);
  expect_round_trip("Linear(bias=false)", factory<nn::Linear>(nn::LinearOptions(12, 7).bias(false)), vec);
  expect_round_trip("Conv2d", factory<nn::Conv2d>(nn::Conv2dOptions(6, 4, 3).stride(2).padding(1).groups(2)), img);
  expect_round_trip("Conv2d(reflect)",
                    factory<nn::Conv2d>(nn::Conv2dOptions(6, 3, {3, 5}).padding({1, 2}).padding_mode(
                        nn::PaddingMode::Reflect)),
                    img);
  expect_round_trip("ConvTranspose2d",
                    factory<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(6, 4, 3).stride(2).output_padding(1)), img);
  expect_round_trip("MaxPool2d", factory<nn::MaxPool2d>(nn::MaxPool2dOptions(3).stride(2).padding(1)), img);
  expect_round_trip("AvgPool2d", factory<nn::AvgPool2d>(nn::AvgPool2dOptions(2)), img);
  expect_round_trip("AdaptiveAvgPool2d", factory<nn::AdaptiveAvgPool2d>(nn::AdaptiveAvgPool2dOptions({3, 2})), img);
  expect_round_trip("Flatten", factory<nn::Flatten>(), img);
  expect_round_trip("Dropout", factory<nn::Dropout>(0.3), vec);
  expect_round_trip("BatchNorm1d", factory<nn::BatchNorm1d>(12), vec);
  nn::BatchNormOptions cumulative(6);  // momentum None: a cumulative average
  cumulative.momentum().reset();         // (GCC 12 warns, wrongly, on .momentum(std::nullopt))
  expect_round_trip("BatchNorm1d[N,C,L]", factory<nn::BatchNorm1d>(cumulative), seq);
  expect_round_trip("BatchNorm2d", factory<nn::BatchNorm2d>(6), img);
  expect_round_trip("BatchNorm2d(affine=false)", factory<nn::BatchNorm2d>(nn::BatchNormOptions(6).affine(false)), img);
  expect_round_trip("LayerNorm", factory<nn::LayerNorm>(Shape{6, 10}), seq);
  expect_round_trip("Embedding", factory<nn::Embedding>(nn::EmbeddingOptions(8, 5).padding_idx(0)), ids);
  expect_round_trip("Identity", factory<nn::Identity>(), vec);
  expect_round_trip("ReLU", factory<nn::ReLU>(), vec);
  expect_round_trip("LeakyReLU", factory<nn::LeakyReLU>(), vec);
  expect_round_trip("ELU", factory<nn::ELU>(), vec);
  expect_round_trip("GELU", factory<nn::GELU>(), vec);
  expect_round_trip("Tanh", factory<nn::Tanh>(), vec);
  expect_round_trip("Sigmoid", factory<nn::Sigmoid>(), vec);
  expect_round_trip("Softmax", factory<nn::Softmax>(1), vec);
  expect_round_trip("LogSoftmax", factory<nn::LogSoftmax>(1), vec);
  Factory cnn = [] {
    return std::static_pointer_cast<nn::Module>(std::make_shared<nn::Sequential>(
        nn::Conv2d(nn::Conv2dOptions(6, 8, 3).padding(1)), nn::BatchNorm2d(8), nn::ReLU(), nn::MaxPool2d(2),
        nn::Dropout(0.2), nn::Flatten(), nn::Linear(8 * 4 * 4, 10), nn::LogSoftmax(1)));
  };
  expect_round_trip("Sequential CNN", cnn, img);
}

TEST(Serialize, LossModulesAndModuleListKeepTheirState) {
  nn_test::TempDir dir;
  manual_seed(2);
  nn::CrossEntropyLoss a(nn::CrossEntropyLossOptions().weight(rand({5})));
  nn::CrossEntropyLoss b(nn::CrossEntropyLossOptions().weight(rand({5})));
  nn::save(a, dir.file("ce.safetensors"));
  nn::load(b, dir.file("ce.safetensors"));
  Tensor logits = randn({3, 5});
  Tensor t = from_vector<int64_t>({4, 0, 2}, {3});
  EXPECT_TRUE(bitwise_equal(a(logits, t), b(logits, t)));

  nn::ModuleList la(nn::Linear(3, 3), nn::BatchNorm1d(3));
  nn::ModuleList lb(nn::Linear(3, 3), nn::BatchNorm1d(3));
  nn::save(la, dir.file("list.safetensors"));
  EXPECT_TRUE(nn::load(lb, dir.file("list.safetensors")).ok());
  for (const auto& [k, v] : la.state_dict()) EXPECT_TRUE(bitwise_equal(v, lb.state_dict().at(k))) << k;
}

TEST(Serialize, StateDictFilesAndMetadata) {
  nn_test::TempDir dir;
  manual_seed(3);
  nn::Sequential m(nn::Linear(4, 3), nn::BatchNorm1d(3));
  nn::save(m.state_dict(), dir.file("sd.safetensors"), {{"epoch", "7"}, {"format", "pt"}});
  nn::Checkpoint c = nn::load(dir.file("sd.safetensors"));
  EXPECT_EQ(c.metadata.at("epoch"), "7");
  EXPECT_EQ(c.state.size(), 7u);
  EXPECT_EQ(c.state.at("1.num_batches_tracked").dtype(), kI64);
  EXPECT_EQ(c.state.at("1.num_batches_tracked").dim(), 0);
  for (const auto& [k, v] : m.state_dict()) EXPECT_TRUE(bitwise_equal(v, c.state.at(k))) << k;
}

TEST(Serialize, LoadingIntoAnotherDtypeConverts) {
  nn_test::TempDir dir;
  manual_seed(4);
  nn::Sequential a(nn::Linear(5, 4), nn::BatchNorm1d(4), nn::Tanh(), nn::Linear(4, 2));
  a(randn({8, 5}));  // running statistics
  nn::save(a, dir.file("f32.safetensors"));

  nn::Sequential b(nn::Linear(5, 4), nn::BatchNorm1d(4), nn::Tanh(), nn::Linear(4, 2));
  b.to(kF64);
  EXPECT_TRUE(nn::load(b, dir.file("f32.safetensors")).ok());
  auto sa = a.state_dict();
  for (const auto& [k, v] : b.state_dict()) {
    const Tensor& src = sa.at(k);
    EXPECT_EQ(v.dtype(), src.is_floating_point() ? kF64 : kI64) << k;
    EXPECT_TRUE(bitwise_equal(v, src.to(v.dtype()))) << k;  // f32 -> f64 is exact
  }
  a.eval();
  b.eval();
  Tensor x = randn({3, 5});
  EXPECT_TRUE(allclose(b(x.to(kF64)).to(kF32), a(x), 1e-5, 1e-6));
  // And back: an f64 checkpoint into an f32 model rounds each value to f32.
  nn::save(b, dir.file("f64.safetensors"));
  nn::Sequential c(nn::Linear(5, 4), nn::BatchNorm1d(4), nn::Tanh(), nn::Linear(4, 2));
  EXPECT_TRUE(nn::load(c, dir.file("f64.safetensors")).ok());
  c.eval();
  EXPECT_TRUE(bitwise_equal(c(x), a(x)));
}

TEST(Serialize, StrictAndNonStrictLoadFromFile) {
  nn_test::TempDir dir;
  manual_seed(5);
  nn::Sequential small(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
  nn::save(small, dir.file("small.safetensors"));
  nn::Sequential other(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 5), nn::Linear(5, 1));
  EXPECT_ERROR(nn::load(other, dir.file("small.safetensors")), "[Sequential] load_state_dict",
               "missing keys: [3.weight, 3.bias]", "2.weight (module [5, 3], state dict [2, 3])",
               "small.safetensors");
  auto r = nn::load(other, dir.file("small.safetensors"), /*strict=*/false);
  EXPECT_EQ(r.missing_keys, (std::vector<std::string>{"3.weight", "3.bias"}));
  EXPECT_EQ(r.shape_mismatches.size(), 2u);
  EXPECT_TRUE(r.unexpected_keys.empty());
  EXPECT_TRUE(bitwise_equal(other.at<nn::Linear>(0)->weight, small.at<nn::Linear>(0)->weight));
  // Files that are not checkpoints fail in the reader, naming the file.
  EXPECT_ERROR(nn::load(other, dir.file("missing.safetensors")), "missing.safetensors");
}
