// How a loss combines its per-element values (PyTorch's `reduction=`). Its own header so the
// kernel interface (src/backend) can name it without the whole op API.
#pragma once

namespace nabla {

enum class Reduction { None, Mean, Sum };

}  // namespace nabla
