#include "nabla/data/dataloader.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "nabla/data/split.h"
#include "nabla/device.h"
#include "nabla/random.h"

namespace nabla::data {

namespace {
struct Result {
  std::optional<Batch> batch;
  std::exception_ptr error;
};
}  // namespace

struct DataLoader::State {
  DatasetPtr ds;
  DataLoaderOptions opts;
  uint64_t seed = 0;
  int64_t n = 0;          ///< examples in the data set
  int64_t epoch_len = 0;  ///< positions in an epoch: n, or the sampler's num_samples
  int64_t nb = 0;
  int prefetch = 1;

  // Everything below is guarded by mu. `gen` changes with every start_epoch (and when an error
  // abandons an epoch), so batches still being built for an old epoch are dropped on arrival.
  std::mutex mu;
  std::condition_variable cv_work, cv_ready;
  bool stop = false;
  bool active = false;
  bool taken_any = false;
  uint64_t gen = 0;
  int64_t epoch = -1;
  std::shared_ptr<const std::vector<int64_t>> order;
  int64_t next_claim = 0, next_deliver = 0;
  std::map<int64_t, Result> ready;
  std::exception_ptr sticky;
  std::vector<std::thread> workers;

  Batch build(int64_t k, const std::vector<int64_t>& ord, int64_t ep) const {
    const int64_t start = k * opts.batch_size, end = start + std::min(opts.batch_size, epoch_len - start);
    std::vector<Example> examples;
    examples.reserve(size_t(end - start));
    for (int64_t pos = start; pos < end; ++pos) {
      int64_t idx = ord[size_t(pos)];
      try {
        Example ex = ds->get(idx);
        if (opts.transform) {
          // With a sampler an example may come twice: its stream is keyed by position, in a domain
          // of its own (no other loader's streams coincide with it).
          Rng rng = opts.sampler ? Rng::for_sample(seed, ep, pos, RngDomain::sampled_augment) : Rng::for_sample(seed, ep, idx);
          ex.input = opts.transform(ex.input, rng);
        }
        examples.push_back(std::move(ex));
      } catch (const std::exception& e) {
        fail("[DataLoader] epoch ", ep, ", batch ", k, ", sample ", idx, ": ", e.what());
      }
    }
    Batch b = collate(examples, nabla::detail::concat("[DataLoader] epoch ", ep, ", batch ", k));
    if (opts.pin_memory) {
      b.inputs = pin_memory(b.inputs);
      b.targets = pin_memory(b.targets);
    }
    return b;
  }

  void worker_loop() {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      cv_work.wait(lk, [&] { return stop || (active && next_claim < nb && next_claim < next_deliver + prefetch); });
      if (stop) return;
      int64_t k = next_claim++;
      uint64_t g = gen;
      int64_t ep = epoch;
      std::shared_ptr<const std::vector<int64_t>> ord = order;
      lk.unlock();
      Result r;
      try {
        r.batch = build(k, *ord, ep);
      } catch (...) {
        r.error = std::current_exception();
      }
      lk.lock();
      if (g == gen) {
        ready.emplace(k, std::move(r));
        cv_ready.notify_all();
      }
    }
  }
};

DataLoader::DataLoader(DatasetPtr dataset, DataLoaderOptions opts) : s_(std::make_unique<State>()) {
  NB_CHECK(dataset != nullptr, "[DataLoader] data set is null");
  NB_CHECK(opts.batch_size > 0, "[DataLoader] batch_size must be positive, got ", opts.batch_size);
  NB_CHECK(opts.num_workers >= 0 && opts.num_workers <= 256, "[DataLoader] num_workers must be in [0, 256], got ",
           opts.num_workers);
  NB_CHECK(opts.prefetch >= 0, "[DataLoader] prefetch must be >= 0, got ", opts.prefetch);
  State& s = *s_;
  s.ds = std::move(dataset);
  s.opts = std::move(opts);
  s.n = s.ds->size();
  NB_CHECK(s.n >= 0, "[DataLoader] data set reports a negative size ", s.n);
  s.epoch_len = s.opts.sampler ? s.opts.sampler->num_samples(s.n) : s.n;
  NB_CHECK(s.epoch_len >= 0, "[DataLoader] the sampler reports a negative num_samples ", s.epoch_len);
  // Not (n + batch - 1) / batch: that overflows for a batch near INT64_MAX and gave 0 batches.
  s.nb = s.epoch_len / s.opts.batch_size + (!s.opts.drop_last && s.epoch_len % s.opts.batch_size != 0);
  s.prefetch = s.opts.prefetch > 0 ? s.opts.prefetch : std::max(1, 2 * s.opts.num_workers);
  if (s.opts.seed) {
    s.seed = *s.opts.seed;
  } else {  // one block of the global stream, so nabla::manual_seed fixes the loader too
    GeneratorState st = nabla::detail::reserve_blocks(1);
    auto b = nabla::detail::philox(st.seed, st.offset);
    s.seed = (uint64_t(b[0]) << 32) | b[1];
  }
  s.workers.reserve(size_t(s.opts.num_workers));
  try {
    for (int i = 0; i < s.opts.num_workers; ++i) s.workers.emplace_back([st = s_.get()] { st->worker_loop(); });
  } catch (...) {
    {
      std::lock_guard<std::mutex> lk(s.mu);
      s.stop = true;
    }
    s.cv_work.notify_all();
    for (auto& t : s.workers) t.join();
    throw;
  }
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    s_->stop = true;
    s_->ready.clear();
  }
  s_->cv_work.notify_all();
  for (auto& t : s_->workers) t.join();
}

