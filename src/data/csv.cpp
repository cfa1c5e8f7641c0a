#include "nabla/data/csv.h"

#include <cmath>
#include <cstring>

#include "file_bytes.h"
#include "nabla/parse_number.h"

namespace nabla::data {

namespace {

struct Record {
  int64_t line = 0;  // 1-based line where the record starts
  std::vector<std::string> cells;
};

// RFC-4180-style reader, one record at a time (a 60k-row file is never held as strings):
// quoted cells may hold the delimiter, newlines and "" for a quote; blank lines are skipped.
class RecordReader {
 public:
  RecordReader(const char* b, const char* e, char delim, const std::string& path)
      : p_(b), end_(e), delim_(delim), path_(path) {}

  // Fills `rec` with the next non-blank record; false at the end of the text.
  bool next(Record& rec) {
    for (;;) {
      if (p_ >= end_) return false;
      rec.cells.clear();
      rec.line = line_;
      std::string cell;
      bool in_quotes = false, quoted = false;
      for (;;) {
        if (p_ >= end_) {
          NB_CHECK(!in_quotes, "[read_csv] ", path_, ": line ", rec.line, ": unterminated quoted cell");
          break;
        }
        char ch = *p_++;
        if (in_quotes) {
          if (ch == '"') {
            if (p_ < end_ && *p_ == '"') {
              cell += '"';
              ++p_;
            } else {
              in_quotes = false;
            }
          } else {
            if (ch == '\n') ++line_;
            cell += ch;
          }
        } else if (ch == '"' && cell.find_first_not_of(" \t") == std::string::npos) {
          cell.clear();
          in_quotes = quoted = true;
        } else if (ch == delim_) {
          rec.cells.push_back(std::move(cell));
          cell.clear();
          quoted = false;
        } else if (ch == '\n') {
          ++line_;
          break;
        } else if (ch != '\r') {
          cell += ch;
        }
      }
      bool blank = rec.cells.empty() && !quoted && cell.find_first_not_of(" \t") == std::string::npos;
      if (blank) continue;
      rec.cells.push_back(std::move(cell));
      return true;
    }
  }

 private:
  const char* p_;
  const char* end_;
  char delim_;
  const std::string& path_;
  int64_t line_ = 1;
};

std::string trim(const std::string& s) { return std::string(trim_blanks(s)); }

/// A cell's number: blanks around it allowed, as spreadsheets write them.
std::optional<double> cell_number(const std::string& raw) { return parse_number<double>(trim(raw)); }

}  // namespace

CsvData read_csv(const std::string& path, const CsvOptions& opts) {
  std::vector<uint8_t> bytes = internal::read_file_bytes(path, "read_csv");
  // (An empty file has no data pointer, and memchr must not see a null one.)
  NB_CHECK(bytes.empty() || std::memchr(bytes.data(), 0, bytes.size()) == nullptr, "[read_csv] ", path,
           ": contains NUL bytes: not a text CSV file");
  const char* b = reinterpret_cast<const char*>(bytes.data());
  const char* e = b + bytes.size();
  if (bytes.size() >= 3 && std::memcmp(b, "\xEF\xBB\xBF", 3) == 0) b += 3;  // UTF-8 BOM
  RecordReader reader(b, e, opts.delimiter, path);
  Record first;
  NB_CHECK(reader.next(first), "[read_csv] ", path, ": file is empty (no rows)");

  size_t ncols = first.cells.size();
  bool header;
  if (opts.header) {
    header = *opts.header;
  } else {
    header = false;
    for (const std::string& c : first.cells) header = header || !cell_number(c);
  }
  NB_CHECK(ncols >= 2, "[read_csv] ", path, ": line ", first.line, " has ", ncols,
           " column(s); expected a label column and at least one feature column (delimiter '", opts.delimiter, "')");

  std::vector<std::string> names;
  for (size_t j = 0; j < ncols; ++j) names.push_back(header ? trim(first.cells[j]) : "col" + std::to_string(j));
  int64_t label_col;
  if (!opts.label_column.empty()) {
    NB_CHECK(header, "[read_csv] ", path, ": label column '", opts.label_column,
             "' was named but the file has no header row");
    label_col = -1;
    for (size_t j = 0; j < ncols; ++j)
      if (names[j] == opts.label_column) label_col = int64_t(j);
    if (label_col < 0) {
      std::string all;
      for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
      fail("[read_csv] ", path, ": no column named '", opts.label_column, "' in the header (columns: ", all, ")");
    }
  } else {
    label_col = opts.label_index < 0 ? opts.label_index + int64_t(ncols) : opts.label_index;
    NB_CHECK(label_col >= 0 && label_col < int64_t(ncols), "[read_csv] ", path, ": label column index ",
             opts.label_index, " is out of range for ", ncols, " columns");
  }

  CsvData out;
  for (size_t j = 0; j < ncols; ++j)
    if (int64_t(j) != label_col) out.feature_names.push_back(names[j]);
  std::vector<float> feats;
  std::vector<int64_t> labels;
  auto take = [&](const Record& r) {
    NB_CHECK(r.cells.size() == ncols, "[read_csv] ", path, ": line ", r.line, " has ", r.cells.size(),
             " fields, expected ", ncols, " (as line ", first.line, "): ragged rows");
    for (size_t j = 0; j < ncols; ++j) {
      const std::string& cell = r.cells[j];
      NB_CHECK(!trim(cell).empty(), "[read_csv] ", path, ": line ", r.line, ", column ", j + 1, " (", names[j],
               "): empty cell (missing value)");
      const std::optional<double> number = cell_number(cell);
      NB_CHECK(number.has_value(), "[read_csv] ", path, ": line ", r.line, ", column ", j + 1, " (", names[j], "): '",
               trim(cell), "' is not a number");
      const double v = *number;
      NB_CHECK(std::isfinite(v), "[read_csv] ", path, ": line ", r.line, ", column ", j + 1, " (", names[j], "): '",
               trim(cell), "' is not a finite number");
      if (int64_t(j) == label_col) {
        NB_CHECK(v == std::floor(v) && std::abs(v) < 9.0e15, "[read_csv] ", path, ": line ", r.line,
                 ", label column ", j + 1, " (", names[j], "): '", trim(cell), "' is not an integer class label");
        auto label = int64_t(v);
        NB_CHECK(label >= 0 && (opts.num_classes <= 0 || label < opts.num_classes), "[read_csv] ", path, ": line ",
                 r.line, ": label ", label, " is out of range",
                 opts.num_classes > 0 ? nabla::detail::concat(" for ", opts.num_classes, " classes [0, ",
                                                               opts.num_classes, ")")
                                      : std::string(" (labels must be >= 0)"));
        labels.push_back(label);
      } else {
        feats.push_back(float(v));
      }
    }
  };
  if (!header) take(first);
  Record rec;
  while (reader.next(rec)) take(rec);
  auto n = int64_t(labels.size()), f = int64_t(ncols) - 1;
  NB_CHECK(n > 0, "[read_csv] ", path, ": has a header but no data rows");
  out.features = empty({n, f}, {.dtype = DType::f32});
  out.labels = empty({n}, {.dtype = DType::i64});
  std::memcpy(out.features.raw_data(), feats.data(), feats.size() * sizeof(float));
  std::memcpy(out.labels.raw_data(), labels.data(), labels.size() * sizeof(int64_t));
  return out;
}

}  // namespace nabla::data
