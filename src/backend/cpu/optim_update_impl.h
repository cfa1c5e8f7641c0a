// The element math of the fused optimizer updates, written once over a vector type V and
// included by two translation units: optim_update.cpp (std::experimental::simd at the build's
// baseline ISA) and optim_update_avx2.cpp (GCC vector types, 8 floats wide, chosen at run time
// on CPUs with AVX2). The includer defines, before including this file inside its own
// anonymous namespace:
//   simd_loop<T>(b, e, body)   calls body.template operator()<V>(i) over [b, e) (vectors, then tail)
//   ld<V>(const T*), st(V, T*) unaligned load/store
//   vsqrt(V), vmax(a, b)       element-wise sqrt and (a > b ? a : b)
//   select_gt(a, b, x, y)      lane-wise (a > b ? x : y); select_lt likewise with a < b. `a` is a V,
//                              the others a V or a T (broadcast); NaN compares false
// Only IEEE-exact operations are used (+, -, *, /, sqrt; no FMA contraction: neither includer
// enables FMA), so both widths and the scalar tail give bit-identical results.
// The update rules follow PyTorch's documentation operation by operation (same order of the
// in-place ops), in the parameter's dtype.
// No include guard: meant to be included once per translation unit, in an anonymous namespace.

template <typename T>
struct Ptrs {
  T* __restrict p;
  const T* __restrict g;
  T* __restrict s0;
  T* __restrict s1;
  T* __restrict s2;
  explicit Ptrs(const OptimSlot& s)
      : p(static_cast<T*>(s.param)),
        g(static_cast<const T*>(s.grad)),
        s0(static_cast<T*>(s.state[0])),
        s1(static_cast<T*>(s.state[1])),
        s2(static_cast<T*>(s.state[2])) {}
};

// Every kernel starts with g <- (maximize ? -grad : grad) + weight_decay * p, after
// p <- decay * p (decoupled decay). Multiplying by exactly 1 or adding exactly 0 * p leaves
// finite values unchanged, so the disabled cases need no branch.

// SGD. state[0] = momentum_buffer; c[0] = 1 on the buffer's first step (buf <- g).
// Plain: no weight decay and no maximize, so g is the gradient itself (plain SGD is a single
// axpy and every saved operation shows).
template <typename T, bool Momentum, bool First, bool Nesterov, bool Plain>
void sgd_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), lr = T(h.lr), mu = T(h.momentum),
          damp = T(1 - h.dampening);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = ld<V>(a.p + i);
    V g = ld<V>(a.g + i);
    if constexpr (!Plain) g = sign * g + wd * p;
    if constexpr (Momentum) {
      V buf = g;
      if constexpr (!First) buf = mu * ld<V>(a.s0 + i) + damp * g;
      st(buf, a.s0 + i);
      if constexpr (Nesterov) {
        g = g + mu * buf;
      } else {
        g = buf;
      }
    }
    st(V(p - lr * g), a.p + i);
  });
}

// Adagrad. state[0] = sum; c[0] = lr / (1 + (step - 1) * lr_decay).
template <typename T>
void adagrad_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), clr = T(s.c[0]), eps = T(h.eps);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p;
    const V sum = ld<V>(a.s0 + i) + g * g;
    st(sum, a.s0 + i);
    st(V(p - clr * (g / (vsqrt(sum) + eps))), a.p + i);
  });
}

// RMSprop. state[0] = square_avg, state[1] = momentum_buffer, state[2] = grad_avg.
template <typename T, bool Centered, bool Momentum>
void rmsprop_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), lr = T(h.lr), alpha = T(h.alpha),
          one_m_alpha = T(1 - h.alpha), eps = T(h.eps), mu = T(h.momentum);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p;
    const V sq = alpha * ld<V>(a.s0 + i) + one_m_alpha * (g * g);
    st(sq, a.s0 + i);
    V avg;
    if constexpr (Centered) {
      const V ga0 = ld<V>(a.s2 + i);
      const V ga = ga0 + one_m_alpha * (g - ga0);  // lerp(grad_avg, g, 1 - alpha)
      st(ga, a.s2 + i);
      avg = vsqrt(V(sq - ga * ga)) + eps;
    } else {
      avg = vsqrt(sq) + eps;
    }
    if constexpr (Momentum) {
      const V buf = mu * ld<V>(a.s1 + i) + g / avg;
      st(buf, a.s1 + i);
      st(V(p - lr * buf), a.p + i);
    } else {
      st(V(p - lr * (g / avg)), a.p + i);
    }
  });
}

