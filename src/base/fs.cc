#include "base/fs.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace strake {

namespace stdfs = std::filesystem;

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::string> ReadFd(int fd, const std::string& path, size_t max_bytes) {
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failf("{}: {}", path, std::strerror(errno));
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return Failf("{}: file is larger than the limit of {} bytes", path, max_bytes);
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Failf("{}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) return Failf("{}: is a directory", path);
  return ReadFd(fd.get(), path, max_bytes);
}

Result<Fd> TryLockFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return Failf("{}: {}", path, std::strerror(errno));
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK)
      return Failf(ErrorCode::kConflict, "{}: held by another process", path);
    return Failf("{}: {}", path, std::strerror(errno));
  }
  return fd;
}

Result<std::string> ReadFileAt(const std::string& path, uint64_t offset, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Failf("{}: {}", path, std::strerror(errno));
  std::string out;
  char buf[65536];
  while (out.size() < max_bytes) {
    size_t want = std::min(sizeof buf, max_bytes - out.size());
    ssize_t n = ::pread(fd.get(), buf, want, static_cast<off_t>(offset + out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failf("{}: {}", path, std::strerror(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {

// Writes all of data to fd; errno on failure.
int WriteAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    off += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Status WriteFile(const std::string& path, std::string_view data, int mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Failf("{}: {}", path, std::strerror(errno));
  if (int e = WriteAll(fd, data); e != 0) {
    ::close(fd);
    return Failf("{}: {}", path, std::strerror(e));
  }
  if (::close(fd) != 0) return Failf("{}: {}", path, std::strerror(errno));
  return Ok();
}

Result<Fd> SealedMemfd(const std::string& name, std::string_view data) {
  Fd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return Failf("memfd {}: {}", name, std::strerror(errno));
  if (int e = WriteAll(fd.get(), data); e != 0)
    return Failf("memfd {}: {}", name, std::strerror(e));
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return Failf("memfd {}: seal: {}", name, std::strerror(errno));
  return fd;
}

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  STRAKE_TRY(WriteFile(tmp, data, mode));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Failf("{}: {}", path, std::strerror(e));
  }
  return Ok();
}

Status MakeDirs(const std::string& path, int mode) {
  std::error_code ec;
  stdfs::create_directories(path, ec);
  if (ec) return Failf("{}: {}", path, ec.message());
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
  return Ok();
}

Status MakeDir(const std::string& path, int mode) {
  if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) == 0 || errno == EEXIST) return Ok();
  return Failf("{}: {}", path, std::strerror(errno));
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  stdfs::remove_all(path, ec);
  if (ec) return Failf("{}: {}", path, ec.message());
  return Ok();
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string PathJoin(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  std::string out(a);
  if (out.back() == '/') out.pop_back();
  if (b.front() == '/') b.remove_prefix(1);
  out += '/';
  out += b;
  return out;
}

std::string RealPath(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (!real) return path;
  std::string out(real);
  std::free(real);
  return out;
}

Status CopyTree(const std::string& from, const std::string& to) {
  std::error_code ec;
  auto st = stdfs::symlink_status(from, ec);
  if (ec) return Failf("{}: {}", from, ec.message());
  if (stdfs::is_directory(st)) {
    stdfs::create_directories(to, ec);
    if (ec) return Failf("{}: {}", to, ec.message());
    stdfs::copy(from, to,
                stdfs::copy_options::recursive | stdfs::copy_options::copy_symlinks |
                    stdfs::copy_options::overwrite_existing,
                ec);
  } else {
    auto parent = stdfs::path(to).parent_path();
    if (!parent.empty()) stdfs::create_directories(parent, ec);
    if (stdfs::is_symlink(st)) {
      stdfs::remove(to, ec);
      stdfs::copy_symlink(from, to, ec);
    } else {
      stdfs::copy_file(from, to, stdfs::copy_options::overwrite_existing, ec);
    }
  }
  if (ec) return Failf("copy {} to {}: {}", from, to, ec.message());
  return Ok();
}

Result<std::vector<std::string>> ListFilesRecursive(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!stdfs::exists(root, ec)) return out;
  for (auto it = stdfs::recursive_directory_iterator(root, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) || it->is_symlink(ec)) {
      out.push_back(stdfs::relative(it->path(), root, ec).string());
    }
  }
  if (ec) return Failf("{}: {}", root, ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

static bool GlobMatchParts(const std::vector<std::string>& pat, size_t pi,
                           const std::vector<std::string>& path, size_t si) {
  if (pi == pat.size()) return si == path.size();
  if (pat[pi] == "**") {
    for (size_t k = si; k <= path.size(); ++k) {
      if (GlobMatchParts(pat, pi + 1, path, k)) return true;
    }
    return false;
  }
  if (si == path.size()) return false;
  if (::fnmatch(pat[pi].c_str(), path[si].c_str(), 0) != 0) return false;
  return GlobMatchParts(pat, pi + 1, path, si + 1);
}

bool GlobMatch(std::string_view pattern, std::string_view path) {
  auto split = [](std::string_view s) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= s.size()) {
      size_t pos = s.find('/', start);
      if (pos == std::string_view::npos) pos = s.size();
      if (pos > start) parts.emplace_back(s.substr(start, pos - start));
      start = pos + 1;
    }
    return parts;
  };
  return GlobMatchParts(split(pattern), 0, split(path), 0);
}

Result<std::string> MakeTempDir(const std::string& prefix) {
  const char* root = std::getenv("STRAKE_TEST_TMP");
  if (!root || !*root) root = std::getenv("TMPDIR");
  if (!root || !*root) root = "/tmp";
  STRAKE_TRY(MakeDirs(root, 0700));
  std::string tmpl = PathJoin(root, prefix + "XXXXXX");
  if (!::mkdtemp(tmpl.data())) return Failf("mkdtemp {}: {}", tmpl, std::strerror(errno));
  return tmpl;
}

}  // namespace strake

namespace strake {

namespace {

// The components of a relative path, or an error for an absolute path, a
// ".." component or a NUL.
Result<std::vector<std::string_view>> Components(std::string_view relative) {
  if (relative.find('\0') != std::string_view::npos) {
    return Fail("path holds a NUL character");
  }
  if (!relative.empty() && relative.front() == '/') {
    return Failf("\"{}\" is absolute: a relative path is needed", relative);
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= relative.size()) {
    size_t slash = relative.find('/', start);
    if (slash == std::string_view::npos) slash = relative.size();
    std::string_view part = relative.substr(start, slash - start);
    if (part == "..") return Failf("\"{}\" leaves its directory (\"..\")", relative);
    if (!part.empty() && part != ".") parts.push_back(part);
    start = slash + 1;
  }
  return parts;
}

int OpenAt2(int dirfd, const std::string& path, int flags, int mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? static_cast<uint64_t>(mode) : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  while (true) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0 || errno != EINTR) return static_cast<int>(fd);
  }
}

std::string Joined(const std::vector<std::string_view>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

Result<Fd> OpenRoot(const std::string& root) {
  Fd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Failf("{}: {}", root, std::strerror(errno));
  return fd;
}

Error BeneathError(const std::string& root, std::string_view relative, int err) {
  if (err == EXDEV || err == ELOOP) {
    return Error{
        fmt::format("{}: \"{}\" leads out of the directory (through a link)", root, relative),
        ErrorCode::kInvalid};
  }
  return Error{fmt::format("{}: {}", PathJoin(root, relative), std::strerror(err)),
               err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnknown};
}

}  // namespace

Result<std::string> PathUnder(std::string_view root, std::string_view relative) {
  auto parts = Components(relative);
  if (!parts) return tl::unexpected(parts.error());
  std::string out(root);
  for (auto p : *parts) out = PathJoin(out, p);
  return out;
}

Result<Fd> OpenBeneath(const std::string& root, std::string_view relative, int flags, int mode) {
  auto parts = Components(relative);
  if (!parts) return tl::unexpected(parts.error());
  auto dir = OpenRoot(root);
  if (!dir) return tl::unexpected(dir.error());
  Fd fd(OpenAt2(dir->get(), Joined(*parts, parts->size()), flags, mode));
  if (!fd) return tl::unexpected(BeneathError(root, relative, errno));
  return fd;
}

Result<Fd> MakeDirsBeneath(const std::string& root, std::string_view relative, int mode) {
  auto parts = Components(relative);
  if (!parts) return tl::unexpected(parts.error());
  auto rootfd = OpenRoot(root);
  if (!rootfd) return tl::unexpected(rootfd.error());
  Fd cur(OpenAt2(rootfd->get(), ".", O_RDONLY | O_DIRECTORY, 0));
  if (!cur) return tl::unexpected(BeneathError(root, "", errno));
  for (size_t i = 0; i < parts->size(); ++i) {
    std::string name((*parts)[i]);
    // mkdirat makes the entry in the directory already resolved beneath
    // root; an existing entry (a link too) is then opened beneath root.
    bool made = ::mkdirat(cur.get(), name.c_str(), static_cast<mode_t>(mode)) == 0;
    if (!made && errno != EEXIST)
      return tl::unexpected(BeneathError(root, Joined(*parts, i + 1), errno));
    Fd next(OpenAt2(rootfd->get(), Joined(*parts, i + 1), O_RDONLY | O_DIRECTORY, 0));
    if (!next) return tl::unexpected(BeneathError(root, Joined(*parts, i + 1), errno));
    if (made) ::fchmod(next.get(), static_cast<mode_t>(mode));
    cur = std::move(next);
  }
  return cur;
}

Result<std::string> ReadFileBeneath(const std::string& root, std::string_view relative,
                                    size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO a step left must not wait for a writer.
  auto fd = OpenBeneath(root, relative, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (!fd) return tl::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Failf("{}: {}", relative, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Failf("{}: not a regular file", PathJoin(root, relative));
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Failf("{}: file is larger than the limit of {} bytes", PathJoin(root, relative),
                 max_bytes);
  }
  return ReadFd(fd->get(), PathJoin(root, relative), max_bytes);
}

Result<std::string> ResolveBeneath(const std::string& root, std::string_view relative) {
  auto fd = OpenBeneath(root, relative, O_PATH);
  if (!fd) return tl::unexpected(fd.error());
  char buf[4096];
  ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", fd->get()).c_str(), buf, sizeof buf - 1);
  if (n < 0) return Failf("{}: {}", PathJoin(root, relative), std::strerror(errno));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace strake
