// Run-time options of the CUDA backend. TF32 (tensor-core f32 with a 10-bit mantissa) is off
// by default so f32 matmul and convolution agree with the CPU to f32 rounding; turning it on
// trades that for speed in cuBLAS (gemm.cpp) and cuDNN (conv.cpp).
#pragma once
#include <atomic>

namespace nabla::backend::cuda {

namespace detail {
inline std::atomic<bool> g_allow_tf32{false};
inline std::atomic<bool> g_conv_benchmark{true};
inline std::atomic<bool> g_conv_deterministic{true};
}  // namespace detail

/// Lets f32 GEMM and convolution use TF32 tensor cores (default false).
inline void set_allow_tf32(bool allow) { detail::g_allow_tf32.store(allow, std::memory_order_relaxed); }
inline bool allow_tf32() { return detail::g_allow_tf32.load(std::memory_order_relaxed); }

/// cuDNN convolution algorithm choice (conv.cpp): time the candidates on first use
/// (benchmark, default true; nabla::set_cudnn_benchmark) and allow only deterministic ones (default true).
inline void set_conv_algorithm_search(bool benchmark, bool deterministic) {
  detail::g_conv_benchmark.store(benchmark, std::memory_order_relaxed);
  detail::g_conv_deterministic.store(deterministic, std::memory_order_relaxed);
}
inline bool conv_benchmark() { return detail::g_conv_benchmark.load(std::memory_order_relaxed); }
inline bool conv_deterministic() { return detail::g_conv_deterministic.load(std::memory_order_relaxed); }

}  // namespace nabla::backend::cuda