// Adadelta. state[0] = square_avg, state[1] = acc_delta; alpha = rho.
template <typename T>
void adadelta_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), lr = T(h.lr), rho = T(h.alpha),
          one_m_rho = T(1 - h.alpha), eps = T(h.eps);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p;
    const V sq = rho * ld<V>(a.s0 + i) + one_m_rho * (g * g);
    st(sq, a.s0 + i);
    const V acc = ld<V>(a.s1 + i);
    const V delta = vsqrt(V(acc + eps)) / vsqrt(V(sq + eps)) * g;
    st(V(rho * acc + one_m_rho * (delta * delta)), a.s1 + i);
    st(V(p - lr * delta), a.p + i);
  });
}

// Adam / AdamW. state[0] = exp_avg, state[1] = exp_avg_sq, state[2] = max_exp_avg_sq;
// c[0] = lr / (1 - beta1^t), c[1] = sqrt(1 - beta2^t).
template <typename T, bool Amsgrad>
void adam_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), decay = T(h.decay), w1 = T(1 - h.beta1),
          b2 = T(h.beta2), w2 = T(1 - h.beta2), eps = T(h.eps), step_size = T(s.c[0]), bc2_sqrt = T(s.c[1]);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = decay * ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p;
    const V m0 = ld<V>(a.s0 + i);
    const V m = m0 + w1 * (g - m0);  // lerp(exp_avg, g, 1 - beta1)
    V v = b2 * ld<V>(a.s1 + i) + w2 * (g * g);
    st(m, a.s0 + i);
    st(v, a.s1 + i);
    if constexpr (Amsgrad) {
      v = vmax(ld<V>(a.s2 + i), v);
      st(v, a.s2 + i);
    }
    const V denom = vsqrt(v) / bc2_sqrt + eps;
    st(V(p - step_size * (m / denom)), a.p + i);
  });
}

// NAdam. state[0] = exp_avg, state[1] = exp_avg_sq; c[0] = lr (1 - mu_t) / (1 - prod mu),
// c[1] = lr mu_{t+1} / (1 - prod mu * mu_{t+1}), c[2] = 1 - beta2^t.
template <typename T>
void nadam_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), decay = T(h.decay), w1 = T(1 - h.beta1),
          b2 = T(h.beta2), w2 = T(1 - h.beta2), eps = T(h.eps), cg = T(s.c[0]), cm = T(s.c[1]), bc2 = T(s.c[2]);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = decay * ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p;
    const V m0 = ld<V>(a.s0 + i);
    const V m = m0 + w1 * (g - m0);
    const V v = b2 * ld<V>(a.s1 + i) + w2 * (g * g);
    st(m, a.s0 + i);
    st(v, a.s1 + i);
    const V denom = vsqrt(V(v / bc2)) + eps;
    st(V((p - cg * (g / denom)) - cm * (m / denom)), a.p + i);
  });
}

// RAdam. state[0] = exp_avg, state[1] = exp_avg_sq. When the variance is tractable (rho_t > 5,
// flagged by c[1] != 0): p -= c[0] m / (sqrt(v) + eps) with c[0] = lr r_t sqrt(1 - beta2^t) /
// (1 - beta1^t); else p -= c[0] m with c[0] = lr / (1 - beta1^t).
template <typename T, bool Rectified>
void radam_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), decay = T(h.decay), w1 = T(1 - h.beta1),
          b2 = T(h.beta2), w2 = T(1 - h.beta2), eps = T(h.eps), c = T(s.c[0]);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = decay * ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p;
    const V m0 = ld<V>(a.s0 + i);
    const V m = m0 + w1 * (g - m0);
    const V v = b2 * ld<V>(a.s1 + i) + w2 * (g * g);
    st(m, a.s0 + i);
    st(v, a.s1 + i);
    if constexpr (Rectified) {
      st(V(p - c * (m / (vsqrt(v) + eps))), a.p + i);
    } else {
      st(V(p - c * m), a.p + i);
    }
  });
}

// Adamax. state[0] = exp_avg, state[1] = exp_inf; c[0] = lr / (1 - beta1^t).
// |g| + eps is vmax's second operand, so a NaN gradient reaches exp_inf (a NaN compare picks it).
template <typename T>
void adamax_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), w1 = T(1 - h.beta1), b2 = T(h.beta2),
          eps = T(h.eps), clr = T(s.c[0]);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p = ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p;
    const V m0 = ld<V>(a.s0 + i);
    const V m = m0 + w1 * (g - m0);  // lerp(exp_avg, g, 1 - beta1)
    const V abs_g = select_lt(g, T(0), V(-g), g);
    const V u = vmax(V(b2 * ld<V>(a.s1 + i)), V(abs_g + eps));
    st(m, a.s0 + i);
    st(u, a.s1 + i);
    st(V(p - clr * (m / u)), a.p + i);
  });
}

