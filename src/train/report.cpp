// HTML report: charts are inline SVG, images are drawn from inline pixel data on canvases,
// so the file opens anywhere without network access.
#include "nabla/train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "nabla/io/atomic_file.h"

namespace nabla::train {

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string fmt(double v, int digits = 4) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct Series {
  std::string name, color;
  std::vector<double> y;
};

// A line chart of several series against epoch (1..n), with axes and a legend.
std::string line_chart(const std::string& id, const std::string& title, const std::vector<Series>& series) {
  const double W = 460, H = 260, L = 56, R = 12, T = 28, B = 36;
  double lo = INFINITY, hi = -INFINITY;
  size_t n = 0;
  for (const auto& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v), n = std::max(n, s.y.size());
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) hi = lo + 1;
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  auto X = [&](size_t i) { return L + (n <= 1 ? 0.5 : double(i) / double(n - 1)) * (W - L - R); };
  auto Y = [&](double v) { return T + (1 - (v - lo) / (hi - lo)) * (H - T - B); };
  std::ostringstream o;
  o << "<svg class=\"chart\" id=\"" << id << "\" viewBox=\"0 0 " << W << ' ' << H << "\" width=\"" << W
    << "\" height=\"" << H << "\"><text x=\"" << W / 2 << "\" y=\"16\" text-anchor=\"middle\" class=\"title\">"
    << esc(title) << "</text>";
  o << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" class=\"axis\"/>";
  o << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" class=\"axis\"/>";
  for (int k = 0; k <= 4; ++k) {
    double v = lo + (hi - lo) * k / 4;
    o << "<text x=\"" << L - 4 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\" class=\"tick\">" << fmt(v, 3)
      << "</text>";
  }
  for (size_t i = 0; i < n; i += std::max<size_t>(1, n / 8))
    o << "<text x=\"" << X(i) << "\" y=\"" << H - B + 14 << "\" text-anchor=\"middle\" class=\"tick\">" << i + 1
      << "</text>";
  o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 4 << "\" text-anchor=\"middle\" class=\"tick\">epoch</text>";
  double lx = L + 8;
  for (const auto& s : series) {
    o << "<polyline class=\"series\" fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < s.y.size(); ++i)
      if (std::isfinite(s.y[i])) o << X(i) << ',' << Y(s.y[i]) << ' ';
    o << "\"/>";
    o << "<rect x=\"" << lx << "\" y=\"" << T + 2 << "\" width=\"10\" height=\"10\" fill=\"" << s.color << "\"/><text x=\""
      << lx + 14 << "\" y=\"" << T + 11 << "\" class=\"tick\">" << esc(s.name) << "</text>";
    lx += 14 + 7.0 * double(s.name.size()) + 12;
  }
  o << "</svg>";
  return o.str();
}

std::string bar_chart(const std::string& id, const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& values) {
  const double W = 460, H = 260, L = 110, R = 40, T = 28, B = 8;
  const double row = (H - T - B) / double(std::max<size_t>(labels.size(), 1));
  std::ostringstream o;
  o << "<svg class=\"chart\" id=\"" << id << "\" viewBox=\"0 0 " << W << ' ' << H << "\" width=\"" << W
    << "\" height=\"" << H << "\"><text x=\"" << W / 2 << "\" y=\"16\" text-anchor=\"middle\" class=\"title\">"
    << esc(title) << "</text>";
  for (size_t i = 0; i < labels.size(); ++i) {
    double v = std::isnan(values[i]) ? 0 : values[i];
    double y = T + double(i) * row;
    o << "<text x=\"" << L - 6 << "\" y=\"" << y + row * 0.7 << "\" text-anchor=\"end\" class=\"tick\">" << esc(labels[i])
      << "</text><rect class=\"bar\" x=\"" << L << "\" y=\"" << y + 2 << "\" width=\"" << v * (W - L - R) << "\" height=\""
      << row - 4 << "\"/><text x=\"" << L + v * (W - L - R) + 4 << "\" y=\"" << y + row * 0.7 << "\" class=\"tick\">"
      << fmt(values[i], 3) << "</text>";
  }
  o << "</svg>";
  return o.str();
}

std::string confusion_table(const ClassificationMetrics& m, const std::vector<std::string>& names) {
  int64_t maxv = 1;
  for (const auto& r : m.confusion)
    for (int64_t v : r) maxv = std::max(maxv, v);
  std::ostringstream o;
  o << "<table id=\"confusion\" class=\"confusion\"><tr><th>true \\ predicted</th>";
  for (const auto& n : names) o << "<th>" << esc(n) << "</th>";
  o << "</tr>";
  for (size_t i = 0; i < m.confusion.size(); ++i) {
    o << "<tr><th>" << esc(names[i]) << "</th>";
    for (size_t j = 0; j < m.confusion[i].size(); ++j) {
      double a = double(m.confusion[i][j]) / double(maxv);
      const char* hue = i == j ? "40,120,220" : "220,60,40";
      o << "<td style=\"background:rgba(" << hue << ',' << fmt(0.08 + 0.8 * a, 3) << ")\">" << m.confusion[i][j] << "</td>";
    }
    o << "</tr>";
  }
  o << "</table>";
  return o.str();
}

}  // namespace

