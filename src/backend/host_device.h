// NB_HOST_DEVICE: a small function compiled for both the host and, under nvcc, the GPU, so the
// CPU and CUDA backends (and the host tests) share one definition of it.
#pragma once

#ifdef __CUDACC__
#define NB_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NB_HOST_DEVICE inline
#endif
