#include "nabla/train/model_spec.h"

#include <functional>
#include <map>
#include <set>

#include "nabla/autograd.h"
#include "nabla/nn.h"

namespace nabla::train {

using io::Json;

namespace {

// Reads the options of one layer object, remembering which keys were used so that
// unknown (misspelt) options are reported.
class LayerReader {
 public:
  LayerReader(const Json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  int64_t integer(const char* key, std::optional<int64_t> def = std::nullopt) {
    const Json* v = get(key);
    if (!v) return required(key, def);
    NB_CHECK(v->is_int(), "[model spec] ", where_, ": option '", key, "' must be an integer, got ", v->dump());
    return v->as_int();
  }
  /// A number; required when no default is given.
  double number(const char* key, std::optional<double> def) {
    const Json* v = get(key);
    if (!v) {
      NB_CHECK(def.has_value(), "[model spec] ", where_, ": missing required option '", key, "'");
      return *def;
    }
    NB_CHECK(v->is_number(), "[model spec] ", where_, ": option '", key, "' must be a number, got ", v->dump());
    return v->as_double();
  }
  bool boolean(const char* key, bool def) {
    const Json* v = get(key);
    if (!v) return def;
    NB_CHECK(v->is_bool(), "[model spec] ", where_, ": option '", key, "' must be true or false, got ", v->dump());
    return v->as_bool();
  }
  nn::IntPair pair(const char* key, std::optional<int64_t> def = std::nullopt) {
    const Json* v = get(key);
    if (!v) return nn::IntPair(required(key, def));
    if (v->is_int()) return nn::IntPair(v->as_int());
    NB_CHECK(v->is_array() && v->size() == 2 && v->at(size_t(0)).is_int() && v->at(size_t(1)).is_int(), "[model spec] ",
             where_, ": option '", key, "' must be an integer or a pair [h, w], got ", v->dump());
    return nn::IntPair(v->at(size_t(0)).as_int(), v->at(size_t(1)).as_int());
  }
  Shape shape(const char* key) {
    const Json* v = get(key);
    if (!v) required(key, std::nullopt);
    Shape s;
    if (v->is_int()) return {v->as_int()};
    NB_CHECK(v->is_array(), "[model spec] ", where_, ": option '", key, "' must be a list of integers");
    for (const Json& e : v->as_array()) {
      NB_CHECK(e.is_int(), "[model spec] ", where_, ": option '", key, "' must be a list of integers");
      s.push_back(e.as_int());
    }
    return s;
  }
  /// A padding layer's sizes: an integer for every side, or [left, right, top, bottom].
  nn::PadSize2d pad2d(const char* key) {
    const Json* v = get(key);
    if (!v) required(key, std::nullopt);
    if (v->is_int()) return nn::PadSize2d(v->as_int());
    bool ok = v->is_array() && v->size() == 4;
    for (size_t i = 0; ok && i < 4; ++i) ok = v->at(i).is_int();
    NB_CHECK(ok, "[model spec] ", where_, ": option '", key,
             "' must be an integer or a list [left, right, top, bottom], got ", v->dump());
    return nn::PadSize2d(v->at(size_t(0)).as_int(), v->at(size_t(1)).as_int(), v->at(size_t(2)).as_int(),
                         v->at(size_t(3)).as_int());
  }
  std::string string(const char* key, const std::string& def) {
    const Json* v = get(key);
    if (!v) return def;
    NB_CHECK(v->is_string(), "[model spec] ", where_, ": option '", key, "' must be a string, got ", v->dump());
    return v->as_string();
  }
  bool has(const char* key) {
    asked_.insert(key);
    return obj_.find(key) != nullptr;
  }
  /// A number, or a pair [h, w] of numbers.
  nn::ScalePair scale_pair(const char* key) {
    const Json* v = get(key);
    if (v && v->is_number()) return nn::ScalePair(v->as_double());
    NB_CHECK(v && v->is_array() && v->size() == 2 && v->at(size_t(0)).is_number() && v->at(size_t(1)).is_number(),
             "[model spec] ", where_, ": option '", key, "' must be a number or a pair [h, w], got ",
             v ? v->dump() : "nothing");
    return nn::ScalePair(v->at(size_t(0)).as_double(), v->at(size_t(1)).as_double());
  }
  /// One of the named values of an option given as a string.
  template <typename E>
  E choice(const char* key, E def, std::initializer_list<std::pair<const char*, E>> names) {
    const std::string s = string(key, "");
    if (s.empty() && !obj_.find(key)) return def;
    std::string known;
    for (const auto& [n, e] : names) {
      if (s == n) return e;
      known += (known.empty() ? "\"" : ", \"") + std::string(n) + "\"";
    }
    fail("[model spec] ", where_, ": option '", key, "' must be one of ", known, ", got \"", s, "\"");
  }
  /// After building: every key of the object must have been read.
  void finish() const {
    for (const auto& [k, v] : obj_.as_object()) {
      if (k == "type" || used_.count(k)) continue;
      std::string known;
      for (const auto& u : asked_) known += (known.empty() ? "" : ", ") + u;
      fail("[model spec] ", where_, ": unknown option '", k, "' (known options: ", known.empty() ? "none" : known, ")");
    }
  }

 private:
  const Json* get(const char* key) {
    asked_.insert(key);
    const Json* v = obj_.find(key);
    if (v) used_.insert(key);
    return v;
  }
  int64_t required(const char* key, std::optional<int64_t> def) const {
    NB_CHECK(def.has_value(), "[model spec] ", where_, ": missing required option '", key, "'");
    return *def;
  }
  const Json& obj_;
  std::string where_;
  std::set<std::string> used_, asked_;
};

using Builder = std::function<std::shared_ptr<nn::Module>(LayerReader&)>;

/// The options Conv2d and ConvTranspose2d share, read with PyTorch's names and defaults.
template <typename Options>
Options conv_options(LayerReader& r) {
  Options o(r.integer("in_channels"), r.integer("out_channels"), r.pair("kernel_size"));
  o.stride(r.pair("stride", 1)).padding(r.pair("padding", 0)).dilation(r.pair("dilation", 1));
  o.groups(r.integer("groups", 1)).bias(r.boolean("bias", true));
  return o;
}

/// Unfold's and Fold's dilation, padding and stride (PyTorch's defaults 1, 0, 1).
template <typename Options>
Options fold_options(LayerReader& r, Options o) {
  return o.dilation(r.pair("dilation", 1)).padding(r.pair("padding", 0)).stride(r.pair("stride", 1));
}

template <typename Pad>
std::shared_ptr<nn::Module> pad_layer(LayerReader& r) {
  return std::make_shared<Pad>(r.pad2d("padding"));
}

nn::PaddingMode padding_mode(LayerReader& r) {
  return r.choice<nn::PaddingMode>("padding_mode", nn::PaddingMode::Zeros,
                                   {{"zeros", nn::PaddingMode::Zeros},
                                    {"reflect", nn::PaddingMode::Reflect},
                                    {"replicate", nn::PaddingMode::Replicate},
                                    {"circular", nn::PaddingMode::Circular}});
}

const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> b = {
      {"Linear",
       [](LayerReader& r) {
         return std::make_shared<nn::Linear>(nn::LinearOptions(r.integer("in_features"), r.integer("out_features"))
                                                 .bias(r.boolean("bias", true)));
       }},
      {"Conv2d",
       [](LayerReader& r) {
         return std::make_shared<nn::Conv2d>(conv_options<nn::Conv2dOptions>(r).padding_mode(padding_mode(r)));
       }},
      {"ConvTranspose2d",
       [](LayerReader& r) {
         return std::make_shared<nn::ConvTranspose2d>(
             conv_options<nn::ConvTranspose2dOptions>(r).output_padding(r.pair("output_padding", 0)));
       }},
      {"MaxPool2d",
       [](LayerReader& r) {
         return std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(r.pair("kernel_size"))
                                                    .stride(r.pair("stride", 0))
                                                    .padding(r.pair("padding", 0))
                                                    .ceil_mode(r.boolean("ceil_mode", false)));
       }},
      {"AvgPool2d",
       [](LayerReader& r) {
         return std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions(r.pair("kernel_size"))
                                                    .stride(r.pair("stride", 0))
                                                    .padding(r.pair("padding", 0))
                                                    .ceil_mode(r.boolean("ceil_mode", false)));
       }},
      {"AdaptiveAvgPool2d",
       [](LayerReader& r) { return std::make_shared<nn::AdaptiveAvgPool2d>(r.pair("output_size")); }},
      {"Upsample",
       [](LayerReader& r) {
         nn::UpsampleOptions o;
         if (r.has("size")) o.size(r.pair("size"));
         if (r.has("scale_factor")) o.scale_factor(r.scale_pair("scale_factor"));
         o.mode(r.choice<InterpolateMode>("mode", InterpolateMode::Nearest,
                                          {{"nearest", InterpolateMode::Nearest}, {"bilinear", InterpolateMode::Bilinear}}));
         o.align_corners(r.boolean("align_corners", false));
         return std::make_shared<nn::Upsample>(o);
       }},
      {"AdaptiveMaxPool2d",
       [](LayerReader& r) { return std::make_shared<nn::AdaptiveMaxPool2d>(r.pair("output_size")); }},
      {"BatchNorm1d",
       [](LayerReader& r) {
         return std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions(r.integer("num_features"))
                                                      .eps(r.number("eps", 1e-5))
                                                      .momentum(r.number("momentum", 0.1)));
       }},
      {"BatchNorm2d",
       [](LayerReader& r) {
         return std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions(r.integer("num_features"))
                                                      .eps(r.number("eps", 1e-5))
                                                      .momentum(r.number("momentum", 0.1)));
       }},
      {"LayerNorm",
       [](LayerReader& r) {
         return std::make_shared<nn::LayerNorm>(nn::LayerNormOptions(r.shape("normalized_shape")).eps(r.number("eps", 1e-5)));
       }},
      {"GroupNorm",
       [](LayerReader& r) {
         return std::make_shared<nn::GroupNorm>(nn::GroupNormOptions(r.integer("num_groups"), r.integer("num_channels"))
                                                    .eps(r.number("eps", 1e-5))
                                                    .affine(r.boolean("affine", true)));
       }},
      {"InstanceNorm2d",
       [](LayerReader& r) {
         return std::make_shared<nn::InstanceNorm2d>(nn::InstanceNormOptions(r.integer("num_features"))
                                                         .eps(r.number("eps", 1e-5))
                                                         .momentum(r.number("momentum", 0.1))
                                                         .affine(r.boolean("affine", false))
                                                         .track_running_stats(r.boolean("track_running_stats", false)));
       }},
      {"RMSNorm",
       [](LayerReader& r) {
         nn::RMSNormOptions o(r.shape("normalized_shape"));
         if (r.has("eps")) o.eps(r.number("eps", std::nullopt));
         return std::make_shared<nn::RMSNorm>(o.elementwise_affine(r.boolean("elementwise_affine", true)));
       }},
      {"LocalResponseNorm",
       [](LayerReader& r) {
         return std::make_shared<nn::LocalResponseNorm>(nn::LocalResponseNormOptions(r.integer("size"))
                                                            .alpha(r.number("alpha", 1e-4))
                                                            .beta(r.number("beta", 0.75))
                                                            .k(r.number("k", 1.0)));
       }},
      {"PixelShuffle", [](LayerReader& r) { return std::make_shared<nn::PixelShuffle>(r.integer("upscale_factor")); }},
      {"PixelUnshuffle",
       [](LayerReader& r) { return std::make_shared<nn::PixelUnshuffle>(r.integer("downscale_factor")); }},
      {"ChannelShuffle", [](LayerReader& r) { return std::make_shared<nn::ChannelShuffle>(r.integer("groups")); }},
      {"Unfold",
       [](LayerReader& r) {
         return std::make_shared<nn::Unfold>(fold_options(r, nn::UnfoldOptions(r.pair("kernel_size"))));
       }},
      {"Fold",
       [](LayerReader& r) {
         return std::make_shared<nn::Fold>(
             fold_options(r, nn::FoldOptions(r.pair("output_size"), r.pair("kernel_size"))));
       }},
      {"ZeroPad2d", pad_layer<nn::ZeroPad2d>},
      {"ConstantPad2d",
       [](LayerReader& r) {
         return std::make_shared<nn::ConstantPad2d>(r.pad2d("padding"), r.number("value", std::nullopt));
       }},
      {"ReflectionPad2d", pad_layer<nn::ReflectionPad2d>},
      {"ReplicationPad2d", pad_layer<nn::ReplicationPad2d>},
      {"CircularPad2d", pad_layer<nn::CircularPad2d>},
      {"Flatten", [](LayerReader&) { return std::make_shared<nn::Flatten>(); }},
      {"Dropout", [](LayerReader& r) { return std::make_shared<nn::Dropout>(nn::DropoutOptions(r.number("p", 0.5))); }},
      {"Dropout2d",
       [](LayerReader& r) { return std::make_shared<nn::Dropout2d>(nn::DropoutOptions(r.number("p", 0.5))); }},
      {"ReLU", [](LayerReader&) { return std::make_shared<nn::ReLU>(); }},
      {"LeakyReLU",
       [](LayerReader& r) {
         return std::make_shared<nn::LeakyReLU>(nn::LeakyReLUOptions().negative_slope(r.number("negative_slope", 0.01)));
       }},
      {"ELU", [](LayerReader& r) { return std::make_shared<nn::ELU>(nn::ELUOptions().alpha(r.number("alpha", 1.0))); }},
      {"GELU", [](LayerReader& r) {
         return std::make_shared<nn::GELU>(nn::GELUOptions().approximate(r.string("approximate", "none")));
       }},
      {"SiLU", [](LayerReader&) { return std::make_shared<nn::SiLU>(); }},
      {"Mish", [](LayerReader&) { return std::make_shared<nn::Mish>(); }},
      {"Hardsigmoid", [](LayerReader&) { return std::make_shared<nn::Hardsigmoid>(); }},
      {"Hardswish", [](LayerReader&) { return std::make_shared<nn::Hardswish>(); }},
      {"Softplus",
       [](LayerReader& r) {
         return std::make_shared<nn::Softplus>(
             nn::SoftplusOptions().beta(r.number("beta", 1.0)).threshold(r.number("threshold", 20.0)));
       }},
      {"PReLU",
       [](LayerReader& r) {
         return std::make_shared<nn::PReLU>(
             nn::PReLUOptions().num_parameters(r.integer("num_parameters", 1)).init(r.number("init", 0.25)));
       }},
      {"ReLU6", [](LayerReader&) { return std::make_shared<nn::ReLU6>(); }},
      {"Hardtanh",
       [](LayerReader& r) {
         return std::make_shared<nn::Hardtanh>(
             nn::HardtanhOptions().min_val(r.number("min_val", -1.0)).max_val(r.number("max_val", 1.0)));
       }},
      {"SELU", [](LayerReader&) { return std::make_shared<nn::SELU>(); }},
      {"CELU",
       [](LayerReader& r) { return std::make_shared<nn::CELU>(nn::CELUOptions().alpha(r.number("alpha", 1.0))); }},
      {"Softsign", [](LayerReader&) { return std::make_shared<nn::Softsign>(); }},
      {"LogSigmoid", [](LayerReader&) { return std::make_shared<nn::LogSigmoid>(); }},
      {"Tanhshrink", [](LayerReader&) { return std::make_shared<nn::Tanhshrink>(); }},
      {"Softshrink",
       [](LayerReader& r) { return std::make_shared<nn::Softshrink>(nn::ShrinkOptions().lambd(r.number("lambd", 0.5))); }},
      {"Hardshrink",
       [](LayerReader& r) { return std::make_shared<nn::Hardshrink>(nn::ShrinkOptions().lambd(r.number("lambd", 0.5))); }},
      {"Threshold",
       [](LayerReader& r) {
         return std::make_shared<nn::Threshold>(
             nn::ThresholdOptions(r.number("threshold", std::nullopt), r.number("value", std::nullopt)));
       }},
      {"GLU", [](LayerReader& r) { return std::make_shared<nn::GLU>(nn::GLUOptions().dim(r.integer("dim", -1))); }},
      {"Softmin", [](LayerReader& r) { return std::make_shared<nn::Softmin>(nn::SoftmaxOptions(r.integer("dim"))); }},
      {"Softmax", [](LayerReader& r) { return std::make_shared<nn::Softmax>(nn::SoftmaxOptions(r.integer("dim"))); }},
      {"LogSoftmax",
       [](LayerReader& r) { return std::make_shared<nn::LogSoftmax>(nn::SoftmaxOptions(r.integer("dim"))); }},
      {"Tanh", [](LayerReader&) { return std::make_shared<nn::Tanh>(); }},
      {"Sigmoid", [](LayerReader&) { return std::make_shared<nn::Sigmoid>(); }},
      {"Identity", [](LayerReader&) { return std::make_shared<nn::Identity>(); }},
  };
  return b;
}

