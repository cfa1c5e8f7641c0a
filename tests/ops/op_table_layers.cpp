// Op-table rows: pixel_shuffle, pixel_unshuffle, channel_shuffle, unfold, fold, conv_transpose1d,
// bilinear, rms_norm, local_response_norm and embedding_bag, each against a reference written as
// plain loops over PyTorch's documented formula.
#include <cmath>
#include <limits>

#include "ops/op_table.h"

namespace optest {
namespace {

namespace nb = nabla;

using Ins = std::vector<Arr>;

/// Splits a shape into its leading dims' element count and the last `k` dims.
int64_t lead_count(const Shape& s, size_t k) {
  int64_t n = 1;
  for (size_t d = 0; d + k < s.size(); ++d) n *= s[d];
  return n;
}

// ---- rearrangements --------------------------------------------------------------------------

/// out[*, c, h r + i, w r + j] = x[*, c r^2 + i r + j, h, w].
Arr ref_pixel_shuffle(const Arr& x, int64_t r) {
  const size_t nd = x.shape.size();
  const int64_t C = x.shape[nd - 3], H = x.shape[nd - 2], W = x.shape[nd - 1];
  Shape os = x.shape;
  os[nd - 3] = C / (r * r), os[nd - 2] = H * r, os[nd - 1] = W * r;
  return make_arr(os, [&](const Shape& o) {
    Shape i = o;
    const int64_t c = o[nd - 3], y = o[nd - 2], z = o[nd - 1];
    i[nd - 3] = c * r * r + (y % r) * r + z % r, i[nd - 2] = y / r, i[nd - 1] = z / r;
    return x.at(i);
  });
}

/// out[*, c r^2 + i r + j, h, w] = x[*, c, h r + i, w r + j].
Arr ref_pixel_unshuffle(const Arr& x, int64_t r) {
  const size_t nd = x.shape.size();
  Shape os = x.shape;
  os[nd - 3] *= r * r, os[nd - 2] /= r, os[nd - 1] /= r;
  return make_arr(os, [&](const Shape& o) {
    Shape i = o;
    const int64_t k = o[nd - 3];
    i[nd - 3] = k / (r * r), i[nd - 2] = o[nd - 2] * r + (k % (r * r)) / r, i[nd - 1] = o[nd - 1] * r + k % r;
    return x.at(i);
  });
}

/// Output channel j g + q holds input channel q (C / g) + j.
Arr ref_channel_shuffle(const Arr& x, int64_t g) {
  const int64_t per = x.shape[1] / g;
  return make_arr(x.shape, [&](const Shape& o) {
    Shape i = o;
    i[1] = (o[1] % g) * per + o[1] / g;
    return x.at(i);
  });
}

std::vector<OpRow> shuffle_rows() {
  std::vector<OpRow> rows;
  OpRow r = op_row(
      "pixel_shuffle_r2", {F({2, 8, 2, 3})}, [](const TensorList& x) { return nb::pixel_shuffle(x[0], 2); },
      [](const Ins& a) { return ref_pixel_shuffle(a[0], 2); }, true);
  r.extra_cases = {{Shape{4, 3, 2}}, {Shape{2, 1, 4, 2, 1}}};  // unbatched; two leading dims
  rows.push_back(r);
  rows.push_back(op_row(
      "pixel_shuffle_r3", {F({1, 9, 2, 2})}, [](const TensorList& x) { return nb::pixel_shuffle(x[0], 3); },
      [](const Ins& a) { return ref_pixel_shuffle(a[0], 3); }));
  r = op_row(
      "pixel_unshuffle_r2", {F({2, 2, 4, 6})}, [](const TensorList& x) { return nb::pixel_unshuffle(x[0], 2); },
      [](const Ins& a) { return ref_pixel_unshuffle(a[0], 2); }, true);
  r.extra_cases = {{Shape{3, 2, 4}}, {Shape{2, 1, 1, 6, 2}}};
  rows.push_back(r);
  rows.push_back(op_row(
      "pixel_unshuffle_r3", {F({1, 2, 3, 6})}, [](const TensorList& x) { return nb::pixel_unshuffle(x[0], 3); },
      [](const Ins& a) { return ref_pixel_unshuffle(a[0], 3); }));
  r = op_row(
      "channel_shuffle_g3", {F({2, 6, 2, 2})}, [](const TensorList& x) { return nb::channel_shuffle(x[0], 3); },
      [](const Ins& a) { return ref_channel_shuffle(a[0], 3); }, true);
  r.extra_cases = {{Shape{2, 6, 5}}, {Shape{1, 3, 2, 1, 2}}};
  rows.push_back(r);
  return rows;
}

// ---- unfold / fold ----------------------------------------------------------------------------

struct Geom {
  int64_t kh, kw, Lh, Lw;
};
Geom ref_geom(int64_t H, int64_t W, nb::Size2 k, const nb::FoldOptions& o) {
  return {k[0], k[1], (H + 2 * o.padding[0] - o.dilation[0] * (k[0] - 1) - 1) / o.stride[0] + 1,
          (W + 2 * o.padding[1] - o.dilation[1] * (k[1] - 1) - 1) / o.stride[1] + 1};
}

/// out[n, c kh kw + i kw + j, bh Lw + bw] = x[n, c, bh sh - ph + i dh, bw sw - pw + j dw] (0 outside).
Arr ref_unfold(const Arr& x0, nb::Size2 k, const nb::FoldOptions& o) {
  const bool batched = x0.shape.size() == 4;
  const Arr x = batched ? x0 : Arr{Shape{1, x0.shape[0], x0.shape[1], x0.shape[2]}, x0.v};
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const Geom g = ref_geom(H, W, k, o);
  Arr out = make_arr({N, C * g.kh * g.kw, g.Lh * g.Lw}, [&](const Shape& i) {
    const int64_t c = i[1] / (g.kh * g.kw), tap = i[1] % (g.kh * g.kw), bh = i[2] / g.Lw, bw = i[2] % g.Lw;
    const int64_t y = bh * o.stride[0] - o.padding[0] + (tap / g.kw) * o.dilation[0];
    const int64_t z = bw * o.stride[1] - o.padding[1] + (tap % g.kw) * o.dilation[1];
    return y >= 0 && y < H && z >= 0 && z < W ? x.at({i[0], c, y, z}) : 0.0;
  });
  if (!batched) out.shape.erase(out.shape.begin());
  return out;
}

/// The adjoint of ref_unfold: every column entry added into the pixel it was read from.
Arr ref_fold(const Arr& x0, nb::Size2 size, nb::Size2 k, const nb::FoldOptions& o) {
  const bool batched = x0.shape.size() == 3;
  const Arr x = batched ? x0 : Arr{Shape{1, x0.shape[0], x0.shape[1]}, x0.v};
  const int64_t N = x.size(0), K = k[0] * k[1], C = x.size(1) / K, H = size[0], W = size[1];
  const Geom g = ref_geom(H, W, k, o);
  Arr out{{N, C, H, W}, std::vector<double>(size_t(N * C * H * W), 0.0)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t row = 0; row < C * K; ++row)
      for (int64_t l = 0; l < g.Lh * g.Lw; ++l) {
        const int64_t tap = row % K;
        const int64_t y = (l / g.Lw) * o.stride[0] - o.padding[0] + (tap / g.kw) * o.dilation[0];
        const int64_t z = (l % g.Lw) * o.stride[1] - o.padding[1] + (tap % g.kw) * o.dilation[1];
        if (y >= 0 && y < H && z >= 0 && z < W) out.at({n, row / K, y, z}) += x.at({n, row, l});
      }
  if (!batched) out.shape.erase(out.shape.begin());
  return out;
}

std::vector<OpRow> fold_rows() {
  std::vector<OpRow> rows;
  auto unfold_row = [&](std::string name, Shape in, nb::Size2 k, nb::FoldOptions o, std::vector<std::vector<Shape>> extra) {
    OpRow r = op_row(
        std::move(name), {F(std::move(in))}, [=](const TensorList& x) { return nb::unfold(x[0], k, o); },
        [=](const Ins& a) { return ref_unfold(a[0], k, o); }, true);
    r.extra_cases = std::move(extra);
    rows.push_back(r);
  };
  unfold_row("unfold_k2x3", {2, 3, 4, 5}, {2, 3}, {}, {{Shape{3, 3, 4}}});
  unfold_row("unfold_dil_pad_stride", {2, 2, 5, 6}, {2, 2},
             {.dilation = {2, 1}, .padding = {1, 2}, .stride = {2, 3}}, {{Shape{1, 3, 4, 4}}});
  auto fold_row = [&](std::string name, Shape in, nb::Size2 size, nb::Size2 k, nb::FoldOptions o) {
    rows.push_back(op_row(
        std::move(name), {F(std::move(in))}, [=](const TensorList& x) { return nb::fold(x[0], size, k, o); },
        [=](const Ins& a) { return ref_fold(a[0], size, k, o); }, true));
  };
  // Overlapping blocks (stride 1 < kernel) add up; 3 x 4 blocks of a 4 x 6 image with a 2 x 3 kernel.
  fold_row("fold_overlapping", {2, 2 * 6, 12}, {4, 6}, {2, 3}, {});
  // Padding crops, dilation and stride leave gaps (pixels no block covers stay 0): 3 x 2 blocks.
  fold_row("fold_dil_pad_stride_unbatched", {3 * 4, 6}, {5, 4}, {2, 2},
           {.dilation = {2, 1}, .padding = {1, 1}, .stride = {2, 3}});
  return rows;
}

// ---- conv_transpose1d, bilinear ---------------------------------------------------------------

/// out[n, o, t] = b[o] + sum of x[n, c, l] w[c, o - g Og, k] over the group's input channels c,
/// taps k and positions l with l s - p + k d = t.
Arr ref_conv_transpose1d(const Ins& a, const nb::ConvTranspose1dOptions& o) {
  const Arr &x = a[0], &w = a[1];
  const int64_t N = x.size(0), C = x.size(1), L = x.size(2), Og = w.size(1), K = w.size(2);
  const int64_t Cg = C / o.groups, O = Og * o.groups;
  const int64_t Lo = (L - 1) * o.stride - 2 * o.padding + o.dilation * (K - 1) + o.output_padding + 1;
  Arr out{{N, O, Lo}, std::vector<double>(size_t(N * O * Lo), 0.0)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < Og; ++j)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t l = 0; l < L; ++l) {
            const int64_t t = l * o.stride - o.padding + k * o.dilation;
            if (t >= 0 && t < Lo) out.at({n, (c / Cg) * Og + j, t}) += x.at({n, c, l}) * w.at({c, j, k});
          }
  if (a.size() > 2)
    for (int64_t i = 0; i < out.numel(); ++i) out.v[size_t(i)] += a[2].v[size_t((i / Lo) % O)];
  return out;
}

/// out[.., o] = b[o] + sum_ij x1[.., i] w[o, i, j] x2[.., j].
Arr ref_bilinear(const Ins& a) {
  const Arr &x1 = a[0], &x2 = a[1], &w = a[2];
  const int64_t O = w.size(0), I = w.size(1), J = w.size(2), B = lead_count(x1.shape, 1);
  Shape os(x1.shape.begin(), x1.shape.end() - 1);
  os.push_back(O);
  Arr out{os, std::vector<double>(size_t(B * O), 0.0)};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < O; ++o) {
      double acc = a.size() > 3 ? a[3].v[size_t(o)] : 0.0;
      for (int64_t i = 0; i < I; ++i)
        for (int64_t j = 0; j < J; ++j) acc += x1.v[size_t(b * I + i)] * w.at({o, i, j}) * x2.v[size_t(b * J + j)];
      out.v[size_t(b * O + o)] = acc;
    }
  return out;
}

