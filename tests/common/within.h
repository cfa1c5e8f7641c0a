// Shared by every test folder: a call that may hang (a FIFO, a stuck worker) must fail loudly
// instead of blocking the test suite.
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>

namespace nabla_test {

/// Runs `f` on another thread; if it is not done within `limit`, the process exits with a message
/// naming `what` (a hung thread cannot be cancelled). Exceptions from f propagate.
template <typename F>
void within(std::chrono::seconds limit, const char* what, F f) {
  auto task = std::make_shared<std::packaged_task<void()>>(std::move(f));
  std::future<void> fut = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (fut.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "test: timed out after %lld s: %s hung\n", (long long)limit.count(), what);
    std::fflush(stderr);
    std::_Exit(3);
  }
  fut.get();
}

}  // namespace nabla_test
