// malloc, free and the other allocation functions, forwarded to glibc's own (__libc_*) and
// counted by usable size (heap_count.h). Not built under AddressSanitizer, which replaces them.
#include "optim/heap_count.h"

#if defined(__SANITIZE_ADDRESS__)
#define NB_HEAP_COUNT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NB_HEAP_COUNT 0
#endif
#endif
#ifndef NB_HEAP_COUNT
#define NB_HEAP_COUNT 1
#endif

#if NB_HEAP_COUNT
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<int64_t> g_net{0};
inline void add(void* p) {
  if (p) g_net.fetch_add(int64_t(malloc_usable_size(p)), std::memory_order_relaxed);
}
inline void sub(void* p) {
  if (p) g_net.fetch_sub(int64_t(malloc_usable_size(p)), std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  void* p = __libc_malloc(n);
  add(p);
  return p;
}
void free(void* p) {
  sub(p);
  __libc_free(p);
}
void* calloc(size_t a, size_t b) {
  void* p = __libc_calloc(a, b);
  add(p);
  return p;
}
void* realloc(void* q, size_t n) {
  const int64_t before = q ? int64_t(malloc_usable_size(q)) : 0;
  void* p = __libc_realloc(q, n);
  if (p || n == 0) {  // on failure the old block stays live and unchanged
    g_net.fetch_sub(before, std::memory_order_relaxed);
    add(p);
  }
  return p;
}
void* memalign(size_t align, size_t n) {
  void* p = __libc_memalign(align, n);
  add(p);
  return p;
}
void* aligned_alloc(size_t align, size_t n) { return memalign(align, n); }
int posix_memalign(void** out, size_t align, size_t n) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = memalign(align, n);
  if (!p && n != 0) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(size_t n) { return memalign(4096, n); }
}  // extern "C"

namespace heap_count {
bool available() { return true; }
int64_t net_bytes() { return g_net.load(std::memory_order_relaxed); }
}  // namespace heap_count

#else

namespace heap_count {
bool available() { return false; }
int64_t net_bytes() { return 0; }
}  // namespace heap_count

#endif