std::vector<OpRow> conv_bilinear_rows() {
  std::vector<OpRow> rows;
  auto ct_row = [&](std::string name, std::vector<In> in, nb::ConvTranspose1dOptions o) {
    OpRow r = op_row(
        std::move(name), std::move(in),
        [=](const TensorList& x) { return nb::conv_transpose1d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), o); },
        [=](const Ins& a) { return ref_conv_transpose1d(a, o); }, true);
    r.atol32 = 1e-4;
    rows.push_back(r);
  };
  ct_row("conv_transpose1d_bias", {F({2, 3, 5}), F({3, 2, 3}), F({2})}, {});
  ct_row("conv_transpose1d_stride2_pad1_outpad1_dil2_groups2", {F({2, 4, 4}), F({4, 3, 2}), F({6})},
         {.stride = 2, .padding = 1, .output_padding = 1, .dilation = 2, .groups = 2});
  auto bl_row = [&](std::string name, std::vector<In> in) {
    OpRow r = op_row(
        std::move(name), std::move(in),
        [](const TensorList& x) { return nb::bilinear(x[0], x[1], x[2], x.size() > 3 ? x[3] : Tensor()); },
        ref_bilinear, true);
    r.atol32 = 1e-4;
    rows.push_back(r);
  };
  bl_row("bilinear_bias", {F({3, 4}), F({3, 5}), F({2, 4, 5}), F({2})});
  bl_row("bilinear_3d_no_bias", {F({2, 3, 2}), F({2, 3, 4}), F({3, 2, 4})});
  bl_row("bilinear_unbatched", {F({3}), F({2}), F({4, 3, 2}), F({4})});
  return rows;
}