Shape read_shape(const Json& j, const char* key, const std::string& source) {
  const Json* v = j.find(key);
  NB_CHECK(v && v->is_array() && v->size() > 0, "[model spec] ", source, ": '", key,
           "' must be a non-empty list of positive integers");
  Shape s;
  for (const Json& e : v->as_array()) {
    NB_CHECK(e.is_int() && e.as_int() > 0, "[model spec] ", source, ": '", key, "' must hold positive integers, got ",
             v->dump());
    s.push_back(e.as_int());
  }
  return s;
}

Json layer(const char* type, std::initializer_list<Json::Member> opts = {}) {
  Json j = Json::object({{"type", type}});
  for (const auto& [k, v] : opts) j.set(k, v);
  return j;
}

Json conv(int64_t in, int64_t out) {
  return layer("Conv2d", {{"in_channels", in}, {"out_channels", out}, {"kernel_size", 3}, {"padding", 1}});
}
Json linear(int64_t in, int64_t out) { return layer("Linear", {{"in_features", in}, {"out_features", out}}); }

ModelSpec make_preset(const std::string& name, Json layers, Json recommended) {
  ModelSpec s;
  s.name = name;
  s.input_shape = {1, 28, 28};
  s.num_classes = 10;
  s.layers = std::move(layers);
  s.recommended = std::move(recommended);
  return s;
}

}  // namespace

