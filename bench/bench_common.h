// The timing harness shared by the side-by-side benchmarks (bench_vs_libtorch, bench_optim,
// bench_cnn): clock, optimizer barrier, robust summaries (median, IQR, min/max) and the one
// place that sets the thread count of both libraries. Header-only; needs LibTorch and nabla.
#pragma once
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/nabla.h"

namespace bench {

using clk = std::chrono::steady_clock;

inline double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

/// The flags every side-by-side benchmark takes; each program's Options derives from it and
/// sets its own defaults.
struct TimingOptions {
  int rounds = 15;                 ///< --rounds: interleaved rounds per measurement
  int block = 10;                  ///< --block: steps per library per round
  int warmup = 10;                 ///< --warmup: warm-up steps per library per configuration
  std::vector<int> threads{1, 2};  ///< --threads 1,2
};

/// Walks argv one flag at a time: `value()` takes the flag's argument (exit 2 naming the flag
/// when it is missing) and `timing()` consumes the TimingOptions flags.
class ArgWalker {
 public:
  ArgWalker(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool next() {
    if (++i_ >= argc_) return false;
    flag_ = argv_[i_];
    return true;
  }
  const std::string& flag() const { return flag_; }
  const char* value() {
    if (i_ + 1 >= argc_) {
      std::fprintf(stderr, "missing value after %s\n", flag_.c_str());
      std::exit(2);
    }
    return argv_[++i_];
  }
  int int_value() { return std::atoi(value()); }
  bool timing(TimingOptions& t) {
    if (flag_ == "--rounds") t.rounds = int_value();
    else if (flag_ == "--block") t.block = int_value();
    else if (flag_ == "--warmup") t.warmup = int_value();
    else if (flag_ == "--threads") {
      t.threads.clear();
      std::stringstream ss(value());
      for (std::string n; std::getline(ss, n, ',');) t.threads.push_back(std::atoi(n.c_str()));
    } else {
      return false;
    }
    return true;
  }
  /// Exit status for an unknown flag: 0 for --help / -h, 2 otherwise.
  int usage_status() const { return flag_ == "--help" || flag_ == "-h" ? 0 : 2; }

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string flag_;
};

/// Keeps the compiler from dropping a computation whose result is otherwise unused.
template <typename T>
inline void escape(T* p) {
  asm volatile("" : : "g"(p) : "memory");
}

struct Summary {
  double median = 0, q1 = 0, q3 = 0, min = 0, max = 0;
  size_t n = 0;
};

/// Linear interpolation between closest ranks of an ascending vector.
inline double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * double(sorted.size() - 1);
  size_t lo = size_t(pos);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

inline Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  s.median = quantile(v, 0.5);
  s.q1 = quantile(v, 0.25);
  s.q3 = quantile(v, 0.75);
  s.min = v.front();
  s.max = v.back();
  return s;
}

inline double median(std::vector<double> v) { return summarize(std::move(v)).median; }

/// Mean seconds per call of `step` over `block` calls.
template <typename F>
double time_block(F&& step, int block) {
  auto t0 = clk::now();
  for (int i = 0; i < block; ++i) step();
  return seconds_since(t0) / block;
}

/// Sets both libraries to `n` threads, once per configuration and never inside a timed loop.
/// They share one libgomp pool (and OpenBLAS follows omp_get_max_threads in its OpenMP build),
/// so both setters agree. torch::set_num_threads must not be called per step: with
/// USE_PTHREADPOOL (Debian's build) it also resizes caffe2's pthreadpool, which tears down and
/// re-spawns its worker threads on every call (measured: a 2-thread forward went from 1.7 ms
/// to 26 ms median when it was called before every step). Call set_interop_threads() once at
/// start-up.
inline void set_threads(int n) {
  nabla::set_num_threads(n);
  if (torch::get_num_threads() != n) torch::set_num_threads(n);
}

/// One inter-op thread for LibTorch; must precede any inter-op work (none is run here).
inline void set_interop_threads() {
  try {
    at::set_num_interop_threads(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "note: set_num_interop_threads failed: %s\n", e.what());
  }
}

}  // namespace bench
