// How a loss combines its per-element values (PyTorch's `reduction=`). Its own header so the
// kernel interface (src/backend) can name it without the whole op API.
#pragma once

namespace nabla {

/// BatchMean: the sum divided by the batch size (dim 0); only kl_div accepts it, as in PyTorch.
enum class Reduction { None, Mean, Sum, BatchMean };

}  // namespace nabla
