// Smoke run of examples/sequence_lstm.cpp (an LSTM over the rows of Fashion-MNIST images): with
// --smoke it trains on 512 images for a few seconds; the test checks that it exits 0, prints its
// JSON summary and learned something (above the 10% of chance). Skipped without the data set.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#ifdef NABLA_SEQUENCE_LSTM_PATH
TEST(ExamplesSmoke, SequenceLstmLearnsAboveChance) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)";
  const std::string log =
      (std::filesystem::temp_directory_path() / ("nabla_sequence_lstm_" + std::to_string(::getpid()) + ".log")).string();
  const std::string cmd = std::string(NABLA_SEQUENCE_LSTM_PATH) + " --smoke --threads 1 > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(log);
  ASSERT_EQ(rc, 0) << cmd << "\n" << text.str();
  const std::string out = text.str();
  const size_t at = out.find("{\"test_accuracy\": ");
  ASSERT_NE(at, std::string::npos) << out;
  const double acc = std::stod(out.substr(at + 18));
  EXPECT_GT(acc, 0.25) << out;  // chance is 0.10; one short epoch reaches about 0.4
  EXPECT_LE(acc, 1.0);
  EXPECT_NE(out.find("LSTM(28, 128, batch_first=true)"), std::string::npos) << out;
}
#endif
