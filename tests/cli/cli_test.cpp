// The `nabla` command end to end, run as a separate process on a small synthetic data set:
// train / resume / eval / predict / summary / finetune, usage errors (exit 2), bad files
// (exit 1 with a one-line reason) and the guarantee that a failing command leaves existing
// outputs alone.
#include <gtest/gtest.h>

#include <map>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>

#include "nabla/device.h"
#include "nabla/io/json.h"
#include "nabla/io/safetensors.h"
#include "train/train_test_util.h"

#ifndef NABLA_CLI_PATH
#error "NABLA_CLI_PATH must name the built nabla binary (tests/CMakeLists.txt)"
#endif

using namespace nabla;
using namespace train_test;
using io::Json;

namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Cli {
  int code = -1;
  std::string out, err, cmd;
  std::vector<std::string> out_lines() const { return lines_of(out); }
  std::vector<std::string> err_lines() const { return lines_of(err); }
  /// The last stdout line as JSON (every command ends with one).
  Json json() const {
    auto l = out_lines();
    if (l.empty()) {
      ADD_FAILURE() << "no stdout from: " << cmd;
      return Json();
    }
    try {
      return Json::parse(l.back());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "last stdout line is not JSON (" << e.what() << "): " << l.back();
      return Json();
    }
  }
  std::string describe() const { return cmd + "\nexit " + std::to_string(code) + "\nstdout:\n" + out + "\nstderr:\n" + err; }
};

Cli nabla_cli(const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  TempDir io("cli_io" + std::to_string(counter++));
  Cli r;
  r.cmd = quote(NABLA_CLI_PATH);
  for (const auto& a : args) {
    r.cmd += ' ';
    r.cmd += quote(a);
  }
  std::string full = r.cmd + " > " + quote(io.file("out")) + " 2> " + quote(io.file("err")) + " < /dev/null";
  int status = std::system(full.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = read_text(io.file("out"));
  r.err = read_text(io.file("err"));
  return r;
}

const std::string& data_dir() { return synthetic_data_dir(); }

std::vector<std::string> train_args(const std::string& out, int64_t epochs, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"train", "--model", "mlp", "--epochs", std::to_string(epochs), "--data", data_dir(),
                                "--out", out, "--threads", "1", "--no-progress"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

/// The run every read-only test shares: `nabla train --model mlp --epochs 3` (once per process).
struct BaseRun {
  TempDir dir{"base"};
  std::string run;
  Cli cli;
  BaseRun() : run(dir.file("run")), cli(nabla_cli(train_args(run, 3))) {}
};
const BaseRun& base() {
  static BaseRun b;
  return b;
}

void expect_failure(const Cli& r, int code, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.code, code) << r.describe();
  auto errs = r.err_lines();
  ASSERT_EQ(errs.size(), 1u) << "expected a one-line reason on stderr\n" << r.describe();
  for (const auto& p : parts) EXPECT_NE(errs[0].find(p), std::string::npos) << "missing \"" << p << "\"\n" << r.describe();
  Json j = r.json();
  ASSERT_TRUE(j.is_object()) << r.describe();
  ASSERT_NE(j.find("ok"), nullptr) << r.describe();
  EXPECT_FALSE(j.at("ok").as_bool());
  EXPECT_FALSE(j.at("error").as_string().empty());
  EXPECT_EQ(r.out_lines().size(), 1u) << r.describe();
}

struct FileState {
  std::string bytes;
  timespec mtime{};
};
std::map<std::string, FileState> snapshot(const std::string& dir) {
  std::map<std::string, FileState> m;
  for (const auto& e : fs::directory_iterator(dir)) {
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    m[e.path().filename().string()] = {read_text(e.path().string()), st.st_mtim};
  }
  return m;
}
void expect_unchanged(const std::map<std::string, FileState>& before, const std::string& dir, const std::string& what) {
  auto after = snapshot(dir);
  ASSERT_EQ(after.size(), before.size()) << what << ": files were added or removed in " << dir;
  for (const auto& [name, s] : before) {
    ASSERT_TRUE(after.count(name)) << what << ": " << name << " removed";
    EXPECT_TRUE(after.at(name).bytes == s.bytes) << what << ": " << name << " changed";
    EXPECT_EQ(after.at(name).mtime.tv_sec, s.mtime.tv_sec) << what << ": " << name << " rewritten";
    EXPECT_EQ(after.at(name).mtime.tv_nsec, s.mtime.tv_nsec) << what << ": " << name << " rewritten";
  }
}

std::vector<uint8_t> test_labels() {
  std::string b = read_text(data_dir() + "/t10k-labels-idx1-ubyte");
  return std::vector<uint8_t>(b.begin() + 8, b.end());
}

}  // namespace

// ---- train ------------------------------------------------------------------------------------

