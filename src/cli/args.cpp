#include "args.h"

#include <optional>
#include <sstream>

#include "nabla/parse_number.h"

namespace nabla::cli {

namespace {

/// `text` as a base-10 integer; "" for success, else why not (not a number / out of range).
std::string parse_integer(const std::string& text, int64_t* out) {
  bool out_of_range = false;
  const std::optional<int64_t> v = parse_number<int64_t>(text, &out_of_range);
  if (out_of_range) return "is out of the 64-bit integer range";
  if (!v) return "expects an integer";
  *out = *v;
  return "";
}

}  // namespace

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
  int64_t v = 0;
  std::string why = parse_integer(it->second, &v);
  if (!why.empty()) throw UsageError("option --" + key + " " + why + ", got '" + it->second + "'");
  return v;
}

double Args::number(const std::string& key, double def) const {
  auto it = values_.find(key);
  if (it == values_.end()) return def;
  bool out_of_range = false;
  const std::optional<double> v = parse_number<double>(it->second, &out_of_range);
  if (out_of_range) throw UsageError("option --" + key + " is beyond the largest double, got '" + it->second + "'");
  if (!v) throw UsageError("option --" + key + " expects a number, got '" + it->second + "'");
  return *v;
}

std::vector<int64_t> Args::int_list(const std::string& key) const {
  std::vector<int64_t> out;
  auto it = values_.find(key);
  if (it == values_.end()) return out;
  std::stringstream ss(it->second);
  std::string part;
  while (std::getline(ss, part, ',')) {
    // Blanks around an item are allowed: --classes "0, 6" is how people write a list.
    part = std::string(trim_blanks(part));
    int64_t v = 0;
    std::string why = parse_integer(part, &v);
    if (why == "expects an integer") throw UsageError("option --" + key + " expects a comma-separated list of integers");
    if (!why.empty()) throw UsageError("option --" + key + ": '" + part + "' " + why);
    out.push_back(v);
  }
  return out;
}

}  // namespace nabla::cli
