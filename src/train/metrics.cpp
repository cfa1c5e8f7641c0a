#include "nabla/train/metrics.h"

#include <cmath>

#include "nabla/ops.h"

namespace nabla::train {

MetricAccumulator::MetricAccumulator(int64_t num_classes, int64_t k)
    : classes_(num_classes), k_(std::min(k, num_classes)),
      confusion_(static_cast<size_t>(num_classes), std::vector<int64_t>(static_cast<size_t>(num_classes), 0)) {}

void MetricAccumulator::update(const Tensor& logits, const Tensor& targets, double loss_sum) {
  NB_CHECK(logits.dim() == 2 && logits.size(1) == classes_, "[metrics] expected logits [B, ", classes_, "], got ",
           logits.shape());
  NB_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), "[metrics] expected targets [", logits.size(0),
           "], got ", targets.shape());
  Tensor top = topk(logits.detach(), k_, 1).second;  // [B, k], best first
  std::vector<double> t = targets.to_double_vector(), idx = top.to_double_vector();
  for (size_t i = 0; i < t.size(); ++i) {
    int64_t truth = int64_t(t[i]), pred = int64_t(idx[i * size_t(k_)]);
    NB_CHECK(truth >= 0 && truth < classes_, "[metrics] target ", truth, " is out of range for ", classes_, " classes");
    confusion_[size_t(truth)][size_t(pred)]++;
    correct_ += pred == truth;
    for (int64_t j = 0; j < k_; ++j) {
      if (int64_t(idx[i * size_t(k_) + size_t(j)]) == truth) {
        topk_correct_++;
        break;
      }
    }
    preds_.push_back(pred);
  }
  count_ += int64_t(t.size());
  loss_sum_ += loss_sum;
}

ClassificationMetrics MetricAccumulator::result() const {
  ClassificationMetrics m;
  m.count = count_;
  m.k = k_;
  m.loss = count_ ? loss_sum_ / double(count_) : 0.0;
  m.accuracy = count_ ? double(correct_) / double(count_) : 0.0;
  m.topk_accuracy = count_ ? double(topk_correct_) / double(count_) : 0.0;
  m.confusion = confusion_;
  for (int64_t c = 0; c < classes_; ++c) {
    int64_t row = 0;
    for (int64_t v : confusion_[size_t(c)]) row += v;
    m.per_class_accuracy.push_back(row ? double(confusion_[size_t(c)][size_t(c)]) / double(row) : std::nan(""));
  }
  return m;
}

}  // namespace nabla::train
