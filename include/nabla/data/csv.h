// CSV reader for tabular classification data: one label column and numeric feature columns.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nabla/tensor.h"

namespace nabla::data {

struct CsvOptions {
  char delimiter = ',';
  /// First row is a header of column names. Absent = detected: a first row with any
  /// non-numeric cell is a header.
  std::optional<bool> header = std::nullopt;
  /// The label column by header name (needs a header); empty = use label_index.
  std::string label_column = {};
  /// The label column by position (negative counts from the end); default the first.
  int64_t label_index = 0;
  /// When > 0, labels must be in [0, num_classes).
  int64_t num_classes = 0;
};

struct CsvData {
  Tensor features;                         ///< f32 [N, F]
  Tensor labels;                           ///< i64 [N]
  std::vector<std::string> feature_names;  ///< from the header, else "col<i>"
};

/// Reads a CSV file (plain or gzip). Cells may be quoted ("1.5"); blank lines are skipped.
/// Errors name the file, line and column: missing file, empty file, ragged rows, non-numeric
/// or empty cells, non-integer or out-of-range labels, an unknown label column.
CsvData read_csv(const std::string& path, const CsvOptions& opts = {});

}  // namespace nabla::data