std::string render_report(const ReportData& d) {
  std::vector<std::string> names = d.class_names;
  for (size_t i = names.size(); i < d.test.confusion.size(); ++i) names.push_back(std::to_string(i));
  std::vector<double> e, tl, vl, ta, va, lr;
  for (const auto& r : d.history) tl.push_back(r.train_loss), vl.push_back(r.val_loss), ta.push_back(r.train_accuracy),
                                  va.push_back(r.val_accuracy), lr.push_back(r.lr);
  std::ostringstream o;
  o << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << esc(d.title) << "</title><style>"
    << "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
    << "h1{font-size:22px}h2{font-size:17px;margin-top:28px}.charts{display:flex;flex-wrap:wrap;gap:12px}"
    << ".chart{border:1px solid #ddd;background:#fff}.title{font-size:13px;font-weight:600}.tick{font-size:10px;fill:#444}"
    << ".axis{stroke:#888}.bar{fill:#4a7bd0}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
    << "padding:3px 6px;text-align:right}.grid{display:flex;flex-wrap:wrap;gap:10px}.sample{text-align:center;"
    << "font-size:11px}.sample canvas{image-rendering:pixelated;border:1px solid #ccc;width:84px;height:84px}"
    << "</style></head><body><h1>" << esc(d.title) << "</h1>";
  o << "<h2>Summary</h2><table id=\"summary\">";
  if (d.summary.is_object())
    for (const auto& [k, v] : d.summary.as_object())
      o << "<tr><th>" << esc(k) << "</th><td>" << esc(v.is_string() ? v.as_string() : v.dump()) << "</td></tr>";
  o << "</table>";
  o << "<h2>Learning curves</h2><div class=\"charts\">"
    << line_chart("chart-loss", "loss", {{"train", "#d0482a", tl}, {"validation", "#2a6fd0", vl}})
    << line_chart("chart-accuracy", "accuracy", {{"train", "#d0482a", ta}, {"validation", "#2a6fd0", va}})
    << line_chart("chart-lr", "learning rate", {{"lr", "#3a9a4a", lr}}) << "</div>";
  o << "<h2>Test set: confusion matrix (" << d.test.count << " images, accuracy " << fmt(d.test.accuracy) << ")</h2>"
    << confusion_table(d.test, names);
  o << "<h2>Per-class accuracy</h2>" << bar_chart("chart-per-class", "accuracy per class", names, d.test.per_class_accuracy);
  o << "<h2>Misclassified test images</h2><div class=\"grid\" id=\"misclassified\">";
  for (size_t i = 0; i < d.misclassified.size(); ++i) {
    const auto& s = d.misclassified[i];
    o << "<div class=\"sample\"><canvas width=\"" << s.width << "\" height=\"" << s.height << "\" data-sample=\"" << i
      << "\"></canvas><br>true: " << esc(names[size_t(s.truth)]) << "<br>pred: " << esc(names[size_t(s.predicted)])
      << " (" << fmt(s.confidence, 2) << ")</div>";
  }
  o << "</div><script>const samples=[";
  for (size_t i = 0; i < d.misclassified.size(); ++i) {
    o << (i ? "," : "") << '[';
    for (size_t j = 0; j < d.misclassified[i].pixels.size(); ++j) o << (j ? "," : "") << int(d.misclassified[i].pixels[j]);
    o << ']';
  }
  o << "];document.querySelectorAll('canvas[data-sample]').forEach(function(c){"
    << "const px=samples[+c.dataset.sample];const ctx=c.getContext('2d');const img=ctx.createImageData(c.width,c.height);"
    << "for(let i=0;i<px.length;i++){const v=255-px[i];img.data[4*i]=v;img.data[4*i+1]=v;img.data[4*i+2]=v;"
    << "img.data[4*i+3]=255;}ctx.putImageData(img,0,0);});</script>";
  o << "<h2>Configuration</h2><table id=\"config\">";
  if (d.config.is_object())
    for (const auto& [k, v] : d.config.as_object())
      o << "<tr><th>" << esc(k) << "</th><td>" << esc(v.is_string() ? v.as_string() : v.dump()) << "</td></tr>";
  o << "</table></body></html>\n";
  return o.str();
}

void write_report(const ReportData& data, const std::string& path) { io::write_file_atomic(path, render_report(data)); }

}  // namespace nabla::train
