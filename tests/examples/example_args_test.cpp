// examples/example_args.h, the option parser the examples share: values bound to variables,
// flags, defaults kept when an option is absent, and errors for unknown options and bad values.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../../examples/example_args.h"
#include "common/expect_error.h"

namespace {

using nabla_test::error_of;
using nabla_test::expect_contains;

struct Parsed {
  int epochs = 5;
  double lr = 1e-3;
  int64_t batch = 64;
  uint64_t seed = 0;
  std::string task = "reverse";
  bool smoke = false;
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  nabla::examples::ArgParser ap("prog", "A test program.");
  ap.option("--epochs", &p.epochs, "epochs")
      .option("--lr", &p.lr, "learning rate")
      .option("--batch-size", &p.batch, "batch")
      .option("--seed", &p.seed, "seed")
      .option("--task", &p.task, "task")
      .flag("--smoke", &p.smoke, "smoke");
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ap.parse(int(argv.size()), argv.data());
  return p;
}

TEST(ExampleArgs, ParsesValuesFlagsAndKeepsDefaults) {
  Parsed p = parse({"--epochs", "7", "--smoke", "--lr", "2.5e-4", "--seed", "18446744073709551615", "--task", "sort"});
  EXPECT_EQ(p.epochs, 7);
  EXPECT_TRUE(p.smoke);
  EXPECT_DOUBLE_EQ(p.lr, 2.5e-4);
  EXPECT_EQ(p.seed, 18446744073709551615ull);
  EXPECT_EQ(p.task, "sort");
  EXPECT_EQ(p.batch, 64);  // absent: the default stays
  Parsed d = parse({});
  EXPECT_EQ(d.epochs, 5);
  EXPECT_FALSE(d.smoke);
}

TEST(ExampleArgs, Errors) {
  expect_contains(error_of([] { parse({"--bogus"}); }), {"unknown option --bogus", "--help"});
  expect_contains(error_of([] { parse({"--epochs"}); }), {"option --epochs needs a value"});
  expect_contains(error_of([] { parse({"--epochs", "3x"}); }), {"--epochs needs a number", "\"3x\""});
  expect_contains(error_of([] { parse({"--batch-size", "1.5"}); }), {"--batch-size needs a number"});
  expect_contains(error_of([] { parse({"--epochs", "99999999999"}); }), {"--epochs needs a number"});
}

TEST(ExampleArgs, UsageListsOptionsWithDefaults) {
  int epochs = 5;
  bool smoke = false;
  nabla::examples::ArgParser ap("prog", "A test program.");
  ap.option("--epochs", &epochs, "training epochs").flag("--smoke", &smoke, "quick run");
  std::string u = ap.usage();
  expect_contains(u, {"usage: prog [--epochs X] [--smoke]", "A test program.", "--epochs", "training epochs (default 5)",
                      "--smoke", "quick run"});
}

}  // namespace
