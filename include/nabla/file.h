// Checks on files the library opens: reading (checkpoints, data files, images, specs,
// config.json) and replacing (atomic saves). They run before the open: opening a FIFO for
// reading blocks until a writer appears, a device such as /dev/zero never ends, and a save
// renamed over /dev/full would replace the device node.
#pragma once
#include <string>

namespace nabla {

/// Throws nabla::Error "[op] path: ..." unless `path` (symbolic links followed) is an existing
/// regular file: missing, a directory, a FIFO, a device or a socket each get their own words.
void check_regular_file(const std::string& path, const std::string& op);

/// What `path` (symbolic links followed) is when it exists but is not a regular file: "a
/// directory", "a FIFO (named pipe)", "a character device", ...; "" for a regular file or
/// when nothing (reachable) is there.
std::string non_regular_kind(const std::string& path);

}  // namespace nabla