TEST(CliTrain, ShortRunLearnsTheSyntheticClassesAndWritesTheRunFolder) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  Json j = b.cli.json();
  EXPECT_EQ(j.at("command").as_string(), "train");
  EXPECT_EQ(j.at("epochs").as_int(), 3);
  EXPECT_GT(j.at("test_accuracy").as_double(), 0.6) << "chance is 0.1";
  EXPECT_LE(j.at("test_accuracy").as_double(), 1.0);
  EXPECT_GE(j.at("test_top5_accuracy").as_double(), j.at("test_accuracy").as_double());
  EXPECT_GE(j.at("best_epoch").as_int(), 1);
  EXPECT_LE(j.at("best_epoch").as_int(), 3);
  EXPECT_EQ(j.at("per_class_accuracy").size(), 10u);
  EXPECT_EQ(j.at("checkpoint").as_string(), b.run + "/best.safetensors");
  EXPECT_EQ(j.at("run_dir").as_string(), b.run);
  EXPECT_EQ(b.cli.out_lines().size(), 1u) << "stdout holds only the JSON line";
  // One log line per epoch on stderr, no progress bar (--no-progress, and not a terminal).
  EXPECT_EQ(count_of(b.cli.err, "epoch "), 3u) << b.cli.err;
  EXPECT_EQ(count_of(b.cli.err, "\r"), 0u);

  for (const char* f : {"config.json", "metrics.csv", "best.safetensors", "last.safetensors", "report.html"})
    EXPECT_TRUE(fs::exists(b.run + "/" + f)) << f;
  auto rows = lines_of(read_text(b.run + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,peak_memory_mb");
  for (int e = 1; e <= 3; ++e) {
    auto cols = split(rows[size_t(e)], ',');
    ASSERT_EQ(cols.size(), 8u) << rows[size_t(e)];
    EXPECT_GT(std::stod(cols[7]), 0.0) << "peak memory: " << rows[size_t(e)];
    EXPECT_EQ(cols[0], std::to_string(e));
    for (size_t c = 1; c < cols.size(); ++c) EXPECT_TRUE(std::isfinite(std::stod(cols[c]))) << rows[size_t(e)];
  }
  EXPECT_GT(std::stod(split(rows[3], ',')[4]), 0.6) << "final validation accuracy";
  Json cfg = Json::parse(read_text(b.run + "/config.json"));
  EXPECT_EQ(cfg.at("model").as_string(), "mlp");
  EXPECT_EQ(cfg.at("epochs").as_int(), 3);
  EXPECT_EQ(cfg.at("threads").as_int(), 1);
  EXPECT_EQ(cfg.at("data").as_string(), data_dir());
  io::SafetensorsFile best = io::load_safetensors(b.run + "/best.safetensors");
  EXPECT_EQ(best.metadata.at("format"), "nabla-model");
  EXPECT_EQ(best.metadata.at("epoch"), std::to_string(j.at("best_epoch").as_int()));
  EXPECT_EQ(io::load_safetensors(b.run + "/last.safetensors").metadata.at("epoch"), "3");
}

// ---- resume -----------------------------------------------------------------------------------

TEST(CliResume, ExtendingARunEqualsTrainingItUninterrupted) {
  TempDir dir("resume");
  // A constant schedule: the run's length does not shape its learning rates, so 2 epochs
  // extended to 4 must equal 4 epochs in one go. The seed is above 2^63 - 1: the whole 64-bit
  // range is a seed (as for torch.manual_seed), and it must survive config.json to the resume.
  const std::vector<std::string> opts = {"--schedule", "constant", "--train-limit", "500", "--seed",
                                         "18446744073709551615"};
  const std::string a = dir.file("a"), b = dir.file("b");
  Cli ra = nabla_cli(train_args(a, 4, opts));
  ASSERT_EQ(ra.code, 0) << ra.describe();
  Cli rb = nabla_cli(train_args(b, 2, opts));
  ASSERT_EQ(rb.code, 0) << rb.describe();
  Cli rr = nabla_cli({"resume", b, "--epochs", "4"});
  ASSERT_EQ(rr.code, 0) << rr.describe();
  EXPECT_EQ(count_of(rr.err, "epoch "), 2u) << "resume trains epochs 3 and 4 only\n" << rr.err;
  Json ja = ra.json(), jr = rr.json();
  EXPECT_EQ(jr.at("command").as_string(), "resume");
  EXPECT_EQ(jr.at("epochs").as_int(), 4);
  EXPECT_EQ(jr.at("test_accuracy").as_double(), ja.at("test_accuracy").as_double());
  EXPECT_EQ(jr.at("test_loss").as_double(), ja.at("test_loss").as_double());
  EXPECT_EQ(jr.at("best_epoch").as_int(), ja.at("best_epoch").as_int());

  auto la = io::load_safetensors(a + "/last.safetensors"), lb = io::load_safetensors(b + "/last.safetensors");
  EXPECT_EQ(count_prefixed(la.tensors, "model."), 6u);
  EXPECT_EQ(differing_tensors(la.tensors, lb.tensors, "model."), std::vector<std::string>{});
  EXPECT_EQ(differing_tensors(la.tensors, lb.tensors), std::vector<std::string>{}) << "optimizer state";
  EXPECT_EQ(metrics_rows_without_seconds(b + "/metrics.csv"), metrics_rows_without_seconds(a + "/metrics.csv"));
  EXPECT_EQ(Json::parse(read_text(b + "/config.json")).at("epochs").as_int(), 4);
}

// --seed -1 is the same 64-bit seed as 2^64 - 1 (torch.manual_seed's convention), and the seed
// reaches the run: seed 0 trains other weights.
TEST(CliTrain, NegativeSeedIsItsTwosComplement) {
  TempDir dir("seed_bits");
  auto run = [&](const std::string& name, const std::string& seed) {
    Cli c = nabla_cli(train_args(dir.file(name), 1, {"--train-limit", "300", "--seed", seed}));
    EXPECT_EQ(c.code, 0) << c.describe();
    return io::load_safetensors(dir.file(name) + "/last.safetensors").tensors;
  };
  const io::TensorMap minus_one = run("minus_one", "-1"), top = run("top", "18446744073709551615"),
                      zero = run("zero", "0");
  EXPECT_EQ(differing_tensors(minus_one, top, "model."), std::vector<std::string>{});
  EXPECT_FALSE(differing_tensors(minus_one, zero, "model.").empty());
}

TEST(CliResume, FewerEpochsThanDoneIsRefusedWithoutTouchingTheRun) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  TempDir dir("resume_less");
  std::string run = dir.file("run");
  fs::copy(b.run, run);
  auto before = snapshot(run);
  Cli r = nabla_cli({"resume", run, "--epochs", "2"});
  expect_failure(r, 1, {"3 epochs", "--epochs"});
  expect_unchanged(before, run, "resume --epochs 2");
  expect_failure(nabla_cli({"resume", dir.str()}), 1, {"no config.json"});
}

// ---- usage errors -----------------------------------------------------------------------------

