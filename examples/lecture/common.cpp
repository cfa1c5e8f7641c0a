#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>

namespace lecture {

using namespace nabla;

Args parse_args(int argc, char** argv, const std::string& name, const std::string& what) {
  Args a;
  a.out = "runs/lecture/" + name;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw Error("option " + k + " needs a value");
      return argv[++i];
    };
    if (k == "--smoke") a.smoke = true;
    else if (k == "--out") a.out = val();
    else if (k == "--threads") a.threads = std::stoi(val());
    else if (k == "--seed") a.seed = std::stoull(val());
    else if (k == "--data") a.data = val();
    else if (k == "--help" || k == "-h") {
      std::cout << name << ": " << what << "\nusage: " << argv[0]
                << " [--smoke] [--out DIR] [--threads N] [--seed S] [--data DIR]\n"
                   "  --smoke    tiny sizes on synthetic data (seconds; what the test suite runs)\n"
                   "  --out      folder for the CSV and SVG files (default runs/lecture/"
                << name << ")\n";
      std::exit(0);
    } else {
      throw Error("unknown option " + k + " (see --help)");
    }
  }
  std::filesystem::create_directories(a.out);
  set_num_threads(a.threads);
  manual_seed(a.seed);
  return a;
}

std::string join(const std::string& dir, const std::string& file) { return (std::filesystem::path(dir) / file).string(); }

data::ImageSet synthetic_images(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> images(static_cast<size_t>(n) * 784);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int k = int(rng() % 10);
    uint8_t* img = &images[size_t(i) * 784];
    for (int p = 0; p < 784; ++p) img[p] = uint8_t(rng() % 70);
    int y0 = 4 + 12 * (k / 5) + int(rng() % 3) - 1, x0 = 1 + 5 * (k % 5) + int(rng() % 3) - 1;
    for (int y = std::max(0, y0); y < std::min(28, y0 + 6); ++y)
      for (int x = std::max(0, x0); x < std::min(28, x0 + 6); ++x) img[y * 28 + x] = uint8_t(190 + rng() % 66);
    labels[size_t(i)] = rng() % 10 == 0 ? int64_t(rng() % 10) : k;
  }
  return {from_vector(images, {n, 28, 28}), from_vector(labels, {n})};
}

namespace {

void write_idx(const std::string& path, const std::vector<uint32_t>& dims, const Tensor& t) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(uint8_t(d >> s));
  for (int64_t v : t.to(kI64).to_vector<int64_t>()) bytes.push_back(uint8_t(v));
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out.good()) throw Error("cannot write " + path);
}

}  // namespace

void write_mnist_dir(const std::string& dir, const data::ImageSet& train, const data::ImageSet& test) {
  std::filesystem::create_directories(dir);
  for (auto [split, set] : {std::pair{"train", &train}, std::pair{"t10k", &test}}) {
    uint32_t n = uint32_t(set->images.size(0));
    write_idx(join(dir, std::string(split) + "-images-idx3-ubyte"), {n, 28, 28}, set->images);
    write_idx(join(dir, std::string(split) + "-labels-idx1-ubyte"), {n}, set->labels);
  }
}