// ---- rms_norm, local_response_norm ------------------------------------------------------------

/// x / sqrt(mean of x^2 over the last k dims + eps) * w.
Arr ref_rms_norm(const Ins& a, size_t k, double eps) {
  const Arr& x = a[0];
  const int64_t D = numel_of(Shape(x.shape.end() - int64_t(k), x.shape.end())), R = x.numel() / D;
  Arr out = x;
  for (int64_t r = 0; r < R; ++r) {
    double ms = 0;
    for (int64_t d = 0; d < D; ++d) ms += x.v[size_t(r * D + d)] * x.v[size_t(r * D + d)];
    const double s = 1.0 / std::sqrt(ms / double(D) + eps);
    for (int64_t d = 0; d < D; ++d)
      out.v[size_t(r * D + d)] = x.v[size_t(r * D + d)] * s * (a.size() > 1 ? a[1].v[size_t(d)] : 1.0);
  }
  return out;
}

/// x / (k + alpha / size * sum of x^2 over channels c - size/2 .. c + (size-1)/2 that exist)^beta.
Arr ref_lrn(const Arr& x, int64_t size, double alpha, double beta, double k) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  Arr out = x;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        double acc = 0;
        for (int64_t j = c - size / 2; j <= c + (size - 1) / 2; ++j)
          if (j >= 0 && j < C) acc += std::pow(x.v[size_t((n * C + j) * S + s)], 2);
        const size_t at = size_t((n * C + c) * S + s);
        out.v[at] = x.v[at] / std::pow(k + alpha * acc / double(size), beta);
      }
  return out;
}

