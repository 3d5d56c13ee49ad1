#include "images/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "base/fd.h"
#include "base/strings.h"

namespace strake::images {
namespace {

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

using Archive = std::unique_ptr<archive, decltype(&archive_read_free)>;

// An entry's path as components ("." and empty ones dropped, so a leading
// "/" is too); nullopt for a path with "..".
std::optional<std::vector<std::string>> Clean(std::string_view path) {
  std::vector<std::string> out;
  for (auto& part : Split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return std::nullopt;
    out.push_back(std::move(part));
  }
  return out;
}

std::string Prefix(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

// `path` (relative, "" for the root itself) opened inside the root: every
// symlink on the way resolves as it would with the root as "/".
int OpenInRoot(int root_fd, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  const char* p = path.empty() ? "." : path.c_str();
  while (true) {
    long fd = ::syscall(SYS_openat2, root_fd, p, &how, sizeof how);
    if (fd >= 0 || errno != EINTR) return static_cast<int>(fd);
  }
}

// Removes `name` in `dirfd`, a directory with all it holds; never follows a
// symlink. Gone already is fine.
Status RemoveAt(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Ok();
    return Failf("{}: {}", name, std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    Fd d(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) return Failf("{}: {}", name, std::strerror(errno));
    std::vector<std::string> children;
    if (DIR* dir = ::fdopendir(::dup(d.get()))) {
      while (dirent* e = ::readdir(dir)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") children.emplace_back(n);
      }
      ::closedir(dir);
    }
    for (const auto& c : children) STRAKE_TRY(RemoveAt(d.get(), c));
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) {
      return Failf("{}: {}", name, std::strerror(errno));
    }
    return Ok();
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return Failf("{}: {}", name, std::strerror(errno));
  }
  return Ok();
}

class Applier {
 public:
  Applier(int root_fd, std::string name, const UnpackLimits& limits)
      : root_fd_(root_fd), name_(std::move(name)), limits_(limits) {}

  Status Entry(archive* a, archive_entry* e);
  const LayerStats& stats() const { return stats_; }

 private:
  Error Bad(const std::string& entry, const std::string& why) const {
    return Error{fmt::format("layer {}: entry {}: {}", name_, Quote(entry), why),
                 ErrorCode::kInvalid};
  }
  Error Sys(const std::string& entry, const std::string& what) const {
    return Error{
        fmt::format("layer {}: entry {}: {}: {}", name_, Quote(entry), what, std::strerror(errno))};
  }
  // The directory that holds parts' last component, made where missing.
  Result<Fd> Parent(const std::vector<std::string>& parts, const std::string& entry);
  // Empties a directory of what lower layers put there (opaque whiteout).
  Status Prune(int dirfd, const std::string& path);
  Status Make(archive* a, archive_entry* e, int dirfd, const std::string& base,
              const std::string& entry);
  Status WriteFile(archive* a, archive_entry* e, int fd, const std::string& entry);

