// Checks every #include in src/ against the layer order of DESIGN.md §1: a file may
// include only its own layer and the layers below it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace fs = std::filesystem;

namespace {

// Layer -> layers it may include (itself included).
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"core", {"core", "backend"}},  // core reaches device memory through backend/device_backend.h
    {"backend", {"core", "backend"}},
    {"autograd", {"core", "autograd"}},
    {"ops", {"core", "backend", "autograd", "ops"}},
    {"data", {"core", "ops", "data"}},
    {"io", {"core", "ops", "io"}},
    {"nn", {"core", "autograd", "ops", "nn", "io"}},
    {"optim", {"core", "autograd", "ops", "optim", "nn", "io"}},
    {"train", {"core", "autograd", "ops", "nn", "optim", "data", "io", "train"}},
    {"cli", {"core", "autograd", "ops", "nn", "optim", "data", "io", "train", "cli"}},
};

// Which layer a public header belongs to.
std::string layer_of_public(const std::string& h) {
  static const std::map<std::string, std::string> top = {
      {"error.h", "core"},     {"dtype.h", "core"},     {"half.h", "core"},     {"autocast.h", "core"},   {"reduction.h", "core"}, {"tensor.h", "core"},
      {"allocator.h", "core"}, {"random.h", "core"},  {"threads.h", "core"},   {"options.h", "core"},
      {"device.h", "core"},    {"file.h", "core"},    {"parse_number.h", "core"}, {"half.h", "core"},
      {"autograd.h", "autograd"}, {"ops.h", "ops"},  {"gradcheck.h", "ops"},
      {"nabla.h", "cli"},      {"nn.h", "nn"},        {"optim.h", "optim"},    {"data.h", "data"}};
  auto slash = h.find('/');
  if (slash != std::string::npos) return h.substr(0, slash);  // nabla/nn/..., nabla/data/...
  auto it = top.find(h);
  return it == top.end() ? "unknown:" + h : it->second;
}

}  // namespace

TEST(Layering, IncludesFollowLayerOrder) {
  fs::path src = fs::path(NABLA_SOURCE_DIR) / "src";
  ASSERT_TRUE(fs::exists(src)) << src;
  std::regex inc(R"re(^\s*#\s*include\s*"([^"]+)")re");
  int checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(src)) {
    if (!entry.is_regular_file()) continue;
    fs::path rel = fs::relative(entry.path(), src);
    std::string layer = rel.begin()->string();
    auto allowed = kAllowed.find(layer);
    ASSERT_NE(allowed, kAllowed.end()) << "unknown layer folder src/" << layer;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      if (!std::regex_search(line, m, inc)) continue;
      std::string target = m[1];
      std::string target_layer;
      if (target.rfind("nabla/", 0) == 0) {
        target_layer = layer_of_public(target.substr(6));
      } else {
        // Relative include: resolve against the including file.
        fs::path resolved = fs::weakly_canonical(entry.path().parent_path() / target);
        fs::path r = fs::relative(resolved, fs::weakly_canonical(src));
        target_layer = r.begin()->string();
      }
      EXPECT_TRUE(allowed->second.count(target_layer))
          << "src/" << rel.string() << " (layer " << layer << ") includes \"" << target << "\" from layer "
          << target_layer;
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(Layering, NnAndOptimNeverIncludeBackend) {
  for (const char* layer : {"nn", "optim"}) EXPECT_FALSE(kAllowed.at(layer).count("backend")) << layer;
}