Data load_data(const Args& args, int64_t n_train, int64_t n_val, int64_t n_test) {
  data::ImageSet train, test;
  if (args.smoke) {
    train = synthetic_images(n_train + n_val, 1234);
    test = synthetic_images(n_test > 0 ? n_test : 1000, 5678);
  } else {
    train = data::load_mnist(args.data, true);
    test = data::load_mnist(args.data, false);
  }
  const int64_t n = train.images.size(0);
  NB_CHECK(n_train + n_val <= n, "[lecture] asked for ", n_train, " + ", n_val, " training images, have ", n);
  // A seeded shuffle of our own (not the global RNG), so the subset does not depend on what
  // else the experiment draws.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(args.seed + 17);
  std::shuffle(order.begin(), order.end(), rng);
  auto rows = [&](int64_t from, int64_t count) {
    return from_vector(std::vector<int64_t>(order.begin() + from, order.begin() + from + count), {count});
  };
  auto flat = [](const Tensor& u8) { return u8.to(kF32).reshape({-1, 784}) / 255.0; };
  Data d;
  Tensor xtr = flat(index_select(train.images, 0, rows(0, n_train)));
  d.mean = mean(xtr).item();
  d.std = nabla::std(xtr).item();
  auto standardize = [&](const Tensor& x) { return ((x - d.mean) / d.std).contiguous(); };
  d.train = {standardize(xtr), index_select(train.labels, 0, rows(0, n_train)).contiguous()};
  if (n_val > 0) {
    Tensor r = rows(n_train, n_val);
    d.val = {standardize(flat(index_select(train.images, 0, r))), index_select(train.labels, 0, r).contiguous()};
  }
  int64_t nt = n_test > 0 ? std::min(n_test, test.images.size(0)) : test.images.size(0);
  d.test = {standardize(flat(test.images.slice(0, 0, nt))), test.labels.slice(0, 0, nt).contiguous()};
  return d;
}

std::shared_ptr<nn::Sequential> make_mlp(const std::vector<int64_t>& widths, double dropout) {
  auto net = std::make_shared<nn::Sequential>();
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    net->push_back(nn::Linear(widths[i], widths[i + 1]));
    if (i + 2 < widths.size()) {
      net->push_back(nn::ReLU());
      if (dropout > 0) net->push_back(nn::Dropout(nn::DropoutOptions(dropout)));
    }
  }
  return net;
}

double train_epoch(nn::Module& model, optim::Optimizer& opt, const Split& data, int64_t batch, int64_t* step,
                   const StepHook& hook, const data::Transform* augment, uint64_t epoch) {
  model.train();
  const int64_t n = data.size();
  Tensor perm = randperm(n);
  double sum = 0;
  int64_t batches = 0;
  for (int64_t i = 0; i + batch <= n; i += batch) {
    Tensor idx = perm.slice(0, i, i + batch);
    Tensor xb = index_select(data.x, 0, idx);
    if (augment && *augment) {
      // Per-image streams keyed by (epoch, position): the same run draws the same shifts.
      TensorList imgs;
      for (int64_t b = 0; b < batch; ++b) {
        auto rng = data::Rng::for_sample(uint64_t(epoch) * 7919 + 1, int64_t(epoch), i + b);
        imgs.push_back((*augment)(xb.slice(0, b, b + 1).reshape({1, 28, 28}), rng).reshape({784}));
      }
      xb = stack(imgs, 0);
    }
    opt.zero_grad();
    Tensor loss = cross_entropy(model(xb), index_select(data.y, 0, idx));
    loss.backward();
    opt.step();
    const double l = loss.item();
    sum += l;
    ++batches;
    ++*step;
    if (hook) hook(*step, l);
  }
  return batches ? sum / double(batches) : 0.0;
}

Eval evaluate(nn::Module& model, const Split& data) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  double loss = 0;
  int64_t correct = 0;
  const int64_t n = data.size();
  for (int64_t i = 0; i < n; i += 1000) {
    const int64_t e = std::min(n, i + 1000);
    Tensor y = data.y.slice(0, i, e);
    Tensor logits = model(data.x.slice(0, i, e));
    loss += cross_entropy(logits, y).item() * double(e - i);
    correct += sum(eq(argmax(logits, 1), y)).item<int64_t>();
  }
  model.train(was_training);
  return {loss / double(std::max<int64_t>(1, n)), double(correct) / double(std::max<int64_t>(1, n))};
}

double tail_mean(const std::vector<double>& v, size_t window) {
  if (v.empty()) return std::nan("");
  size_t k = std::min(window, v.size());
  return std::accumulate(v.end() - std::ptrdiff_t(k), v.end(), 0.0) / double(k);
}

Spread spread(const std::vector<double>& v) {
  if (v.empty()) return {std::nan(""), std::nan(""), std::nan("")};
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return {std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()), *lo, *hi};
}

}  // namespace lecture
