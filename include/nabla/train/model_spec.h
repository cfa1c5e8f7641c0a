// Model specs: a JSON description of a Sequential model, validated strictly, and the
// built-in presets (`mlp`, `cnn`, `cnn-bn-aug`, `bottleneck-mlp`) written in the same form.
//
//   {"name": "tiny", "input_shape": [1, 28, 28], "num_classes": 10,
//    "layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 10}]}
//
// Layer options use PyTorch's names (in_channels, kernel_size, padding, p, ...); sizes may
// be an int or a [h, w] pair. Unknown types or options, wrong value types and layers whose
// shapes do not chain are errors naming the layer.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nabla/io/json.h"
#include "nabla/nn/container.h"

namespace nabla::train {

struct ModelSpec {
  std::string name;
  Shape input_shape;  ///< one example, e.g. [1, 28, 28]
  int64_t num_classes = 10;
  io::Json layers;  ///< array of layer objects
  /// Training defaults that belong to the preset (augmentation, epochs); may be null.
  io::Json recommended;
  io::Json to_json() const;
};

/// Parses and validates a spec (`source` names the file or preset in errors).
ModelSpec parse_model_spec(const std::string& json_text, const std::string& source);
ModelSpec load_model_spec(const std::string& path);
/// A built-in preset by name; the error lists the known names.
ModelSpec preset_spec(const std::string& name);
std::vector<std::string> preset_names();

/// The spec's input_shape read as one image [C, H, W]; another rank is an error that names
/// `op`, the spec and `source` (the file it came from).
Shape image_input_shape(const ModelSpec& spec, const std::string& op, const std::string& source);
/// Checks that images of shape `image` (one example, [C, H, W]) are what the spec takes; the
/// error names `op`, both shapes and `source` (the data): "spec input_shape [1, 28, 28] vs
/// images [1, 14, 56] of data/train-images-idx3-ubyte".
void check_input_shape(const ModelSpec& spec, const Shape& image, const std::string& op, const std::string& source);

/// Builds the model and checks with a dry run that the layers chain from input_shape to
/// [num_classes] logits.
std::shared_ptr<nn::Sequential> build_model(const ModelSpec& spec);

}  // namespace nabla::train
