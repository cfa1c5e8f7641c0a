// The `nabla` command: train / eval / predict / summary / finetune / resume.
// Every command ends with a one-line JSON summary on stdout; exit code 0 on success,
// 2 on usage errors, 1 on failures, with a one-line reason on stderr.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>

#include "args.h"
#include "nabla/autograd.h"
#include "nabla/data/idx.h"
#include "nabla/data/image_folder.h"
#include "nabla/data/transforms.h"
#include "nabla/nn.h"
#include "nabla/parse_number.h"
#include "nabla/threads.h"
#include "nabla/train/trainer.h"

using namespace nabla;
using cli::Args;
using cli::UsageError;
using io::Json;

namespace {

const char* kUsage = R"(usage: nabla <command> [options]

commands:
  train      train a model on Fashion-MNIST (default: the cnn preset) and write a run folder
  eval       evaluate a checkpoint on the test (or train) split
  predict    classify images (PNG/JPEG files or an IDX images file) with a checkpoint
  summary    print a model's layer table (preset, spec file or checkpoint)
  finetune   start from a checkpoint, replace the head for new classes, train
  resume     continue an interrupted run from its folder

`nabla <command> --help` describes each command's options.
)";

const char* kTrainHelp = R"(usage: nabla train [options]
  --model NAME|SPEC.json   preset (mlp, cnn, cnn-bn-aug, bottleneck-mlp) or a JSON model spec [cnn]
  --data DIR               folder with MNIST-format files [/usr/share/datasets/fashion-mnist]
  --out DIR                run folder [runs/<model>-seed<seed>]
  --epochs N               [preset's recommendation]
  --batch-size N           [64]
  --accumulate N           one optimizer step per N batches (gradient accumulation) [1]
  --balance-classes        sample training images weighted by 1 / (their class's count) [off]
  --optimizer NAME         sgd, adam, adamw, rmsprop, adagrad, adadelta, nadam, radam, adamax, rprop,
                           asgd, adafactor [sgd]
  --lr X                   [sgd 0.05; adam, adamw, rmsprop, radam 1e-3; nadam, adamax 2e-3;
                           adagrad, rprop, asgd, adafactor 1e-2; adadelta 1]
  --momentum X             [0.9]
  --weight-decay X         [0]
  --schedule NAME          constant, step, exponential, cosine, invsqrt, polynomial, cyclic, onecycle,
                           plateau [cosine]
  --warmup-epochs N        linear warm-up before the schedule [0]
  --augment NAME           none, standard, strong, trivial (TrivialAugmentWide), randaugment
                           [preset's recommendation]
  --dropout P              override every Dropout layer's probability
  --label-smoothing X      [0]
  --mixup ALPHA            MixUp on training batches, lambda ~ Beta(ALPHA, ALPHA) (e.g. 0.2) [off]
  --cutmix ALPHA           CutMix on training batches (e.g. 1.0); with --mixup, one of the two per batch [off]
  --clip-grad-norm X       [off]
  --amp off|bf16|f16       mixed precision: forward and loss under autocast in that dtype, f32
                           weights; f16 adds loss scaling [off]
  --ema DECAY              validate, keep and test a moving average of the weights (e.g. 0.999) [off]
  --patience N             early stopping on validation accuracy (restores the best epoch) [off]
  --val-fraction X         [0.1]
  --train-limit N          use only the first N training images
  --per-class N            use only the first N training images of each class
  --classes LIST           train on these labels only, e.g. 0,1,2,3,4
  --seed N                 [0]
  --threads N              [2]
  --workers N              data-loading threads [1]
  --device DEV             cpu, cuda or cuda:N (parameters and steps on that device) [cpu]
  --no-progress            no progress bar
)";

const std::set<std::string> kTrainOptions = {"model", "data", "out", "epochs", "batch-size", "accumulate", "optimizer", "lr", "momentum",
                                             "weight-decay", "schedule", "warmup-epochs", "augment", "dropout",
                                             "label-smoothing", "mixup", "cutmix", "clip-grad-norm", "amp", "ema", "patience", "val-fraction",
                                             "train-limit", "per-class", "classes", "seed", "threads", "workers",
                                             "device"};

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(int64_t(v));
  std::ostringstream s;
  s << v;
  return s.str();
}

/// An option kept in an `int`: a value outside its range is refused, not truncated (4294967297
/// threads used to become 1, and 4294967296 workers 0).
int int_option(const Args& a, const std::string& key, int64_t def) {
  const int64_t v = a.integer(key, def);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw UsageError("--" + key + " must be at most " + std::to_string(std::numeric_limits<int>::max()) + ", got " +
                     std::to_string(v));
  return int(v);
}

/// --seed takes any 64-bit pattern, as torch.manual_seed does: 0 to 2^64 - 1, or a negative
/// number, which stands for its two's-complement bits (-1 is 2^64 - 1).
uint64_t seed_option(const Args& a) {
  const std::string text = a.str("seed", "0");
  if (const std::optional<uint64_t> u = parse_number<uint64_t>(text)) return *u;
  if (const std::optional<int64_t> s = parse_number<int64_t>(text)) return uint64_t(*s);
  throw UsageError("option --seed expects an integer from -2^63 to 2^64 - 1, got '" + text + "'");
}

train::TrainConfig config_from(const Args& a) {
  train::TrainConfig c;
  c.model = a.str("model", c.model);
  c.data = a.str("data", c.data);
  c.out = a.str("out", "");
  c.epochs = a.integer("epochs", 0);
  c.batch_size = a.integer("batch-size", c.batch_size);
  c.accumulate = a.integer("accumulate", c.accumulate);
  c.balance_classes = a.flag("balance-classes");
  c.optimizer = a.str("optimizer", c.optimizer);
  c.lr = a.number("lr", 0);
  c.momentum = a.number("momentum", c.momentum);
  c.weight_decay = a.number("weight-decay", 0);
  c.schedule = a.str("schedule", c.schedule);
  c.warmup_epochs = a.integer("warmup-epochs", 0);
  c.augment = a.str("augment", "");
  c.dropout = a.number("dropout", -1);
  if (a.has("dropout") && !(c.dropout >= 0 && c.dropout < 1))
    throw UsageError("--dropout must be in [0, 1), got " + format_number(c.dropout));
  c.label_smoothing = a.number("label-smoothing", 0);
  c.mixup = a.number("mixup", 0);
  c.cutmix = a.number("cutmix", 0);
  c.clip_grad_norm = a.number("clip-grad-norm", 0);
  c.amp = a.str("amp", c.amp);
  c.ema_decay = a.number("ema", 0);
  c.patience = a.integer("patience", 0);
  c.val_fraction = a.number("val-fraction", c.val_fraction);
  c.train_limit = a.integer("train-limit", 0);
  c.per_class_limit = a.integer("per-class", 0);
  c.classes = a.int_list("classes");
  c.seed = seed_option(a);
  c.threads = int_option(a, "threads", 2);
  c.workers = int_option(a, "workers", 1);
  c.device = a.str("device", c.device);
  c.progress = !a.flag("no-progress");
  try {
    Device::parse(c.device);
  } catch (const Error& e) {
    throw UsageError(std::string("--device: ") + e.what());
  }
  // Each bad value named with its flag; the trainer checks the same fields again for library users.
  auto at_least = [](const char* flag, double v, double lo) {
    if (!(v >= lo) || !std::isfinite(v))
      throw UsageError(std::string("--") + flag + " must be a finite number >= " + format_number(lo) + ", got " +
                       format_number(v));
  };
  // 0 is the config's "use the default"; typed on the command line it would silently mean that.
  at_least("epochs", double(c.epochs), a.has("epochs") ? 1 : 0);
  if (a.has("lr") && c.lr == 0) throw UsageError("--lr must be > 0 (leave it out for the optimizer's default), got 0");
  at_least("batch-size", double(c.batch_size), 1);
  at_least("accumulate", double(c.accumulate), 1);
  at_least("threads", c.threads, 1);
  at_least("workers", c.workers, 0);
  at_least("patience", double(c.patience), 0);
  at_least("warmup-epochs", double(c.warmup_epochs), 0);
  at_least("train-limit", double(c.train_limit), 0);
  at_least("per-class", double(c.per_class_limit), 0);
  at_least("lr", c.lr, 0);
  at_least("momentum", c.momentum, 0);
  at_least("weight-decay", c.weight_decay, 0);
  at_least("clip-grad-norm", c.clip_grad_norm, 0);
  at_least("ema", c.ema_decay, 0);
  at_least("label-smoothing", c.label_smoothing, 0);
  at_least("mixup", c.mixup, 0);
  at_least("cutmix", c.cutmix, 0);
  return c;
}

/// Decided by the extension, not by substrings: a folder named "idx" must not turn a PNG into IDX.
bool looks_like_image_file(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif" || ext == ".tga" ||
         ext == ".pgm" || ext == ".ppm" || ext == ".pnm" || ext == ".psd" || ext == ".hdr";
}

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

void print_json(const Json& j) { std::cout << j.dump() << std::endl; }

int threads_option(const Args& a) {
  int n = int_option(a, "threads", 2);
  if (n < 1) throw UsageError("--threads must be at least 1, got " + std::to_string(n));
  return n;
}

int cmd_train(int argc, char** argv, bool finetune) {
  if (wants_help(argc, argv)) {
    std::cout << (finetune ? "usage: nabla finetune --checkpoint PATH [--freeze-backbone] [train options]\n"
                             "  starts from the checkpoint's weights except the last layer (the head), which starts fresh\n"
                             "  with one output per class (--classes); --freeze-backbone trains only that head. The\n"
                             "  architecture is the checkpoint's (--model does not apply).\n\n"
                           : "")
              << kTrainHelp;
    return 0;
  }
  std::set<std::string> valued = kTrainOptions, flags = {"no-progress", "balance-classes"};
  if (finetune) valued.insert("checkpoint"), flags.insert("freeze-backbone");
  Args a(argc, argv, 2, valued, flags);
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  train::TrainConfig c = config_from(a);
  if (finetune) {
    if (!a.has("checkpoint")) throw UsageError("finetune needs --checkpoint PATH");
    // The architecture comes from the checkpoint; a --model would be ignored without a word.
    if (a.has("model")) throw UsageError("finetune takes its model from --checkpoint; drop --model");
    c.init_from = a.str("checkpoint", "");
    c.freeze_backbone = a.flag("freeze-backbone");
    if (!a.has("out")) c.out = "runs/finetune-seed" + std::to_string(c.seed);
  }
  train::Trainer t(c);
  train::RunResult r = t.fit();
  Json j = r.to_json();
  j.set("command", finetune ? "finetune" : "train");
  print_json(j);
  return 0;
}

int cmd_resume(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::cout << "usage: nabla resume RUN_DIR [--epochs N]\n  continues the run exactly where last.safetensors left "
                 "it; --epochs raises the total.\n";
    return 0;
  }
  Args a(argc, argv, 2, {"epochs"}, {});
  if (a.positional().size() != 1) throw UsageError("resume needs exactly one RUN_DIR");
  std::optional<int64_t> epochs;
  if (a.has("epochs")) epochs = a.integer("epochs", 0);
  train::RunResult r = train::Trainer::resume(a.positional()[0], epochs);
  Json j = r.to_json();
  j.set("command", "resume");
  print_json(j);
  return 0;
}

