// Umbrella header for nabla::optim: optimizers, learning-rate schedulers, gradient clipping
// and checkpoints.
#pragma once
#include "nabla/optim/adadelta.h"
#include "nabla/optim/adagrad.h"
#include "nabla/optim/adam.h"
#include "nabla/optim/adamax.h"
#include "nabla/optim/adamw.h"
#include "nabla/optim/asgd.h"
#include "nabla/optim/checkpoint.h"
#include "nabla/optim/clip.h"
#include "nabla/optim/lbfgs.h"
#include "nabla/optim/nadam.h"
#include "nabla/optim/optimizer.h"
#include "nabla/optim/radam.h"
#include "nabla/optim/rmsprop.h"
#include "nabla/optim/rprop.h"
#include "nabla/optim/scheduler.h"
#include "nabla/optim/sgd.h"
