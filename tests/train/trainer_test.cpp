// The trainer's guarantees: resume is bit-exact with an uninterrupted run, early stopping
// stops after `patience` bad epochs and restores the best epoch's weights, configs round-trip.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>

#include "nabla/autograd.h"
#include "nabla/io/safetensors.h"
#include "nabla/train/trainer.h"
#include "train/train_test_util.h"

using namespace nabla;
using namespace train_test;
using train::EarlyStopping;
using train::EpochRecord;
using train::TrainConfig;
using train::Trainer;

namespace {

TrainConfig small_config(const std::string& out) {
  TrainConfig c;
  c.model = "mlp";
  c.data = synthetic_data_dir();
  c.out = out;
  c.epochs = 4;
  c.threads = 1;
  c.workers = 1;
  c.progress = false;
  c.train_limit = 400;
  c.seed = 3;
  return c;
}

// Runs f, which must throw a nabla::Error whose message contains `part`.
void expect_error_containing(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected nabla::Error containing: " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
// Simulates a crash: throws at the end of epoch `at`, before that epoch's last.safetensors.
class InterruptAt : public train::Callback {
 public:
  explicit InterruptAt(int64_t at) : at_(at) {}
  void on_epoch_end(Trainer&, const EpochRecord& r) override {
    if (r.epoch == at_) throw Interrupted();
  }

 private:
  int64_t at_;
};

void set_all_weights(nn::Sequential& m, double v) {
  NoGradGuard ng;
  for (const auto& [k, p] : m.state_dict()) Tensor(p).fill_(v);
}
bool all_weights_equal(nn::Sequential& m, double v) {
  for (auto& [k, p] : m.state_dict())
    for (double x : p.to_double_vector())
      if (x != v) return false;
  return true;
}

std::string tiny_spec_file(const TempDir& dir) {
  std::string path = dir.file("tiny.json");
  write_text(path, R"({"name": "tiny", "input_shape": [1, 28, 28], "num_classes": 10,
    "layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 10}]})");
  return path;
}

}  // namespace

// ---- resume ---------------------------------------------------------------------------------

struct ResumeCase {
  const char* name;
  std::string optimizer, schedule, augment;
  int64_t warmup = 0, patience = 0;
  double label_smoothing = 0, clip = 0, ema = 0;
  double mixup = 0, cutmix = 0;
  std::string amp = "off";
};

void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }

class ResumeTest : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ResumeTest, InterruptedAndResumedRunEqualsUninterruptedBitForBit) {
  const ResumeCase& p = GetParam();
  TempDir dir("resume");
  auto cfg = [&](const std::string& out) {
    TrainConfig c = small_config(out);
    c.optimizer = p.optimizer;
    c.schedule = p.schedule;
    c.augment = p.augment;
    c.warmup_epochs = p.warmup;
    c.patience = p.patience;
    c.label_smoothing = p.label_smoothing;
    c.clip_grad_norm = p.clip;
    c.ema_decay = p.ema;
    c.mixup = p.mixup;
    c.cutmix = p.cutmix;
    c.amp = p.amp;
    return c;
  };
  const std::string a = dir.file("a"), b = dir.file("b");
  train::RunResult ra = Trainer(cfg(a)).fit();
  ASSERT_EQ(ra.epochs_run, 4);

  {
    Trainer tb(cfg(b));
    tb.add_callback(std::make_shared<InterruptAt>(3));
    EXPECT_THROW(tb.fit(), Interrupted);
  }
  // The interrupted run holds epochs 1..2 only.
  ASSERT_EQ(io::load_safetensors(b + "/last.safetensors").metadata.at("epoch"), "2");
  ASSERT_EQ(lines_of(read_text(b + "/metrics.csv")).size(), 3u);

  train::RunResult rb = Trainer::resume(b);
  EXPECT_EQ(rb.epochs_run, 4);
  EXPECT_EQ(rb.best_epoch, ra.best_epoch);
  EXPECT_EQ(rb.best_val_accuracy, ra.best_val_accuracy);
  EXPECT_EQ(rb.test.accuracy, ra.test.accuracy);
  EXPECT_EQ(rb.test.loss, ra.test.loss);
  EXPECT_EQ(rb.test.confusion, ra.test.confusion);

  io::SafetensorsFile la = io::load_safetensors(a + "/last.safetensors");
  io::SafetensorsFile lb = io::load_safetensors(b + "/last.safetensors");
  EXPECT_EQ(count_prefixed(la.tensors, "model."), 6u);  // 3 Linear layers: weight + bias
  EXPECT_EQ(differing_tensors(la.tensors, lb.tensors), std::vector<std::string>{});
  for (const auto& [k, v] : la.metadata) {
    if (k == "history" || k == "config") continue;  // wall-clock seconds; the run folder name
    ASSERT_TRUE(lb.metadata.count(k)) << k;
    EXPECT_EQ(lb.metadata.at(k), v) << k;
  }
  EXPECT_EQ(la.metadata.size(), lb.metadata.size());
  EXPECT_EQ(differing_tensors(io::load_safetensors(a + "/best.safetensors").tensors,
                              io::load_safetensors(b + "/best.safetensors").tensors),
            std::vector<std::string>{});
  auto rows_a = metrics_rows_without_seconds(a + "/metrics.csv");
  EXPECT_EQ(rows_a.size(), 5u);
  EXPECT_EQ(metrics_rows_without_seconds(b + "/metrics.csv"), rows_a);
}

INSTANTIATE_TEST_SUITE_P(
    Trainer, ResumeTest,
    ::testing::Values(ResumeCase{"sgd_cosine_warmup_dropout", "sgd", "cosine", "none", 1, 0, 0, 0},
                      ResumeCase{"adam_onecycle_augment_patience", "adam", "onecycle", "standard", 0, 3, 0.1, 1.0},
                      ResumeCase{"rmsprop_plateau", "rmsprop", "plateau", "none", 0, 0, 0, 0},
                      ResumeCase{"sgd_step_ema", "sgd", "step", "none", 0, 0, 0, 0, 0.9},
                      ResumeCase{"adamw_mixup_cutmix_trivial", "adamw", "cosine", "trivial", 0, 0, 0.1, 0, 0, 0.4, 1.0},
                      ResumeCase{"adam_amp_f16_clip", "adam", "cosine", "none", 0, 0, 0, 1.0, 0, 0, 0, "f16"},
                      ResumeCase{"sgd_amp_bf16", "sgd", "cosine", "none", 0, 0, 0, 0, 0, 0, 0, "bf16"}),
    [](const auto& info) { return std::string(info.param.name); });