int cmd_eval(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::cout << "usage: nabla eval --checkpoint PATH [--data DIR] [--split test|train] [--threads N]\n";
    return 0;
  }
  Args a(argc, argv, 2, {"checkpoint", "data", "split", "threads"}, {});
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("checkpoint")) throw UsageError("eval needs --checkpoint PATH");
  std::string split = a.str("split", "test");
  if (split != "test" && split != "train") throw UsageError("--split must be test or train");
  set_num_threads(threads_option(a));
  train::LoadedModel lm = train::load_trained_model(a.str("checkpoint", ""));
  // A model trained on a subset of the labels (--classes) is evaluated on those images, with
  // the labels renumbered as in training.
  const std::vector<int64_t>& classes = lm.classes;
  const std::string data_dir = a.str("data", data::kFashionMnistDir);
  auto ds = data::load_mnist(data_dir, split == "train", classes.empty() ? lm.spec.num_classes : 10);
  // Scores of no images would read as accuracy 0 and loss 0.
  NB_CHECK(ds.images.size(0) > 0, "[eval] ", data_dir, ": the ", split, " split has no images");
  train::check_input_shape(lm.spec, {1, ds.images.size(1), ds.images.size(2)}, "eval", data_dir);
  if (!classes.empty()) {
    std::vector<int64_t> rows, relabel;
    std::vector<double> labels = ds.labels.to_double_vector();
    for (size_t i = 0; i < labels.size(); ++i) {
      auto it = std::find(classes.begin(), classes.end(), int64_t(labels[i]));
      if (it != classes.end()) rows.push_back(int64_t(i)), relabel.push_back(int64_t(it - classes.begin()));
    }
    if (rows.empty()) throw Error("[eval] no images of the model's classes in " + data_dir);
    ds.images = index_select(ds.images, 0, from_vector(rows, {int64_t(rows.size())}));
    ds.labels = from_vector(relabel, {int64_t(relabel.size())});
  }
  Tensor x = ds.images.to(kF32).unsqueeze(1) / 255.0;
  Tensor mean = from_vector(lm.mean, {1, int64_t(lm.mean.size()), 1, 1}).to(kF32);
  Tensor sd = from_vector(lm.std, {1, int64_t(lm.std.size()), 1, 1}).to(kF32);
  x = (x - mean) / sd;
  NoGradGuard ng;
  train::MetricAccumulator acc(lm.spec.num_classes);
  for (int64_t i = 0; i < x.size(0); i += 500) {
    int64_t e = std::min(x.size(0), i + 500);
    Tensor logits = (*lm.model)(x.slice(0, i, e));
    Tensor y = ds.labels.slice(0, i, e);
    acc.update(logits, y, cross_entropy(logits, y, {.reduction = Reduction::Sum}).item());
  }
  auto m = acc.result();
  Json per = Json::array();
  for (double v : m.per_class_accuracy) per.push_back(std::isnan(v) ? Json() : Json(v));  // absent class: null
  print_json(Json::object({{"command", "eval"}, {"checkpoint", a.str("checkpoint", "")}, {"split", split},
                           {"images", m.count}, {"accuracy", m.accuracy}, {"top5_accuracy", m.topk_accuracy},
                           {"loss", m.loss}, {"per_class_accuracy", per}}));
  return 0;
}

