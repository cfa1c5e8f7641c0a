// Deterministic fuzzing: tens of thousands of mutated safetensors files and JSON texts, fed
// to the same properties the libFuzzer targets in fuzz/ check. Any exception other than
// nabla::Error, or a crash (run under NABLA_SANITIZE for out-of-bounds reads), fails.
#include <gtest/gtest.h>

#include <random>

#include "io_test_util.h"
#include "nabla/io/json.h"
#include "nabla/io/safetensors.h"

using namespace io_test;
using nabla::io::Json;

namespace {

// Mutations that find loader bugs: bit flips, "interesting" bytes, insertions, deletions,
// truncation, a rewritten length prefix, and copying a chunk elsewhere.
Bytes mutate(Bytes b, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  static const uint8_t kInteresting[] = {0, 1, 0x7F, 0x80, 0xFF, '{', '}', '[', ']', '"', ',', ':', '-', '0', '9', 'e', '.', ' ', '\\'};
  int steps = 1 + int(rng() % 4);
  for (int s = 0; s < steps; ++s) {
    switch (rng() % 8) {
      case 0:
        if (!b.empty()) b[pick(b.size())] ^= uint8_t(1u << (rng() % 8));
        break;
      case 1:
        if (!b.empty()) b[pick(b.size())] = kInteresting[pick(sizeof kInteresting)];
        break;
      case 2: b.insert(b.begin() + long(pick(b.size() + 1)), kInteresting[pick(sizeof kInteresting)]); break;
      case 3:
        if (!b.empty()) b.erase(b.begin() + long(pick(b.size())));
        break;
      case 4: b.resize(pick(b.size() + 1)); break;
      case 5:
        if (b.size() >= 8) {
          uint64_t n = rng() % 4 == 0 ? rng() : rng() % (b.size() + 16);
          for (int k = 0; k < 8; ++k) b[size_t(k)] = uint8_t(n >> (8 * k));
        }
        break;
      case 6: {  // change a digit run inside the header: offsets and shapes
        size_t at = pick(b.size());
        if (at < b.size() && b[at] >= '0' && b[at] <= '9') b[at] = uint8_t('0' + rng() % 10);
        break;
      }
      default: {
        if (b.size() < 2) break;
        size_t from = pick(b.size()), len = 1 + pick(std::min<size_t>(16, b.size() - from));
        Bytes chunk(b.begin() + long(from), b.begin() + long(from + len));
        b.insert(b.begin() + long(pick(b.size() + 1)), chunk.begin(), chunk.end());
      }
    }
  }
  return b;
}

// What a successful parse must satisfy: every tensor's bytes fit in the file.
void check_parsed(const nabla::io::SafetensorsFile& f, size_t file_size) {
  uint64_t total = 0;
  for (const auto& [name, t] : f.tensors) total += uint64_t(t.numel()) * nabla::dtype_size(t.dtype());
  ASSERT_LE(total, file_size);
}

}  // namespace

TEST(FuzzReplay, MutatedSafetensorsNeverCrash) {
  ScratchDir dir;
  std::vector<Bytes> seeds;
  nabla::io::save_safetensors({{"w", tensor_of<float>({2, 3}, {1, 2, 3, 4, 5, 6})},
                               {"b", tensor_of<int64_t>({2}, {-1, 1})},
                               {"s", tensor_of<double>({}, {0.5})},
                               {"e", tensor_of<uint8_t>({0, 3}, {})}},
                              dir.file("a"), {{"k", "v"}});
  seeds.push_back(read_file(dir.file("a")));
  nabla::io::save_safetensors({}, dir.file("b"));
  seeds.push_back(read_file(dir.file("b")));
  seeds.push_back(st_file("{\"x\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", Bytes{1, 2, 3}));

  std::mt19937_64 rng(20261124);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 30000; ++iter) {
    Bytes b = mutate(seeds[size_t(iter) % seeds.size()], rng);
    try {
      auto f = nabla::io::parse_safetensors(b.data(), b.size(), "fuzz");
      check_parsed(f, b.size());
      ++accepted;
    } catch (const nabla::Error&) {
      ++refused;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << ": unexpected exception type: " << e.what();
    }
  }
  // Both outcomes must occur, or the mutator is not exercising the validator.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 10000);
}

TEST(FuzzReplay, RandomBytesNeverCrash) {
  std::mt19937_64 rng(7);
  int refused = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    Bytes b(rng() % 64);
    for (auto& x : b) x = uint8_t(rng());
    if (b.size() >= 8 && iter % 2) {  // plausible length prefix, random header
      uint64_t n = rng() % (b.size() - 7);
      for (int k = 0; k < 8; ++k) b[size_t(k)] = uint8_t(n >> (8 * k));
      if (b.size() > 8) b[8] = '{';
    }
    try {
      check_parsed(nabla::io::parse_safetensors(b.data(), b.size(), "random"), b.size());  // e.g. "{}"
    } catch (const nabla::Error&) {
      ++refused;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << ": unexpected exception type: " << e.what();
    }
  }
  EXPECT_GT(refused, 4900);
}

TEST(FuzzReplay, MutatedJsonParsesOrFailsAndRoundTrips) {
  const std::vector<std::string> seeds = {
      R"({"layers":[{"type":"conv","k":3,"lr":1e-3,"bias":true},{"type":"linear","out":10,"act":null}]})",
      R"(["\u00e9\ud83d\ude00\n\t\"",-0,0.5,-12e+2,123456789012345678901234567890,{}])",
      R"({"a":{"b":{"c":[[[]]]}},"s":"caf\u00e9 \\ /"})"};
  std::mt19937_64 rng(99);
  int parsed = 0;
  for (int iter = 0; iter < 30000; ++iter) {
    const std::string& seed = seeds[size_t(iter) % seeds.size()];
    Bytes b = mutate(Bytes(seed.begin(), seed.end()), rng);
    std::string text(b.begin(), b.end());
    Json j;
    try {
      j = Json::parse(text, {.max_depth = 16});
    } catch (const nabla::io::JsonParseError& e) {
      ASSERT_LE(e.offset(), text.size());
      continue;
    } catch (const std::exception& e) {
      FAIL() << "unexpected exception type: " << e.what() << "\ninput: " << text;
    }
    ++parsed;
    // Whatever parses must write and read back to the same value.
    ASSERT_EQ(Json::parse(j.dump()), j) << text;
    ASSERT_EQ(Json::parse(j.dump(2)), j) << text;
  }
  EXPECT_GT(parsed, 1000);
}
