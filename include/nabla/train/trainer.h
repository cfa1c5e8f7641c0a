// The trainer: turns a model spec plus a data set into a trained, checkpointed, reported
// model. A run writes one folder:
//   config.json        everything needed to reproduce the run
//   metrics.csv        one row per epoch (loss, accuracy, lr, time)
//   best.safetensors   weights of the best epoch (validation accuracy), with spec + config
//   last.safetensors   model + optimizer + schedule + epoch + RNG + history, for `resume`
//   report.html        self-contained learning curves, confusion matrix, misclassified images
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nabla/autocast.h"
#include "nabla/data/dataloader.h"
#include "nabla/data/idx.h"
#include "nabla/io/json.h"
#include "nabla/nn/container.h"
#include "nabla/optim/grad_scaler.h"
#include "nabla/optim/optimizer.h"
#include "nabla/optim/scheduler.h"
#include "nabla/optim/swa_utils.h"
#include "nabla/train/metrics.h"
#include "nabla/train/model_spec.h"
#include "nabla/train/report.h"

namespace nabla::train {

struct TrainConfig {
  std::string model = "cnn";  ///< preset name or path to a JSON model spec
  std::string data = data::kFashionMnistDir;
  std::string out;             ///< run folder (default runs/<model>-seed<seed>)
  int64_t epochs = 0;          ///< 0: the preset's recommendation
  int64_t batch_size = 64;
  /// Gradient accumulation: one optimizer step per this many batches, each batch's loss divided
  /// by the number of batches in its window, so a step follows the mean gradient of
  /// batch_size * accumulate examples (an epoch's last window may be shorter).
  int64_t accumulate = 1;
  /// Draw training batches with a WeightedRandomSampler weighting each image by 1 / (its class's
  /// count in the training split): every class equally often, on average (as many draws per
  /// epoch as the split has images, with replacement).
  bool balance_classes = false;
  std::string optimizer = "sgd";  ///< sgd, adam, adamw, rmsprop, adagrad, adadelta, nadam, radam, adamax, rprop, asgd, adafactor
  double lr = 0;                  ///< 0: the optimizer's usual value (sgd 0.05, adam-family 1e-3)
  double momentum = 0.9;          ///< sgd / rmsprop
  double weight_decay = 0;
  std::string schedule = "cosine";  ///< constant, step, exponential, cosine, invsqrt, onecycle, plateau
  int64_t warmup_epochs = 0;
  std::string augment;           ///< none, standard, strong, trivial, randaugment; empty: the preset's recommendation
  double dropout = -1;           ///< >= 0 overrides the p of every Dropout layer
  double label_smoothing = 0;
  /// > 0: MixUp with λ ~ Beta(mixup, mixup) on every training batch (torchvision's MixUp: each
  /// image blended with its neighbour in the batch, targets the same mix of the two labels).
  double mixup = 0;
  /// > 0: CutMix with λ ~ Beta(cutmix, cutmix). With both set, each batch takes one of the two
  /// at random (torchvision's RandomChoice). Train accuracy counts hits on the unmixed labels.
  double cutmix = 0;
  double clip_grad_norm = 0;     ///< 0: off
  /// Mixed precision: "off", "bf16" or "f16". The forward pass and the loss run under autocast
  /// with that dtype (parameters, gradients and optimizer state stay f32); f16 adds loss scaling
  /// (amp::GradScaler, whose state last.safetensors keeps for a resume).
  std::string amp = "off";
  /// > 0: keep an exponential moving average of the weights (and BatchNorm statistics), updated
  /// after every step with decay min(ema_decay, (1 + k) / (10 + k)) at update k (a warm-up, so
  /// the random init fades fast); validation, best.safetensors and the test use the average.
  double ema_decay = 0;
  int64_t patience = 0;          ///< early stopping on validation accuracy; 0: off
  double val_fraction = 0.1;
  int64_t train_limit = 0;       ///< use only this many training images (0: all)
  int64_t per_class_limit = 0;   ///< use only the first N training images of each class (0: all)
  uint64_t seed = 0;
  int threads = 2;
  int workers = 1;               ///< data-loading threads
  std::string device = "cpu";    ///< cpu, cuda or cuda:N: where parameters, optimizer state and steps live
  bool progress = true;          ///< progress bar when stderr is a terminal
  /// Fine-tuning: start from this checkpoint's weights except the last layer (the head), which
  /// starts fresh, resized to the class count; freeze everything but the head when freeze_backbone.
  std::string init_from;
  bool freeze_backbone = false;
  std::vector<int64_t> classes;  ///< train/evaluate only on these labels (remapped to 0..k-1)