int64_t DataLoader::num_batches() const { return s_->nb; }
int64_t DataLoader::dataset_size() const { return s_->n; }
uint64_t DataLoader::seed() const { return s_->seed; }
const DataLoaderOptions& DataLoader::options() const { return s_->opts; }

int64_t DataLoader::epoch() const {
  std::lock_guard<std::mutex> lk(s_->mu);
  return s_->epoch;
}

void DataLoader::start_epoch(int64_t epoch) {
  State& s = *s_;
  NB_CHECK(epoch >= 0, "[DataLoader] epoch must be >= 0, got ", epoch);
  std::vector<int64_t> ord;
  if (s.opts.sampler) {
    ord = s.opts.sampler->indices(s.n, s.seed, epoch);
    NB_CHECK(int64_t(ord.size()) == s.epoch_len, "[DataLoader] the sampler gave ", ord.size(),
             " indices for epoch ", epoch, ", but its num_samples is ", s.epoch_len);
    for (size_t i = 0; i < ord.size(); ++i)
      NB_CHECK(ord[i] >= 0 && ord[i] < s.n, "[DataLoader] the sampler gave index ", ord[i], " (position ", i,
               ") for a data set of ", s.n, " examples");
  } else if (s.opts.shuffle) {
    Rng rng = Rng::for_domain(s.seed, RngDomain::shuffle, uint64_t(epoch));
    ord = random_permutation(s.n, rng);
  } else {
    ord.resize(size_t(s.n));
    for (int64_t i = 0; i < s.n; ++i) ord[size_t(i)] = i;
  }
  std::map<int64_t, Result> stale;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lk(s.mu);
    ++s.gen;
    s.epoch = epoch;
    s.order = std::make_shared<const std::vector<int64_t>>(std::move(ord));
    s.next_claim = s.next_deliver = 0;
    stale.swap(s.ready);
    s.sticky = nullptr;
    s.active = true;
    s.taken_any = false;
  }
  s.cv_work.notify_all();
}

std::optional<Batch> DataLoader::next() {
  State& s = *s_;
  std::unique_lock<std::mutex> lk(s.mu);
  if (s.sticky) std::rethrow_exception(s.sticky);
  if (!s.active || s.next_deliver >= s.nb) return std::nullopt;
  s.taken_any = true;
  Result r;
  if (s.workers.empty()) {
    int64_t k = s.next_deliver++;
    auto ord = s.order;
    int64_t ep = s.epoch;
    lk.unlock();  // build without the lock so epoch() stays cheap
    try {
      r.batch = s.build(k, *ord, ep);
    } catch (...) {
      r.error = std::current_exception();
    }
    lk.lock();
  } else {
    // Batch next_deliver is always claimable (next_claim < next_deliver + prefetch) and only
    // this thread changes gen, so the batch we wait for is on its way: no lost wake-up, no hang.
    s.cv_ready.wait(lk, [&] { return s.ready.count(s.next_deliver) > 0; });
    auto node = s.ready.extract(s.next_deliver);
    r = std::move(node.mapped());
    ++s.next_deliver;
    s.cv_work.notify_all();
  }
  if (r.error) {  // abandon the epoch: workers stop building its batches
    s.sticky = r.error;
    s.active = false;
    ++s.gen;
    std::map<int64_t, Result> stale;
    stale.swap(s.ready);
    lk.unlock();
    std::rethrow_exception(r.error);
  }
  return std::move(r.batch);
}

DataLoader::iterator::iterator(DataLoader* l) : loader_(l), cur_(l->next()) {}

DataLoader::iterator& DataLoader::iterator::operator++() {
  cur_ = loader_->next();
  return *this;
}

DataLoader::iterator DataLoader::begin() {
  bool fresh;
  int64_t ep;
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    fresh = s_->active && !s_->taken_any && !s_->sticky;
    ep = s_->epoch;
  }
  if (!fresh) start_epoch(ep + 1);
  return iterator(this);
}

}  // namespace nabla::data
