// The command line of the example programs, declared once: each option binds a variable, and
// parse() fills them, prints the usage for --help and rejects unknown options and malformed
// numbers with a nabla::Error naming the option.
//
//   int epochs = 5;  bool smoke = false;
//   examples::Options opts("vit_fashion");
//   opts.add("--epochs", epochs, "N").add("--smoke", smoke);
//   opts.parse(argc, argv);
#pragma once
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

#include "nabla/data/idx.h"
#include "nabla/error.h"
#include "nabla/parse_number.h"

namespace examples {

/// The options every training example has; an example derives its Args from this and sets its
/// own defaults in its constructor.
struct TrainingArgs {
  int epochs = 5;
  double lr = 1e-3;
  int64_t batch = 128;
  int threads = 2;
  uint64_t seed = 0;
  std::string data = nabla::data::kFashionMnistDir;
};

class Options {
 public:
  explicit Options(std::string program) : program_(std::move(program)) {}

  /// A valued option ("--epochs N"): `metavar` is what the usage shows after the flag.
  template <typename T>
  Options& add(const char* flag, T& value, const char* metavar) {
    options_.push_back({flag, metavar, [&value, flag](const std::string& text) {
                          if constexpr (std::is_same_v<T, std::string>) {
                            value = text;
                          } else {
                            std::optional<T> v = nabla::parse_number<T>(text);
                            if (!v) throw nabla::Error(std::string(flag) + " expects a number, got '" + text + "'");
                            value = *v;
                          }
                        }});
    return *this;
  }
  /// A switch ("--smoke"): sets `on` when given.
  Options& add(const char* flag, bool& on) {
    options_.push_back({flag, nullptr, [&on](const std::string&) { on = true; }});
    return *this;
  }

  /// --epochs, --lr, --batch-size, --threads, --seed and --data.
  Options& add_training(TrainingArgs& a) {
    return add("--epochs", a.epochs, "N")
        .add("--lr", a.lr, "X")
        .add("--batch-size", a.batch, "B")
        .add("--threads", a.threads, "T")
        .add("--seed", a.seed, "S")
        .add("--data", a.data, "DIR");
  }

  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (k == "--help" || k == "-h") {
        std::cout << usage() << "\n";
        std::exit(0);
      }
      const Option* o = find(k);
      if (o == nullptr) throw nabla::Error("unknown option " + k + " (see --help)");
      if (o->metavar == nullptr) {
        o->set("");
        continue;
      }
      if (i + 1 >= argc) throw nabla::Error("option " + k + " needs a value");
      o->set(argv[++i]);
    }
  }

  std::string usage() const {
    std::string u = "usage: ";
    u.append(program_);
    for (const Option& o : options_) {
      u.append(" [").append(o.flag);
      if (o.metavar) u.append(" ").append(o.metavar);
      u.append("]");
    }
    return u;
  }

 private:
  struct Option {
    const char* flag;
    const char* metavar;  ///< null for a switch
    std::function<void(const std::string&)> set;
  };
  const Option* find(const std::string& flag) const {
    for (const Option& o : options_)
      if (flag == o.flag) return &o;
    return nullptr;
  }
  std::string program_;
  std::vector<Option> options_;
};

}  // namespace examples