  io::Json to_json() const;
  static TrainConfig from_json(const io::Json& j);
};

/// Result of a run, also printed as the final JSON line by the CLI.
struct RunResult {
  std::string run_dir;
  int64_t epochs_run = 0;
  int64_t best_epoch = 0;
  double best_val_accuracy = 0;
  ClassificationMetrics test;  ///< of the best epoch's weights (best.safetensors)
  double seconds = 0;
  double seconds_per_epoch = 0;
  double data_wait_seconds = 0;  ///< time the training loop waited for batches
  double peak_memory_mb = 0;     ///< the largest EpochRecord::peak_memory_mb of this run's epochs
  io::Json to_json() const;
};

class Trainer;

/// Hooks into the fit loop. Return true from should_stop() to end training early.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_epoch_end(Trainer&, const EpochRecord&) {}
  virtual bool should_stop() const { return false; }
  virtual void on_train_end(Trainer&) {}
};

/// Stops when the monitored validation metric has not improved by min_delta for `patience`
/// epochs; with restore_best, puts the best epoch's weights back at the end.
class EarlyStopping : public Callback {
 public:
  EarlyStopping(int64_t patience, double min_delta = 0.0, bool monitor_accuracy = true, bool restore_best = true);
  void on_epoch_end(Trainer& t, const EpochRecord& r) override;
  bool should_stop() const override { return wait_ >= patience_; }
  void on_train_end(Trainer& t) override;
  int64_t best_epoch() const { return best_epoch_; }
  int64_t wait() const { return wait_; }
  void restore_state(int64_t best_epoch, double best, int64_t wait) { best_epoch_ = best_epoch, best_ = best, wait_ = wait; }
  double best() const { return best_; }

 private:
  int64_t patience_;
  double min_delta_;
  bool accuracy_, restore_;
  double best_;
  int64_t best_epoch_ = 0, wait_ = 0;
  nn::StateDict best_state_;
};

class Trainer {
 public:
  explicit Trainer(TrainConfig config);
  /// Trains from scratch (or from `init_from`) and writes the run folder.
  RunResult fit();
  /// Continues the run in `run_dir` from its last.safetensors, exactly as if uninterrupted.
  static RunResult resume(const std::string& run_dir, std::optional<int64_t> epochs = std::nullopt);

  void add_callback(std::shared_ptr<Callback> cb) { callbacks_.push_back(std::move(cb)); }
  /// The model being trained; built by fit() (or resume), so calling this before is an error.
  nn::Sequential& model();
  const TrainConfig& config() const { return cfg_; }
  const ModelSpec& spec() const { return spec_; }

 private:
  void setup();
  RunResult run(int64_t first_epoch);
  ClassificationMetrics evaluate(data::DataLoader& loader, std::vector<ImageSample>* misclassified = nullptr,
                                 const data::Dataset* raw = nullptr);
  EpochRecord train_epoch(int64_t epoch);
  void save_last(int64_t epoch);
  void save_best(int64_t epoch, double val_accuracy);
  void load_last(const std::string& path, int64_t epoch);
  void check_best(const std::string& path, int64_t done) const;

  TrainConfig cfg_;
  ModelSpec spec_;
  /// Set by resume(): the spec stored in last.safetensors, which setup() builds the model from
  /// (not the spec file or fine-tuning checkpoint the run started from: they may have changed).
  std::optional<ModelSpec> resume_spec_;
  std::shared_ptr<nn::Sequential> model_;
  /// The weights' moving average (ema_decay > 0), its module a second instance of the spec.
  std::shared_ptr<optim::AveragedModel> ema_;
  /// What validation, best.safetensors and the test use: the average when there is one.
  nn::Module& eval_model();
  /// The autocast region of a forward pass per cfg_.amp (none when "off").
  std::optional<AutocastGuard> autocast() const;
  std::unique_ptr<optim::Optimizer> optimizer_;
  amp::GradScaler scaler_{{.enabled = false}};  ///< enabled for amp = "f16"
  std::unique_ptr<optim::Scheduler> scheduler_;
  std::unique_ptr<data::DataLoader> train_loader_, val_loader_, test_loader_;
  data::DatasetPtr test_raw_;
  std::vector<double> norm_mean_, norm_std_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::shared_ptr<EarlyStopping> early_;
  std::vector<EpochRecord> history_;
  double best_val_ = -1;
  int64_t best_epoch_ = 0;
  double data_wait_ = 0;
  Device device_;
};

/// Loads a checkpoint written by the trainer (best.safetensors / last.safetensors) into a
/// model built from the spec stored in it; returns the model, its spec and the normalization.
struct LoadedModel {
  std::shared_ptr<nn::Sequential> model;
  ModelSpec spec;
  std::vector<double> mean, std;
  io::Json config;
  /// The data set labels of its outputs for a model trained with --classes (output k is label
  /// classes[k]); empty when output k is label k. Checked against the model's output count.
  std::vector<int64_t> classes;
};
LoadedModel load_trained_model(const std::string& checkpoint_path);

/// The ten Fashion-MNIST class names.
const std::vector<std::string>& fashion_mnist_classes();

}  // namespace nabla::train