TEST(CliUsage, MistakesExitWithCode2AndAOneLineReason) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {{"frobnicate"}, {"nabla frobnicate:", "unknown command 'frobnicate'"}},
      {{"train", "--bogus", "1"}, {"nabla train:", "unknown option --bogus"}},
      {{"train", "--epochs"}, {"option --epochs needs a value"}},
      {{"train", "--epochs", "three"}, {"--epochs expects an integer", "'three'"}},
      {{"train", "--epochs", "3x"}, {"--epochs expects an integer"}},
      {{"train", "--lr", "fast"}, {"--lr expects a number"}},
      {{"train", "--classes", "1,x"}, {"--classes expects a comma-separated list"}},
      {{"train", "--no-progress=yes"}, {"--no-progress takes no value"}},
      {{"train", "--epochs", "-1"}, {"--epochs must be a finite number >= 1, got -1"}},
      {{"train", "--epochs", "0"}, {"--epochs must be a finite number >= 1, got 0"}},
      {{"train", "--lr", "0"}, {"--lr must be > 0", "optimizer's default"}},
      {{"train", "--batch-size", "0"}, {"--batch-size must be a finite number >= 1, got 0"}},
      {{"train", "--lr", "nan"}, {"--lr must be a finite number >= 0, got nan"}},
      {{"train", "--clip-grad-norm", "-1"}, {"--clip-grad-norm", "got -1"}},
      {{"train", "--per-class", "-2"}, {"--per-class", "got -2"}},
      {{"train", "--dropout", "-0.5"}, {"--dropout must be in [0, 1), got -0.5"}},
      {{"train", "stray"}, {"unexpected argument 'stray'"}},
      {{"finetune", "--epochs", "1"}, {"finetune needs --checkpoint"}},
      {{"finetune", "--checkpoint", "x", "--model", "cnn"}, {"finetune takes its model from --checkpoint"}},
      {{"train", "--checkpoint", "x"}, {"unknown option --checkpoint"}},
      {{"resume"}, {"resume needs exactly one RUN_DIR"}},
      {{"resume", "a", "b"}, {"resume needs exactly one RUN_DIR"}},
      {{"resume", "a", "--epochs", "many"}, {"--epochs expects an integer"}},
      {{"eval"}, {"eval needs --checkpoint"}},
      {{"eval", "--checkpoint", "x", "--split", "val"}, {"--split must be test or train"}},
      {{"eval", "--checkpoint", "x", "extra"}, {"unexpected argument 'extra'"}},
      {{"eval", "--checkpoint", "x", "--threads", "two"}, {"--threads expects an integer"}},
      {{"eval", "--checkpoint", "x", "--threads", "0"}, {"--threads must be at least 1"}},
      {{"predict", "--checkpoint", "x", "--threads", "-1", "a.png"}, {"--threads must be at least 1"}},
      {{"train", "--threads", "0"}, {"--threads must be a finite number >= 1, got 0"}},
      // Out of range: refused, not wrapped (strtoll saturated, int() truncated 4294967297 to 1).
      {{"train", "--epochs", "99999999999999999999"}, {"--epochs", "out of the 64-bit integer range", "99999999999999999999"}},
      {{"train", "--batch-size", "-99999999999999999999"}, {"--batch-size", "out of the 64-bit integer range"}},
      {{"train", "--threads", "4294967297"}, {"--threads must be at most 2147483647, got 4294967297"}},
      {{"train", "--seed", "18446744073709551616"}, {"--seed expects an integer from -2^63 to 2^64 - 1", "18446744073709551616"}},
      {{"train", "--seed", "-9223372036854775809"}, {"--seed expects an integer from -2^63"}},
      {{"train", "--lr", "1e999"}, {"--lr is beyond the largest double", "1e999"}},
      {{"train", "--workers", "4294967296"}, {"--workers must be at most 2147483647, got 4294967296"}},
      {{"eval", "--checkpoint", "x", "--threads", "4294967297"}, {"--threads", "4294967297"}},
      {{"train", "--classes", "1,99999999999999999999"}, {"--classes", "99999999999999999999", "out of"}},
      {{"resume", "a", "--epochs", "99999999999999999999"}, {"--epochs", "out of"}},
      {{"predict", "--checkpoint", "x"}, {"predict needs at least one image"}},
      {{"predict", "img.png"}, {"predict needs --checkpoint"}},
      {{"predict", "--checkpoint", "x", "--limit", "-3", "a.png"}, {"--limit"}},
      {{"summary", "--model"}, {"--model needs a value"}},
      {{"summary", "extra"}, {"unexpected argument 'extra'"}},
      {{"train", "--device", "gpu"}, {"--device", "cannot parse device \"gpu\"", "cpu, cuda or cuda:N"}},
      {{"train", "--device", "cuda:x"}, {"--device", "cuda:N"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args[0] + (c.args.size() > 1 ? " " + c.args[1] : ""));
    expect_failure(nabla_cli(c.args), 2, c.parts);
  }
  Cli none = nabla_cli({});
  EXPECT_EQ(none.code, 2);
  EXPECT_EQ(none.out.rfind("usage: nabla <command>", 0), 0u) << none.describe();
}

TEST(CliTrain, UnavailableDeviceFailsWithCode1AndSaysWhy) {
  if (nabla::cuda::device_count() > 7) GTEST_SKIP() << "this machine has a cuda:7";
  Cli r = nabla_cli({"train", "--device", "cuda:7", "--epochs", "1", "--out", ::testing::TempDir() + "/nodev"});
  expect_failure(r, 1, {"cuda:7 is not available"});
}

