// Filesystem helpers. Every failure is a Result naming the path.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace strake {

// Reads a whole file, refusing one larger than max_bytes.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = SIZE_MAX);
// Writes via a temp file and rename, so readers see old or new, never half.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);
Status WriteFile(const std::string& path, std::string_view data, int mode = 0644);
Status MakeDirs(const std::string& path, int mode = 0755);
// One directory whose parent exists; an existing directory is fine. One syscall.
Status MakeDir(const std::string& path, int mode = 0755);
Status RemoveAll(const std::string& path);
bool PathExists(const std::string& path);
// Joins with one '/', as path.Join does for the simple cases we need.
std::string PathJoin(std::string_view a, std::string_view b);
// Copies a file or a directory tree (regular files, dirs, symlinks as links).
Status CopyTree(const std::string& from, const std::string& to);
// Files (not directories) under root, as paths relative to root, sorted.
Result<std::vector<std::string>> ListFilesRecursive(const std::string& root);
// A new, empty directory "<root>/<prefix>XXXXXX" (mkdtemp), where root is
// $STRAKE_TEST_TMP (the test runner's scratch space) or else $TMPDIR or /tmp.
Result<std::string> MakeTempDir(const std::string& prefix);
// Matches a glob against a relative path; "**" crosses directories.
bool GlobMatch(std::string_view pattern, std::string_view path);

}  // namespace strake
