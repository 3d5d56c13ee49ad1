// Unpacks OCI image layers into a root filesystem, one layer over the
// last, as the OCI image spec's "Applying Changesets" says: entries are
// added or replace what is there, `.wh.NAME` deletes NAME of the layers
// below, `.wh..wh..opq` empties its directory of what the layers below put
// there. A layer is a tar, plain, gzip- or zstd-compressed.
//
// Hostile layers cannot reach outside the root: every entry's directory is
// resolved inside the root (openat2 RESOLVE_IN_ROOT: a symlink in the path,
// absolute or "../..", resolves as it would inside the container, never to
// the host), the entry itself is made with *at calls that do not follow a
// symlink in its place, an entry path with ".." is refused (the whole
// layer), an absolute one is taken relative to the root (as Docker does),
// a hard link's target is resolved inside the root too, and device nodes
// and sockets are not made (counted, not an error: an image's /dev is the
// sandbox's). Unpacking is rootless: owners are not kept (everything
// belongs to the unpacking user), setuid and setgid bits are dropped, and
// directories keep their owner's rwx so the root can be removed again.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace strake::images {

struct UnpackLimits {
  size_t max_entries = 1'000'000;         // per layer
  int64_t max_bytes = int64_t{64} << 30;  // of file contents, per layer (a decompression bomb)
};

struct LayerStats {
  size_t entries = 0;
  size_t whiteouts = 0;
  size_t devices_skipped = 0;  // device nodes and sockets not made
  int64_t bytes = 0;           // file contents written
};

// Applies the layer read from `layer_fd` (its name for errors) onto the
// directory `root`. On an error the root is half-applied: the caller
// unpacks into a directory of its own and discards it.
Result<LayerStats> ApplyLayer(const std::string& root, int layer_fd, const std::string& name,
                              const UnpackLimits& limits = {});

}  // namespace strake::images