Json ModelSpec::to_json() const {
  Json shape = Json::array();
  for (int64_t d : input_shape) shape.push_back(d);
  Json j = Json::object({{"name", name}, {"input_shape", shape}, {"num_classes", num_classes}, {"layers", layers}});
  if (!recommended.is_null()) j.set("recommended", recommended);
  return j;
}

ModelSpec parse_model_spec(const std::string& text, const std::string& source) {
  Json j = io::parse_json_text(text, "model spec", source);
  NB_CHECK(j.is_object(), "[model spec] ", source, ": expected a JSON object at the top level");
  for (const auto& [k, v] : j.as_object()) {
    static const std::set<std::string> known = {"name", "input_shape", "num_classes", "layers", "recommended"};
    NB_CHECK(known.count(k), "[model spec] ", source, ": unknown key '", k,
             "' (known keys: name, input_shape, num_classes, layers, recommended)");
  }
  ModelSpec s;
  const Json* name = j.find("name");
  s.name = name && name->is_string() ? name->as_string() : source;
  s.input_shape = read_shape(j, "input_shape", source);
  const Json* nc = j.find("num_classes");
  NB_CHECK(nc && nc->is_int() && nc->as_int() >= 2, "[model spec] ", source,
           ": 'num_classes' must be an integer >= 2");
  s.num_classes = nc->as_int();
  const Json* layers = j.find("layers");
  NB_CHECK(layers && layers->is_array() && layers->size() > 0, "[model spec] ", source,
           ": 'layers' must be a non-empty list of layer objects");
  s.layers = *layers;
  if (const Json* r = j.find("recommended")) s.recommended = *r;
  return s;
}

