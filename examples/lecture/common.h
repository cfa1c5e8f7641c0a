// What the lecture experiments share: command-line flags, the data (Fashion-MNIST, or a
// small synthetic stand-in in --smoke mode so the test suite needs no download), the MLP,
// and a plain minibatch training loop over in-memory tensors.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nabla/data.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

namespace lecture {

/// Flags every experiment accepts:
///   --smoke        tiny sizes and synthetic data: seconds, for the test suite
///   --out DIR      where the CSV and SVG files go (default runs/lecture/<name>)
///   --threads N    nabla::set_num_threads (default 1)
///   --seed S       nabla::manual_seed (default 0)
///   --data DIR     Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)
struct Args {
  bool smoke = false;
  std::string out;
  int threads = 1;
  uint64_t seed = 0;
  std::string data = nabla::data::kFashionMnistDir;
};

/// Parses the flags above (exits 0 on --help, throws nabla::Error on a bad flag), creates
/// the output folder, seeds and sets the thread count. `name` is the experiment's folder name.
Args parse_args(int argc, char** argv, const std::string& name, const std::string& what);

/// `dir/file`.
std::string join(const std::string& dir, const std::string& file);

/// Seconds since construction.
class Timer {
 public:
  Timer() : t0_(std::chrono::steady_clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  std::chrono::steady_clock::time_point t0_;
};

// ---- data ------------------------------------------------------------------------------

/// Ten synthetic classes (a bright square at one of ten positions, jittered, on noise, with
/// 10% of labels redrawn at random so no model is perfect): the smoke-mode stand-in for
/// Fashion-MNIST, same format (u8 [N, 28, 28], i64 [N]).
nabla::data::ImageSet synthetic_images(int64_t n, uint32_t seed);

/// Writes an ImageSet pair as the four (uncompressed) MNIST IDX files in `dir`.
void write_mnist_dir(const std::string& dir, const nabla::data::ImageSet& train, const nabla::data::ImageSet& test);

/// Flattened, standardized images x (f32 [N, 784]) with their labels y (i64 [N]).
struct Split {
  nabla::Tensor x, y;
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};
struct Data {
  Split train, val, test;
  double mean = 0, std = 1;  ///< of the training pixels in [0, 1]; x = (pixel/255 - mean) / std
};

/// Disjoint train and validation sets drawn (seeded shuffle) from the training file, and the
/// first `n_test` test images (0: all). Fashion-MNIST from args.data, or synthetic data
/// in smoke mode.
Data load_data(const Args& args, int64_t n_train, int64_t n_val, int64_t n_test);

// ---- model and training ----------------------------------------------------------------

/// Linear layers of the given widths with ReLU between them (and Dropout(p) after each
/// ReLU when dropout > 0). {784, 512, 256, 10} is the `mlp` preset's architecture.
std::shared_ptr<nabla::nn::Sequential> make_mlp(const std::vector<int64_t>& widths, double dropout = 0);

/// Called after every optimizer step with the step's (1-based, global) index and loss.
using StepHook = std::function<void(int64_t step, double loss)>;

/// One epoch of minibatch training (seeded shuffle, last partial batch dropped): forward,
/// cross-entropy, backward, opt.step(). `augment`, when set, is applied to each image
/// (viewed [1, 28, 28]) of each batch. Returns the mean training loss of the epoch.
double train_epoch(nabla::nn::Module& model, nabla::optim::Optimizer& opt, const Split& data, int64_t batch,
                   int64_t* step, const StepHook& hook = {}, const nabla::data::Transform* augment = nullptr,
                   uint64_t epoch = 0);

struct Eval {
  double loss = 0, accuracy = 0;
};
/// Mean cross-entropy and accuracy in eval mode without grad (mode restored after).
Eval evaluate(nabla::nn::Module& model, const Split& data);

/// Mean of the last `window` values of v (all of them when fewer).
double tail_mean(const std::vector<double>& v, size_t window);

/// Mean, min and max of repeated runs (the seeds of one setting); all NaN when v is empty.
struct Spread {
  double mean, min, max;
};
Spread spread(const std::vector<double>& v);

}  // namespace lecture
