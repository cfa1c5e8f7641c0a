// A fake "cuda" device for tests without a GPU: memory of its own (host memory from the
// BlockCache the CUDA backend uses), every kernel forwarded to the CPU backend, and counters of
// uploads, downloads and synchronizations. Install it with register_device_backend (see
// FakeDeviceTest in tests/core/fake_device_test.cpp and tests/train/trainer_device_test.cpp).
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "../../src/backend/device_backend.h"
#include "../../src/backend/host_memory_source.h"

namespace fake_device {

namespace be = nabla::backend;
using nabla::DType;
using nabla::DeviceType;
using nabla::MemoryStats;

// Memory and transfers of its own; every kernel forwarded to the CPU backend. With
// defer_index_checks it checks indices as the CUDA backend does: a "kernel" fills a slot of a
// DeferredIndexChecks, reported at the next synchronize or download.
class FakeDevice : public be::Backend {
 public:
  be::HostMemorySource raw;
  be::CompletedEvents events;
  be::BlockCache cache{raw, events, "cuda:0"};
  be::BlockCache pinned{raw, events, "pinned host memory"};
  /// `check_slots`: how many index checks may be pending (CUDA has 256; the fake's default of 4
  /// lets a test fill them).
  explicit FakeDevice(int check_slots = 4) : slots(size_t(check_slots)), deferred(slots.data(), check_slots) {}
  std::vector<be::IndexCheckSlot> slots;
  be::DeferredIndexChecks deferred;
  bool defer_index_checks = false;
  int uploads = 0, downloads = 0, async_uploads = 0, syncs = 0;
  bool tf32 = false, conv_benchmark = true, conv_deterministic = true, profiling = false;
  be::Backend& cpu = be::cpu_backend();

  DeviceType type() const override { return DeviceType::cuda; }
  int device_count() const override { return 1; }
  void* allocate(size_t n, int) override { return cache.allocate(n, nullptr); }
  void deallocate(void* p, size_t, int) override { cache.free(p); }
  MemoryStats memory_stats(int) const override { return cache.stats(); }
  void empty_cache(int) override { cache.empty_cache(); }
  void reset_peak_memory_stats(int) override { cache.reset_peak(); }
  void copy_from_host(void* dst, const void* src, size_t n, int) override {
    EXPECT_TRUE(cache.owns(dst)) << "upload into memory that is not the device's";
    ++uploads;
    std::memcpy(dst, src, n);
  }
  void copy_to_host(void* dst, const void* src, size_t n, int) override {
    EXPECT_TRUE(cache.owns(src)) << "download from memory that is not the device's";
    const uint64_t checks = deferred.mark();
    ++downloads;
    std::memcpy(dst, src, n);
    deferred.settle(checks);
  }
  void synchronize(int) override {
    const uint64_t checks = deferred.mark();
    ++syncs;
    deferred.settle(checks);
  }
  void check_indices(const int64_t* idx, int64_t n, const be::IndexRange& r, const be::IndexErrorMessage& m,
                     int device) override {
    if (!defer_index_checks) return Backend::check_indices(idx, n, r, m, device);
    auto kernel = [&](int slot) {  // the fake's "kernel" runs at once
      if (int64_t at = be::first_bad_index(idx, n, r); at >= 0) slots[size_t(slot)] = {at, idx[at]};
    };
    while (!deferred.enqueue(m, kernel)) synchronize(device);  // every slot pending: as CUDA does
  }
  void* allocate_pinned(size_t n) override { return pinned.allocate(n, nullptr); }
  void free_pinned(void* p, size_t) override { pinned.free(p); }
  bool is_pinned(const void* p) const override { return pinned.owns(p); }
  MemoryStats pinned_memory_stats() const override { return pinned.stats(); }
  void* upload_async(const void* src, size_t n, int index) override {
    ++async_uploads;
    return Backend::upload_async(src, n, index);
  }
  void set_allow_tf32(bool on) override { tf32 = on; }
  void set_profiler_collecting(bool on) override { profiling = on; }
  void set_conv_algorithm_search(bool b, bool d) override { conv_benchmark = b, conv_deterministic = d; }