ModelSpec load_model_spec(const std::string& path) { return parse_model_spec(io::read_text_file(path, "model spec"), path); }

Shape image_input_shape(const ModelSpec& spec, const std::string& op, const std::string& source) {
  NB_CHECK(spec.input_shape.size() == 3, "[", op, "] ", source, ": spec '", spec.name, "' has input_shape ",
           spec.input_shape, "; images need [channels, height, width]");
  return spec.input_shape;
}

void check_input_shape(const ModelSpec& spec, const Shape& image, const std::string& op, const std::string& source) {
  // A flat input_shape ([784]) of a spec that flattens its input fits images of as many pixels:
  // such specs trained (and their checkpoints load) before the check existed.
  const bool flat_fit = spec.input_shape.size() != 3 && shape_numel(spec.input_shape) == shape_numel(image);
  NB_CHECK(spec.input_shape == image || flat_fit, "[", op, "] spec '", spec.name, "' input_shape ", spec.input_shape,
           " vs images ", image, " of ", source, ": the model takes input_shape (one image, [channels, height, ",
           "width]); use a spec that matches the data");
}

std::vector<std::string> preset_names() { return {"mlp", "cnn", "cnn-bn-aug", "bottleneck-mlp"}; }

ModelSpec preset_spec(const std::string& name) {
  if (name == "mlp")
    return make_preset(name,
                       Json::array({layer("Flatten"), linear(784, 512), layer("ReLU"), layer("Dropout", {{"p", 0.2}}),
                                    linear(512, 256), layer("ReLU"), layer("Dropout", {{"p", 0.2}}), linear(256, 10)}),
                       Json::object({{"epochs", 20}, {"augment", "none"}}));
  if (name == "cnn")
    return make_preset(name,
                       Json::array({conv(1, 32), layer("ReLU"), layer("MaxPool2d", {{"kernel_size", 2}}), conv(32, 64),
                                    layer("ReLU"), layer("MaxPool2d", {{"kernel_size", 2}}), layer("Flatten"),
                                    linear(3136, 128), layer("ReLU"), layer("Dropout", {{"p", 0.5}}), linear(128, 10)}),
                       Json::object({{"epochs", 12}, {"augment", "none"}}));
  if (name == "cnn-bn-aug") {
    Json l = Json::array();
    auto block = [&](int64_t in, int64_t out) {
      l.push_back(conv(in, out));
      l.push_back(layer("BatchNorm2d", {{"num_features", out}}));
      l.push_back(layer("ReLU"));
    };
    block(1, 32);
    block(32, 32);
    l.push_back(layer("MaxPool2d", {{"kernel_size", 2}}));
    block(32, 64);
    block(64, 64);
    l.push_back(layer("MaxPool2d", {{"kernel_size", 2}}));
    l.push_back(layer("Flatten"));
    l.push_back(linear(3136, 256));
    l.push_back(layer("BatchNorm1d", {{"num_features", 256}}));
    l.push_back(layer("ReLU"));
    l.push_back(layer("Dropout", {{"p", 0.4}}));
    l.push_back(linear(256, 10));
    return make_preset(name, l, Json::object({{"epochs", 20}, {"augment", "standard"}}));
  }
  if (name == "bottleneck-mlp")
    // The lecture's regularizer: a narrow *linear* layer (no activation) between wide ones.
    return make_preset(name,
                       Json::array({layer("Flatten"), linear(784, 512), layer("ReLU"), linear(512, 32), linear(32, 512),
                                    layer("ReLU"), linear(512, 10)}),
                       Json::object({{"epochs", 20}, {"augment", "none"}}));
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  fail("[model spec] unknown preset '", name, "' (known presets: ", known, ")");
}

