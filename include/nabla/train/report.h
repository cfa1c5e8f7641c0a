// The run report: one self-contained HTML file (no network) with learning curves, the
// confusion matrix, per-class accuracy and a grid of misclassified test images.
#pragma once
#include <string>
#include <vector>

#include "nabla/io/json.h"
#include "nabla/train/metrics.h"

namespace nabla::train {

/// One row of metrics.csv.
struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double lr = 0;
  double seconds = 0;
  /// The most memory the training device's allocator had handed out during the epoch's
  /// training steps, in MiB (PyTorch's max_memory_allocated), measured like `seconds` rather
  /// than computed: it includes whatever else lives on the device (on the CPU, the data set).
  double peak_memory_mb = 0;
};

struct ImageSample {
  std::vector<uint8_t> pixels;  ///< row-major gray, height*width
  int64_t height = 0, width = 0;
  int64_t truth = 0, predicted = 0;
  double confidence = 0;  ///< softmax probability of the predicted class
};

struct ReportData {
  std::string title;
  io::Json config;   ///< shown as a table
  io::Json summary;  ///< final metrics, shown at the top
  std::vector<EpochRecord> history;
  ClassificationMetrics test;
  std::vector<std::string> class_names;
  std::vector<ImageSample> misclassified;
};

/// The HTML text of the report.
std::string render_report(const ReportData& data);
/// Writes the report atomically to `path`.
void write_report(const ReportData& data, const std::string& path);

}  // namespace nabla::train
