// Umbrella header: everything a user of nabla needs.
#pragma once
#include "nabla/allocator.h"
#include "nabla/autocast.h"
#include "nabla/autograd.h"
#include "nabla/device.h"
#include "nabla/dtype.h"
#include "nabla/error.h"
#include "nabla/gradcheck.h"
#include "nabla/ops.h"
#include "nabla/ops/attention.h"
#include "nabla/random.h"
#include "nabla/tensor.h"
#include "nabla/threads.h"
