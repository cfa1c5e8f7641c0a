// Classification metrics accumulated over batches: loss, accuracy, top-k accuracy,
// per-class accuracy and the confusion matrix.
#pragma once
#include <string>
#include <vector>

#include "nabla/tensor.h"

namespace nabla::train {

struct ClassificationMetrics {
  int64_t count = 0;
  double loss = 0;      ///< mean loss per example
  double accuracy = 0;  ///< top-1
  double topk_accuracy = 0;
  int64_t k = 5;
  std::vector<std::vector<int64_t>> confusion;  ///< [true class][predicted class]
  std::vector<double> per_class_accuracy;       ///< recall of each true class (NaN when absent)
};

class MetricAccumulator {
 public:
  explicit MetricAccumulator(int64_t num_classes, int64_t k = 5);
  /// Adds a batch: logits [B, C], targets i64 [B], and the batch's summed loss.
  void update(const Tensor& logits, const Tensor& targets, double loss_sum);
  ClassificationMetrics result() const;
  /// Predicted class of each example seen, in order (for sample grids).
  const std::vector<int64_t>& predictions() const { return preds_; }

 private:
  int64_t classes_, k_, count_ = 0, correct_ = 0, topk_correct_ = 0;
  double loss_sum_ = 0;
  std::vector<std::vector<int64_t>> confusion_;
  std::vector<int64_t> preds_;
};

}  // namespace nabla::train