// Rprop. state[0] = prev, state[1] = step_size; h.etaminus/etaplus, h.step_size_min/max.
// As PyTorch: the step-size factor follows the sign of g·prev (etaplus, etaminus, or 1 for 0 and
// NaN); where the sign flipped the gradient is zeroed (no move, and prev = 0 makes the next
// factor 1); the move is sign(g)·step_size, sign(0) = sign(NaN) = 0.
template <typename T>
void rprop_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), up = T(h.etaplus), down = T(h.etaminus), lo = T(h.step_size_min),
          hi = T(h.step_size_max);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V g0 = sign * ld<V>(a.g + i);
    const V prod = g0 * ld<V>(a.s0 + i);
    const V f = select_gt(prod, T(0), up, V(select_lt(prod, T(0), down, T(1))));
    V ss = ld<V>(a.s1 + i) * f;
    ss = select_lt(ss, lo, lo, V(select_gt(ss, hi, hi, ss)));  // clamp; NaN stays NaN
    const V g = select_lt(prod, T(0), T(0), g0);
    const V dir = select_gt(g, T(0), T(1), V(select_lt(g, T(0), T(-1), T(0))));
    st(ss, a.s1 + i);
    st(g, a.s0 + i);
    st(V(ld<V>(a.p + i) - dir * ss), a.p + i);
  });
}

// ASGD. state[0] = ax; c[0] = eta, c[1] = mu, c[2] = 1 - lambd * eta (formed in double, as
// PyTorch's param.mul_(1 - lambd * eta)). Averaging copies the parameter while mu is 1.
template <typename T, bool Average>
void asgd_range(const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  Ptrs<T> a(s);
  const T sign = h.maximize ? T(-1) : T(1), wd = T(h.weight_decay), eta = T(s.c[0]), mu = T(s.c[1]),
          decay = T(s.c[2]);
  simd_loop<T>(b, e, [&]<typename V>(int64_t i) {
    const V p0 = ld<V>(a.p + i);
    const V g = sign * ld<V>(a.g + i) + wd * p0;
    const V p = decay * p0 - eta * g;
    st(p, a.p + i);
    if constexpr (Average) {
      const V ax = ld<V>(a.s0 + i);
      st(V(ax + (p - ax) * mu), a.s0 + i);
    } else {
      st(p, a.s0 + i);
    }
  });
}

template <typename T>
void update_range(OptimAlgo algo, const OptimSlot& s, const OptimHyper& h, int64_t b, int64_t e) {
  switch (algo) {
    case OptimAlgo::SGD: {
      const bool plain = h.weight_decay == 0 && !h.maximize;
      if (h.momentum == 0) {
        return plain ? sgd_range<T, false, false, false, true>(s, h, b, e)
                     : sgd_range<T, false, false, false, false>(s, h, b, e);
      }
      if (s.c[0] != 0) {
        return h.nesterov ? sgd_range<T, true, true, true, false>(s, h, b, e)
                          : sgd_range<T, true, true, false, false>(s, h, b, e);
      }
      if (h.nesterov) return sgd_range<T, true, false, true, false>(s, h, b, e);
      return plain ? sgd_range<T, true, false, false, true>(s, h, b, e)
                   : sgd_range<T, true, false, false, false>(s, h, b, e);
    }
    case OptimAlgo::Adagrad: return adagrad_range<T>(s, h, b, e);
    case OptimAlgo::RMSprop:
      if (h.centered) {
        return h.momentum > 0 ? rmsprop_range<T, true, true>(s, h, b, e) : rmsprop_range<T, true, false>(s, h, b, e);
      }
      return h.momentum > 0 ? rmsprop_range<T, false, true>(s, h, b, e) : rmsprop_range<T, false, false>(s, h, b, e);
    case OptimAlgo::Adadelta: return adadelta_range<T>(s, h, b, e);
    case OptimAlgo::Adam:
      return h.amsgrad ? adam_range<T, true>(s, h, b, e) : adam_range<T, false>(s, h, b, e);
    case OptimAlgo::NAdam: return nadam_range<T>(s, h, b, e);
    case OptimAlgo::RAdam:
      return s.c[1] != 0 ? radam_range<T, true>(s, h, b, e) : radam_range<T, false>(s, h, b, e);
    case OptimAlgo::Adamax: return adamax_range<T>(s, h, b, e);
    case OptimAlgo::Rprop: return rprop_range<T>(s, h, b, e);
    case OptimAlgo::ASGD: return s.c[1] != 1 ? asgd_range<T, true>(s, h, b, e) : asgd_range<T, false>(s, h, b, e);
  }
}
