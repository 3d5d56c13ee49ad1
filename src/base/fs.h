// Filesystem helpers. Every failure is a Result naming the path.
#pragma once

#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"

namespace strake {

// Reads a whole file, refusing one larger than max_bytes.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = SIZE_MAX);
// Up to max_bytes of a file from byte `offset` on (fewer at its end; none
// past it): a slice of a log that is still growing.
Result<std::string> ReadFileAt(const std::string& path, uint64_t offset, size_t max_bytes);
// Reads fd to its end, refusing more than max_bytes; `name` is for errors.
Result<std::string> ReadFd(int fd, const std::string& name, size_t max_bytes);
// Writes via a temp file and rename, so readers see old or new, never half.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);
Status WriteFile(const std::string& path, std::string_view data, int mode = 0644);
// An anonymous file (memfd, close-on-exec) holding `data`, sealed against
// any change: a child that inherits it can read it by /dev/fd/<n>, never
// alter it. `name` shows in /proc/<pid>/fd.
Result<Fd> SealedMemfd(const std::string& name, std::string_view data);
// An exclusive flock(2) on `path` (made if missing, 0600), held while the Fd
// is open; it ends with the process, kill -9 included. kConflict when
// another holder has it.
Result<Fd> TryLockFile(const std::string& path);
Status MakeDirs(const std::string& path, int mode = 0755);
// One directory whose parent exists; an existing directory is fine. One syscall.
Status MakeDir(const std::string& path, int mode = 0755);
Status RemoveAll(const std::string& path);
bool PathExists(const std::string& path);
// Joins with one '/', as path.Join does for the simple cases we need.
std::string PathJoin(std::string_view a, std::string_view b);
// The canonical absolute path (realpath); `path` itself when it cannot be
// resolved (it does not exist yet).
std::string RealPath(const std::string& path);
// Copies a file or a directory tree (regular files, dirs, symlinks as links).
Status CopyTree(const std::string& from, const std::string& to);
// Files (not directories) under root, as paths relative to root, sorted.
Result<std::vector<std::string>> ListFilesRecursive(const std::string& root);
// A new, empty directory "<root>/<prefix>XXXXXX" (mkdtemp), where root is
// $STRAKE_TEST_TMP (the test runner's scratch space) or else $TMPDIR or /tmp.
Result<std::string> MakeTempDir(const std::string& prefix);
// Matches a glob against a relative path; "**" crosses directories.
bool GlobMatch(std::string_view pattern, std::string_view path);

// --- Paths that cannot leave their root ------------------------------------
//
// Every path strake builds from a name in a manifest, a URL or a run goes
// through these. Names are validated where they are decoded (model/); this
// is the second wall. A relative path is accepted only if it is relative and
// has no ".." component and no NUL ("." and empty components are skipped).
// Files are opened beneath their root with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS): a "..", an absolute symlink or a symlink that leaves
// the root is refused, a symlink that stays inside is followed. So a tree
// that a sandboxed step can write (a workspace, its results) is read and
// bound by strake without following the step's links out of it.

// root + "/" + relative, checked lexically; the error names the bad part.
Result<std::string> PathUnder(std::string_view root, std::string_view relative);

// Opens `relative` beneath the directory `root` (O_CLOEXEC is added; ""
// opens root itself). A missing file is kNotFound, a way out kInvalid.
Result<Fd> OpenBeneath(const std::string& root, std::string_view relative, int flags, int mode = 0);

// Makes every directory of `relative` beneath `root` that is missing (with
// `mode`, umask aside) and returns the last one, opened O_RDONLY|O_DIRECTORY.
Result<Fd> MakeDirsBeneath(const std::string& root, std::string_view relative, int mode = 0755);

// Reads a regular file beneath root, refusing one over max_bytes; a FIFO, a
// device or a directory is refused rather than read.
Result<std::string> ReadFileBeneath(const std::string& root, std::string_view relative,
                                    size_t max_bytes);

// The real path of `relative` beneath root, resolved as OpenBeneath does.
Result<std::string> ResolveBeneath(const std::string& root, std::string_view relative);

}  // namespace strake