TEST(CliUsage, HelpForEveryCommandExitsZeroAndPrintsUsage) {
  for (const std::string cmd : {"train", "eval", "predict", "summary", "finetune", "resume"}) {
    for (const std::string flag : {"--help", "-h"}) {
      Cli r = nabla_cli({cmd, flag});
      EXPECT_EQ(r.code, 0) << r.describe();
      EXPECT_EQ(r.out.rfind("usage: nabla " + cmd, 0), 0u) << r.describe();
      EXPECT_TRUE(r.err.empty()) << r.describe();
    }
  }
  // --help wins over other (even invalid) options.
  Cli r = nabla_cli({"finetune", "--epochs", "x", "--help"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.out.find("--freeze-backbone"), std::string::npos) << "finetune's help names its own options";
  for (const std::string top : {"--help", "-h", "help"}) {
    Cli t = nabla_cli({top});
    EXPECT_EQ(t.code, 0) << t.describe();
    for (const char* c : {"train", "eval", "predict", "summary", "finetune", "resume"})
      EXPECT_NE(t.out.find(std::string("  ") + c + " "), std::string::npos) << c;
  }
}

// ---- bad files --------------------------------------------------------------------------------

TEST(CliBadFiles, MissingCorruptAndForeignCheckpoints) {
  TempDir dir("badckpt");
  const std::string missing = dir.file("nope.safetensors");
  expect_failure(nabla_cli({"eval", "--checkpoint", missing, "--data", data_dir()}), 1,
                 {"nabla eval:", missing, "not found"});
  expect_failure(nabla_cli({"predict", "--checkpoint", missing, data_dir() + "/t10k-images-idx3-ubyte"}), 1,
                 {missing, "not found"});
  expect_failure(nabla_cli({"summary", "--checkpoint", missing}), 1, {missing});

  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  std::string good = read_text(b.run + "/best.safetensors");
  const std::string trunc = dir.file("truncated.safetensors");
  write_text(trunc, good.substr(0, good.size() / 2));
  expect_failure(nabla_cli({"eval", "--checkpoint", trunc, "--data", data_dir()}), 1, {"nabla eval:", trunc});
  expect_failure(nabla_cli({"summary", "--checkpoint", trunc}), 1, {trunc});
  const std::string header_only = dir.file("header.safetensors");
  write_text(header_only, good.substr(0, 5));
  expect_failure(nabla_cli({"eval", "--checkpoint", header_only, "--data", data_dir()}), 1, {header_only});
  const std::string garbage = dir.file("garbage.safetensors");
  write_text(garbage, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{not a header at all}"));
  expect_failure(nabla_cli({"eval", "--checkpoint", garbage, "--data", data_dir()}), 1, {garbage});
  // Flipped bytes inside the JSON header.
  std::string broken = good;
  broken[10] = '!';
  broken[11] = '!';
  const std::string flipped = dir.file("flipped.safetensors");
  write_text(flipped, broken);
  expect_failure(nabla_cli({"eval", "--checkpoint", flipped, "--data", data_dir()}), 1, {flipped});
  // A valid safetensors file that is not a nabla checkpoint.
  const std::string foreign = dir.file("foreign.safetensors");
  io::save_safetensors({{"w", zeros({2, 2})}}, foreign);
  expect_failure(nabla_cli({"eval", "--checkpoint", foreign, "--data", data_dir()}), 1,
                 {foreign, "not a nabla training checkpoint"});
  // Not regular files: refused before the open (a FIFO blocked eval and predict forever, and
  // /dev/zero as an IDX file was read until memory ran out).
  const std::string fifo = dir.file("pipe.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_failure(nabla_cli({"eval", "--checkpoint", fifo, "--data", data_dir()}), 1, {"nabla eval:", fifo, "FIFO"});
  expect_failure(nabla_cli({"summary", "--checkpoint", fifo}), 1, {fifo, "FIFO"});
  expect_failure(nabla_cli({"predict", "--checkpoint", b.run + "/best.safetensors", fifo}), 1, {fifo, "FIFO"});
  expect_failure(nabla_cli({"predict", "--checkpoint", b.run + "/best.safetensors", "/dev/zero"}), 1,
                 {"/dev/zero", "character device"});
  expect_failure(nabla_cli({"predict", "--checkpoint", b.run + "/best.safetensors", dir.str() + "/x.png"}), 1,
                 {"x.png", "not found"});
  fs::create_directories(dir.file("folder.png"));
  expect_failure(nabla_cli({"predict", "--checkpoint", b.run + "/best.safetensors", dir.file("folder.png")}), 1,
                 {"folder.png", "is a directory"});
  // last.safetensors is a checkpoint too (the model part is used).
  Cli last = nabla_cli({"eval", "--checkpoint", b.run + "/last.safetensors", "--data", data_dir()});
  EXPECT_EQ(last.code, 0) << last.describe();
}

TEST(CliBadFiles, BadModelSpecsNameTheLayerAndLeaveTheRunFolderAlone) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  TempDir dir("badspec");
  std::string run = dir.file("run");
  fs::copy(b.run, run);
  auto before = snapshot(run);
  ASSERT_EQ(before.size(), 5u);

  auto spec = [&](const std::string& name, const std::string& layers) {
    std::string path = dir.file(name);
    write_text(path, R"({"name": "bad", "input_shape": [1, 28, 28], "num_classes": 10, "layers": )" + layers + "}");
    return path;
  };
  struct Case {
    std::string file;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {spec("type.json", R"([{"type": "Flatten"}, {"type": "Lineer", "in_features": 784, "out_features": 10}])"),
       {"layers[1]", "unknown type 'Lineer'"}},
      {spec("option.json", R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 10,
                                "activation": "relu"}])"),
       {"layers[1]", "unknown option 'activation'"}},
      {spec("wrongtype.json", R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784.5, "out_features": 10}])"),
       {"layers[1]", "'in_features' must be an integer"}},
      {spec("chain.json", R"([{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 64},
                               {"type": "ReLU"}, {"type": "Linear", "in_features": 32, "out_features": 10}])"),
       {"layers[3]"}},
      {dir.file("missing.json"), {"missing.json", "file not found"}},
  };
  write_text(dir.file("invalid.json"), "{\"layers\": [");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    expect_failure(nabla_cli(train_args(run, 1, {"--model", c.file})), 1, c.parts);
    expect_unchanged(before, run, "train --model " + c.file);
    // summary validates the same way.
    expect_failure(nabla_cli({"summary", "--model", c.file}), 1, c.parts);
  }
  expect_failure(nabla_cli(train_args(run, 1, {"--model", dir.file("invalid.json")})), 1, {"invalid JSON"});
  expect_failure(nabla_cli({"summary", "--model", "resnet"}), 1, {"unknown preset 'resnet'"});
  // Other failures before training starts.
  expect_failure(nabla_cli(train_args(run, 1, {"--optimizer", "sgdd"})), 1, {"unknown optimizer 'sgdd'"});
  expect_failure(nabla_cli(train_args(run, 1, {"--schedule", "linear"})), 1, {"unknown schedule 'linear'"});
  expect_failure(nabla_cli(train_args(run, 1, {"--optimizer", "lbfgs"})), 1,
                 {"optimizer 'lbfgs' is not available in the trainer", "closure"});
  // A fine-tune from a missing or corrupt checkpoint fails before writing into --out.
  expect_failure(nabla_cli({"finetune", "--checkpoint", dir.file("none.safetensors"), "--data", data_dir(), "--out",
                            run, "--no-progress"}),
                 1, {"none.safetensors"});
  write_text(dir.file("half.safetensors"), read_text(b.run + "/best.safetensors").substr(0, 1000));
  expect_failure(nabla_cli({"finetune", "--checkpoint", dir.file("half.safetensors"), "--data", data_dir(), "--out",
                            run, "--no-progress"}),
                 1, {"half.safetensors"});
  // resume of a folder whose last.safetensors is damaged.
  std::string broken_run = dir.file("broken_run");
  fs::copy(b.run, broken_run);
  write_text(broken_run + "/last.safetensors", read_text(b.run + "/last.safetensors").substr(0, 2000));
  auto broken_before = snapshot(broken_run);
  expect_failure(nabla_cli({"resume", broken_run}), 1, {"last.safetensors"});
  expect_unchanged(broken_before, broken_run, "resume with a damaged last.safetensors");
  expect_unchanged(before, run, "train with bad options");
}

