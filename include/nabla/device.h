// Devices beyond the CPU: availability, per-device memory statistics, synchronization, pinned
// host memory and uploads that overlap computation.
//
//   Tensor batch = pin_memory(cpu_batch);                    // page-locked host copy
//   Tensor x = to_device_async(batch, Device::cuda());       // returns at once; later ops wait
//   MemoryStats s = memory_stats(Device::cuda());            // the device's caching allocator
//
// Without a GPU (or in a build without CUDA) cuda::is_available() is false, pin_memory returns
// its input, and any use of a cuda:N tensor throws a nabla::Error saying why.
#pragma once
#include "nabla/allocator.h"
#include "nabla/dtype.h"
#include "nabla/tensor.h"

namespace nabla {

namespace cuda {
/// True when this build has the CUDA backend and at least one GPU is visible.
bool is_available();
/// Number of visible GPUs (0 without the backend or a driver).
int device_count();
/// Start and stop collection for a profiler that was told to wait for them (Nsight Compute's or
/// Nsight Systems' `--profile-from-start off`), as PyTorch's torch.cuda.profiler.start()/stop():
/// profile the steady steps, not the warm-up. No-ops without the backend or a profiler.
void profiler_start();
void profiler_stop();
}  // namespace cuda

/// Statistics of `device`'s caching allocator (the CPU one for Device::cpu()).
MemoryStats memory_stats(Device device);
/// Returns `device`'s cached (unused) memory to the system.
void empty_cache(Device device);
/// Resets `peak_allocated` of `device` to its current `allocated`.
void reset_peak_memory_stats(Device device);
/// Waits until every kernel queued on `device` has finished (no-op for the CPU).
void synchronize(Device device);

/// Statistics of the pinned (page-locked) host-buffer pool; all zero without a GPU backend.
MemoryStats pinned_memory_stats();
/// A contiguous CPU copy of `t` (no autograd history) in pinned host memory, so uploads from it
/// overlap computation; `t` itself when it already is pinned, or when there is no GPU backend
/// to pin memory for. Errors for tensors that are not on the CPU.
Tensor pin_memory(const Tensor& t);
/// Whether `t` is a CPU tensor whose storage is pinned host memory.
bool is_pinned(const Tensor& t);
/// `t.to(device)` without blocking the host (PyTorch's `non_blocking=true`): for a pinned,
/// contiguous CPU tensor that needs no gradient, the copy is queued on `device`'s copy stream and
/// kernels queued afterwards wait for it; every other case is exactly `t.to(device)`. Keep using
/// the pinned buffer read-only until then: it is recycled only once the copy is done.
Tensor to_device_async(const Tensor& t, Device device);

/// TF32 tensor-core math for f32 matmul and convolution on GPUs (default off: full f32
/// precision, results comparable with the CPU). Applies to every GPU backend, now and later.
void set_allow_tf32(bool on);
bool allow_tf32();

/// How cuDNN convolution algorithms are chosen (PyTorch's `torch.backends.cudnn.benchmark`).
/// On (the default here, as TensorFlow and XLA autotune; PyTorch's default is off): the first
/// call for each geometry times the candidates on the real data and keeps the fastest, one
/// synchronizing search per geometry and direction. On an H100 that made the ResNet-18 (32x32)
/// training step 1.6-2.0x faster than cuDNN's heuristic pick (docs/gpu/README.md). Off:
/// cuDNN's heuristic ranking picks one per geometry without running anything. The timings can
/// pick different algorithms in two processes, so a seeded GPU run repeats bit for bit across
/// processes only with this off (and deterministic algorithms on, the default).
void set_cudnn_benchmark(bool on);
bool cudnn_benchmark();

/// Deterministic GPU algorithms only (default on, unlike PyTorch: a seeded GPU run then repeats
/// bit for bit within a process, and across processes with set_cudnn_benchmark(false)). Off
/// lets cuDNN pick algorithms whose summation order varies from run to run,
/// as PyTorch does unless `torch.use_deterministic_algorithms(True)`; they can be faster.
void use_deterministic_algorithms(bool on);
bool are_deterministic_algorithms_enabled();

}  // namespace nabla
