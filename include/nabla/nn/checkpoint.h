// Activation checkpointing, as torch.utils.checkpoint: trade compute for memory by not keeping
// a segment's intermediate activations for backward, and recomputing them when backward
// reaches the segment. (Saving training state to files is optim/checkpoint.h.)
//
//   // 32 layers in 4 checkpointed segments: backward holds 1 segment's activations, not 32 layers'.
//   Tensor y = nn::utils::checkpoint_sequential(*mlp, 4, x);
//   Tensor z = nn::utils::checkpoint([&](const Tensor& h) { return (*block)(h); }, y);
//   loss(z, target).backward();
//
// How it behaves:
//  * The forward pass runs fn without recording the graph; only the inputs are kept.
//  * Backward runs fn again with grad mode on and backpropagates through that graph. Gradients
//    reach the inputs and every parameter fn uses (leaf tensors that require grad, found while
//    it runs), through the ordinary backward: backward(), grad(), tensor hooks (run once) and
//    module backward hooks (in the recomputation) behave as without checkpointing. Forward hooks
//    of fn's modules run twice, in the forward pass and in the recomputation (as in PyTorch).
//  * The recomputation replays the random numbers of the forward pass (the global generator's
//    (seed, offset) is set to the forward's, then put back), so dropout draws the same mask; each
//    module fn called through operator() runs in the train/eval mode it had during the forward,
//    and buffers the recomputation writes (BatchNorm's running statistics) are put back, so they
//    are updated once per forward, as without checkpointing. The generator's stream therefore
//    moves exactly as without checkpointing. The generator is global: another thread drawing from
//    it during a recomputation would change what it replays.
//  * fn must compute the same thing when run again: same ops on the same tensors. Inputs (and
//    parameters) modified in place between forward and backward are refused, as for saved tensors.
//  * Double backward works: with create_graph, the recomputation's gradients are recorded against
//    the real inputs and parameters, so grad-of-grad (gradient penalties) matches the
//    un-checkpointed model.
//  * fn may read other tensors that require grad only if they are parameters (leaves); a tensor
//    with history it closes over must be passed as an input instead (throws otherwise).
//  * Under NoGradGuard checkpoint just calls fn.
#pragma once
#include <cstdint>
#include <functional>

#include "nabla/nn/container.h"
#include "nabla/nn/module.h"
#include "nabla/tensor.h"

namespace nabla::nn::utils {

/// fn(inputs), with fn's activations recomputed in backward instead of kept (see above). fn and
/// whatever it calls must stay alive until backward has run.
Tensor checkpoint(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs);
/// fn(input), checkpointed.
Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input);
/// module(input), checkpointed.
Tensor checkpoint(Module& module, const Tensor& input);

/// seq(input) in `segments` pieces, as torch.utils.checkpoint.checkpoint_sequential: the first
/// segments - 1 pieces of size() / segments modules each are checkpointed, the last (the rest)
/// runs normally (backward needs its activations at once). segments must be in [1, seq.size()].
Tensor checkpoint_sequential(Sequential& seq, int64_t segments, const Tensor& input);

}  // namespace nabla::nn::utils