TEST(CliBadFiles, BadDataFolders) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  TempDir dir("baddata");
  std::string run = dir.file("run");
  fs::copy(b.run, run);
  auto before = snapshot(run);
  const std::string nowhere = dir.file("nowhere");
  auto train_on = [&](const std::string& data) {
    std::vector<std::string> a = train_args(run, 1);
    a[6] = data;  // --data
    return nabla_cli(a);
  };
  expect_failure(train_on(nowhere), 1, {"nowhere"});
  expect_failure(nabla_cli({"eval", "--checkpoint", b.run + "/best.safetensors", "--data", nowhere}), 1, {"nowhere"});
  // Truncated images file; labels out of range; counts that disagree.
  const std::string broken = dir.file("broken");
  fs::create_directories(broken);
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                        "t10k-labels-idx1-ubyte"})
    fs::copy_file(data_dir() + "/" + f, broken + "/" + f);
  std::string images = read_text(broken + "/t10k-images-idx3-ubyte");
  write_text(broken + "/t10k-images-idx3-ubyte", images.substr(0, images.size() - 100));
  expect_failure(train_on(broken), 1, {"t10k-images-idx3-ubyte", "truncated"});
  expect_failure(nabla_cli({"eval", "--checkpoint", b.run + "/best.safetensors", "--data", broken}), 1,
                 {"t10k-images-idx3-ubyte"});
  write_text(broken + "/t10k-images-idx3-ubyte", images);
  std::string labels = read_text(broken + "/t10k-labels-idx1-ubyte");
  std::string bad_labels = labels;
  bad_labels[8] = char(12);
  write_text(broken + "/t10k-labels-idx1-ubyte", bad_labels);
  expect_failure(nabla_cli({"eval", "--checkpoint", b.run + "/best.safetensors", "--data", broken}), 1,
                 {"t10k-labels-idx1-ubyte"});
  expect_unchanged(before, run, "train on bad data");
}

// A test split without some classes: their per-class accuracy is undefined, written as null
// (JSON has no NaN) and as n/a in the report; the commands still succeed.
TEST(CliTrain, TestSplitMissingClassesGivesNullPerClassAccuracy) {
  TempDir dir("fewtest");
  const std::string data = dir.file("data"), run = dir.file("run");
  fs::create_directories(data);
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte"})
    fs::copy_file(data_dir() + "/" + f, data + "/" + f);
  // The first 6 test images, relabelled to classes 0..2 only.
  std::string images = read_text(data_dir() + "/t10k-images-idx3-ubyte");
  std::vector<uint8_t> img(images.begin() + 16, images.begin() + 16 + 6 * 784);
  write_plain(data + "/t10k-images-idx3-ubyte", idx_bytes({6, 28, 28}, img));
  write_plain(data + "/t10k-labels-idx1-ubyte", idx_bytes({6}, {0, 1, 2, 0, 1, 2}));

  Cli r = nabla_cli({"train", "--model", "mlp", "--epochs", "1", "--train-limit", "200", "--data", data, "--out", run,
                     "--threads", "1", "--no-progress"});
  ASSERT_EQ(r.code, 0) << r.describe();
  Json per = r.json().at("per_class_accuracy");
  ASSERT_EQ(per.size(), 10u);
  for (size_t c = 0; c < 10; ++c) EXPECT_EQ(per.at(c).is_null(), c >= 3) << c << ": " << per.dump();
  EXPECT_GE(count_of(read_text(run + "/report.html"), "n/a"), 7u);

  Cli ev = nabla_cli({"eval", "--checkpoint", run + "/best.safetensors", "--data", data});
  ASSERT_EQ(ev.code, 0) << ev.describe();
  EXPECT_EQ(ev.json().at("images").as_int(), 6);
  ASSERT_EQ(ev.json().at("per_class_accuracy").size(), 10u);
  EXPECT_TRUE(ev.json().at("per_class_accuracy").at(size_t(9)).is_null());
  EXPECT_DOUBLE_EQ(ev.json().at("accuracy").as_double(), r.json().at("test_accuracy").as_double());
}

// ---- summary / eval / predict / finetune ------------------------------------------------------

