#include "plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace lecture {

namespace {

std::string fmt(double v, const char* f = "%.6g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// Colour-blind-safe palette (Okabe-Ito), then a few extras for charts with many series.
const char* kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                         "#000000", "#F0E442", "#7f7f7f", "#8c564b"};
const char* color(size_t i) { return kColors[i % (sizeof kColors / sizeof kColors[0])]; }

constexpr double kW = 820, kH = 460, kLeft = 80, kRight = 260, kTop = 40, kBottom = 60;
constexpr double kPlotW = kW - kLeft - kRight, kPlotH = kH - kTop - kBottom;

// One axis: maps data values to pixels and chooses tick positions.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double t(double v) const {  // 0..1 along the axis
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (log) {
      double a = std::floor(std::log10(lo) + 1e-9), b = std::ceil(std::log10(hi) - 1e-9);
      double step = std::max(1.0, std::ceil((b - a) / 8));  // at most ~8 decades labelled
      const bool fine = b - a <= 2;                         // few decades: also label 2 and 5
      for (double e = a; e <= b + 1e-9; e += step)
        for (double m : fine ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) out.push_back(m * std::pow(10.0, e));
      return out;
    }
    double raw = (hi - lo) / 6, mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
      out.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    return out;
  }
};

// Bounds of the finite (and, on a log axis, positive) values, widened when degenerate.
Axis make_axis(const std::vector<double>& values, bool log, bool include_zero) {
  Axis a;
  a.log = log;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) lo = log ? 1 : 0, hi = log ? 10 : 1;
  if (include_zero && !log) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  if (log) {
    // Bounds on the 1-2-5 grid around the data (whole decades when it spans many).
    const double dlo = std::pow(10.0, std::floor(std::log10(lo))), dhi = std::pow(10.0, std::floor(std::log10(hi)));
    const bool fine = std::log10(hi) - std::log10(lo) <= 2;
    double l = dlo, h = dhi * 10;
    if (fine) {
      for (double m : {5.0, 2.0, 1.0})
        if (m * dlo <= lo) { l = m * dlo; break; }
      for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * dhi >= hi) { h = m * dhi; break; }
    }
    lo = l, hi = h > l ? h : l * 10;
  } else {
    if (hi <= lo) lo -= 0.5, hi += 0.5;
    double pad = (hi - lo) * 0.04;
    if (!(include_zero && lo == 0)) lo -= pad;
    hi += pad;
  }
  a.lo = lo, a.hi = hi;
  return a;
}

std::string tick_label(double v, bool log) {
  if (log) {
    const double e = std::floor(std::log10(v) + 1e-9), m = std::round(v / std::pow(10.0, e));
    if (e >= -3 && e <= 4) return fmt(v, "%g");
    return (m == 1 ? "" : fmt(m, "%g") + "x") + "1e" + fmt(e, "%g");
  }
  return fmt(v, "%g");
}

// Frame, grid, tick labels, title and axis labels.
void frame(std::ostringstream& s, const Axis* x, const Axis& y, const PlotOptions& o) {
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH << "\" viewBox=\"0 0 "
    << kW << ' ' << kH << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << kLeft + kPlotW / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
    << xml_escape(o.title) << "</text>\n";
  for (double v : y.ticks()) {
    if (v < y.lo * (1 - 1e-9) || v > y.hi * (1 + 1e-9) + 1e-300) continue;
    double py = kTop + kPlotH * (1 - y.t(v));
    s << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + kPlotW << "\" y1=\"" << py << "\" y2=\"" << py
      << "\" stroke=\"#e5e5e5\"/>\n";
    s << "<text x=\"" << kLeft - 6 << "\" y=\"" << py + 4 << "\" text-anchor=\"end\">" << tick_label(v, y.log)
      << "</text>\n";
  }
  if (x) {
    for (double v : x->ticks()) {
      if (v < x->lo * (1 - 1e-9) || v > x->hi * (1 + 1e-9) + 1e-300) continue;
      double px = kLeft + kPlotW * x->t(v);
      s << "<line x1=\"" << px << "\" x2=\"" << px << "\" y1=\"" << kTop << "\" y2=\"" << kTop + kPlotH
        << "\" stroke=\"#e5e5e5\"/>\n";
      s << "<text x=\"" << px << "\" y=\"" << kTop + kPlotH + 16 << "\" text-anchor=\"middle\">"
        << tick_label(v, x->log) << "</text>\n";
    }
  }
  s << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << kPlotW << "\" height=\"" << kPlotH
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  s << "<text x=\"" << kLeft + kPlotW / 2 << "\" y=\"" << kH - 14 << "\" text-anchor=\"middle\">"
    << xml_escape(o.xlabel) << "</text>\n";
  s << "<text transform=\"translate(18," << kTop + kPlotH / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(o.ylabel) << "</text>\n";
}

void legend(std::ostringstream& s, const std::vector<Series>& series, bool bars) {
  double lx = kLeft + kPlotW + 14, ly = kTop + 8;
  for (size_t i = 0; i < series.size(); ++i, ly += 18) {
    if (bars)
      s << "<rect x=\"" << lx << "\" y=\"" << ly - 9 << "\" width=\"22\" height=\"10\" fill=\"" << color(i)
        << "\"/>\n";
    else
      s << "<line x1=\"" << lx << "\" x2=\"" << lx + 22 << "\" y1=\"" << ly - 4 << "\" y2=\"" << ly - 4
        << "\" stroke=\"" << color(i) << "\" stroke-width=\"2\"" << (series[i].dashed ? " stroke-dasharray=\"5,4\"" : "")
        << "/>\n";
    s << "<text x=\"" << lx + 28 << "\" y=\"" << ly << "\">" << xml_escape(series[i].name) << "</text>\n";
  }
}

