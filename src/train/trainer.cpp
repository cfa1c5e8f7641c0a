#include "nabla/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>

#include "nabla/autograd.h"
#include "nabla/device.h"
#include "nabla/file.h"
#include "nabla/data/mix.h"
#include "nabla/data/split.h"
#include "nabla/io/atomic_file.h"
#include "nabla/io/key_prefix.h"
#include "nabla/io/safetensors.h"
#include "nabla/nn.h"
#include "nabla/optim.h"
#include "nabla/parse_number.h"
#include "nabla/random.h"
#include "nabla/threads.h"
#include "device_feed.h"
#include "setup.h"

namespace nabla::train {

using io::Json;
using clk = std::chrono::steady_clock;

namespace {

double seconds_since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

std::string join_doubles(const std::vector<double>& v) {
  std::string s;
  for (double x : v) {
    if (!s.empty()) s += ',';  // appended in two steps: GCC 12 misreads `"," + string&&` (-Wrestrict)
    s += optim::detail::format_double(x);
  }
  return s;
}
io::TensorMap prefixed(const nn::StateDict& sd, const std::string& prefix) {
  return io::with_key_prefix<io::TensorMap>(sd, prefix);
}
nn::StateDict unprefixed(const io::TensorMap& m, const std::string& prefix) {
  return io::strip_key_prefix<nn::StateDict>(m, prefix);
}

const std::string& meta(const io::Metadata& m, const std::string& key, const std::string& file) {
  auto it = m.find(key);
  NB_CHECK(it != m.end(), "[checkpoint] ", file, ": metadata key '", key, "' is missing; not a nabla training checkpoint");
  return it->second;
}

// Strict readers of checkpoint metadata: the whole text must be the value, and every error
// names the file and the key.
template <typename T>
T meta_int(const io::Metadata& m, const std::string& key, const std::string& file, T lo = std::numeric_limits<T>::min(),
           T hi = std::numeric_limits<T>::max()) {
  const std::string& s = meta(m, key, file);
  const std::optional<T> parsed = parse_number<T>(s);
  NB_CHECK(parsed.has_value(), "[checkpoint] ", file, ": metadata '", key, "' must be an integer, got \"", s, "\"");
  const T v = *parsed;
  NB_CHECK(v >= lo && v <= hi, "[checkpoint] ", file, ": metadata '", key, "' is ", v, ", expected ",
           hi == std::numeric_limits<T>::max() ? "at least " + std::to_string(lo)
                                               : std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}
double parse_meta_double(const std::string& s, const std::string& key, const std::string& file) {
  const std::optional<double> v = parse_number<double>(s);
  NB_CHECK(v.has_value(), "[checkpoint] ", file, ": metadata '", key, "' must hold numbers, got \"", s, "\"");
  return *v;
}
double meta_double(const io::Metadata& m, const std::string& key, const std::string& file) {
  return parse_meta_double(meta(m, key, file), key, file);
}
Json meta_json(const io::Metadata& m, const std::string& key, const std::string& file) {
  return io::parse_json_text(meta(m, key, file), "checkpoint", file + ": metadata '" + key + "'");
}

/// A resumed run must split and select its images as it did: config.json's fields that decide
/// which images train and validate must equal those recorded in last.safetensors (an edited
/// seed moved training images into validation mid-run). Hyper-parameters may change.
void check_same_data_settings(const Json& now, const Json& recorded, const std::string& cfg_path,
                              const std::string& last) {
  NB_CHECK(recorded.is_object(), "[checkpoint] ", last, ": metadata 'config' is not a JSON object");
  for (const char* key : {"seed", "classes", "per_class_limit", "train_limit", "val_fraction"}) {
    const Json* a = now.find(key);
    const Json* b = recorded.find(key);
    const std::string va = a ? a->dump() : "(absent)", vb = b ? b->dump() : "(absent)";
    NB_CHECK(va == vb, "[resume] ", cfg_path, ": '", key, "' is ", va, ", but the run was trained with ", vb,
             " (recorded in ", last, "); it decides which images train and validate, so a resumed run keeps it. ",
             "Restore it, or start a new run");
  }
}

/// norm.mean / norm.std: one finite value per input channel (std > 0: it divides).
std::vector<double> meta_norm(const io::Metadata& m, const std::string& key, const std::string& file, size_t channels,
                              bool positive) {
  std::vector<double> v;
  std::stringstream ss(meta(m, key, file));
  std::string part;
  while (std::getline(ss, part, ',')) v.push_back(parse_meta_double(part, key, file));
  NB_CHECK(v.size() == channels, "[checkpoint] ", file, ": metadata '", key, "' has ", v.size(),
           " values, the model's input has ", channels, " channel", channels == 1 ? "" : "s");
  for (double x : v)
    NB_CHECK(std::isfinite(x) && (!positive || x > 0), "[checkpoint] ", file, ": metadata '", key, "' holds ", x,
             ", expected finite numbers", positive ? " > 0" : "");
  return v;
}

/// The checkpoint's "model." tensors into `model`, which they must fit exactly.
void load_weights(nn::Module& model, const io::TensorMap& tensors, const std::string& file) {
  try {
    model.load_state_dict(unprefixed(tensors, "model."), /*strict=*/true);
  } catch (const Error& e) {
    fail("[checkpoint] ", file, ": weights do not match the model: ", e.what());
  }
}

Json history_json(const std::vector<EpochRecord>& h) {
  Json a = Json::array();
  for (const auto& r : h)
    a.push_back(Json::object({{"epoch", r.epoch},
                              {"train_loss", r.train_loss},
                              {"train_accuracy", r.train_accuracy},
                              {"val_loss", r.val_loss},
                              {"val_accuracy", r.val_accuracy},
                              {"lr", r.lr},
                              {"seconds", r.seconds},
                              {"peak_memory_mb", r.peak_memory_mb}}));
  return a;
}
std::vector<EpochRecord> history_from(const io::Metadata& m, const std::string& file) {
  const Json a = meta_json(m, "history", file);
  std::vector<EpochRecord> h;
  try {
    for (const Json& e : a.as_array()) {
      const Json* peak = e.find("peak_memory_mb");  // absent from runs made before it was measured
      h.push_back({e.at("epoch").as_int(), e.at("train_loss").as_double(), e.at("train_accuracy").as_double(),
                   e.at("val_loss").as_double(), e.at("val_accuracy").as_double(), e.at("lr").as_double(),
                   e.at("seconds").as_double(), peak ? peak->as_double() : 0.0});
    }
  } catch (const Error& e) {
    fail("[checkpoint] ", file, ": metadata 'history': ", e.what());
  }
  return h;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochRecord>& h) {
  std::ostringstream o;
  // The measured columns (seconds, peak memory) come last: they differ between equal runs.
  o << "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,peak_memory_mb\n";
  for (const auto& r : h)
    o << r.epoch << ',' << r.train_loss << ',' << r.train_accuracy << ',' << r.val_loss << ',' << r.val_accuracy << ','
      << r.lr << ',' << r.seconds << ',' << r.peak_memory_mb << '\n';
  io::write_file_atomic(path, o.str());
}

// Progress bar on a terminal, nothing otherwise (the per-epoch log line is always printed).
class Progress {
 public:
  Progress(bool enabled, int64_t total, int64_t epoch) : on_(enabled && isatty(2)), total_(total), epoch_(epoch) {}
  void update(int64_t done, double loss, clk::time_point start) {
    if (!on_ || (done % 10 != 0 && done != total_)) return;
    double el = seconds_since(start), rate = done / std::max(el, 1e-9), eta = double(total_ - done) / std::max(rate, 1e-9);
    int w = 30, filled = int(double(w) * double(done) / double(std::max<int64_t>(total_, 1)));
    std::fprintf(stderr, "\repoch %lld [%s%s] %lld/%lld  loss %.4f  %.1f it/s  ETA %.0fs ", (long long)epoch_,
                 std::string(size_t(filled), '#').c_str(), std::string(size_t(w - filled), '.').c_str(), (long long)done,
                 (long long)total_, loss, rate, eta);
    if (done == total_) std::fprintf(stderr, "\r%*s\r", 100, "");
  }

 private:
  bool on_;
  int64_t total_, epoch_;
};

}  // namespace

// ---- early stopping --------------------------------------------------------------------------

EarlyStopping::EarlyStopping(int64_t patience, double min_delta, bool monitor_accuracy, bool restore_best)
    : patience_(patience), min_delta_(min_delta), accuracy_(monitor_accuracy), restore_(restore_best),
      best_(monitor_accuracy ? -INFINITY : INFINITY) {
  NB_CHECK(patience >= 1, "[EarlyStopping] patience must be >= 1, got ", patience);
}

void EarlyStopping::on_epoch_end(Trainer& t, const EpochRecord& r) {
  double v = accuracy_ ? r.val_accuracy : r.val_loss;
  bool better = accuracy_ ? v > best_ + min_delta_ : v < best_ - min_delta_;
  if (better) {
    best_ = v;
    best_epoch_ = r.epoch;
    wait_ = 0;
    if (restore_) {
      best_state_ = nn::StateDict();
      for (const auto& [k, p] : t.model().state_dict()) best_state_.insert(k, p.detach().clone());
    }
  } else {
    ++wait_;
  }
}

void EarlyStopping::on_train_end(Trainer& t) {
  if (restore_ && !best_state_.empty()) t.model().load_state_dict(best_state_);
}

// ---- trainer ----------------------------------------------------------------------------------

Trainer::Trainer(TrainConfig config) : cfg_(std::move(config)) {
  NB_CHECK(cfg_.batch_size >= 1, "[train] batch size must be positive, got ", cfg_.batch_size);
  NB_CHECK(cfg_.val_fraction > 0 && cfg_.val_fraction < 1, "[train] val_fraction must be in (0, 1), got ",
           cfg_.val_fraction);
  NB_CHECK(cfg_.threads >= 1 && cfg_.workers >= 0, "[train] threads must be >= 1 and workers >= 0, got threads ",
           cfg_.threads, " and workers ", cfg_.workers);
  NB_CHECK(cfg_.dropout == -1 || (cfg_.dropout >= 0 && cfg_.dropout < 1.0),
           "[train] dropout must be in [0, 1) (or -1: keep the model's own), got ", cfg_.dropout);
  // Counts and rates that are 0 for "off" or "the default": negative or non-finite values would
  // otherwise pass silently (a negative clip norm switched clipping off; a NaN lr reached the
  // optimizer).
  NB_CHECK(cfg_.accumulate >= 1, "[train] accumulate must be >= 1 (batches per optimizer step), got ", cfg_.accumulate);
  NB_CHECK(cfg_.amp == "off" || cfg_.amp == "bf16" || cfg_.amp == "f16", "[train] amp must be off, bf16 or f16, got '",
           cfg_.amp, "'");
  for (auto [name, v] : {std::pair{"epochs", cfg_.epochs}, std::pair{"warmup_epochs", cfg_.warmup_epochs},
                         std::pair{"patience", cfg_.patience}, std::pair{"train_limit", cfg_.train_limit},
                         std::pair{"per_class_limit", cfg_.per_class_limit}})
    NB_CHECK(v >= 0, "[train] ", name, " must be >= 0 (0: the default or off), got ", v);
  for (auto [name, v] : {std::pair{"lr", cfg_.lr}, std::pair{"momentum", cfg_.momentum},
                         std::pair{"weight_decay", cfg_.weight_decay}, std::pair{"clip_grad_norm", cfg_.clip_grad_norm},
                         std::pair{"label_smoothing", cfg_.label_smoothing}, std::pair{"mixup", cfg_.mixup},
                         std::pair{"cutmix", cfg_.cutmix}})
    NB_CHECK(std::isfinite(v) && v >= 0, "[train] ", name, " must be a finite number >= 0, got ", v);
  NB_CHECK(cfg_.label_smoothing <= 1, "[train] label_smoothing must be in [0, 1], got ", cfg_.label_smoothing);
  NB_CHECK(std::isfinite(cfg_.ema_decay) && cfg_.ema_decay >= 0 && cfg_.ema_decay < 1,
           "[train] ema_decay must be in [0, 1) (0: off), got ", cfg_.ema_decay);
  NB_CHECK(cfg_.classes.size() != 1, "[train] classes: a classifier needs at least 2 classes, got only label ",
           cfg_.classes[0], " (one output: loss 0 and accuracy 1 whatever it learns)");
  for (size_t i = 0; i < cfg_.classes.size(); ++i) {
    NB_CHECK(cfg_.classes[i] >= 0, "[train] classes: labels are >= 0, got ", cfg_.classes[i]);
    for (size_t j = 0; j < i; ++j)
      NB_CHECK(cfg_.classes[j] != cfg_.classes[i], "[train] classes: label ", cfg_.classes[i],
               " is listed twice (each becomes one output of the model)");
  }
  if (cfg_.out.empty()) cfg_.out = "runs/" + std::filesystem::path(cfg_.model).stem().string() + "-seed" + std::to_string(cfg_.seed);
}

void Trainer::setup() {
  set_num_threads(cfg_.threads);
  manual_seed(cfg_.seed);
  device_ = Device::parse(cfg_.device);
  if (!device_.is_cpu()) (void)empty({1}, {.device = device_});  // an unavailable device fails now, before data loads
  // Fine-tuning takes the architecture, and so the recommended epochs and augmentation, from
  // the checkpoint (its last Linear is resized to the new class count below).
  nn::StateDict pretrained;
  if (resume_spec_) {
    spec_ = *resume_spec_;  // the weights come from last.safetensors next
  } else if (!cfg_.init_from.empty()) {
    LoadedModel lm = load_trained_model(cfg_.init_from);
    spec_ = lm.spec;
    pretrained = lm.model->state_dict();
  } else {
    bool is_file = cfg_.model.find(".json") != std::string::npos || cfg_.model.find('/') != std::string::npos;
    spec_ = is_file ? load_model_spec(cfg_.model) : preset_spec(cfg_.model);
  }
  if (cfg_.epochs <= 0) {
    const Json* e = spec_.recommended.is_object() ? spec_.recommended.find("epochs") : nullptr;
    cfg_.epochs = e && e->is_int() ? e->as_int() : 10;
  }
  if (cfg_.augment.empty()) {
    const Json* a = spec_.recommended.is_object() ? spec_.recommended.find("augment") : nullptr;
    cfg_.augment = a && a->is_string() ? a->as_string() : "none";
  }
  // A fine-tuned model gets one output per class of the new data: the MNIST files' 10 labels
  // (load_mnist's default), or the --classes chosen (load_data sets that count).
  int64_t num_classes = cfg_.init_from.empty() ? spec_.num_classes : 10;
  detail::RunData d = detail::load_data(cfg_, &num_classes);
  // The spec's input_shape is what the model was sized for; images of another size used to train
  // silently (a Flatten saw the same count) or fail deep inside a Linear.
  check_input_shape(spec_, {1, d.train_images.size(1), d.train_images.size(2)}, "train", cfg_.data + " (training set)");
  check_input_shape(spec_, {1, d.test_images.size(1), d.test_images.size(2)}, "train", cfg_.data + " (test set)");
  NB_CHECK(d.test_images.size(0) > 0, "[train] ", cfg_.data, ": the test set has no images (its accuracy and loss ",
           "would read 0)");

  if (num_classes != spec_.num_classes) {
    Json& last = spec_.layers.as_array().back();
    NB_CHECK(last.find("type") && last.at("type").as_string() == "Linear", "[train] cannot change the class count: ",
             "the model's last layer is not Linear");
    last.set("out_features", num_classes);
    spec_.num_classes = num_classes;
  }
  model_ = build_model(spec_);
  if (cfg_.dropout >= 0)
    for (nn::Module* m : model_->modules())
      if (auto* dr = m->as<nn::Dropout>()) dr->options.p(cfg_.dropout);
  if (!pretrained.empty()) {
    // Fine-tuning learns new classes: the head (last layer) starts fresh, everything else
    // comes from the checkpoint.
    const std::string head = std::to_string(model_->size() - 1) + ".";
    nn::StateDict backbone;
    for (const auto& [k, v] : pretrained)
      if (k.rfind(head, 0) != 0) backbone.insert(k, v);
    nn::LoadStateDictResult r = model_->load_state_dict(backbone, /*strict=*/false);
    bool only_head_missing = r.unexpected_keys.empty() && r.shape_mismatches.empty();
    for (const auto& k : r.missing_keys) only_head_missing = only_head_missing && k.rfind(head, 0) == 0;
    NB_CHECK(only_head_missing, "[finetune] checkpoint ", cfg_.init_from, " does not fit the model: ", r.to_string());
  }
  if (cfg_.freeze_backbone) {
    model_->freeze();
    model_->unfreeze(std::to_string(model_->size() - 1));
  }

  // Data: split, normalization from the training split, augmentation on training batches only.
  auto full = data::TensorDataset::images(d.train_images, d.train_labels);
  auto split = data::train_val_split(full, cfg_.val_fraction, cfg_.seed);
  // An empty split would train nothing, or score every epoch 0 and keep epoch 1 as the best.
  NB_CHECK(split.train->size() > 0 && split.val->size() > 0, "[train] ", full->size(),
           " training images split with val_fraction ", cfg_.val_fraction, " leave ", split.train->size(),
           " for training and ", split.val->size(), " for validation; both need at least one (use more images, ",
           "e.g. a larger --per-class or --train-limit, or another --val-fraction)");
  // Every requested class must reach the training split (after --per-class, --train-limit and the
  // validation split): a class without examples is an output that never trains. The test split
  // may lack classes; their accuracy is reported as null.
  if (!cfg_.classes.empty()) {
    std::vector<int64_t> count(cfg_.classes.size(), 0);
    const std::vector<double> labels = d.train_labels.to_double_vector();
    for (int64_t i : split.train->indices()) ++count[size_t(labels[size_t(i)])];
    for (size_t k = 0; k < count.size(); ++k)
      NB_CHECK(count[k] > 0, "[train] classes: label ", cfg_.classes[k], " has no images in the training split (",
               split.train->size(), " images after --per-class, --train-limit and the validation split); its ",
               "output would never train");
  }
  data::ChannelStats stats = data::channel_stats(*split.train);
  norm_mean_ = stats.mean;
  norm_std_ = stats.std;
  data::Transform norm = data::normalize(norm_mean_, norm_std_);
  data::Transform aug = detail::make_augmentation(cfg_.augment);
  data::Transform train_tf = aug ? data::compose({aug, norm}) : norm;
  // Full batches only (every step sees batch_size examples, and batch norm never gets a batch of
  // one), except when the training split is smaller than one batch: then its one short batch.
  // Dropping it would leave an epoch without a single step (train loss 0, nothing learnt), which
  // is what 40 images at the default batch of 64 did before.
  const bool full_batches = split.train->size() >= cfg_.batch_size;
  if (split.train->size() == 1)
    for (nn::Module* m : model_->modules())
      NB_CHECK(!m->as<nn::BatchNorm>(), "[train] the training split has 1 image, and the model's batch norm needs ",
               "batches of 2 or more in training (use more images, e.g. a larger --per-class or --train-limit, or ",
               "a smaller --val-fraction)");
  data::SamplerPtr sampler;
  if (cfg_.balance_classes) {
    std::vector<int64_t> labels;
    labels.reserve(size_t(split.train->size()));
    for (int64_t i = 0; i < split.train->size(); ++i) labels.push_back(split.train->get(i).target);
    sampler = std::make_shared<data::WeightedRandomSampler>(data::class_balanced_weights(labels), int64_t(labels.size()));
  }
  train_loader_ = std::make_unique<data::DataLoader>(
      split.train, data::DataLoaderOptions{.batch_size = cfg_.batch_size, .shuffle = true, .drop_last = full_batches,
                                           .seed = cfg_.seed, .num_workers = cfg_.workers, .transform = train_tf,
                                           .sampler = sampler, .pin_memory = !device_.is_cpu()});
  auto eval_opts = data::DataLoaderOptions{.batch_size = 500, .shuffle = false, .drop_last = false,
                                           .seed = cfg_.seed, .num_workers = cfg_.workers, .transform = norm,
                                           .pin_memory = !device_.is_cpu()};
  val_loader_ = std::make_unique<data::DataLoader>(split.val, eval_opts);
  test_raw_ = data::TensorDataset::images(d.test_images, d.test_labels);
  test_loader_ = std::make_unique<data::DataLoader>(test_raw_, eval_opts);

  // Parameters (and so the optimizer state made from them) live on the run's device; the
  // initial values were drawn on the host, so a seed gives the same start on every device.
  model_->to(device_);

  if (cfg_.ema_decay > 0) {
    // The average's module is a second instance of the spec; building it must not move the
    // random stream the run's training draws from (a seed trains the same with or without EMA).
    const GeneratorState rng = get_rng_state();
    std::shared_ptr<nn::Sequential> shadow = build_model(spec_);
    set_rng_state(rng);
    shadow->to(device_);
    const double decay = cfg_.ema_decay;
    optim::AvgFn warmed = [decay](const Tensor& avg, const Tensor& cur, int64_t k) {
      return optim::get_ema_avg_fn(std::min(decay, (1.0 + double(k)) / (10.0 + double(k))))(avg, cur, k);
    };
    ema_ = std::make_shared<optim::AveragedModel>(shadow, warmed, /*use_buffers=*/true);
    ema_->update_parameters(*model_);  // starts as the initial weights
  }

  TensorList trainable;
  for (const Tensor& p : model_->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  optimizer_ = detail::make_optimizer(cfg_, trainable);
  scheduler_ = detail::make_scheduler(cfg_, *optimizer_, cfg_.epochs);
  // f16's range ends at 65504 and its smallest subnormal is 2^-24: scale the loss. bf16 has f32's range.
  scaler_ = amp::GradScaler({.enabled = cfg_.amp == "f16"});
  if (cfg_.patience > 0) {
    early_ = std::make_shared<EarlyStopping>(cfg_.patience);
    callbacks_.push_back(early_);
  }
}

EpochRecord Trainer::train_epoch(int64_t epoch) {
  auto t0 = clk::now();
  reset_peak_memory_stats(device_);
  model_->train();
  train_loader_->start_epoch(epoch);
  const int64_t num_batches = train_loader_->num_batches();
  Progress bar(cfg_.progress, num_batches, epoch);
  double loss_sum = 0;
  int64_t seen = 0, correct = 0, step = 0;
  TensorList params = optimizer_->parameters();
  // Loss and hit counts accumulate on the device and are read every few steps: on a GPU each
  // read waits for the queued step, so reading every step would serialize host and device.
  const int64_t read_every = device_.is_cpu() ? 1 : 25;
  Tensor loss_acc, correct_acc;
  int64_t unread = 0;
  auto read_back = [&] {
    if (unread == 0) return;
    double l = loss_acc.item();
    NB_CHECK(std::isfinite(l), "[train] the loss became ", l, " at epoch ", epoch, " by step ", step,
             "; lower the learning rate (--lr) or enable gradient clipping (--clip-grad-norm)");
    loss_sum += l;
    correct += correct_acc.item<int64_t>();
    unread = 0;
  };
  detail::DeviceFeed feed(*train_loader_, device_, &data_wait_);
  while (std::optional<data::Batch> b = feed.next()) {
    // MixUp / CutMix: the loss takes the mixed inputs and probability targets; the hit count
    // below still compares with the unmixed labels.
    data::Batch in = *b;
    if (cfg_.mixup > 0 || cfg_.cutmix > 0) {
      data::Rng rng = data::Rng::for_sample(cfg_.seed, epoch, step, data::RngDomain::mix);
      const bool cut = cfg_.cutmix > 0 && (cfg_.mixup <= 0 || rng.bernoulli(0.5));
      in = cut ? data::CutMix({.alpha = cfg_.cutmix, .num_classes = spec_.num_classes})(*b, rng)
               : data::MixUp({.alpha = cfg_.mixup, .num_classes = spec_.num_classes})(*b, rng);
    }
    Tensor logits, loss;
    {
      const std::optional<AutocastGuard> ac = autocast();
      logits = (*model_)(in.inputs);
      loss = cross_entropy(logits, in.targets, {.label_smoothing = cfg_.label_smoothing});
    }
    const int64_t n = b->targets.size(0);
    {
      NoGradGuard ng;
      Tensor ls = loss.detach() * double(n);
      Tensor hits = sum(eq(argmax(logits.detach(), 1), b->targets));
      loss_acc = unread ? loss_acc + ls : ls;
      correct_acc = unread ? correct_acc + hits : hits;
    }
    ++unread;
    seen += n;
    const int64_t micro = step++;  // this batch's index in the epoch
    if (unread >= read_every) read_back();  // on the CPU: every step, before the update
    // Gradient accumulation: batch `micro` belongs to the window starting at the last multiple
    // of `accumulate`; each of the window's batches adds its share of the mean gradient.
    const int64_t window_start = micro / cfg_.accumulate * cfg_.accumulate;
    const int64_t window = std::min(cfg_.accumulate, num_batches - window_start);
    if (micro == window_start) optimizer_->zero_grad();
    scaler_.scale(window == 1 ? loss : loss / double(window)).backward();
    if (micro + 1 == window_start + window) {
      if (cfg_.clip_grad_norm > 0) {
        scaler_.unscale_(*optimizer_);  // clip the true gradients, not the scaled ones
        optim::clip_grad_norm_(params, cfg_.clip_grad_norm);
      }
      // With f16, a step whose gradients overflowed is skipped (and the scale lowered); the
      // weights did not change, so neither does their average.
      const bool stepped = scaler_.step(*optimizer_);
      scaler_.update();
      if (ema_ && stepped) ema_->update_parameters(*model_);
    }
    if (unread == 0) bar.update(step, loss_sum / double(seen), t0);
  }
  read_back();
  EpochRecord r;
  r.epoch = epoch;
  r.train_loss = seen ? loss_sum / double(seen) : 0;
  r.train_accuracy = seen ? double(correct) / double(seen) : 0;
  r.lr = optimizer_->param_groups()[0].options().get_lr();
  r.peak_memory_mb = double(memory_stats(device_).peak_allocated) / double(1 << 20);
  return r;
}

std::optional<AutocastGuard> Trainer::autocast() const {
  if (cfg_.amp == "off") return std::nullopt;
  return std::optional<AutocastGuard>(std::in_place, AutocastOptions{.device_type = device_.type,
                                                                     .dtype = cfg_.amp == "f16" ? DType::f16 : DType::bf16});
}

nn::Module& Trainer::eval_model() { return ema_ ? static_cast<nn::Module&>(*ema_->module) : *model_; }

ClassificationMetrics Trainer::evaluate(data::DataLoader& loader, std::vector<ImageSample>* mis, const data::Dataset*) {
  NoGradGuard ng;
  nn::Module& model = eval_model();
  model.eval();
  MetricAccumulator acc(spec_.num_classes);
  loader.start_epoch(0);
  int64_t offset = 0;
  std::vector<double> test_pixels;
  detail::DeviceFeed feed(loader, device_, nullptr);
  while (auto b = feed.next()) {
    Tensor logits, losses;
    {
      const std::optional<AutocastGuard> ac = autocast();
      logits = model(b->inputs);
      losses = cross_entropy(logits, b->targets, {.reduction = Reduction::Sum});
    }
    acc.update(logits, b->targets, losses.item());
    if (mis && mis->size() < 48) {
      Tensor probs = softmax(logits, 1);
      auto preds = argmax(logits, 1).to_double_vector();
      auto truth = b->targets.to_double_vector();
      for (size_t i = 0; i < preds.size() && mis->size() < 48; ++i) {
        if (preds[i] == truth[i]) continue;
        Tensor img = test_raw_->get(offset + int64_t(i)).input;  // [1, 28, 28] in [0, 1]
        ImageSample s;
        s.height = img.size(1), s.width = img.size(2);
        for (double v : img.to_double_vector()) s.pixels.push_back(uint8_t(std::lround(std::clamp(v, 0.0, 1.0) * 255)));
        s.truth = int64_t(truth[i]);
        s.predicted = int64_t(preds[i]);
        s.confidence = probs.select(0, int64_t(i)).select(0, s.predicted).item();
        mis->push_back(std::move(s));
      }
    }
    offset += b->targets.size(0);
  }
  model.train();
  return acc.result();
}

void Trainer::save_best(int64_t epoch, double val_accuracy) {
  io::Metadata md{{"format", "nabla-model"},
                  {"spec", spec_.to_json().dump()},
                  {"config", cfg_.to_json().dump()},
                  {"epoch", std::to_string(epoch)},
                  {"val_accuracy", optim::detail::format_double(val_accuracy)},
                  {"norm.mean", join_doubles(norm_mean_)},
                  {"norm.std", join_doubles(norm_std_)}};
  io::save_safetensors(prefixed(eval_model().state_dict(), "model."), cfg_.out + "/best.safetensors", md);
}

void Trainer::save_last(int64_t epoch) {
  io::TensorMap t = prefixed(model_->state_dict(), "model.");
  if (ema_) {
    for (auto& [k, v] : prefixed(ema_->module->state_dict(), "ema.")) t[k] = v;
    t["ema_n_averaged"] = ema_->n_averaged.detach();
  }
  optim::OptimizerStateDict osd = optimizer_->state_dict();
  for (const auto& [k, v] : osd.tensors) t["optim." + k] = v;
  io::Metadata md{{"format", "nabla-run"},
                  {"spec", spec_.to_json().dump()},
                  {"config", cfg_.to_json().dump()},
                  {"epoch", std::to_string(epoch)},
                  {"history", history_json(history_).dump()},
                  {"best_val", optim::detail::format_double(best_val_)},
                  {"best_epoch", std::to_string(best_epoch_)},
                  {"norm.mean", join_doubles(norm_mean_)},
                  {"norm.std", join_doubles(norm_std_)}};
  GeneratorState rng = get_rng_state();
  md["rng.seed"] = std::to_string(rng.seed);
  md["rng.offset"] = std::to_string(rng.offset);
  for (const auto& [k, v] : osd.metadata) md["optim." + k] = v;
  for (const auto& [k, v] : scheduler_->state_dict()) md["scheduler." + k] = v;
  if (scaler_.is_enabled())
    for (const auto& [k, v] : scaler_.state_dict()) md["scaler." + k] = v;
  if (early_) {
    md["early.best"] = optim::detail::format_double(early_->best());
    md["early.best_epoch"] = std::to_string(early_->best_epoch());
    md["early.wait"] = std::to_string(early_->wait());
  }
  io::save_safetensors(t, cfg_.out + "/last.safetensors", md);
}

void Trainer::load_last(const std::string& path, int64_t epoch) {
  io::SafetensorsFile f = io::load_safetensors(path);
  NB_CHECK(meta(f.metadata, "format", path) == "nabla-run", "[resume] ", path, " is not a last.safetensors run checkpoint");
  load_weights(*model_, f.tensors, path);
  if (ema_) {
    auto n = f.tensors.find("ema_n_averaged");
    NB_CHECK(n != f.tensors.end(), "[resume] ", path, " holds no weight average, but the run keeps one (ema_decay ",
             cfg_.ema_decay, ")");
    try {
      ema_->module->load_state_dict(unprefixed(f.tensors, "ema."), /*strict=*/true);
      ema_->n_averaged.copy_(n->second);
    } catch (const Error& e) {
      fail("[checkpoint] ", path, ": the weight average does not match the model: ", e.what());
    }
  }
  optim::OptimizerStateDict osd;
  for (const auto& [k, v] : f.tensors)
    if (k.rfind("optim.", 0) == 0) osd.tensors[k.substr(6)] = v;
  io::Metadata sched, scaler;
  for (const auto& [k, v] : f.metadata) {
    if (k.rfind("optim.", 0) == 0) osd.metadata[k.substr(6)] = v;
    if (k.rfind("scheduler.", 0) == 0) sched[k.substr(10)] = v;
    if (k.rfind("scaler.", 0) == 0) scaler[k.substr(7)] = v;
  }
  try {
    optimizer_->load_state_dict(osd);
    scheduler_->load_state_dict(sched);
    // A run that switches to f16 on resume starts a fresh loss scale.
    if (scaler_.is_enabled() && !scaler.empty()) scaler_.load_state_dict(scaler);
  } catch (const Error& e) {
    fail("[resume] ", path, ": ", e.what());
  }
  history_ = history_from(f.metadata, path);
  NB_CHECK(int64_t(history_.size()) == epoch, "[checkpoint] ", path, ": metadata 'history' has ", history_.size(),
           " epochs, 'epoch' says ", epoch);
  best_val_ = meta_double(f.metadata, "best_val", path);
  best_epoch_ = meta_int<int64_t>(f.metadata, "best_epoch", path, 1, epoch);
  set_rng_state({meta_int<uint64_t>(f.metadata, "rng.seed", path), meta_int<uint64_t>(f.metadata, "rng.offset", path)});
  if (early_ && f.metadata.count("early.best")) {
    early_->restore_state(meta_int<int64_t>(f.metadata, "early.best_epoch", path, 0, epoch),
                          meta_double(f.metadata, "early.best", path),
                          meta_int<int64_t>(f.metadata, "early.wait", path, 0, epoch));
    // The best weights live in best.safetensors; restore-best reads them from there.
  }
}

void Trainer::check_best(const std::string& path, int64_t done) const {
  // run() tests best.safetensors' weights and reports best_epoch_ as the best epoch: without
  // that file (or with another epoch's) the summary would describe a checkpoint that is not there.
  NB_CHECK(std::filesystem::exists(path), "[resume] ", path, " is missing, but last.safetensors records epoch ",
           best_epoch_, " as the best; restore that file (or train the run again) to resume");
  io::SafetensorsFile best = io::load_safetensors(path);
  const int64_t e = meta_int<int64_t>(best.metadata, "epoch", path, 1);
  // run() saves best before last: a run stopped between the two has best one epoch ahead, and
  // resuming retrains that epoch (bit for bit) and writes best again.
  NB_CHECK(e == best_epoch_ || e == done + 1, "[resume] ", path, " holds epoch ", e, ", but last.safetensors records epoch ",
           best_epoch_, " as the best (and ", done, " as the last); the run folder mixes two runs");
  // The weights must fit the architecture; tried on a fresh model (model_ holds last's), whose
  // initialization must not move the random stream that last.safetensors restored.
  const GeneratorState rng = get_rng_state();
  std::shared_ptr<nn::Sequential> fresh = build_model(spec_);
  set_rng_state(rng);
  load_weights(*fresh, best.tensors, path);
}

nn::Sequential& Trainer::model() {
  NB_CHECK(model_ != nullptr, "[train] Trainer::model(): the model of run ", cfg_.out,
           " is built by fit(); call it after fit() starts (from a callback, say) or after it returns");
  return *model_;
}

RunResult Trainer::fit() {
  setup();
  std::error_code ec;
  std::filesystem::create_directories(cfg_.out, ec);
  NB_CHECK(!ec && std::filesystem::is_directory(cfg_.out), "[train] cannot create the run folder ", cfg_.out, ": ",
           ec ? ec.message() : "a file of that name exists");
  io::write_file_atomic(cfg_.out + "/config.json", cfg_.to_json().dump(2) + "\n");
  return run(1);
}

RunResult Trainer::run(int64_t first_epoch) {
  auto t0 = clk::now();
  double train_seconds = 0;
  int64_t last_epoch = first_epoch - 1;
  bool stopped = false;
  for (auto& cb : callbacks_) stopped = stopped || cb->should_stop();
  for (int64_t epoch = first_epoch; epoch <= cfg_.epochs && !stopped; ++epoch) {
    auto e0 = clk::now();
    EpochRecord r = train_epoch(epoch);
    ClassificationMetrics val = evaluate(*val_loader_);
    r.val_loss = val.loss;
    r.val_accuracy = val.accuracy;
    r.seconds = seconds_since(e0);
    train_seconds += r.seconds;
    history_.push_back(r);
    if (auto* plateau = dynamic_cast<optim::ReduceLROnPlateau*>(scheduler_.get())) {
      plateau->step(val.loss);
    } else {
      static_cast<optim::LRScheduler*>(scheduler_.get())->step();
    }
    if (r.val_accuracy > best_val_) {
      best_val_ = r.val_accuracy;
      best_epoch_ = epoch;
      save_best(epoch, r.val_accuracy);
    }
    for (auto& cb : callbacks_) {
      cb->on_epoch_end(*this, r);
      stopped = stopped || cb->should_stop();
    }
    save_last(epoch);
    write_metrics_csv(cfg_.out + "/metrics.csv", history_);
    std::fprintf(stderr, "epoch %3lld/%lld  train loss %.4f acc %.4f  val loss %.4f acc %.4f  lr %.3g  %.1fs  peak %.0f MiB\n",
                 (long long)epoch, (long long)cfg_.epochs, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy,
                 r.lr, r.seconds, r.peak_memory_mb);
    last_epoch = epoch;
  }
  for (auto& cb : callbacks_) cb->on_train_end(*this);
  // The test metrics (and the report) describe the best epoch's weights, the model the run
  // hands on as best.safetensors; this is also restore-best for early stopping (after a
  // resume too).
  if (const std::string best_path = cfg_.out + "/best.safetensors"; std::filesystem::exists(best_path))
    load_weights(eval_model(), io::load_safetensors(best_path).tensors, best_path);
  RunResult res;
  std::vector<ImageSample> mis;
  res.test = evaluate(*test_loader_, &mis);
  res.run_dir = cfg_.out;
  res.epochs_run = last_epoch;
  res.best_epoch = best_epoch_;
  res.best_val_accuracy = best_val_;
  res.seconds = seconds_since(t0);
  int64_t ran = last_epoch - first_epoch + 1;
  res.seconds_per_epoch = ran > 0 ? train_seconds / double(ran) : 0;
  res.data_wait_seconds = data_wait_;
  for (const EpochRecord& r : history_) res.peak_memory_mb = std::max(res.peak_memory_mb, r.peak_memory_mb);

  ReportData rep;
  rep.title = "nabla run: " + spec_.name + " (" + cfg_.out + ")";
  rep.config = cfg_.to_json();
  rep.summary = Json::object({{"test accuracy", res.test.accuracy},
                              {"test top-5 accuracy", res.test.topk_accuracy},
                              {"test loss", res.test.loss},
                              {"best validation accuracy", best_val_},
                              {"best epoch", best_epoch_},
                              {"epochs run", last_epoch},
                              {"seconds per epoch", res.seconds_per_epoch},
                              {"peak memory in training (MiB)", res.peak_memory_mb}});
  rep.history = history_;
  rep.test = res.test;
  if (cfg_.classes.empty() && spec_.num_classes == 10) {
    rep.class_names = fashion_mnist_classes();
  } else {
    for (int64_t c : cfg_.classes)
      rep.class_names.push_back(c < 10 ? fashion_mnist_classes()[size_t(c)] : std::to_string(c));
  }
  rep.misclassified = std::move(mis);
  write_report(rep, cfg_.out + "/report.html");
  return res;
}

RunResult Trainer::resume(const std::string& run_dir, std::optional<int64_t> epochs) {
  std::string cfg_path = run_dir + "/config.json", last = run_dir + "/last.safetensors";
  NB_CHECK(std::filesystem::exists(cfg_path), "[resume] ", run_dir, " has no config.json: not a run folder");
  NB_CHECK(std::filesystem::exists(last), "[resume] ", run_dir, " has no last.safetensors: nothing to resume");
  const Json cfg_json = io::parse_json_text(io::read_text_file(cfg_path, "resume"), "resume", cfg_path);
  TrainConfig cfg;
  try {
    cfg = TrainConfig::from_json(cfg_json);
  } catch (const Error& e) {
    fail("[resume] ", cfg_path, ": ", e.what());
  }
  cfg.out = run_dir;
  const int64_t saved_epochs = cfg.epochs;
  const io::Metadata saved = io::load_safetensors(last).metadata;
  const int64_t done = meta_int<int64_t>(saved, "epoch", last, 1);
  check_same_data_settings(cfg_json, meta_json(saved, "config", last), cfg_path, last);
  NB_CHECK(!epochs || *epochs >= done, "[resume] ", run_dir, " has already trained ", done,
           " epochs; the total number of epochs (--epochs) cannot be lower, got ", *epochs);
  if (epochs) cfg.epochs = *epochs;
  std::optional<Trainer> made;
  try {
    made.emplace(cfg);
  } catch (const Error& e) {  // a setting this version refuses (older versions accepted some)
    fail("[resume] ", cfg_path, ": ", e.what(), " (edit that field of config.json to resume)");
  }
  Trainer& t = *made;
  t.resume_spec_ = parse_model_spec(meta(saved, "spec", last), last + " (spec)");
  t.setup();
  t.load_last(last, done);
  // More epochs than the run was made for: the schedule was rebuilt over the new length, so the
  // next epoch takes the new curve's lr, not the old one's (0 once a cosine run has finished).
  if (cfg.epochs != saved_epochs)
    if (auto* s = dynamic_cast<optim::LRScheduler*>(t.scheduler_.get())) s->reapply();
  t.check_best(run_dir + "/best.safetensors", done);
  if (epochs) io::write_file_atomic(cfg_path, t.cfg_.to_json().dump(2) + "\n");
  return t.run(done + 1);
}

LoadedModel load_trained_model(const std::string& path) {
  check_regular_file(path, "checkpoint");
  io::SafetensorsFile f = io::load_safetensors(path);
  LoadedModel lm;
  lm.spec = parse_model_spec(meta(f.metadata, "spec", path), path + " (spec)");
  lm.model = build_model(lm.spec);
  load_weights(*lm.model, f.tensors, path);
  // One value per input channel ([C, H, W] specs; the trainer's images have one channel).
  const size_t channels = lm.spec.input_shape.size() == 3 ? size_t(lm.spec.input_shape[0]) : 1;
  lm.mean = meta_norm(f.metadata, "norm.mean", path, channels, false);
  lm.std = meta_norm(f.metadata, "norm.std", path, channels, true);
  lm.config = meta_json(f.metadata, "config", path);
  NB_CHECK(lm.config.is_object(), "[checkpoint] ", path, ": metadata 'config' must be a JSON object, got ",
           lm.config.dump());
  // A model trained with --classes: output k is data set label classes[k].
  if (const Json* c = lm.config.find("classes"); c && !c->is_null()) {
    NB_CHECK(c->is_array(), "[checkpoint] ", path, ": metadata 'config' key 'classes' must be a list of integers, got ",
             c->dump());
    for (const Json& e : c->as_array()) {
      NB_CHECK(e.is_int() && e.as_int() >= 0, "[checkpoint] ", path,
               ": metadata 'config' key 'classes' must hold integers >= 0, got ", c->dump());
      lm.classes.push_back(e.as_int());
    }
    NB_CHECK(lm.classes.empty() || int64_t(lm.classes.size()) == lm.spec.num_classes, "[checkpoint] ", path,
             ": metadata 'config' key 'classes' lists ", lm.classes.size(), " classes, but the model has ",
             lm.spec.num_classes, " outputs");
  }
  lm.model->eval();
  return lm;
}

}  // namespace nabla::train