TEST(CliSummary, CnnPresetTableAndParameterCount) {
  Cli r = nabla_cli({"summary", "--model", "cnn"});
  ASSERT_EQ(r.code, 0) << r.describe();
  Json j = r.json();
  EXPECT_EQ(j.at("command").as_string(), "summary");
  EXPECT_EQ(j.at("model").as_string(), "cnn");
  EXPECT_EQ(j.at("total_params").as_int(), 421642);
  EXPECT_EQ(j.at("trainable_params").as_int(), 421642);
  EXPECT_EQ(j.at("frozen_params").as_int(), 0);
  // The table: one row per layer that ran, with the per-layer counts.
  for (const char* s : {"0 (Conv2d)", "3 (Conv2d)", "MaxPool2d", "6 (Flatten)", "7 (Linear)", "10 (Linear)", "Dropout",
                        " 320 ", " 18,496 ", " 401,536 ", " 1,290 ", "Total params: 421,642"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_GE(r.out_lines().size(), 12u) << r.out;

  Cli mlp = nabla_cli({"summary", "--model", "mlp"});
  ASSERT_EQ(mlp.code, 0) << mlp.describe();
  EXPECT_EQ(mlp.json().at("total_params").as_int(), 535818);
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  Cli ck = nabla_cli({"summary", "--checkpoint", b.run + "/best.safetensors"});
  ASSERT_EQ(ck.code, 0) << ck.describe();
  EXPECT_EQ(ck.json().at("total_params").as_int(), 535818);
  EXPECT_EQ(ck.json().at("model").as_string(), "mlp");
}

TEST(CliEval, ReproducesTheTestAccuracyOfTheTrainRun) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  Cli r = nabla_cli({"eval", "--checkpoint", b.run + "/best.safetensors", "--data", data_dir(), "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.describe();
  Json j = r.json(), t = b.cli.json();
  EXPECT_EQ(j.at("command").as_string(), "eval");
  EXPECT_EQ(j.at("split").as_string(), "test");
  EXPECT_EQ(j.at("images").as_int(), 300);
  EXPECT_DOUBLE_EQ(j.at("accuracy").as_double(), t.at("test_accuracy").as_double());
  EXPECT_DOUBLE_EQ(j.at("top5_accuracy").as_double(), t.at("test_top5_accuracy").as_double());
  EXPECT_NEAR(j.at("loss").as_double(), t.at("test_loss").as_double(), 1e-5);
  ASSERT_EQ(j.at("per_class_accuracy").size(), 10u);
  for (size_t c = 0; c < 10; ++c)
    EXPECT_DOUBLE_EQ(j.at("per_class_accuracy").at(c).as_double(), t.at("per_class_accuracy").at(c).as_double()) << c;

  Cli tr = nabla_cli({"eval", "--checkpoint", b.run + "/best.safetensors", "--data", data_dir(), "--split", "train"});
  ASSERT_EQ(tr.code, 0) << tr.describe();
  EXPECT_EQ(tr.json().at("images").as_int(), 1000);
  EXPECT_GT(tr.json().at("accuracy").as_double(), 0.6);
}

// A checkpoint or data that does not fit the model is refused by eval and predict alike, with
// the file and the key or shapes, before any image is scored.
TEST(CliBadFiles, CheckpointAndDataMustFitTheModel) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  TempDir dir("fit");
  const std::string best = b.run + "/best.safetensors", images = data_dir() + "/t10k-images-idx3-ubyte";
  auto variant = [&](const std::string& name, const std::string& key, const std::string& value) {
    io::SafetensorsFile f = io::load_safetensors(best);
    f.metadata[key] = value;
    const std::string path = dir.file(name);
    io::save_safetensors(f.tensors, path, f.metadata);
    return path;
  };
  // Normalization: a 2-value std failed inside a Linear in eval; std 0 and NaN gave garbage.
  for (const auto& [file, parts] :
       std::vector<std::pair<std::string, std::vector<std::string>>>{
           {variant("std2.safetensors", "norm.std", "0.3,0.3"), {"'norm.std' has 2 values", "1 channel"}},
           {variant("std0.safetensors", "norm.std", "0"), {"'norm.std' holds 0", "> 0"}},
           {variant("nan.safetensors", "norm.mean", "nan"), {"'norm.mean' holds nan"}},
           {variant("abc.safetensors", "norm.std", "abc"), {"[checkpoint]", "'norm.std' must hold numbers"}},
           {variant("cfg.safetensors", "config", "not json"), {"'config'", "invalid JSON"}},
           {variant("cls.safetensors", "config", R"({"classes": [0, 1, 2]})"), {"lists 3 classes", "10 outputs"}},
       }) {
    SCOPED_TRACE(file);
    expect_failure(nabla_cli({"eval", "--checkpoint", file, "--data", data_dir()}), 1, parts);
    expect_failure(nabla_cli({"predict", "--checkpoint", file, images}), 1, parts);
  }
  // input_shape [784] (a Flatten-first MLP builds with it): predict indexed it as [C, H, W] to
  // resize images, so it refuses it; eval, which feeds 28x28 images of as many pixels, takes it
  // (such checkpoints evaluated before the shape check existed).
  std::string spec = io::load_safetensors(best).metadata.at("spec");
  spec.replace(spec.find("[1,28,28]"), 9, "[784]");
  const std::string flat = variant("flat.safetensors", "spec", spec);
  expect_failure(nabla_cli({"predict", "--checkpoint", flat, images}), 1, {flat, "input_shape [784]"});
  const Cli flat_eval = nabla_cli({"eval", "--checkpoint", flat, "--data", data_dir()});
  EXPECT_EQ(flat_eval.code, 0) << flat_eval.describe();
  // Images of another size in an IDX file are not resized: refused, naming both shapes.
  const std::string wide = dir.file("wide-images-idx3-ubyte");
  write_plain(wide, idx_bytes({2, 14, 56}, std::vector<uint8_t>(2 * 14 * 56, 7)));
  expect_failure(nabla_cli({"predict", "--checkpoint", best, wide}), 1,
                 {"input_shape [1, 28, 28] vs images [1, 14, 56]", wide});
  // An empty split scored accuracy 0 and loss 0 with exit code 0.
  const std::string empty = dir.file("empty");
  fs::create_directories(empty);
  write_plain(empty + "/train-images-idx3-ubyte", idx_bytes({0, 28, 28}, {}));
  write_plain(empty + "/train-labels-idx1-ubyte", idx_bytes({0}, {}));
  expect_failure(nabla_cli({"eval", "--checkpoint", best, "--data", empty, "--split", "train"}), 1,
                 {empty, "the train split has no images"});
  // One class trained a 1-output model with loss 0 and accuracy 1.
  expect_failure(nabla_cli(train_args(dir.file("one"), 1, {"--classes", "3"})), 1, {"at least 2 classes"});
  // An --out that cannot be made is named, with [train].
  expect_failure(nabla_cli(train_args("/proc/nope/run", 1)), 1, {"[train] cannot create the run folder /proc/nope/run"});
  // A huge --batch-size is one batch of the whole split (it overflowed to zero steps).
  Cli huge = nabla_cli(train_args(dir.file("huge"), 1, {"--batch-size", "9223372036854775807", "--train-limit", "50"}));
  ASSERT_EQ(huge.code, 0) << huge.describe();
  EXPECT_EQ(io::load_safetensors(dir.file("huge") + "/last.safetensors").metadata.at("optim.state.0.step"), "1");
}

TEST(CliPredict, IdxFileWithLimit) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  const std::string images = data_dir() + "/t10k-images-idx3-ubyte";
  Cli r = nabla_cli({"predict", "--checkpoint", b.run + "/best.safetensors", images, "--limit", "5"});
  ASSERT_EQ(r.code, 0) << r.describe();
  auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 6u) << r.describe();
  std::vector<int64_t> labels;
  for (int i = 0; i < 5; ++i) {
    Json p = Json::parse(lines[size_t(i)]);
    EXPECT_EQ(p.at("image").as_string(), images + "#" + std::to_string(i));
    int64_t k = p.at("label").as_int();
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 10);
    labels.push_back(k);
    ASSERT_EQ(p.at("probabilities").size(), 10u);
    double sum = 0, max = 0;
    for (size_t c = 0; c < 10; ++c) sum += p.at("probabilities").at(c).as_double(),
                                    max = std::max(max, p.at("probabilities").at(c).as_double());
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_DOUBLE_EQ(p.at("probability").as_double(), max);
    EXPECT_DOUBLE_EQ(p.at("probabilities").at(size_t(k)).as_double(), max);
    EXPECT_FALSE(p.at("class_name").as_string().empty());
  }
  Json s = Json::parse(lines[5]);
  EXPECT_EQ(s.at("command").as_string(), "predict");
  EXPECT_EQ(s.at("images").as_int(), 5);
  ASSERT_EQ(s.at("labels").size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(s.at("labels").at(i).as_int(), labels[i]);
  // The model is good on this data: most of the first five are right.
  auto truth = test_labels();
  int right = 0;
  for (size_t i = 0; i < 5; ++i) right += labels[i] == int64_t(truth[i]);
  EXPECT_GE(right, 3);
}