int cmd_predict(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::cout << "usage: nabla predict --checkpoint PATH [--limit N] IMAGE...\n"
                 "  IMAGE: PNG/JPEG files (converted to gray, resized to the model's input) or an IDX images\n"
                 "  file (e.g. t10k-images-idx3-ubyte.gz; --limit caps how many are classified).\n"
                 "  Prints one JSON line per image, then the summary line. \"label\" is the data set's label (for a\n"
                 "  model trained with --classes, \"output\" is the model's output index).\n";
    return 0;
  }
  Args a(argc, argv, 2, {"checkpoint", "limit", "threads"}, {});
  if (!a.has("checkpoint")) throw UsageError("predict needs --checkpoint PATH");
  if (a.positional().empty()) throw UsageError("predict needs at least one image file");
  const int64_t limit = a.integer("limit", 100);
  if (limit < 1) throw UsageError("--limit must be at least 1, got " + std::to_string(limit));
  set_num_threads(threads_option(a));
  train::LoadedModel lm = train::load_trained_model(a.str("checkpoint", ""));
  const std::string checkpoint = a.str("checkpoint", "");
  const Shape in = train::image_input_shape(lm.spec, "predict", checkpoint);
  const int64_t H = in[1], W = in[2];
  // Images are read as gray: one channel.
  train::check_input_shape(lm.spec, {1, H, W}, "predict", "gray images");
  std::vector<std::pair<std::string, Tensor>> images;  // name, f32 [1, H, W] in [0, 1]
  for (const std::string& path : a.positional()) {
    if (!looks_like_image_file(path)) {  // IDX (e.g. t10k-images-idx3-ubyte[.gz]); read_idx says if not
      Tensor t = data::read_idx(path);
      if (t.dim() != 3) throw Error("[predict] " + path + ": expected an IDX images file [N, H, W], got " + shape_str(t.shape()));
      train::check_input_shape(lm.spec, {1, t.size(1), t.size(2)}, "predict", path);  // not resized: must fit
      for (int64_t i = 0; i < std::min(t.size(0), limit); ++i)
        images.push_back({path + "#" + std::to_string(i), t.select(0, i).to(kF32).unsqueeze(0) / 255.0});
    } else {
      Tensor img = data::load_image(path, 1);  // [1, h, w] f32 in [0, 1]
      if (img.size(1) != H || img.size(2) != W) img = data::resize(img, H, W);
      images.push_back({path, img});
    }
  }
  NoGradGuard ng;
  const auto& names = train::fashion_mnist_classes();
  // "label" is the data set's label: for a model trained with --classes, output k is label
  // classes[k] ("output" gives k, the index into "probabilities"). Class names are Fashion-MNIST's
  // for a 10-class model, or for a subset trained on the Fashion-MNIST files.
  const std::vector<int64_t>& classes = lm.classes;
  const Json* data_dir = lm.config.find("data");
  auto same_dir = [](const std::string& a, const std::string& b) {  // "dir" and "dir/" alike
    return std::filesystem::path(a + "/").lexically_normal() == std::filesystem::path(b + "/").lexically_normal();
  };
  const bool fashion_names = classes.empty() ? lm.spec.num_classes == 10
                                             : data_dir && data_dir->is_string() &&
                                                   same_dir(data_dir->as_string(), data::kFashionMnistDir);
  Json preds = Json::array();
  for (auto& [name, img] : images) {
    Tensor x = data::normalize(img, lm.mean, lm.std).unsqueeze(0);
    Tensor p = softmax((*lm.model)(x), 1).squeeze(0);
    const int64_t k = argmax(p).item<int64_t>();
    const int64_t label = classes.empty() ? k : classes[size_t(k)];
    Json probs = Json::array();
    for (double v : p.to_double_vector()) probs.push_back(v);
    Json j = Json::object({{"image", name}, {"label", label}, {"probability", p.select(0, k).item()}, {"probabilities", probs}});
    if (!classes.empty()) j.set("output", k);
    if (fashion_names && label >= 0 && label < int64_t(names.size())) j.set("class_name", names[size_t(label)]);
    std::cout << j.dump() << "\n";
    preds.push_back(label);
  }
  print_json(Json::object({{"command", "predict"}, {"images", int64_t(images.size())}, {"labels", preds}}));
  return 0;
}

