// Net bytes the process holds from malloc, on every thread and from C and C++ alike (oneDNN's
// primitives and scratchpads included), counted by replacements of malloc and friends in this
// test binary (heap_count.cpp; glibc documents how to replace its allocator).
//
// Why not mallinfo2().uordblks: it counts a freed chunk parked in glibc's per-thread cache
// (tcache) as in use, so a step that frees exactly what it allocates can still move it by
// hundreds of bytes, depending on how full those caches happened to be (seen in CI, and at one
// thread: 4 of 40 repeats of the CNN step test at 1148f74 "grew" with balanced malloc/free).
#pragma once
#include <cstdint>

namespace heap_count {

/// False where the count is not kept: under AddressSanitizer, which owns malloc.
bool available();
/// Usable bytes of every live malloc'd block, minus those live when counting began.
int64_t net_bytes();

}  // namespace heap_count