// With ema_decay the run keeps the weights' moving average: one update per step after a copy of
// the initial weights, and what validation picks as best and saves is the average, not the
// trained weights.
// --mixup / --cutmix: the loss is taken on mixed batches (so the train loss changes, and with
// half-and-half blends it cannot reach the unmixed run's), validation and test are not mixed,
// and the settings are recorded in config.json.
TEST(Trainer, MixupAndCutmixTrainOnMixedBatches) {
  TempDir dir("mix");
  auto train_loss = [](const std::string& run) {
    return std::stod(split(lines_of(read_text(run + "/metrics.csv")).at(1), ',').at(1));
  };
  TrainConfig plain = small_config(dir.file("plain"));
  plain.epochs = 1;
  Trainer(plain).fit();
  for (auto [mixup, cutmix] : {std::pair{1.0, 0.0}, std::pair{0.0, 1.0}, std::pair{0.2, 0.2}}) {
    SCOPED_TRACE(std::to_string(mixup) + " " + std::to_string(cutmix));
    TrainConfig c = small_config(dir.file("mix" + std::to_string(int(mixup * 10)) + std::to_string(int(cutmix * 10))));
    c.epochs = 1;
    c.mixup = mixup;
    c.cutmix = cutmix;
    train::RunResult r = Trainer(c).fit();
    EXPECT_TRUE(std::isfinite(r.test.loss));
    EXPECT_NE(train_loss(c.out), train_loss(plain.out));
    io::Json cfg = io::Json::parse(read_text(c.out + "/config.json"));
    EXPECT_EQ(cfg.find("mixup")->as_double(), mixup);
    EXPECT_EQ(cfg.find("cutmix")->as_double(), cutmix);
  }
}

// The automatic augmentation policies by name: a run trains on other images than with the
// standard crop and mirror alone.
TEST(Trainer, TrivialAugmentAndRandAugmentByName) {
  TempDir dir("autoaug");
  auto train_loss = [](const std::string& run) {
    return std::stod(split(lines_of(read_text(run + "/metrics.csv")).at(1), ',').at(1));
  };
  std::map<std::string, double> loss;
  for (const char* name : {"standard", "trivial", "randaugment"}) {
    TrainConfig c = small_config(dir.file(name));
    c.epochs = 1;
    c.augment = name;
    Trainer(c).fit();
    loss[name] = train_loss(c.out);
  }
  EXPECT_NE(loss["trivial"], loss["standard"]);
  EXPECT_NE(loss["randaugment"], loss["standard"]);
  EXPECT_NE(loss["randaugment"], loss["trivial"]);
}

// --accumulate 2 at batch 32 takes the steps batch 64 takes (the same examples in the same order,
// the mean gradient of each 64), up to the rounding of the two half-batch means; without the
// accumulation, batch 32 takes twice the steps and ends elsewhere. Dropout off: no random masks.
TEST(Trainer, AccumulatingTwoHalfBatchesStepsLikeOneFullBatch) {
  TempDir dir("accumulate");
  auto run = [&](const std::string& name, int64_t batch, int64_t accumulate) {
    TrainConfig c = small_config(dir.file(name));
    c.epochs = 2;
    c.dropout = 0;
    c.val_fraction = 0.2;  // 320 training images: 5 batches of 64, 10 of 32
    c.batch_size = batch;
    c.accumulate = accumulate;
    Trainer(c).fit();
    return io::load_safetensors(c.out + "/last.safetensors").tensors;
  };
  const auto full = run("full", 64, 1), accumulated = run("accumulated", 32, 2), half = run("half", 32, 1);
  double diff_accumulated = 0, diff_half = 0;
  size_t compared = 0;
  for (const auto& [k, v] : full) {
    if (k.rfind("model.", 0) != 0) continue;
    ++compared;
    diff_accumulated = std::max(diff_accumulated, max(abs(v - accumulated.at(k))).item());
    diff_half = std::max(diff_half, max(abs(v - half.at(k))).item());
  }
  EXPECT_EQ(compared, 6u);
  EXPECT_LT(diff_accumulated, 1e-5);
  EXPECT_GT(diff_half, 1e-3);
}

// --amp bf16 / f16: the forward pass and the loss run under autocast (f32 weights); the runs learn
// as the f32 run does, within a few points on this small task, and only f16 keeps a loss scale
// in last.safetensors (GradScaler's state, which ResumeTest restores bit for bit).
TEST(Trainer, MixedPrecisionRunsLearnAsF32Does) {
  TempDir dir("amp");
  auto run = [&](const std::string& amp) {
    TrainConfig c = small_config(dir.file(amp));
    c.amp = amp;
    train::RunResult r = Trainer(c).fit();
    return std::pair{r, io::load_safetensors(c.out + "/last.safetensors")};
  };
  const auto [r32, l32] = run("off");
  const auto [rbf, lbf] = run("bf16");
  const auto [rhf, lhf] = run("f16");
  EXPECT_GT(r32.test.accuracy, 0.5);
  EXPECT_NEAR(rbf.test.accuracy, r32.test.accuracy, 0.08);
  EXPECT_NEAR(rhf.test.accuracy, r32.test.accuracy, 0.08);
  for (const auto* l : {&l32, &lbf, &lhf})
    for (const auto& [k, v] : l->tensors) EXPECT_EQ(v.dtype(), DType::f32) << k << ": weights and state stay f32";
  EXPECT_FALSE(l32.metadata.count("scaler.scale"));
  EXPECT_FALSE(lbf.metadata.count("scaler.scale"));
  ASSERT_TRUE(lhf.metadata.count("scaler.scale"));
  EXPECT_GT(std::stod(lhf.metadata.at("scaler.scale")), 1.0);
  EXPECT_NE(differing_tensors(l32.tensors, lbf.tensors), std::vector<std::string>{}) << "bf16 changed nothing";
}

// --balance-classes draws the training batches from a class-weighted sampler: the run sees other
// batches than the plain shuffle, and resumes bit for bit (the draws depend on seed and epoch).
TEST(Trainer, BalanceClassesSamplesAndResumes) {
  TempDir dir("balance");
  auto train_loss = [](const std::string& run, size_t epoch) {
    return std::stod(split(lines_of(read_text(run + "/metrics.csv")).at(epoch), ',').at(1));
  };
  TrainConfig plain = small_config(dir.file("plain"));
  plain.epochs = 2;
  Trainer(plain).fit();
  TrainConfig c = small_config(dir.file("balanced"));
  c.epochs = 2;
  c.balance_classes = true;
  Trainer(c).fit();
  EXPECT_NE(train_loss(c.out, 1), train_loss(plain.out, 1));
  TrainConfig r = small_config(dir.file("resumed"));
  r.epochs = 2;
  r.balance_classes = true;
  {
    Trainer t(r);
    t.add_callback(std::make_shared<InterruptAt>(2));
    EXPECT_THROW(t.fit(), Interrupted);
  }
  Trainer::resume(r.out);
  EXPECT_EQ(metrics_rows_without_seconds(r.out + "/metrics.csv"), metrics_rows_without_seconds(c.out + "/metrics.csv"));
}

