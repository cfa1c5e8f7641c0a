#!/usr/bin/env python3
"""Fits the polynomials of the vectorized f32 erf (src/backend/cpu/vec_math_avx2.cpp) and gelu.

  small: erf(x) = x + x P(x^2) on [0, 0.875], P of degree 5 in x^2;
  mid:   erfc(a) = exp(-R(a - 2.4375)) on [0.875, 4], R of degree 9;
  gelu (with --gelu; src/backend/cpu/vec_gelu_impl.h): Phi(-a) = t G(t) exp(-a^2/2) with
         t = 1 / (1 + q a), q = f32(0.2316419), a in [0, 14.5]; G of degree 9 in t, fitted for
         relative error (G is in [0.09, 0.5]).

Lawson-weighted least squares (converging to the minimax fit) in 40-digit arithmetic, then each
coefficient, lowest order first, is rounded to f32 and the remaining ones are refitted, so the
rounding of one is absorbed by the others. Needs python3-mpmath (Debian). Prints C++ literals,
highest order first (the Horner order of the kernel). Took 7 s here.
"""
import struct

import mpmath as mp

mp.mp.dps = 40


def f32(v):
    return struct.unpack("f", struct.pack("f", float(v)))[0]


def fit(xs, ys, basis, deg, fixed, iters):
    """Coefficients c[0..deg] minimizing max |sum c_j basis(x, j) - y| with c[:len(fixed)] given."""
    k, n = len(fixed), len(xs)
    w = [mp.mpf(1)] * n
    best = None
    for _ in range(iters):
        A = mp.matrix(n, deg + 1 - k)
        b = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            sw = mp.sqrt(w[i])
            for j in range(k, deg + 1):
                A[i, j - k] = sw * basis(x, j)
            b[i] = sw * (ys[i] - sum(fixed[j] * basis(x, j) for j in range(k)))
        c = mp.lu_solve(A.T * A, A.T * b)
        full = list(fixed) + [c[j] for j in range(deg + 1 - k)]
        errs = [sum(full[j] * basis(x, j) for j in range(deg + 1)) - ys[i] for i, x in enumerate(xs)]
        worst = max(abs(e) for e in errs)
        if best is None or worst < best[0]:
            best = (worst, full)
        total = sum(w[i] * abs(errs[i]) for i in range(n))
        w = [w[i] * abs(errs[i]) / total for i in range(n)]
    return best


def fit_rounded(xs, ys, basis, deg):
    fixed = []
    worst = None
    for j in range(deg + 1):
        worst, full = fit(xs, ys, basis, deg, fixed, 12 if j < deg else 1)
        fixed.append(mp.mpf(f32(full[j])))
    return worst, [float(v) for v in fixed]


def chebyshev_nodes(lo, hi, n):
    return [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (i + 0.5) / n) for i in range(n)]


def literal(v):
    mantissa, exponent = v.hex().split("p")
    return mantissa.rstrip("0").rstrip(".") + "p" + exponent + "f"


def fit_gelu():
    q = mp.mpf(f32(mp.mpf("0.2316419")))
    tlo = 1 / (1 + q * mp.mpf("14.5"))
    ts = chebyshev_nodes(tlo, mp.mpf(1), 200)

    def g(t):
        a = (1 / t - 1) / q
        return mp.erfc(a / mp.sqrt(2)) * mp.exp(a * a / 2) / (2 * t)

    ys = {t: g(t) for t in ts}
    # Relative error: the basis and the target divided by G, the target then 1.
    err, c = fit_rounded(ts, [mp.mpf(1)] * len(ts), lambda t, j: t ** j / ys[t], 9)
    print("// gelu: q = %s, max relative G error %s" % (literal(float(q)), mp.nstr(err, 4)))
    print(", ".join(literal(v) for v in reversed(c)))


def main():
    import sys
    if "--gelu" in sys.argv:
        return fit_gelu()
    lo, hi = mp.mpf(0), mp.mpf("0.875")
    xs = chebyshev_nodes(lo, hi, 300)
    xs = [x for x in xs if x > 0]
    ys = [(mp.erf(x) - x) / x for x in xs]
    err, small = fit_rounded(xs, ys, lambda x, j: x ** (2 * j), 5)
    print("// small: max |P error| %s" % mp.nstr(err, 4))
    print(", ".join(literal(v) for v in reversed(small)))
    center = mp.mpf("2.4375")
    xs = chebyshev_nodes(mp.mpf("0.875"), mp.mpf(4), 300)
    ys = [-mp.log(mp.erfc(x)) for x in xs]
    err, mid = fit_rounded(xs, ys, lambda x, j: (x - center) ** j, 9)
    print("// mid: max |R error| %s" % mp.nstr(err, 4))
    print(", ".join(literal(v) for v in reversed(mid)))


if __name__ == "__main__":
    main()
