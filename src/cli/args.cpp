#include "args.h"

#include <cstdlib>
#include <sstream>

namespace nabla::cli {

Args::Args(int argc, char** argv, int first, const std::set<std::string>& valued, const std::set<std::string>& flags) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string key = a.substr(2), value;
    auto eq = key.find('=');
    bool inline_value = eq != std::string::npos;
    if (inline_value) value = key.substr(eq + 1), key = key.substr(0, eq);
    if (flags.count(key)) {
      if (inline_value) throw UsageError("option --" + key + " takes no value");
      flags_.insert(key);
    } else if (valued.count(key)) {
      if (!inline_value) {
        if (i + 1 >= argc) throw UsageError("option --" + key + " needs a value");
        value = argv[++i];
      }
      values_[key] = value;
    } else {
      throw UsageError("unknown option --" + key + " (see --help)");
    }
  }
}

std::string Args::str(const std::string& key, const std::string& def) const {
  auto it = values_.find(key);
  return it == values_.end() ? def : it->second;
}

int64_t Args::integer(const std::string& key, int64_t def) const {
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end) throw UsageError("option --" + key + " expects an integer, got '" + it->second + "'");
  return v;
}

double Args::number(const std::string& key, double def) const {
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end) throw UsageError("option --" + key + " expects a number, got '" + it->second + "'");
  return v;
}

std::vector<int64_t> Args::int_list(const std::string& key) const {
  std::vector<int64_t> out;
  auto it = values_.find(key);
  if (it == values_.end()) return out;
  std::stringstream ss(it->second);
  std::string part;
  while (std::getline(ss, part, ',')) {
    char* end = nullptr;
    long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end) throw UsageError("option --" + key + " expects a comma-separated list of integers");
    out.push_back(v);
  }
  return out;
}

}  // namespace nabla::cli
