#include "base/fs.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace strake {

namespace stdfs = std::filesystem;

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Failf("{}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Failf("{}: is a directory", path);
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Failf("{}: {}", path, std::strerror(e));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return Failf("{}: file is larger than the limit of {} bytes", path, max_bytes);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status WriteFile(const std::string& path, std::string_view data, int mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Failf("{}: {}", path, std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Failf("{}: {}", path, std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Failf("{}: {}", path, std::strerror(errno));
  return Ok();
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