void save(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out.good()) throw std::runtime_error("cannot write " + path);
}

}  // namespace

Cell::Cell(double v) : text(std::isfinite(v) ? fmt(v, "%.8g") : (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf")) {}

Csv::Csv(const std::string& path, const std::vector<std::string>& header)
    : path_(path), columns_(header.size()), out_(path) {
  if (!out_.good()) throw std::runtime_error("cannot write " + path);
  std::vector<Cell> cells(header.begin(), header.end());
  row(cells);
}

void Csv::row(const std::vector<Cell>& cells) {
  if (cells.size() != columns_)
    throw std::runtime_error(path_ + ": row has " + std::to_string(cells.size()) + " cells, header has " +
                             std::to_string(columns_));
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string& t = cells[i].text;
    if (i) out_ << ',';
    if (t.find_first_of(",\"\n") == std::string::npos) {
      out_ << t;
    } else {
      out_ << '"';
      for (char c : t) out_ << (c == '"' ? "\"\"" : std::string(1, c));
      out_ << '"';
    }
  }
  out_ << '\n';
  out_.flush();  // a long run that is interrupted still leaves its rows so far
}

void write_line_plot(const std::string& path, const std::vector<Series>& series, const PlotOptions& opts) {
  std::vector<double> xs, ys;
  for (const auto& se : series) {
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!std::isfinite(se.y[i]) || (opts.logy && se.y[i] <= 0)) continue;
      xs.push_back(se.x[i]);
      ys.push_back(se.y[i]);
    }
  }
  Axis x = make_axis(xs, opts.logx, false), y = make_axis(ys, opts.logy, false);
  std::ostringstream s;
  frame(s, &x, y, opts);
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& se = series[k];
    std::string pts;
    auto flush = [&] {
      if (pts.empty()) return;
      s << "<polyline fill=\"none\" stroke=\"" << color(k) << "\" stroke-width=\"1.8\""
        << (se.dashed ? " stroke-dasharray=\"5,4\"" : "") << " points=\"" << pts << "\"/>\n";
      pts.clear();
    };
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      bool ok = std::isfinite(se.y[i]) && std::isfinite(se.x[i]) && !(opts.logy && se.y[i] <= 0) &&
                !(opts.logx && se.x[i] <= 0);
      if (!ok) {
        flush();
        continue;
      }
      double px = kLeft + kPlotW * x.t(se.x[i]), py = kTop + kPlotH * (1 - y.t(se.y[i]));
      pts += fmt(px, "%.1f") + "," + fmt(py, "%.1f") + " ";
      if (se.markers)
        s << "<circle cx=\"" << fmt(px, "%.1f") << "\" cy=\"" << fmt(py, "%.1f") << "\" r=\"3\" fill=\"" << color(k)
          << "\"/>\n";
    }
    flush();
  }
  legend(s, series, false);
  s << "</svg>\n";
  save(path, s.str());
}

void write_bar_plot(const std::string& path, const std::vector<std::string>& categories,
                    const std::vector<Series>& series, const PlotOptions& opts) {
  std::vector<double> ys;
  for (const auto& se : series) ys.insert(ys.end(), se.y.begin(), se.y.end());
  Axis y = make_axis(ys, opts.logy, !opts.logy);
  std::ostringstream s;
  frame(s, nullptr, y, opts);
  const double group = kPlotW / double(std::max<size_t>(1, categories.size()));
  const double bar = group * 0.8 / double(std::max<size_t>(1, series.size()));
  const double base = kTop + kPlotH * (1 - (opts.logy ? 0.0 : y.t(std::max(y.lo, 0.0))));
  for (size_t c = 0; c < categories.size(); ++c) {
    double gx = kLeft + group * double(c);
    s << "<text x=\"" << gx + group / 2 << "\" y=\"" << kTop + kPlotH + 16 << "\" text-anchor=\"middle\">"
      << xml_escape(categories[c]) << "</text>\n";
    for (size_t k = 0; k < series.size(); ++k) {
      if (c >= series[k].y.size() || !std::isfinite(series[k].y[c])) continue;
      double v = series[k].y[c];
      if (opts.logy && v <= 0) continue;
      double top = kTop + kPlotH * (1 - y.t(v)), bx = gx + group * 0.1 + bar * double(k);
      s << "<rect x=\"" << fmt(bx, "%.1f") << "\" y=\"" << fmt(std::min(top, base), "%.1f") << "\" width=\""
        << fmt(bar * 0.92, "%.1f") << "\" height=\"" << fmt(std::abs(base - top), "%.1f") << "\" fill=\""
        << color(k) << "\"/>\n";
      s << "<text x=\"" << fmt(bx + bar * 0.46, "%.1f") << "\" y=\"" << fmt(std::min(top, base) - 3, "%.1f")
        << "\" text-anchor=\"middle\" font-size=\"10\">" << fmt(v, "%.3g") << "</text>\n";
    }
  }
  legend(s, series, true);
  s << "</svg>\n";
  save(path, s.str());
}

}  // namespace lecture