std::vector<OpRow> norm_rows() {
  std::vector<OpRow> rows;
  OpRow r = op_row(
      "rms_norm_weight", {F({3, 4, 5}), F({5})}, [](const TensorList& x) { return nb::rms_norm(x[0], {5}, x[1], 1e-5); },
      [](const Ins& a) { return ref_rms_norm(a, 1, 1e-5); }, true);
  r.extra_cases = {{Shape{5}, Shape{5}}};
  rows.push_back(r);
  rows.push_back(op_row(
      "rms_norm_2d_shape_no_weight", {F({2, 3, 4})},
      [](const TensorList& x) { return nb::rms_norm(x[0], {3, 4}, Tensor(), 0.5); },
      [](const Ins& a) { return ref_rms_norm(a, 2, 0.5); }, true));
  // The default eps: the dtype's machine epsilon (f64 here, f32 in the f32 pass: both are far below
  // these inputs' mean squares, so the reference's f64 epsilon serves for both).
  rows.push_back(op_row(
      "rms_norm_default_eps", {M({4, 3})}, [](const TensorList& x) { return nb::rms_norm(x[0], {3}); },
      [](const Ins& a) { return ref_rms_norm(a, 1, std::numeric_limits<double>::epsilon()); }, true));
  auto lrn_row = [&](std::string name, Shape in, int64_t size, double alpha, double beta, double k) {
    rows.push_back(op_row(
        std::move(name), {F(std::move(in))},
        [=](const TensorList& x) { return nb::local_response_norm(x[0], size, alpha, beta, k); },
        [=](const Ins& a) { return ref_lrn(a[0], size, alpha, beta, k); }, true));
  };
  lrn_row("local_response_norm_3d_size3", {2, 5, 3}, 3, 0.5, 0.75, 1.0);
  lrn_row("local_response_norm_4d_size4", {2, 6, 2, 3}, 4, 0.3, 0.6, 2.0);
  lrn_row("local_response_norm_5d_size2", {1, 3, 2, 2, 2}, 2, 1e-4, 0.75, 1.0);
  return rows;
}

// ---- embedding_bag ----------------------------------------------------------------------------