int cmd_summary(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::cout << "usage: nabla summary [--model NAME|SPEC.json] [--checkpoint PATH]\n";
    return 0;
  }
  Args a(argc, argv, 2, {"model", "checkpoint"}, {});
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  train::ModelSpec spec;
  std::shared_ptr<nn::Sequential> model;
  if (a.has("checkpoint")) {
    auto lm = train::load_trained_model(a.str("checkpoint", ""));
    spec = lm.spec;
    model = lm.model;
  } else {
    std::string m = a.str("model", "cnn");
    bool file = m.find(".json") != std::string::npos || m.find('/') != std::string::npos;
    spec = file ? train::load_model_spec(m) : train::preset_spec(m);
    model = train::build_model(spec);
  }
  Shape in = spec.input_shape;
  in.insert(in.begin(), 1);
  nn::ModuleSummary s = model->summary(in, std::cout);
  print_json(Json::object({{"command", "summary"}, {"model", spec.name}, {"total_params", s.total_params},
                           {"trainable_params", s.trainable_params}, {"frozen_params", s.frozen_params}}));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" || std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "train") return cmd_train(argc, argv, false);
    if (cmd == "finetune") return cmd_train(argc, argv, true);
    if (cmd == "resume") return cmd_resume(argc, argv);
    if (cmd == "eval") return cmd_eval(argc, argv);
    if (cmd == "predict") return cmd_predict(argc, argv);
    if (cmd == "summary") return cmd_summary(argc, argv);
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "nabla %s: %s\n", cmd.c_str(), e.what());
    print_json(Json::object({{"command", cmd}, {"ok", false}, {"error", e.what()}}));
    return 2;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& ch : msg)
      if (ch == '\n') ch = ' ';
    std::fprintf(stderr, "nabla %s: %s\n", cmd.c_str(), msg.c_str());
    print_json(Json::object({{"command", cmd}, {"ok", false}, {"error", msg}}));
    return 1;
  }
}
