// One thread setting for every kernel: our OpenMP loops and BLAS share one pool
// (the OpenMP build of OpenBLAS), so they never fight over the cores.
#pragma once

namespace nabla {
/// Number of threads for OpenMP kernels and BLAS.
void set_num_threads(int n);
int get_num_threads();
}  // namespace nabla