/// Bags of rows of `w` picked by `idx` (starts `start`, end implied), reduced per `mode`, padding
/// entries left out; `psw` scales each entry (Sum).
Arr ref_embedding_bag(const Arr& w, const std::vector<int64_t>& idx, std::vector<int64_t> start, nb::EmbeddingBagMode mode,
                      const Arr* psw, std::optional<int64_t> pad) {
  const int64_t D = w.size(1), B = int64_t(start.size());
  start.push_back(int64_t(idx.size()));
  Arr out{{B, D}, std::vector<double>(size_t(B * D), 0.0)};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t d = 0; d < D; ++d) {
      double acc = mode == nb::EmbeddingBagMode::Max ? -INFINITY : 0.0;
      int64_t n = 0;
      for (int64_t t = start[size_t(b)]; t < start[size_t(b) + 1]; ++t) {
        if (pad && idx[size_t(t)] == *pad) continue;
        const double v = w.at({idx[size_t(t)], d}) * (psw ? psw->v[size_t(t)] : 1.0);
        acc = mode == nb::EmbeddingBagMode::Max ? std::max(acc, v) : acc + v;
        ++n;
      }
      if (n == 0) acc = 0;
      if (mode == nb::EmbeddingBagMode::Mean && n > 0) acc /= double(n);
      out.v[size_t(b * D + d)] = acc;
    }
  return out;
}

std::vector<OpRow> embedding_bag_rows() {
  std::vector<OpRow> rows;
  using nb::EmbeddingBagMode;
  // 1-D input of 7 entries in bags [0, 2), [2, 2) (empty), [2, 7); row 4 twice in the last bag.
  const std::vector<double> flat = {1, 3, 4, 0, 4, 2, 5};
  const std::vector<int64_t> flat_i(flat.begin(), flat.end()), offsets = {0, 2, 2};
  for (auto [mode, name] : {std::pair{EmbeddingBagMode::Sum, "sum"}, std::pair{EmbeddingBagMode::Mean, "mean"},
                            std::pair{EmbeddingBagMode::Max, "max"}}) {
    const EmbeddingBagMode m = mode;
    rows.push_back(op_row(
        std::string("embedding_bag_offsets_") + name, {F({6, 3}), X({7}, flat)},
        [=](const TensorList& x) {
          return nb::embedding_bag(x[0], x[1], {.offsets = nb::from_vector(offsets, {3}).to(x[1].device()), .mode = m});
        },
        [=](const Ins& a) { return ref_embedding_bag(a[0], flat_i, offsets, m, nullptr, std::nullopt); }, true));
    // 2-D input (bags of 3) with padding_idx 2: left out of every bag (the second bag holds only it).
    const std::vector<double> grid = {0, 2, 5, 2, 2, 2, 1, 1, 3};
    rows.push_back(op_row(
        std::string("embedding_bag_2d_padding_idx_") + name, {F({6, 2}), X({3, 3}, grid)},
        [=](const TensorList& x) { return nb::embedding_bag(x[0], x[1], {.mode = m, .padding_idx = 2}); },
        [=](const Ins& a) {
          return ref_embedding_bag(a[0], std::vector<int64_t>(grid.begin(), grid.end()), {0, 3, 6}, m, nullptr, 2);
        },
        true));
  }
  // Sum with per_sample_weights (differentiated too) and the CSR layout (include_last_offset).
  const std::vector<int64_t> csr = {0, 3, 5};
  rows.push_back(op_row(
      "embedding_bag_sum_per_sample_weights_last_offset", {F({5, 2}), X({5}, {4, 0, 4, 1, 3}), F({5})},
      [=](const TensorList& x) {
        return nb::embedding_bag(x[0], x[1],
                                 {.offsets = nb::from_vector(csr, {3}).to(x[1].device()),
                                  .mode = EmbeddingBagMode::Sum,
                                  .per_sample_weights = x[2],
                                  .include_last_offset = true});
      },
      [](const Ins& a) { return ref_embedding_bag(a[0], {4, 0, 4, 1, 3}, {0, 3}, EmbeddingBagMode::Sum, &a[2], std::nullopt); },
      true));
  return rows;
}

}  // namespace

NB_OP_TABLE(Shuffle, shuffle_rows());
NB_OP_TABLE(Fold, fold_rows());
NB_OP_TABLE(ConvTransposeBilinear, conv_bilinear_rows());
NB_OP_TABLE(RmsLrnNorm, norm_rows());
NB_OP_TABLE(EmbeddingBag, embedding_bag_rows());

}  // namespace optest
