// nabla::parse_number: the one strict text-to-number reading behind checkpoint metadata,
// optimizer/scheduler state, CLI flags and CSV cells (include/nabla/parse_number.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "nabla/parse_number.h"

namespace {

using nabla::parse_number;

TEST(ParseNumber, AcceptsExactlyOneNumber) {
  EXPECT_EQ(parse_number<int64_t>("42"), 42);
  EXPECT_EQ(parse_number<int64_t>("-7"), -7);
  EXPECT_EQ(parse_number<int64_t>("+7"), 7);  // as Python's int("+7")
  EXPECT_EQ(parse_number<int64_t>("9223372036854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parse_number<uint64_t>("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse_number<double>("0.1"), 0.1);
  EXPECT_EQ(parse_number<double>("-2.5e-3"), -2.5e-3);
  EXPECT_EQ(parse_number<double>("+1e3"), 1000.0);
  EXPECT_EQ(parse_number<double>("5"), 5.0);
  EXPECT_TRUE(std::isinf(*parse_number<double>("inf")));
  EXPECT_TRUE(std::isnan(*parse_number<double>("nan")));
}

TEST(ParseNumber, RefusesAnythingElse) {
  for (const char* bad : {"", " 1", "1 ", "1x", "x1", "1.5", "0x10", "+", "-", "++1", "+-1", "1,000", "١"})
    EXPECT_FALSE(parse_number<int64_t>(bad).has_value()) << "'" << bad << "'";
  for (const char* bad : {"", " 0.5", "0.5 ", "0.5.1", "1e", "e3", "+-1", "1,5", "0x1p3"})
    EXPECT_FALSE(parse_number<double>(bad).has_value()) << "'" << bad << "'";
  EXPECT_FALSE(parse_number<uint64_t>("-1").has_value());  // no wrap-around to 2^64 - 1
  EXPECT_FALSE(parse_number<uint8_t>("256").has_value());
}

TEST(ParseNumber, TrimBlanksRemovesOnlySurroundingSpacesAndTabs) {
  EXPECT_EQ(nabla::trim_blanks(" \t1, 2 \t"), "1, 2");
  EXPECT_EQ(nabla::trim_blanks("x"), "x");
  EXPECT_EQ(nabla::trim_blanks(" \t "), "");
  EXPECT_EQ(nabla::trim_blanks(""), "");
}

// Too small for the type is zero, as in Python (float("1e-400") == 0.0), not an error.
TEST(ParseNumber, UnderflowReadsAsZeroAndSubnormalsKeepTheirValue) {
  EXPECT_EQ(parse_number<double>("1e-400"), 0.0);
  const std::optional<double> neg = parse_number<double>("-1e-400");
  ASSERT_TRUE(neg.has_value());
  EXPECT_EQ(*neg, 0.0);
  EXPECT_TRUE(std::signbit(*neg));
  EXPECT_EQ(parse_number<float>("1e-50"), 0.0f);
  EXPECT_EQ(parse_number<double>("4.9406564584124654e-324"), std::numeric_limits<double>::denorm_min());
}

TEST(ParseNumber, SaysWhenAWellFormedNumberIsOutOfRange) {
  bool out_of_range = false;
  EXPECT_FALSE(parse_number<int64_t>("9223372036854775808", &out_of_range).has_value());
  EXPECT_TRUE(out_of_range);
  EXPECT_FALSE(parse_number<int64_t>("-99999999999999999999", &out_of_range).has_value());
  EXPECT_TRUE(out_of_range);
  EXPECT_FALSE(parse_number<double>("1e999", &out_of_range).has_value());
  EXPECT_TRUE(out_of_range);
  EXPECT_FALSE(parse_number<double>("-1e999", &out_of_range).has_value());
  EXPECT_TRUE(out_of_range);
  EXPECT_FALSE(parse_number<float>("1e39", &out_of_range).has_value());
  EXPECT_TRUE(out_of_range);
  EXPECT_FALSE(parse_number<int64_t>("12a", &out_of_range).has_value());
  EXPECT_FALSE(out_of_range);
  EXPECT_EQ(parse_number<int64_t>("12", &out_of_range), 12);
  EXPECT_FALSE(out_of_range);
}

}  // namespace
