// The CPU backend's bulk 16-bit <-> f32 conversions (src/backend/cpu/half_buffer.cpp: F16C for
// f16 where the CPU has it, vectorized integer code otherwise) against half.h's scalar ones,
// which tests/ops/half_precision_test.cpp checks value by value: every 16-bit value widened, and
// narrowed from every rounding boundary (midpoints and their neighbours), subnormals, overflow
// and NaN, at lengths that leave a scalar tail after the 8-wide blocks.
#include "../../src/backend/cpu/half_buffer.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "nabla/half.h"

namespace {

namespace nb = nabla;
using nb::DType;

float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }

float scalar_widen(DType dt, uint16_t b) {
  return dt == DType::bf16 ? nb::half_bits::bf16_to_float(b) : nb::half_bits::f16_to_float(b);
}
uint16_t scalar_narrow(DType dt, float f) {
  return dt == DType::bf16 ? nb::half_bits::bf16_from_float(f) : nb::half_bits::f16_from_float(f);
}
bool is_nan16(DType dt, uint16_t b) { return dt == DType::bf16 ? (b & 0x7fffu) > 0x7f80u : (b & 0x7fffu) > 0x7c00u; }

class HalfBuffer : public ::testing::TestWithParam<DType> {};

TEST_P(HalfBuffer, WidensEveryValueAsHalfH) {
  const DType dt = GetParam();
  std::vector<uint16_t> all(65536 + 5);  // a tail of 5 after the 8-wide blocks
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint16_t(i);
  std::vector<float> out(all.size());
  nb::backend::cpu::widen_to_f32(dt, all.data(), out.data(), int64_t(all.size()));
  for (size_t i = 0; i < all.size(); ++i) {
    const float want = scalar_widen(dt, all[i]);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(out[i])) << "bits " << all[i];
      ASSERT_EQ(std::signbit(out[i]), std::signbit(want)) << "bits " << all[i];
    } else {
      ASSERT_EQ(bits_of(out[i]), bits_of(want)) << "bits " << all[i];
    }
  }
}

TEST_P(HalfBuffer, NarrowsEveryBoundaryAsHalfH) {
  const DType dt = GetParam();
  std::vector<float> in;
  // Each 16-bit value, the midpoint to the next one and the floats either side of it, both signs.
  for (uint32_t b = 0; b < 0x7fffu; ++b) {
    const float v = scalar_widen(dt, uint16_t(b)), next = scalar_widen(dt, uint16_t(b + 1));
    if (std::isnan(v) || std::isnan(next) || std::isinf(v)) continue;
    const float mid = v + (next - v) / 2;
    for (float f : {v, mid, from_bits(bits_of(mid) - 1), from_bits(bits_of(mid) + 1)}) {
      in.push_back(f);
      in.push_back(-f);
    }
  }
  // Far below the smallest subnormal, past the largest finite value, infinities and NaNs.
  for (float f :
       {1e-30f, 3e-8f, 65519.f, 65520.f, 1e30f, std::numeric_limits<float>::max(),
        std::numeric_limits<float>::infinity(), std::nanf(""), from_bits(0x7f800001u), from_bits(0xffc00000u)}) {
    in.push_back(f);
    in.push_back(-f);
  }
  in.push_back(1.0f);  // an odd length: a scalar tail
  std::vector<uint16_t> out(in.size());
  nb::backend::cpu::narrow_from_f32(dt, in.data(), out.data(), int64_t(in.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    const uint16_t want = scalar_narrow(dt, in[i]);
    if (std::isnan(in[i])) {
      ASSERT_TRUE(is_nan16(dt, out[i])) << "NaN input " << bits_of(in[i]) << " gave " << out[i];
      ASSERT_EQ(out[i] & 0x8000u, want & 0x8000u) << "NaN sign";
    } else {
      ASSERT_EQ(out[i], want) << "float bits " << bits_of(in[i]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, HalfBuffer, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(nb::dtype_name(info.param)); });

}  // namespace