TEST(Trainer, EmaRunSavesAndEvaluatesTheAverage) {
  TempDir dir("ema");
  TrainConfig c = small_config(dir.file("run"));
  c.epochs = 1;
  c.ema_decay = 0.5;
  train::RunResult r = Trainer(c).fit();
  ASSERT_EQ(r.best_epoch, 1);
  io::SafetensorsFile last = io::load_safetensors(c.out + "/last.safetensors");
  io::SafetensorsFile best = io::load_safetensors(c.out + "/best.safetensors");
  // 360 training images in full batches of 64: 5 steps, plus the initial copy.
  EXPECT_EQ(last.tensors.at("ema_n_averaged").item<int64_t>(), 6);
  size_t compared = 0;
  for (const auto& [k, v] : best.tensors) {
    ASSERT_EQ(k.rfind("model.", 0), 0u) << k;
    const std::string name = k.substr(6);
    const Tensor& avg = last.tensors.at("ema." + name);
    EXPECT_EQ(v.to_double_vector(), avg.to_double_vector()) << name;
    EXPECT_NE(v.to_double_vector(), last.tensors.at(k).to_double_vector()) << name << ": the trained weights";
    ++compared;
  }
  EXPECT_EQ(compared, count_prefixed(last.tensors, "model."));
  // Resuming a run that keeps an average from a checkpoint without one is refused.
  TrainConfig plain = small_config(dir.file("plain"));
  plain.epochs = 1;
  Trainer(plain).fit();
  io::SafetensorsFile f = io::load_safetensors(plain.out + "/last.safetensors");
  write_text(plain.out + "/config.json", [&] {
    TrainConfig with = plain;
    with.ema_decay = 0.9;
    return with.to_json().dump(2);
  }());
  expect_error_containing([&] { Trainer::resume(plain.out, 2); }, "holds no weight average");
}

// A finished cosine run resumed for more epochs continues on the new, longer curve: its next
// epoch takes the lr a run made for that many epochs has there, not the old curve's final 0.
TEST(Trainer, RecordsPeakTrainingMemoryPerEpoch) {
  TempDir dir("peak");
  auto run = [&](const std::string& name, int64_t batch) {
    TrainConfig c = small_config(dir.file(name));
    c.epochs = 2;
    c.batch_size = batch;
    return Trainer(c).fit();
  };
  train::RunResult small = run("b8", 8), large = run("b256", 256);
  // The weights, their gradients and SGD's momentum are all held while a step runs.
  io::SafetensorsFile last = io::load_safetensors(small.run_dir + "/last.safetensors");
  double weight_mb = 0;
  for (const auto& [k, v] : last.tensors)
    if (k.rfind("model.", 0) == 0) weight_mb += double(v.numel() * int64_t(dtype_size(v.dtype()))) / double(1 << 20);
  EXPECT_GE(small.peak_memory_mb, 2 * weight_mb);
  // 32 times the batch: the activations of a step at batch 256 (784 inputs each, 0.77 MiB for the
  // input alone) outweigh those at batch 8.
  EXPECT_GT(large.peak_memory_mb, small.peak_memory_mb + 0.5);
  // The run's figure is its largest epoch's, in metrics.csv's last column.
  double most = 0;
  for (const std::string& row : lines_of(read_text(large.run_dir + "/metrics.csv"))) {
    if (row.rfind("epoch", 0) == 0) continue;
    most = std::max(most, std::stod(split(row, ',').back()));
  }
  EXPECT_NEAR(most, large.peak_memory_mb, 1e-3 * most);
  EXPECT_NE(read_text(large.run_dir + "/report.html").find("peak memory in training (MiB)"), std::string::npos);
}

TEST(TrainerResume, MoreEpochsAfterAFinishedScheduleFollowTheNewCurve) {
  TempDir dir("resume_longer");
  auto lr_of_epoch = [](const std::string& run, size_t epoch) {
    return std::stod(split(lines_of(read_text(run + "/metrics.csv")).at(epoch), ',').at(5));
  };
  TrainConfig fresh = small_config(dir.file("fresh"));
  fresh.schedule = "cosine";
  fresh.epochs = 4;
  Trainer(fresh).fit();
  TrainConfig c = fresh;
  c.out = dir.file("short");
  c.epochs = 2;
  Trainer(c).fit();
  Trainer::resume(c.out, 4);
  EXPECT_GT(lr_of_epoch(c.out, 3), 0.0);
  EXPECT_DOUBLE_EQ(lr_of_epoch(c.out, 3), lr_of_epoch(fresh.out, 3));
  EXPECT_DOUBLE_EQ(lr_of_epoch(c.out, 4), lr_of_epoch(fresh.out, 4));
}

// Runs `f` at the end of epoch `epoch` (after best.safetensors, before last.safetensors).
class AtEpochEnd : public train::Callback {
 public:
  AtEpochEnd(int64_t epoch, std::function<void(Trainer&)> f) : epoch_(epoch), f_(std::move(f)) {}
  void on_epoch_end(Trainer& t, const EpochRecord& r) override {
    if (r.epoch == epoch_) f_(t);
  }

 private:
  int64_t epoch_;
  std::function<void(Trainer&)> f_;
};

// Stopped between the two saves of an epoch (best.safetensors written, last.safetensors not
// yet): resume retrains that epoch and ends as the uninterrupted run does.