  // ---- kernels: the CPU ones (device memory is host memory here) ----
  void unary(be::UnaryOp op, DType dt, be::Geometry g, be::Operand o, be::Operand i, double a, double b) override {
    cpu.unary(op, dt, g, o, i, a, b);
  }
  void binary(be::BinaryOp op, DType dt, be::Geometry g, be::Operand o, be::Operand x, be::Operand y) override {
    cpu.binary(op, dt, g, o, x, y);
  }
  void compare(be::CompareOp op, DType dt, be::Geometry g, be::Operand o, be::Operand x, be::Operand y) override {
    cpu.compare(op, dt, g, o, x, y);
  }
  void where(DType dt, be::Geometry g, be::Operand o, be::Operand c, be::Operand x, be::Operand y) override {
    cpu.where(dt, g, o, c, x, y);
  }
  void copy(DType odt, DType idt, be::Geometry g, be::Operand o, be::Operand i) override { cpu.copy(odt, idt, g, o, i); }
  void fill(DType dt, void* o, int64_t n, double v) override { cpu.fill(dt, o, n, v); }
  void axpy(DType dt, int64_t n, double a, const void* x, void* y) override { cpu.axpy(dt, n, a, x, y); }
  void reduce(be::ReduceOp op, DType dt, const void* i, void* o, int64_t a, int64_t r, int64_t b) override {
    cpu.reduce(op, dt, i, o, a, r, b);
  }
  void arg_reduce(bool mx, DType dt, const void* i, int64_t* o, int64_t a, int64_t r, int64_t b) override {
    cpu.arg_reduce(mx, dt, i, o, a, r, b);
  }
  bool all_finite(DType dt, const void* i, int64_t n) override { return cpu.all_finite(dt, i, n); }
  bool has_softmax_rows() const override { return true; }
  void softmax_rows(bool log, DType dt, const void* i, void* o, int64_t rows, int64_t n) override {
    cpu.softmax_rows(log, dt, i, o, rows, n);
  }
  void class_nll(const be::ClassNll& a, void* out, void* kept) override { cpu.class_nll(a, out, kept); }
  void class_nll_backward(const be::ClassNll& a, const void* g, const void* kept, void* gx) override {
    cpu.class_nll_backward(a, g, kept, gx);
  }
  void gemm(DType dt, const be::GemmArgs& a) override { cpu.gemm(dt, a); }
  void rand_uniform(DType dt, void* o, int64_t n, uint64_t s, uint64_t off, double lo, double hi) override {
    cpu.rand_uniform(dt, o, n, s, off, lo, hi);
  }
  void rand_normal(DType dt, void* o, int64_t n, uint64_t s, uint64_t off, double m, double sd) override {
    cpu.rand_normal(dt, o, n, s, off, m, sd);
  }
  void rand_int(int64_t* o, int64_t n, uint64_t s, uint64_t off, int64_t lo, int64_t hi) override {
    cpu.rand_int(o, n, s, off, lo, hi);
  }
  void index_select(DType dt, const void* i, void* o, const int64_t* x, int64_t a, int64_t b, int64_t c,
                    int64_t d) override {
    cpu.index_select(dt, i, o, x, a, b, c, d);
  }
  void index_add(DType dt, void* o, const void* s, const int64_t* x, int64_t a, int64_t b, int64_t c,
                 int64_t d) override {
    cpu.index_add(dt, o, s, x, a, b, c, d);
  }
  void gather(DType dt, const void* i, void* o, const int64_t* x, int64_t a, int64_t b, int64_t c, int64_t d) override {
    cpu.gather(dt, i, o, x, a, b, c, d);
  }
  void scatter_add(DType dt, void* o, const void* s, const int64_t* x, int64_t a, int64_t b, int64_t c,
                   int64_t d) override {
    cpu.scatter_add(dt, o, s, x, a, b, c, d);
  }
  void conv2d_forward(DType dt, const be::ConvGeom& g, const void* x, const void* w, const void* b, void* o) override {
    cpu.conv2d_forward(dt, g, x, w, b, o);
  }
  void conv2d_input_grad(DType dt, const be::ConvGeom& g, const void* go, const void* w, void* gx) override {
    cpu.conv2d_input_grad(dt, g, go, w, gx);
  }
  void conv2d_weight_grad(DType dt, const be::ConvGeom& g, const void* x, const void* go, void* gw) override {
    cpu.conv2d_weight_grad(dt, g, x, go, gw);
  }
  void conv2d_bias_grad(DType dt, const be::ConvGeom& g, const void* go, void* gb) override {
    cpu.conv2d_bias_grad(dt, g, go, gb);
  }
  void max_pool2d_backward(DType dt, const be::PoolGeom& g, const void* go, const int64_t* idx, void* gx) override {
    cpu.max_pool2d_backward(dt, g, go, idx, gx);
  }
  void max_pool2d_forward(DType dt, const be::PoolGeom& g, const void* x, void* o, int64_t* idx) override {
    cpu.max_pool2d_forward(dt, g, x, o, idx);
  }
  void avg_pool2d_forward(DType dt, const be::PoolGeom& g, const void* x, void* o) override {
    cpu.avg_pool2d_forward(dt, g, x, o);
  }
  void avg_pool2d_backward(DType dt, const be::PoolGeom& g, const void* go, void* gx) override {
    cpu.avg_pool2d_backward(dt, g, go, gx);
  }
  void adaptive_avg_pool2d_forward(DType dt, int64_t p, int64_t h, int64_t w, int64_t ho, int64_t wo, const void* x,
                                   void* o) override {
    cpu.adaptive_avg_pool2d_forward(dt, p, h, w, ho, wo, x, o);
  }
  void adaptive_avg_pool2d_backward(DType dt, int64_t p, int64_t h, int64_t w, int64_t ho, int64_t wo, const void* go,
                                    void* gx) override {
    cpu.adaptive_avg_pool2d_backward(dt, p, h, w, ho, wo, go, gx);
  }
  void batch_norm_backward(DType dt, int64_t n, int64_t c, int64_t s, const void* x, const void* go, const double* m,
                           const double* rs, const void* w, void* gx, void* gw, void* gb) override {
    cpu.batch_norm_backward(dt, n, c, s, x, go, m, rs, w, gx, gw, gb);
  }
  void batch_norm_stats(const be::BatchNormStats& a) override { cpu.batch_norm_stats(a); }
  void channel_affine(DType dt, int64_t n, int64_t c, int64_t s, const void* x, const double* sc, const double* sh,
                      void* y) override {
    cpu.channel_affine(dt, n, c, s, x, sc, sh, y);
  }
  bool has_norm_input_grad() const override { return true; }
  void norm_input_grad(DType dt, int64_t n, int64_t c, int64_t s, const void* g, const void* x, const double* a,
                       const double* m, const double* b, const double* k, void* gx) override {
    cpu.norm_input_grad(dt, n, c, s, g, x, a, m, b, k, gx);
  }
  void layer_norm_forward(DType dt, int64_t r, int64_t d, const void* x, const void* w, const void* b, double eps,
                          void* y, void* m, void* rs) override {
    cpu.layer_norm_forward(dt, r, d, x, w, b, eps, y, m, rs);
  }
  void optim_update(be::OptimAlgo a, DType dt, const be::OptimSlot* s, int64_t n, const be::OptimHyper& h) override {
    cpu.optim_update(a, dt, s, n, h);
  }
  double multi_abs_pow_sum(DType dt, const void* const* d, const int64_t* n, int64_t c, double p) override {
    return cpu.multi_abs_pow_sum(dt, d, n, c, p);
  }
  void multi_scale(DType dt, void* const* d, const int64_t* n, int64_t c, double f) override {
    cpu.multi_scale(dt, d, n, c, f);
  }
  void multi_clamp(DType dt, void* const* d, const int64_t* n, int64_t c, double lo, double hi) override {
    cpu.multi_clamp(dt, d, n, c, lo, hi);
  }
};

/// A gtest fixture that installs a FakeDevice as the cuda backend for each test and puts the
/// previous one (a real GPU's, or none) back afterwards, checking that no device tensor outlived
/// the test. Static: a tensor must never outlive the backend that freed it.
template <typename Base = ::testing::Test>
class FakeCudaFixture : public Base {
 protected:
  static FakeDevice& fake() {
    static auto* f = new FakeDevice();
    return *f;
  }
  void SetUp() override { previous_ = be::register_device_backend(&fake(), DeviceType::cuda); }
  void TearDown() override {
    EXPECT_EQ(fake().cache.stats().allocated, 0) << "a device tensor outlived its test";
    be::register_device_backend(previous_, DeviceType::cuda);
  }
  be::Backend* previous_ = nullptr;
};

}  // namespace fake_device