  int root_fd_;
  std::string name_;
  UnpackLimits limits_;
  LayerStats stats_;
  std::set<std::string> made_;  // paths this layer made, for its opaque whiteouts
};

Result<Fd> Applier::Parent(const std::vector<std::string>& parts, const std::string& entry) {
  const size_t n = parts.size() - 1;
  Fd fd(OpenInRoot(root_fd_, Prefix(parts, n), O_PATH | O_DIRECTORY));
  if (fd) return fd;
  if (errno != ENOENT) return tl::unexpected(Sys(entry, "its directory"));
  // Made one level at a time, each looked up inside the root again.
  Fd dir(OpenInRoot(root_fd_, "", O_PATH | O_DIRECTORY));
  for (size_t i = 0; i < n; ++i) {
    Fd next(OpenInRoot(root_fd_, Prefix(parts, i + 1), O_PATH | O_DIRECTORY));
    if (!next && errno == ENOENT) {
      if (::mkdirat(dir.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
        return tl::unexpected(Sys(entry, "making " + Prefix(parts, i + 1)));
      }
      next = Fd(OpenInRoot(root_fd_, Prefix(parts, i + 1), O_PATH | O_DIRECTORY));
    }
    if (!next) return tl::unexpected(Sys(entry, Prefix(parts, i + 1)));
    dir = std::move(next);
  }
  return dir;
}

Status Applier::Prune(int dirfd, const std::string& path) {
  Fd d(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return tl::unexpected(Sys(path, "opaque directory"));
  std::vector<std::pair<std::string, bool>> children;
  if (DIR* dir = ::fdopendir(::dup(d.get()))) {
    while (dirent* e = ::readdir(dir)) {
      std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {  // a filesystem that does not say
        struct stat st {};
        is_dir =
            ::fstatat(d.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      children.emplace_back(n, is_dir);
    }
    ::closedir(dir);
  }
  for (const auto& [child, is_dir] : children) {
    std::string full = path;
    if (!full.empty()) full += '/';
    full += child;
    if (!made_.count(full)) {
      auto removed = RemoveAt(d.get(), child);
      if (!removed) return tl::unexpected(Bad(full, removed.error().message));
    } else if (is_dir) {
      // Made again by this layer: what the layers below held in it goes too.
      Fd sub(::openat(d.get(), child.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) STRAKE_TRY(Prune(sub.get(), full));
    }
  }
  return Ok();
}

Status Applier::WriteFile(archive* a, archive_entry* e, int fd, const std::string& entry) {
  // The declared size counts (a sparse file's holes take no data blocks).
  if (archive_entry_size(e) > limits_.max_bytes - stats_.bytes) {
    return Fail(ErrorCode::kTooLarge,
                fmt::format("layer {}: more than {} bytes of files", name_, limits_.max_bytes));
  }
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  while (true) {
    int r = archive_read_data_block(a, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return tl::unexpected(Bad(entry, archive_error_string(a)));
    stats_.bytes += static_cast<int64_t>(size);
    if (stats_.bytes > limits_.max_bytes) {
      return Fail(ErrorCode::kTooLarge,
                  fmt::format("layer {}: more than {} bytes of files", name_, limits_.max_bytes));
    }
    const char* p = static_cast<const char*>(buf);
    while (size > 0) {
      ssize_t w = ::pwrite(fd, p, size, offset);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return tl::unexpected(Sys(entry, "write"));
      p += w;
      size -= static_cast<size_t>(w);
      offset += w;
    }
  }
  // A sparse file's hole at its end.
  if (::ftruncate(fd, archive_entry_size(e)) != 0) return tl::unexpected(Sys(entry, "truncate"));
  return Ok();
}

Status Applier::Make(archive* a, archive_entry* e, int dirfd, const std::string& base,
                     const std::string& entry) {
  const mode_t perm = archive_entry_perm(e) & 07777 & ~static_cast<mode_t>(S_ISUID | S_ISGID);
  switch (archive_entry_filetype(e)) {
    case AE_IFDIR: {
      if (::mkdirat(dirfd, base.c_str(), 0700) != 0 && errno != EEXIST) {
        return tl::unexpected(Sys(entry, "mkdir"));
      }
      Fd d(::openat(dirfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!d || ::fchmod(d.get(), perm | S_IRWXU) != 0) return tl::unexpected(Sys(entry, "chmod"));
      return Ok();
    }
    case AE_IFREG: {
      Fd f(::openat(dirfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600));
      if (!f) return tl::unexpected(Sys(entry, "create"));
      STRAKE_TRY(WriteFile(a, e, f.get(), entry));
      timespec times[2] = {{0, UTIME_OMIT}, {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
      if (::fchmod(f.get(), perm) != 0 || ::futimens(f.get(), times) != 0) {
        return tl::unexpected(Sys(entry, "chmod"));
      }
      return Ok();
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (!target) return tl::unexpected(Bad(entry, "a symlink without a target"));
      // Made as written, absolute or not: it is only ever followed inside
      // the root (here by RESOLVE_IN_ROOT, at run time as the container's /).
      if (::symlinkat(target, dirfd, base.c_str()) != 0) {
        return tl::unexpected(Sys(entry, "symlink"));
      }
      return Ok();
    }
    case AE_IFIFO:
      if (::mkfifoat(dirfd, base.c_str(), perm) != 0) return tl::unexpected(Sys(entry, "mkfifo"));
      return Ok();
    default:  // character and block devices, sockets: the sandbox makes its own /dev
      ++stats_.devices_skipped;
      return Ok();
  }
}

Status Applier::Entry(archive* a, archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  const std::string entry = raw ? raw : "";
  if (++stats_.entries > limits_.max_entries) {
    return Fail(ErrorCode::kTooLarge,
                fmt::format("layer {}: more than {} entries", name_, limits_.max_entries));
  }
  auto parts = Clean(entry);
  if (!parts) return tl::unexpected(Bad(entry, "the path leaves the root (\"..\"); refused"));
  if (parts->empty()) return Ok();  // the root itself
  const std::string base = parts->back();
  STRAKE_TRY_ASSIGN(dir, Parent(*parts, entry));
  if (base == kOpaque) {
    ++stats_.whiteouts;
    return Prune(dir.get(), Prefix(*parts, parts->size() - 1));
  }
  if (base.starts_with(kWhiteout)) {
    ++stats_.whiteouts;
    const std::string target = base.substr(kWhiteout.size());
    if (target.starts_with(kWhiteout)) return Ok();  // aufs' own metadata (.wh..wh.plnk)
    if (target.empty() || target == "." || target == "..") {
      return tl::unexpected(Bad(entry, "a whiteout of no name; refused"));
    }
    // A whiteout hides what the layers below made, not this layer's own.
    std::string hidden = Prefix(*parts, parts->size() - 1);
    if (!hidden.empty()) hidden += '/';
    hidden += target;
    if (made_.count(hidden)) return Ok();
    auto removed = RemoveAt(dir.get(), target);
    if (!removed) return tl::unexpected(Bad(entry, removed.error().message));
    return Ok();
  }
  const std::string full = Prefix(*parts, parts->size());
  struct stat st {};
  const bool exists = ::fstatat(dir.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  const bool keep_dir = exists && S_ISDIR(st.st_mode) && archive_entry_filetype(e) == AE_IFDIR &&
                        !archive_entry_hardlink(e);
  if (exists && !keep_dir) {
    auto removed = RemoveAt(dir.get(), base);
    if (!removed) return tl::unexpected(Bad(entry, removed.error().message));
  }
  if (const char* link = archive_entry_hardlink(e)) {
    auto target = Clean(link);
    if (!target || target->empty()) {
      return tl::unexpected(
          Bad(entry, fmt::format("a hard link to {} leaves the root; refused", Quote(link))));
    }
    STRAKE_TRY_ASSIGN(from, Parent(*target, entry));
    if (::linkat(from.get(), target->back().c_str(), dir.get(), base.c_str(), 0) != 0) {
      return tl::unexpected(Sys(entry, fmt::format("hard link to {}", Quote(link))));
    }
  } else {
    STRAKE_TRY(Make(a, e, dir.get(), base, entry));
  }
  made_.insert(full);
  return Ok();
}

}  // namespace

Result<LayerStats> ApplyLayer(const std::string& root, int layer_fd, const std::string& name,
                              const UnpackLimits& limits) {
  Fd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return Failf("{}: {}", root, std::strerror(errno));
  Archive a(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_none(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_fd(a.get(), layer_fd, 1 << 16) != ARCHIVE_OK) {
    return Failf("layer {}: {}", name, archive_error_string(a.get()));
  }
  Applier applier(root_fd.get(), name, limits);
  while (true) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Fail(ErrorCode::kInvalid,
                  fmt::format("layer {}: {}", name, archive_error_string(a.get())));
    }
    STRAKE_TRY(applier.Entry(a.get(), e));
  }
  return applier.stats();
}

}  // namespace strake::images