// A model trained on a subset of the labels (--classes "7, 3": blanks after commas allowed)
// reports the data set's labels, not its output indices: output k is label classes[k].
TEST(CliPredict, ClassSubsetReportsDataSetLabels) {
  TempDir dir("predict_subset");
  Cli t = nabla_cli(train_args(dir.file("run"), 2, {"--classes", "7, 3"}));
  ASSERT_EQ(t.code, 0) << t.describe();
  const std::string images = data_dir() + "/t10k-images-idx3-ubyte";
  Cli r = nabla_cli({"predict", "--checkpoint", dir.file("run") + "/best.safetensors", images, "--limit", "6"});
  ASSERT_EQ(r.code, 0) << r.describe();
  auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 7u) << r.describe();
  const std::vector<int64_t> classes = {7, 3};
  for (int i = 0; i < 6; ++i) {
    Json p = Json::parse(lines[size_t(i)]);
    ASSERT_EQ(p.at("probabilities").size(), 2u);
    const int64_t k = p.at("output").as_int(), label = p.at("label").as_int();
    ASSERT_TRUE(k == 0 || k == 1) << lines[size_t(i)];
    EXPECT_EQ(label, classes[size_t(k)]) << lines[size_t(i)];
    EXPECT_EQ(p.find("class_name"), nullptr) << "the synthetic data is not Fashion-MNIST: " << lines[size_t(i)];
    EXPECT_EQ(Json::parse(lines[6]).at("labels").at(size_t(i)).as_int(), label);
  }
}

// On the Fashion-MNIST files, a class subset's predictions carry the name of the data set's
// label (names[label], not names[output]).
TEST(CliPredict, ClassSubsetOfFashionMnistNamesTheLabel) {
  const std::string fashion = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fashion + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TempDir dir("predict_fashion_subset");
  Cli t = nabla_cli({"train", "--model", "mlp", "--classes", "9,5", "--per-class", "50", "--epochs", "2", "--data",
                     fashion + "/", "--out", dir.file("run"), "--threads", "1", "--no-progress"});
  ASSERT_EQ(t.code, 0) << t.describe();
  Cli r = nabla_cli({"predict", "--checkpoint", dir.file("run") + "/best.safetensors",
                     fashion + "/t10k-images-idx3-ubyte.gz", "--limit", "4"});
  ASSERT_EQ(r.code, 0) << r.describe();
  auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 5u) << r.describe();
  const std::map<int64_t, std::string> names = {{9, "Ankle boot"}, {5, "Sandal"}};
  for (int i = 0; i < 4; ++i) {
    Json p = Json::parse(lines[size_t(i)]);
    const int64_t label = p.at("label").as_int();
    ASSERT_TRUE(label == 9 || label == 5) << lines[size_t(i)];
    EXPECT_EQ(p.at("class_name").as_string(), names.at(label)) << lines[size_t(i)];
  }
}

