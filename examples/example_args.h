// Command-line options of the examples, declared once per program instead of a hand-written loop in
// each: options bind `--name VALUE` to a variable (int, int64_t, uint64_t, double or std::string,
// read strictly with parse_number), flags bind `--name` to a bool, and --help / -h prints the usage
// with every option's default. Unknown options, missing and malformed values throw nabla::Error.
//
//   examples::ArgParser p("vit_fashion", "Trains a tiny ViT on Fashion-MNIST.");
//   p.option("--epochs", &args.epochs, "training epochs").flag("--smoke", &args.smoke, "a few seconds' run");
//   p.parse(argc, argv);
#pragma once
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "nabla/error.h"
#include "nabla/parse_number.h"

namespace nabla::examples {

class ArgParser {
 public:
  ArgParser(std::string program, std::string description) : program_(std::move(program)), description_(std::move(description)) {}

  /// `--name VALUE` sets *target; its current value is the default shown by --help.
  template <typename T>
  ArgParser& option(const std::string& name, T* target, const std::string& help) {
    static_assert(std::is_same_v<T, int> || std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t> ||
                      std::is_same_v<T, double> || std::is_same_v<T, std::string>,
                  "ArgParser::option takes int, int64_t, uint64_t, double or std::string");
    entries_.push_back({name, help, target});
    return *this;
  }
  /// `--name` sets *target to true.
  ArgParser& flag(const std::string& name, bool* target, const std::string& help) {
    entries_.push_back({name, help, target});
    return *this;
  }

  /// Parses argv[1..]; --help / -h prints usage() and exits with 0.
  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (k == "--help" || k == "-h") {
        std::cout << usage();
        std::exit(0);
      }
      const Entry* e = find(k);
      if (e == nullptr) throw Error("unknown option " + k + " (see --help)");
      if (auto* b = std::get_if<bool*>(&e->target)) {
        **b = true;
        continue;
      }
      if (i + 1 >= argc) throw Error("option " + k + " needs a value");
      const std::string v = argv[++i];
      std::visit([&](auto* t) { set(t, k, v); }, e->target);
    }
  }

  std::string usage() const {
    std::ostringstream os;
    os << "usage: " << program_;
    for (const auto& e : entries_) os << " [" << e.name << (std::holds_alternative<bool*>(e.target) ? "" : " X") << "]";
    os << "\n" << description_ << "\n";
    for (const auto& e : entries_) {
      os << "  " << e.name;
      for (size_t n = e.name.size(); n < 16; ++n) os << ' ';
      os << e.help;
      std::visit([&](auto* t) { show_default(os, t); }, e.target);
      os << "\n";
    }
    return os.str();
  }

 private:
  using Target = std::variant<int*, int64_t*, uint64_t*, double*, std::string*, bool*>;
  struct Entry {
    std::string name, help;
    Target target;
  };

  const Entry* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }

  template <typename T>
  void set(T* t, const std::string& name, const std::string& v) const {
    if constexpr (std::is_same_v<T, std::string>) {
      *t = v;
    } else if constexpr (std::is_same_v<T, bool>) {
      *t = true;
    } else {
      auto x = parse_number<T>(v);
      if (!x) throw Error("option " + name + " needs a number, got \"" + v + "\"");
      *t = *x;
    }
  }

  template <typename T>
  static void show_default(std::ostream& os, const T* t) {
    if constexpr (!std::is_same_v<T, bool>) os << " (default " << *t << ")";
  }

  std::string program_, description_;
  std::vector<Entry> entries_;
};

}  // namespace nabla::examples
