// The lecture gallery's output: CSV tables and self-contained SVG charts (no scripts, no
// network), written by every experiment through this one helper so all plots look alike.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace lecture {

/// One CSV cell: text, or a number printed with enough digits to be read back.
struct Cell {
  Cell(const std::string& s) : text(s) {}  // NOLINT: implicit by design
  Cell(const char* s) : text(s) {}         // NOLINT
  Cell(double v);                          // NOLINT
  Cell(int v) : text(std::to_string(v)) {}           // NOLINT
  Cell(int64_t v) : text(std::to_string(v)) {}       // NOLINT
  Cell(uint64_t v) : text(std::to_string(v)) {}      // NOLINT
  std::string text;
};

/// A CSV file with a header; a cell holding a comma or quote is quoted.
class Csv {
 public:
  Csv(const std::string& path, const std::vector<std::string>& header);
  void row(const std::vector<Cell>& cells);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  size_t columns_;
  std::ofstream out_;
};

/// A named line (or set of points) of a chart. Non-finite y values break the line.
struct Series {
  Series() = default;
  explicit Series(std::string name_, bool dashed_ = false, bool markers_ = false)
      : name(std::move(name_)), dashed(dashed_), markers(markers_) {}
  std::string name;
  std::vector<double> x, y;
  bool dashed = false;   ///< theory / reference lines
  bool markers = false;  ///< draw a dot at each point
};

struct PlotOptions {
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
};

/// A line chart of `series` (one colour each, legend at the right).
void write_line_plot(const std::string& path, const std::vector<Series>& series, const PlotOptions& opts);

/// A grouped bar chart: one group per category, one bar per series (series[i].y[c] is the
/// value of series i in category c; x is unused). Values are printed above the bars.
void write_bar_plot(const std::string& path, const std::vector<std::string>& categories,
                    const std::vector<Series>& series, const PlotOptions& opts);

}  // namespace lecture
