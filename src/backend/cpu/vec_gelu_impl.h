// gelu's erf form (x Phi(x)) and its derivative (Phi(x) + x phi(x)), written once over a vector
// type V and included (inside an anonymous namespace, after the primitives) by the AVX2+FMA
// region of vec_math_avx2.cpp (8 lanes) and by vec_math_avx512.cpp (16 lanes). The includer
// defines: V; k(float) (broadcast); fma(a, b, c) = a b + c rounded once; vabs; vmin(a, b) = (a < b
// ? a : b) (a NaN `a` gives b); lt(a, b) (a mask); pick(mask, yes, no); vexp (the vec_math exp).
//
// One exp serves both Phi and phi. With a = |x|:
//   Phi(-a) = t G(t) e^{-a^2/2},  t = 1 / (1 + q a),
// where G(t) = erfc(a / sqrt 2) e^{a^2/2} / (2 t) is smooth and bounded ([0.09, 0.5]) on t in
// (0, 1], fitted by a degree-9 polynomial (scripts/dev/fit_erf_polys.py, the `gelu` fit: max
// relative error 4.7e-9 for a in [0, 14.5], q = 0.2316419, each coefficient rounded to f32 in
// turn). e^{-a^2/2} is taken from a^2 split exactly (hi = fl(a^2), lo = a^2 - hi by an FMA) as
// e^{-hi/2} (1 - lo/2), so neither a^2 nor x / sqrt 2 is rounded before the exponential (the
// previous kernel's erfc(x / sqrt 2) lost up to 25 ulp in the left tail that way). Phi(x) is
// Phi(-a) for x < 0 and 1 - Phi(-a) (>= 1/2, no cancellation) otherwise. Past a = 14.5 Phi(-a)
// is below 4e-48 (0 in f32) and e^{-a^2/2} is taken as 0. PyTorch's form 1 + erf(x / sqrt 2)
// has no correct digit in the far left tail; this one keeps relative accuracy down to the
// subnormal range (vec_math_test sweeps it against erfc in double).
// No include guard: meant to be included once per translation unit.

constexpr float kGeluQ = 0x1.da6712p-3f;  // 0.2316419
constexpr float kGeluClampA = 14.5f;
constexpr float kInvSqrt2PiF = 0.398942280401432678f;

struct NormalParts {
  V cdf;  // Phi(x)
  V e;    // e^{-x^2 / 2}
};

inline NormalParts normal_parts(V x) {
  const V a_raw = vabs(x);
  const auto far = lt(k(kGeluClampA), a_raw);  // NaN: false (x carries the NaN to the result)
  const V a = vmin(a_raw, k(kGeluClampA));     // NaN -> 14.5: every term below stays finite
  const V hi = a * a;
  const V lo = fma(a, a, -hi);
  const V e = pick(far, k(0.0f), vexp(k(-0.5f) * hi) * fma(k(-0.5f), lo, k(1.0f)));
  const V t = k(1.0f) / fma(k(kGeluQ), a, k(1.0f));
  V g = k(0x1.ccce6cp-6f);
  g = fma(g, t, k(-0x1.4250c6p-3f));
  g = fma(g, t, k(0x1.3e46fap-2f));
  g = fma(g, t, k(-0x1.1ab8aep-2f));
  g = fma(g, t, k(0x1.fa7904p-3f));
  g = fma(g, t, k(-0x1.7dc2e6p-6f));
  g = fma(g, t, k(0x1.a2fd2p-4f));
  g = fma(g, t, k(0x1.53da9ap-4f));
  g = fma(g, t, k(0x1.7c6d26p-4f));
  g = fma(g, t, k(0x1.7a6e92p-4f));
  const V tail = t * g * e;  // Phi(-a)
  return {pick(lt(x, k(0.0f)), tail, k(1.0f) - tail), e};
}

V gelu(V x) { return x * normal_parts(x).cdf; }
V gelu_grad(V x) {
  const auto [cdf, e] = normal_parts(x);
  return fma(x, e * k(kInvSqrt2PiF), cdf);
}