TEST(TrainerResume, RunStoppedBetweenBestAndLastSavesResumes) {
  TempDir dir("resume_between_saves");
  TrainConfig c = small_config(dir.file("stopped"));
  c.epochs = 4;
  c.train_limit = 1000;  // 100 validation images: enough for the accuracy to move
  c.lr = 0.01;
  TrainConfig whole = c;
  whole.out = dir.file("whole");
  train::RunResult want = Trainer(whole).fit();
  // Stop at the first epoch after the first that improved the validation accuracy (so it saved
  // best.safetensors), as the uninterrupted run shows.
  const auto rows = lines_of(read_text(whole.out + "/metrics.csv"));
  int64_t stop = 0;
  double best = std::stod(split(rows.at(1), ',').at(4));
  for (size_t e = 2; e < rows.size() && stop == 0; ++e) {
    const double acc = std::stod(split(rows[e], ',').at(4));
    if (acc > best) stop = int64_t(e);
    best = std::max(best, acc);
  }
  ASSERT_GT(stop, 0) << "no epoch after the first improved the validation accuracy";
  Trainer t(c);
  t.add_callback(std::make_shared<AtEpochEnd>(stop, [](Trainer&) { throw std::runtime_error("stopped"); }));
  EXPECT_THROW(t.fit(), std::runtime_error);
  const auto epoch_of = [&](const std::string& file) {
    return std::stoll(io::load_safetensors(c.out + "/" + file).metadata.at("epoch"));
  };
  ASSERT_EQ(epoch_of("last.safetensors"), stop - 1);
  ASSERT_EQ(epoch_of("best.safetensors"), stop);
  train::RunResult got = Trainer::resume(c.out);
  EXPECT_EQ(got.best_epoch, want.best_epoch);
  EXPECT_EQ(got.test.accuracy, want.test.accuracy);
  EXPECT_EQ(metrics_rows_without_seconds(c.out + "/metrics.csv"), metrics_rows_without_seconds(whole.out + "/metrics.csv"));
}

TEST(TrainerResume, ErrorsNameTheFolder) {
  TempDir dir("resume_err");
  try {
    Trainer::resume(dir.str());
    ADD_FAILURE() << "resume of an empty folder did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no config.json"), std::string::npos) << e.what();
  }
  // A run whose config.json holds a setting this version refuses (older versions wrote some):
  // the error names the file and the field.
  TrainConfig c = small_config(dir.file("run"));
  c.epochs = 1;
  Trainer(c).fit();
  const std::string cfg = c.out + "/config.json";
  std::string text = read_text(cfg);
  const std::string key = "\"clip_grad_norm\": 0";
  ASSERT_NE(text.find(key), std::string::npos) << text;
  text.replace(text.find(key), key.size(), "\"clip_grad_norm\": -1");
  write_text(cfg, text);
  expect_error_containing([&] { Trainer::resume(c.out, 2); }, cfg + ": [train] clip_grad_norm must be");
}

// A run resumes as it was trained: the model from the spec recorded in last.safetensors (the
// spec file may be gone or edited), and an edited seed or data selection is refused (it would
// move training images into validation mid-run). Found by helper-36.
TEST(TrainerResume, ContinuesFromTheRecordedSpecAndDataSettings) {
  TempDir dir("resume_recorded");
  TrainConfig c = small_config(dir.file("run"));
  c.model = tiny_spec_file(dir);
  c.epochs = 2;
  {
    Trainer t(c);
    t.add_callback(std::make_shared<InterruptAt>(2));
    EXPECT_THROW(t.fit(), Interrupted);
  }
  const std::string cfg = c.out + "/config.json";
  const std::string original = read_text(cfg);
  // The seed edited: refused, naming both values.
  std::string text = original;
  const std::string key = "\"seed\": 3";
  ASSERT_NE(text.find(key), std::string::npos) << text;
  text.replace(text.find(key), key.size(), "\"seed\": 4");
  write_text(cfg, text);
  expect_error_containing([&] { Trainer::resume(c.out); }, "'seed' is 4, but the run was trained with 3");
  write_text(cfg, original);
  // The spec file replaced by another architecture: the recorded one is used.
  write_text(c.model, R"({"name": "other", "input_shape": [1, 28, 28], "num_classes": 10,
    "layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 7},
               {"type": "ReLU"}, {"type": "Linear", "in_features": 7, "out_features": 10}]})");
  train::RunResult r = Trainer::resume(c.out);
  EXPECT_EQ(r.epochs_run, 2);
  EXPECT_EQ(count_prefixed(io::load_safetensors(c.out + "/last.safetensors").tensors, "model."), 2u);
}

namespace {
// Rewrites a safetensors file with `edit` applied to its tensors and metadata.
void edit_checkpoint(const std::string& path, const std::function<void(io::SafetensorsFile&)>& edit) {
  io::SafetensorsFile f = io::load_safetensors(path);
  edit(f);
  io::save_safetensors(f.tensors, path, f.metadata);
}
std::function<void(io::SafetensorsFile&)> set_meta(const std::string& key, const std::string& value) {
  return [=](io::SafetensorsFile& f) { f.metadata[key] = value; };
}
}  // namespace

