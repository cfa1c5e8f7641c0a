// Minimal command-line parsing for the `nabla` command: --key value / --flag options and
// positional arguments; every mistake is a UsageError (exit code 2).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nabla/error.h"

namespace nabla::cli {

class UsageError : public Error {
 public:
  using Error::Error;
};

class Args {
 public:
  /// `valued` options take a value, `flags` do not; anything else starting with -- is an error.
  Args(int argc, char** argv, int first, const std::set<std::string>& valued, const std::set<std::string>& flags);
  bool has(const std::string& key) const { return values_.count(key) || flags_.count(key); }
  std::string str(const std::string& key, const std::string& def) const;
  int64_t integer(const std::string& key, int64_t def) const;
  double number(const std::string& key, double def) const;
  std::vector<int64_t> int_list(const std::string& key) const;
  bool flag(const std::string& key) const { return flags_.count(key) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace nabla::cli