TEST(CliFinetune, FreezeBackboneChangesOnlyTheHead) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  TempDir dir("finetune");
  const std::string ck = b.run + "/best.safetensors";
  auto finetune = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> a = {"finetune", "--checkpoint", ck,   "--classes",   "0,1,2", "--epochs",      "1",
                                  "--data",     data_dir(),   "--out", out,        "--threads", "1", "--no-progress"};
    a.insert(a.end(), extra.begin(), extra.end());
    return nabla_cli(a);
  };
  const std::string frozen = dir.file("frozen"), full = dir.file("full");
  Cli r = finetune(frozen, {"--freeze-backbone"});
  ASSERT_EQ(r.code, 0) << r.describe();
  Json j = r.json();
  EXPECT_EQ(j.at("command").as_string(), "finetune");
  EXPECT_EQ(j.at("per_class_accuracy").size(), 3u);
  EXPECT_GT(j.at("test_accuracy").as_double(), 0.5) << "chance is 1/3";

  auto orig = io::load_safetensors(ck).tensors;
  auto ft = io::load_safetensors(frozen + "/best.safetensors");
  // mlp: 0 Flatten, 1 Linear, 2 ReLU, 3 Dropout, 4 Linear, 5 ReLU, 6 Dropout, 7 Linear (head)
  for (const char* k : {"model.1.weight", "model.1.bias", "model.4.weight", "model.4.bias"}) {
    ASSERT_TRUE(ft.tensors.count(k)) << k;
    EXPECT_TRUE(raw(ft.tensors.at(k)) == raw(orig.at(k))) << k << " changed although the backbone is frozen";
  }
  EXPECT_EQ(ft.tensors.at("model.7.weight").shape(), (Shape{3, 256}));
  EXPECT_EQ(ft.tensors.at("model.7.bias").shape(), (Shape{3}));
  Json spec = Json::parse(ft.metadata.at("spec"));
  EXPECT_EQ(spec.at("num_classes").as_int(), 3);
  Json cfg = Json::parse(ft.metadata.at("config"));
  EXPECT_TRUE(cfg.at("freeze_backbone").as_bool());
  EXPECT_EQ(cfg.at("init_from").as_string(), ck);

  // Without --freeze-backbone the backbone does train (so the check above can fail).
  Cli rf = finetune(full, {});
  ASSERT_EQ(rf.code, 0) << rf.describe();
  auto ff = io::load_safetensors(full + "/best.safetensors").tensors;
  EXPECT_FALSE(raw(ff.at("model.1.weight")) == raw(orig.at("model.1.weight")));

  // The finetuned checkpoint evaluates on its own classes.
  Cli ev = nabla_cli({"eval", "--checkpoint", frozen + "/best.safetensors", "--data", data_dir()});
  ASSERT_EQ(ev.code, 0) << ev.describe();
  EXPECT_DOUBLE_EQ(ev.json().at("accuracy").as_double(), j.at("test_accuracy").as_double());
  EXPECT_EQ(ev.json().at("per_class_accuracy").size(), 3u);
}

TEST(CliFinetune, AlwaysStartsAFreshHead) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  TempDir dir("finetune_same");
  const std::string ck = b.run + "/best.safetensors", out = dir.file("ft");
  // Same classes, and a learning rate so small that training cannot move the weights: the
  // backbone is the checkpoint's, the head is a fresh initialization (not the pretrained one).
  Cli r = nabla_cli({"finetune", "--checkpoint", ck, "--freeze-backbone", "--epochs", "1", "--lr", "1e-12", "--data",
                     data_dir(), "--out", out, "--threads", "1", "--no-progress"});
  ASSERT_EQ(r.code, 0) << r.describe();
  auto orig = io::load_safetensors(ck).tensors;
  auto ft = io::load_safetensors(out + "/best.safetensors").tensors;
  EXPECT_EQ(differing_tensors(orig, ft, "model.1."), std::vector<std::string>{});
  EXPECT_EQ(differing_tensors(orig, ft, "model.4."), std::vector<std::string>{});
  ASSERT_EQ(ft.at("model.7.weight").shape(), orig.at("model.7.weight").shape());
  auto a = ft.at("model.7.weight").to_double_vector(), o = orig.at("model.7.weight").to_double_vector();
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - o[i]));
  EXPECT_GT(diff, 1e-3) << "the pretrained head was kept";
}

// ---- report -----------------------------------------------------------------------------------

TEST(CliReport, RunReportHasChartsConfusionAndSamples) {
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  std::string html = read_text(b.run + "/report.html");
  for (const char* id : {"chart-loss", "chart-accuracy", "chart-lr", "chart-per-class"})
    EXPECT_EQ(count_of(html, std::string("<svg class=\"chart\" id=\"") + id + "\""), 1u) << id;
  EXPECT_EQ(count_of(html, "<table id=\"confusion\""), 1u);
  size_t c0 = html.find("<table id=\"confusion\""), c1 = html.find("</table>", c0);
  std::string conf = html.substr(c0, c1 - c0);
  EXPECT_EQ(count_of(conf, "<tr>"), 11u);
  EXPECT_EQ(count_of(conf, "<td"), 100u);
  EXPECT_NE(conf.find("Ankle boot"), std::string::npos);
  // Cell counts add up to the test set.
  int64_t total = 0;
  for (size_t p = conf.find("<td"); p != std::string::npos; p = conf.find("<td", p + 1))
    total += std::stoll(conf.substr(conf.find('>', p) + 1));
  EXPECT_EQ(total, 300);
  // One canvas per misclassified test image (at most 48).
  Json j = b.cli.json();
  int64_t wrong = 300 - std::llround(j.at("test_accuracy").as_double() * 300);
  EXPECT_EQ(int64_t(count_of(html, "<canvas")), std::min<int64_t>(wrong, 48));
  EXPECT_EQ(count_of(html, "class=\"bar\""), 10u);
  EXPECT_NE(html.find("<th>epochs run</th><td>3</td>"), std::string::npos);
}

TEST(CliReport, RunReportRendersInHeadlessChromium) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "/usr/bin/chromium is not installed: browser rendering not checked";
  const BaseRun& b = base();
  ASSERT_EQ(b.cli.code, 0) << b.cli.describe();
  TempDir dir("chromium");
  std::string cmd = std::string(chromium) +
                    " --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update"
                    " --disable-sync --no-first-run --user-data-dir=" + dir.file("profile") +
                    " --enable-logging=stderr --v=0 --dump-dom file://" + b.run + "/report.html > " +
                    dir.file("dom.html") + " 2> " + dir.file("stderr.txt");
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd << "\n" << read_text(dir.file("stderr.txt"));
  std::string dom = read_text(dir.file("dom.html")), err = read_text(dir.file("stderr.txt"));
  for (const char* id : {"chart-loss", "chart-accuracy", "chart-lr", "chart-per-class", "confusion"})
    EXPECT_NE(dom.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  EXPECT_EQ(count_of(err, "Uncaught"), 0u) << err;
  for (const std::string& l : lines_of(err)) EXPECT_EQ(l.find("CONSOLE"), std::string::npos) << l;
}