std::shared_ptr<nn::Sequential> build_model(const ModelSpec& spec) {
  auto model = std::make_shared<nn::Sequential>();
  const auto& table = builders();
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const Json& l = spec.layers.at(i);
    std::string where = "layers[" + std::to_string(i) + "]";
    NB_CHECK(l.is_object(), "[model spec] ", spec.name, ": ", where, " must be an object with a \"type\"");
    const Json* type = l.find("type");
    NB_CHECK(type && type->is_string(), "[model spec] ", spec.name, ": ", where, " has no \"type\" string");
    auto it = table.find(type->as_string());
    if (it == table.end()) {
      std::string known;
      for (const auto& [k, v] : table) known += (known.empty() ? "" : ", ") + k;
      fail("[model spec] ", spec.name, ": ", where, " has unknown type '", type->as_string(), "' (known: ", known, ")");
    }
    LayerReader reader(l, spec.name + ": " + where + " (" + type->as_string() + ")");
    std::shared_ptr<nn::Module> m;
    try {
      m = it->second(reader);
    } catch (const Error& e) {  // a layer's own check (Dropout p, BatchNorm eps, ...) named with its place
      std::string msg = e.what();
      if (msg.rfind("[model spec]", 0) == 0) throw;
      fail("[model spec] ", spec.name, ": ", where, " (", type->as_string(), "): ", msg);
    }
    reader.finish();
    model->push_back(m);
  }
  // Dry run, layer by layer so that a layer whose input does not fit is named: the layers
  // must chain and end in [num_classes] logits.
  Shape in = spec.input_shape;
  in.insert(in.begin(), 2);
  Tensor out = zeros(in);
  {
    NoGradGuard ng;
    model->eval();
    for (size_t i = 0; i < model->size(); ++i) {
      try {
        out = (*(*model)[int64_t(i)])(out);
      } catch (const Error& e) {
        fail("[model spec] ", spec.name, ": layers[", i, "] (", spec.layers.at(i).at("type").as_string(),
             ") does not fit the output ", out.shape(), " of the layers before it: ", e.what());
      }
    }
    model->train();
  }
  NB_CHECK(out.dim() == 2 && out.size(1) == spec.num_classes, "[model spec] ", spec.name, ": the model maps input ",
           in, " to ", out.shape(), ", expected [N, ", spec.num_classes, "] logits (num_classes)");
  return model;
}

}  // namespace nabla::train
