// e^x for one vector of f32 lanes, shared by the AVX2 (vec_math_avx2.cpp) and AVX-512
// (vec_math_avx512.cpp) builds so both widths give the same bits. Included inside each file's
// target region, after it defines: V, I (its int32 vector); k(float) (broadcast); fma(a, b, c);
// vmin, vmax; round_nearest(V); to_int(V); half(I) (arithmetic shift right by 1); isub(I, I);
// pow2i(I) = 2^n for a normal-range n; is_nan(V) (a mask) and pick(mask, yes, no).

V vexp(V x) {
  // Outside [-104, 89] e^x is 0 or inf in f32; clamping keeps n's exponent fields in range.
  const V xc = vmin(vmax(x, k(-104.0f)), k(89.0f));
  const V n = round_nearest(xc * k(1.44269504088896341f));
  V r = fma(n, k(-0.693359375f), xc);
  r = fma(n, k(2.12194440e-4f), r);
  V p = k(1.9875691500e-4f);
  p = fma(p, r, k(1.3981999507e-3f));
  p = fma(p, r, k(8.3334519073e-3f));
  p = fma(p, r, k(4.1665795894e-2f));
  p = fma(p, r, k(1.6666665459e-1f));
  p = fma(p, r, k(5.0000001201e-1f));
  p = fma(p, r * r, r) + k(1.0f);
  // 2^n as 2^(n/2) 2^(n - n/2): each factor is a normal float for n in [-150, 128].
  const I ni = to_int(n);
  const I n1 = half(ni);
  const V result = p * pow2i(n1) * pow2i(isub(ni, n1));
  return pick(is_nan(x), x, result);
}