// Every piece of a run folder that resume reads is checked, and a bad one named with its file
// and key (a bare "stoll" before; some were accepted: epoch 0, params past the model's, ...).
TEST(TrainerResume, CorruptRunFilesAreRefusedNamingTheFileAndKey) {
  TempDir dir("resume_corrupt");
  TrainConfig c = small_config(dir.file("base"));
  c.epochs = 2;
  c.patience = 5;  // writes early.* too
  Trainer(c).fit();
  struct Case {
    std::string name, file;  // file in the run folder to edit
    std::function<void(io::SafetensorsFile&)> edit;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"epoch0", "last", set_meta("epoch", "0"), {"last.safetensors", "'epoch' is 0, expected at least 1"}},
      {"epoch1x", "last", set_meta("epoch", "1x"), {"last.safetensors", "'epoch' must be an integer, got \"1x\""}},
      {"best_epoch_past", "last", set_meta("best_epoch", "3"), {"last.safetensors", "'best_epoch' is 3, expected 1 to 2"}},
      {"best_epoch_text", "last", set_meta("best_epoch", "one"), {"last.safetensors", "'best_epoch' must be an integer"}},
      {"rng_seed", "last", set_meta("rng.seed", "-1"), {"last.safetensors", "'rng.seed'"}},
      {"rng_offset", "last", set_meta("rng.offset", "12z"), {"last.safetensors", "'rng.offset'"}},
      {"early_wait", "last", set_meta("early.wait", "x"), {"last.safetensors", "'early.wait'"}},
      {"early_best_epoch", "last", set_meta("early.best_epoch", "9"), {"last.safetensors", "'early.best_epoch' is 9"}},
      {"best_val", "last", set_meta("best_val", "high"), {"last.safetensors", "'best_val' must hold numbers"}},
      {"history_key", "last", set_meta("history", R"([{"epoch": 1}, {"epoch": 2}])"),
       {"last.safetensors", "'history'", "train_loss"}},
      {"history_json", "last", set_meta("history", "[{"), {"last.safetensors", "'history'", "invalid JSON"}},
      {"params_past", "last", set_meta("optim.param_groups.0.params", "0,1,2,3,4,99"),
       {"last.safetensors", "params lists parameter 99 at position 5, expected 5"}},
      {"state_past", "last", set_meta("optim.state.99.step", "1"),
       {"last.safetensors", "entry state.99.step is for parameter 99, but the optimizer has 6 parameters"}},
      {"best_other_epoch", "best", set_meta("epoch", "7"), {"best.safetensors", "holds epoch 7"}},
      {"best_other_model", "best",
       [](io::SafetensorsFile& f) { f.tensors.erase("model.7.bias"); },
       {"best.safetensors", "weights do not match the model", "model"}},
      {"last_other_model", "last",
       [](io::SafetensorsFile& f) { f.tensors["model.9.weight"] = zeros({2}); },
       {"last.safetensors", "weights do not match the model", "9.weight"}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const std::string run = dir.file(k.name);
    fs::copy(c.out, run);
    // The best epoch of the base run, so that "best_other_epoch" differs from it.
    edit_checkpoint(run + "/" + k.file + ".safetensors", k.edit);
    try {
      Trainer::resume(run, 3);
      ADD_FAILURE() << "resume accepted " << k.name;
    } catch (const Error& e) {
      for (const auto& p : k.parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
  // best.safetensors gone: no summary naming a checkpoint that is not there.
  const std::string no_best = dir.file("no_best");
  fs::copy(c.out, no_best);
  fs::remove(no_best + "/best.safetensors");
  expect_error_containing([&] { Trainer::resume(no_best, 3); }, no_best + "/best.safetensors is missing");
  // config.json unreadable: the file is named.
  for (const std::string& text : {std::string(""), std::string("garbage"), std::string("[1, 2]")}) {
    const std::string run = dir.file("cfg" + std::to_string(text.size()));
    fs::copy(c.out, run);
    write_text(run + "/config.json", text);
    expect_error_containing([&] { Trainer::resume(run, 3); }, run + "/config.json");
  }
  const std::string cfg_dir = dir.file("cfgdir");
  fs::copy(c.out, cfg_dir);
  fs::remove(cfg_dir + "/config.json");
  fs::create_directory(cfg_dir + "/config.json");
  expect_error_containing([&] { Trainer::resume(cfg_dir, 3); }, "config.json: is a directory");
  // The untouched copy still resumes.
  const std::string good = dir.file("good");
  fs::copy(c.out, good);
  EXPECT_EQ(Trainer::resume(good, 3).epochs_run, 3);
}

// load_trained_model (eval, predict, summary, finetune) checks the metadata it uses.
TEST(TrainedModel, CheckpointMetadataIsCheckedNamingTheFileAndKey) {
  TempDir dir("ckpt_meta");
  TrainConfig c = small_config(dir.file("base"));
  c.epochs = 1;
  Trainer(c).fit();
  const std::string best = c.out + "/best.safetensors";
  struct Case {
    std::string name;
    std::function<void(io::SafetensorsFile&)> edit;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"std0", set_meta("norm.std", "0"), {"'norm.std' holds 0, expected finite numbers > 0"}},
      {"std_neg", set_meta("norm.std", "-0.5"), {"'norm.std' holds -0.5"}},
      {"mean_nan", set_meta("norm.mean", "nan"), {"'norm.mean' holds nan, expected finite numbers"}},
      {"std_inf", set_meta("norm.std", "inf"), {"'norm.std' holds inf"}},
      {"std_two", set_meta("norm.std", "0.3,0.3"), {"'norm.std' has 2 values, the model's input has 1 channel"}},
      {"std_text", set_meta("norm.std", "abc"), {"[checkpoint]", "'norm.std' must hold numbers, got \"abc\""}},
      {"config_json", set_meta("config", "{oops"), {"'config'", "invalid JSON"}},
      {"config_array", set_meta("config", "[1]"), {"'config' must be a JSON object"}},
      {"classes_text", set_meta("config", R"({"classes": ["a", "b"]})"), {"'classes' must hold integers"}},
      {"classes_count", set_meta("config", R"({"classes": [0, 1, 2]})"), {"lists 3 classes", "has 10 outputs"}},
      {"other_model", [](io::SafetensorsFile& f) { f.tensors.erase("model.1.weight"); },
       {"weights do not match the model", "1.weight"}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const std::string path = dir.file(k.name + ".safetensors");
    fs::copy_file(best, path);
    edit_checkpoint(path, k.edit);
    try {
      train::load_trained_model(path);
      ADD_FAILURE() << "accepted " << k.name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      for (const auto& p : k.parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(train::load_trained_model(best).std.size(), 1u);
}

// The spec's input_shape must be the images': other sizes used to train silently (a Flatten
// saw the same pixel count) or fail deep inside a Linear layer. A flat input_shape of as many
// pixels ([784]) still trains: specs written that way trained before the check existed.
TEST(Trainer, SpecInputShapeMustMatchTheImages) {
  TempDir dir("spec_shape");
  auto spec = [&](const std::string& name, const std::string& shape, int64_t in) {
    const std::string path = dir.file(name + ".json");
    write_text(path, R"({"name": ")" + name + R"(", "input_shape": )" + shape +
                         R"(, "num_classes": 10, "layers": [{"type": "Flatten"},
                         {"type": "Linear", "in_features": )" + std::to_string(in) + R"(, "out_features": 10}]})");
    return path;
  };
  for (const auto& [file, shape] : {std::pair{spec("s32", "[1, 32, 32]", 1024), std::string("[1, 32, 32]")},
                                    std::pair{spec("wide", "[1, 14, 56]", 784), std::string("[1, 14, 56]")},
                                    std::pair{spec("flat10", "[10]", 10), std::string("[10]")}}) {
    TrainConfig c = small_config(dir.file("run"));
    c.model = file;
    Trainer t(c);
    expect_error_containing([&] { t.fit(); }, "input_shape " + shape + " vs images [1, 28, 28] of " + c.data);
    EXPECT_FALSE(fs::exists(c.out)) << "nothing is written before the check";
  }
  TrainConfig flat = small_config(dir.file("flat_run"));
  flat.model = spec("flat", "[784]", 784);
  flat.epochs = 1;
  EXPECT_EQ(Trainer(flat).fit().epochs_run, 1);
}

// Records the flattened weights at each epoch's end.
class WeightsPerEpoch : public train::Callback {
 public:
  std::vector<std::vector<double>> weights;
  void on_epoch_end(Trainer& t, const EpochRecord&) override {
    std::vector<double> w;
    for (const auto& [k, p] : t.model().state_dict())
      for (double x : p.to_double_vector()) w.push_back(x);
    weights.push_back(std::move(w));
  }
};

// The optimizer's step count for the first parameter, from the run's last checkpoint.
int64_t optimizer_steps(const std::string& run_dir) {
  return std::stoll(io::load_safetensors(run_dir + "/last.safetensors").metadata.at("optim.state.0.step"));
}

// A training split smaller than one batch still trains: one short batch per epoch, not an
// epoch of no steps (36 images against the default batch of 64 used to give train loss 0 and
// untouched weights).
TEST(Trainer, TrainsOnASplitSmallerThanOneBatch) {
  TempDir dir("tiny_split");
  TrainConfig c = small_config(dir.file("run"));
  c.train_limit = 40;  // 36 for training, 4 for validation
  c.epochs = 3;
  c.batch_size = 64;
  Trainer t(c);
  auto seen = std::make_shared<WeightsPerEpoch>();
  t.add_callback(seen);
  train::RunResult r = t.fit();
  EXPECT_EQ(r.epochs_run, 3);
  auto rows = lines_of(read_text(c.out + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 4u);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GT(std::stod(split(rows[i], ',')[1]), 0.0) << rows[i];
  ASSERT_EQ(seen->weights.size(), 3u);
  EXPECT_NE(seen->weights[0], seen->weights[2]) << "no training step ran after the first epoch";
  EXPECT_EQ(optimizer_steps(c.out), 3) << "one short batch per epoch";
}

// A batch size past any data set (INT64_MAX) is one batch of the whole split: the loader's
// batch count used to overflow to 0, and the run reported loss 0 after no step at all.
TEST(Trainer, HugeBatchSizeIsOneBatchOfTheWholeSplit) {
  TempDir dir("huge_batch");
  TrainConfig c = small_config(dir.file("run"));
  c.train_limit = 40;
  c.epochs = 2;
  c.batch_size = std::numeric_limits<int64_t>::max();
  Trainer(c).fit();
  EXPECT_EQ(optimizer_steps(c.out), 2) << "one step per epoch";
  auto rows = lines_of(read_text(c.out + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GT(std::stod(split(rows[i], ',')[1]), 0.0) << rows[i];
}

// From one full batch up, the short last batch is dropped as before (every step sees
// batch_size examples): 99 training images at batch 64 make one step per epoch, not two.
TEST(Trainer, DropsTheShortLastBatchOnceASplitHoldsAFullBatch) {
  TempDir dir("short_batch");
  TrainConfig c = small_config(dir.file("run"));
  c.optimizer = "adam";
  c.train_limit = 110;  // 99 for training, 11 for validation
  c.epochs = 2;
  c.batch_size = 64;
  Trainer(c).fit();
  EXPECT_EQ(optimizer_steps(c.out), 2);
}

// Trainer::model() before fit() has built the model is a clear error, not a null dereference.
TEST(Trainer, ModelBeforeFitIsAnError) {
  TempDir dir("model_before_fit");
  Trainer t(small_config(dir.file("run")));
  expect_error_containing([&] { t.model(); }, "fit()");
}

// Too few images for a validation split: a clear error before training, not epochs scored 0.
TEST(Trainer, EmptyValidationSplitIsAnError) {
  TempDir dir("empty_val");
  TrainConfig c = small_config(dir.file("run"));
  c.train_limit = 4;  // 10% of 4 rounds to no validation image
  Trainer t(c);
  expect_error_containing([&] { t.fit(); }, "0 for validation");
  expect_error_containing([&] { t.fit(); }, "val_fraction 0.1");
}

// Bad settings are refused by the Trainer itself (library users do not pass through the CLI's
// checks), each naming the field and the value.
TEST(Trainer, RejectsBadSettingsNamingTheField) {
  TempDir dir("bad_settings");
  struct Case {
    std::function<void(TrainConfig&)> set;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {[](TrainConfig& c) { c.lr = std::nan(""); }, "lr must be a finite number >= 0, got nan"},
      {[](TrainConfig& c) { c.clip_grad_norm = -1; }, "clip_grad_norm must be a finite number >= 0, got -1"},
      {[](TrainConfig& c) { c.momentum = -0.1; }, "momentum must be a finite number >= 0"},
      {[](TrainConfig& c) { c.per_class_limit = -3; }, "per_class_limit must be >= 0"},
      {[](TrainConfig& c) { c.epochs = -1; }, "epochs must be >= 0"},
      {[](TrainConfig& c) { c.warmup_epochs = -2; }, "warmup_epochs must be >= 0 (0: the default or off), got -2"},
      {[](TrainConfig& c) { c.patience = -1; }, "patience must be >= 0 (0: the default or off), got -1"},
      {[](TrainConfig& c) { c.train_limit = -5; }, "train_limit must be >= 0 (0: the default or off), got -5"},
      {[](TrainConfig& c) { c.classes = {1, 4, 1}; }, "label 1 is listed twice"},
      {[](TrainConfig& c) { c.classes = {2, -1}; }, "labels are >= 0, got -1"},
      {[](TrainConfig& c) { c.classes = {3}; }, "classes: a classifier needs at least 2 classes, got only label 3"},
      {[](TrainConfig& c) { c.label_smoothing = 1.5; }, "label_smoothing must be in [0, 1], got 1.5"},
      {[](TrainConfig& c) { c.mixup = -0.2; }, "mixup must be a finite number >= 0, got -0.2"},
      {[](TrainConfig& c) { c.accumulate = 0; }, "accumulate must be >= 1 (batches per optimizer step), got 0"},
      {[](TrainConfig& c) { c.amp = "fp8"; }, "amp must be off, bf16 or f16, got 'fp8'"},
      {[](TrainConfig& c) { c.cutmix = NAN; }, "cutmix must be a finite number >= 0, got nan"},
      {[](TrainConfig& c) { c.ema_decay = 1.0; }, "ema_decay must be in [0, 1) (0: off), got 1"},
      {[](TrainConfig& c) { c.weight_decay = INFINITY; }, "weight_decay must be a finite number >= 0, got inf"},
      {[](TrainConfig& c) { c.dropout = -0.5; }, "dropout must be in [0, 1) (or -1: keep the model's own), got -0.5"},
  };
  for (const Case& k : cases) {
    TrainConfig c = small_config(dir.file("run"));
    k.set(c);
    expect_error_containing([&] { Trainer t(c); }, k.expect);
  }
  // A class with no images in the training split is found once the data is read and split: one
  // absent from the files, and one that --per-class and the validation split leave out.
  TrainConfig c = small_config(dir.file("run"));
  c.classes = {0, 12};
  Trainer t(c);
  expect_error_containing([&] { t.fit(); }, "label 12 has no images in the training split");
  TrainConfig c2 = small_config(dir.file("run2"));
  c2.classes = {0, 1};
  c2.per_class_limit = 1;
  c2.train_limit = 0;
  c2.val_fraction = 0.5;  // 2 images: one for training, one for validation
  Trainer t2(c2);
  expect_error_containing([&] { t2.fit(); }, "has no images in the training split (1 images");
  // One training image and a model with batch norm: the split is named as the cause.
  TrainConfig c3 = small_config(dir.file("run3"));
  c3.model = "cnn-bn-aug";
  c3.train_limit = 2;
  c3.val_fraction = 0.5;
  Trainer t3(c3);
  expect_error_containing([&] { t3.fit(); }, "the training split has 1 image, and the model's batch norm");
  // A model with fewer classes than the data's labels is named at setup (with --per-class it
  // used to count past the end of a table: an ASan heap overflow).
  for (int64_t per_class : {0, 30}) {
    TrainConfig c4 = small_config(dir.file("run4"));
    const std::string spec = dir.file("five.json");
    write_text(spec, R"({"name": "five", "input_shape": [1, 28, 28], "num_classes": 5,
      "layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 5}]})");
    c4.model = spec;
    c4.per_class_limit = per_class;
    Trainer t4(c4);
    expect_error_containing([&] { t4.fit(); }, "go up to 9, but the model has 5 classes");
  }
}

// ---- early stopping -------------------------------------------------------------------------

// The callback on its own, with synthetic epoch records on a trainer's (tiny) model.
TEST(EarlyStopping, StopsAfterPatienceAndRestoresTheBestEpochsWeights) {
  TempDir dir("early_unit");
  TrainConfig c = small_config(dir.file("run"));
  c.model = tiny_spec_file(dir);
  c.epochs = 1;
  c.train_limit = 100;
  Trainer t(c);
  t.fit();
  nn::Sequential& m = t.model();
  ASSERT_EQ(m.state_dict().size(), 2u);

  EarlyStopping es(2);
  auto epoch = [&](int64_t e, double acc, double weights) {
    set_all_weights(m, weights);
    EpochRecord r;
    r.epoch = e;
    r.val_accuracy = acc;
    r.val_loss = 1.0 - acc;
    es.on_epoch_end(t, r);
  };
  epoch(1, 0.50, 1.0);
  EXPECT_FALSE(es.should_stop());
  epoch(2, 0.70, 2.0);  // best
  EXPECT_EQ(es.best_epoch(), 2);
  EXPECT_EQ(es.wait(), 0);
  epoch(3, 0.60, 3.0);
  EXPECT_EQ(es.wait(), 1);
  EXPECT_FALSE(es.should_stop());
  epoch(4, 0.70, 4.0);  // equal is not better
  EXPECT_EQ(es.wait(), 2);
  EXPECT_TRUE(es.should_stop());
  EXPECT_EQ(es.best_epoch(), 2);
  EXPECT_DOUBLE_EQ(es.best(), 0.70);
  ASSERT_TRUE(all_weights_equal(m, 4.0));
  es.on_train_end(t);
  EXPECT_TRUE(all_weights_equal(m, 2.0)) << "the best epoch's weights were not restored";
  // The saved copy is independent of the live parameters.
  set_all_weights(m, 5.0);
  es.on_train_end(t);
  EXPECT_TRUE(all_weights_equal(m, 2.0));
}

TEST(EarlyStopping, MinDeltaLossMonitoringAndNoRestore) {
  TempDir dir("early_unit2");
  TrainConfig c = small_config(dir.file("run"));
  c.model = tiny_spec_file(dir);
  c.epochs = 1;
  c.train_limit = 100;
  Trainer t(c);
  t.fit();
  nn::Sequential& m = t.model();
  auto rec = [](int64_t e, double acc, double loss) {
    EpochRecord r;
    r.epoch = e, r.val_accuracy = acc, r.val_loss = loss;
    return r;
  };

  EarlyStopping delta(1, 0.05);  // +0.02 is not an improvement
  delta.on_epoch_end(t, rec(1, 0.50, 1));
  EXPECT_FALSE(delta.should_stop());
  delta.on_epoch_end(t, rec(2, 0.52, 1));
  EXPECT_TRUE(delta.should_stop());
  EXPECT_EQ(delta.best_epoch(), 1);

  EarlyStopping loss(2, 0.0, /*monitor_accuracy=*/false, /*restore_best=*/false);
  set_all_weights(m, 1.0);
  loss.on_epoch_end(t, rec(1, 0.9, 0.8));
  set_all_weights(m, 2.0);
  loss.on_epoch_end(t, rec(2, 0.1, 0.5));  // lower loss is better, whatever the accuracy
  EXPECT_EQ(loss.best_epoch(), 2);
  loss.on_epoch_end(t, rec(3, 0.9, 0.6));
  EXPECT_FALSE(loss.should_stop());
  loss.on_epoch_end(t, rec(4, 0.9, 0.5));
  EXPECT_TRUE(loss.should_stop());
  set_all_weights(m, 7.0);
  loss.on_train_end(t);
  EXPECT_TRUE(all_weights_equal(m, 7.0)) << "restore_best=false must leave the weights alone";

  EXPECT_THROW(EarlyStopping(0), Error);
}


TEST(EarlyStopping, TrainerStopsAndEvaluatesTheBestEpoch) {
  TempDir dir("early_fit");
  TrainConfig c = small_config(dir.file("run"));
  c.train_limit = 0;
  c.epochs = 10;
  c.patience = 2;
  c.momentum = 0;
  c.lr = 0.1;
  c.schedule = "constant";
  Trainer t(c);
  // Zeroes the model at the end of epoch 2: with plain SGD (no momentum) a zero MLP cannot
  // recover, so validation accuracy peaks at or before epoch 2 and then collapses.
  t.add_callback(std::make_shared<AtEpochEnd>(2, [](Trainer& tr) { set_all_weights(tr.model(), 0.0); }));
  train::RunResult r = t.fit();
  EXPECT_LE(r.best_epoch, 2);
  EXPECT_EQ(r.epochs_run, r.best_epoch + 2) << "should stop after 2 epochs without improvement";
  EXPECT_GT(r.best_val_accuracy, 0.5);
  EXPECT_GT(r.test.accuracy, 0.5) << "the test metrics must come from the restored best weights";

  auto rows = lines_of(read_text(c.out + "/metrics.csv"));
  ASSERT_EQ(rows.size(), size_t(r.epochs_run) + 1);
  for (int i = 3; i <= int(r.epochs_run); ++i) EXPECT_LT(std::stod(split(rows[size_t(i)], ',')[4]), 0.3) << rows[size_t(i)];

  // The live model holds the best epoch's weights (as in best.safetensors), not the last's.
  io::SafetensorsFile best = io::load_safetensors(c.out + "/best.safetensors");
  io::SafetensorsFile last = io::load_safetensors(c.out + "/last.safetensors");
  EXPECT_EQ(best.metadata.at("epoch"), std::to_string(r.best_epoch));
  io::TensorMap live;
  for (const auto& [k, v] : t.model().state_dict()) live["model." + k] = v;
  EXPECT_EQ(differing_tensors(best.tensors, live), std::vector<std::string>{});
  EXPECT_EQ(differing_tensors(last.tensors, live, "model.").size(), 6u);
  EXPECT_EQ(last.metadata.at("early.wait"), "2");
}

// ---- config ---------------------------------------------------------------------------------

TEST(TrainConfig, JsonRoundTripAndStrictParsing) {
  TrainConfig c;
  c.model = "spec.json";
  c.epochs = 7;
  c.lr = 0.25;
  c.seed = 42;
  c.threads = 3;
  c.freeze_backbone = true;
  c.classes = {3, 1};
  c.augment = "strong";
  c.mixup = 0.3;
  c.cutmix = 1.5;
  c.accumulate = 4;
  c.balance_classes = true;
  TrainConfig d = TrainConfig::from_json(c.to_json());
  EXPECT_EQ(d.to_json().dump(), c.to_json().dump());
  EXPECT_EQ(d.classes, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(d.seed, 42u);
  EXPECT_TRUE(d.freeze_backbone);

  auto err = [](const std::string& json) {
    try {
      TrainConfig::from_json(io::Json::parse(json));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(err(R"({"epoch": 3})").find("unknown key 'epoch'"), std::string::npos);
  EXPECT_NE(err(R"({"epochs": 2.5})").find("'epochs' must be an integer"), std::string::npos);
  EXPECT_NE(err(R"({"lr": "0.1"})").find("'lr' must be a number"), std::string::npos);
  EXPECT_NE(err(R"({"classes": [1, "a"]})").find("'classes'"), std::string::npos);
  EXPECT_NE(err(R"({"freeze_backbone": 1})").find("freeze_backbone"), std::string::npos);
  EXPECT_NE(err("[1]").find("expected a JSON object"), std::string::npos);
}

TEST(TrainConfig, TrainerRejectsBadSettings) {
  TrainConfig c;
  c.batch_size = 0;
  EXPECT_THROW(Trainer{c}, Error);
  c = TrainConfig();
  c.val_fraction = 1.0;
  EXPECT_THROW(Trainer{c}, Error);
  c = TrainConfig();
  c.threads = 0;
  EXPECT_THROW(Trainer{c}, Error);
  c = TrainConfig();
  c.model = "cnn";
  c.seed = 5;
  EXPECT_EQ(Trainer(c).config().out, "runs/cnn-seed5");
}

// adamax/rprop/asgd/adafactor and the polynomial/cyclic schedules by name: the lr column of metrics.csv is the
// schedule's value at each epoch (polynomial over 4 epochs: 1, 3/4, 1/2, 1/4 of the lr; cyclic:
// triangle waves between lr/10 and lr with half-cycles of epochs/4 = 1 epoch, the second cycle at
// half amplitude). LBFGS, which needs a closure, is refused with the reason.
TEST(TrainConfig, NewOptimizersAndSchedulesByName) {
  TempDir dir("new_optim_names");
  auto lrs_of = [](const std::string& run) {
    std::vector<double> out;
    auto lines = lines_of(read_text(run + "/metrics.csv"));
    for (size_t i = 1; i < lines.size(); ++i) out.push_back(std::stod(split(lines[i], ',').at(5)));
    return out;
  };
  struct Case {
    const char* optimizer;
    const char* schedule;
    std::vector<double> lrs;
  };
  for (const Case& k : {Case{"rprop", "polynomial", {0.01, 0.0075, 0.005, 0.0025}},
                        Case{"adamax", "cyclic", {2e-4, 2e-3, 2e-4, 1.1e-3}},
                        Case{"asgd", "step", {1e-2, 1e-3, 1e-4, 1e-5}},
                        Case{"adafactor", "exponential", {1e-2, 9e-3, 8.1e-3, 7.29e-3}}}) {
    SCOPED_TRACE(std::string(k.optimizer) + " " + k.schedule);
    TrainConfig c = small_config(dir.file(std::string(k.optimizer) + "_" + k.schedule));
    c.optimizer = k.optimizer;
    c.schedule = k.schedule;
    train::RunResult r = Trainer(c).fit();
    EXPECT_EQ(r.epochs_run, 4);
    auto lrs = lrs_of(c.out);
    ASSERT_EQ(lrs.size(), k.lrs.size());
    for (size_t e = 0; e < lrs.size(); ++e) EXPECT_NEAR(lrs[e], k.lrs[e], 1e-9 * k.lrs[e]) << "epoch " << e + 1;
  }
  TrainConfig c = small_config(dir.file("lbfgs"));
  c.optimizer = "lbfgs";
  expect_error_containing([&] { Trainer(c).fit(); }, "optimizer 'lbfgs' is not available in the trainer");
  c.optimizer = "rprop";
  c.weight_decay = 1e-4;
  expect_error_containing([&] { Trainer(c).fit(); }, "optimizer 'rprop' has no weight decay");
  c.weight_decay = 0;
  c.schedule = "cyclic";
  c.warmup_epochs = 1;
  expect_error_containing([&] { Trainer(c).fit(); }, "schedule 'cyclic' starts low");
}

TEST(TrainConfig, UnknownOptimizerScheduleAugmentFailBeforeWritingTheRunFolder) {
  TempDir dir("badcfg");
  for (auto set : std::vector<void (*)(TrainConfig&)>{[](TrainConfig& c) { c.optimizer = "sgdd"; },
                                                       [](TrainConfig& c) { c.schedule = "linear"; },
                                                       [](TrainConfig& c) { c.augment = "heavy"; },
                                                       [](TrainConfig& c) { c.data = "/nonexistent/nabla"; }}) {
    TrainConfig c = small_config(dir.file("run"));
    set(c);
    EXPECT_THROW(Trainer(c).fit(), Error);
    EXPECT_FALSE(fs::exists(c.out)) << "a failed setup must not create the run folder";
  }
}
