#include "images/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/fd.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::images {
namespace {

using nlohmann::json;
using ReadArchive = std::unique_ptr<archive, decltype(&archive_read_free)>;

// A member's name made relative and plain ("./a/b" -> "a/b"); "" when it
// is absolute or has a ".." (`up`: a link's target, whose ".." goes up a
// directory, and "" only when it leaves the archive).
std::string Plain(std::string_view name, bool up = false) {
  std::vector<std::string> parts;
  for (const auto& part : Split(name, '/')) {
    if (part.empty() || part == ".") continue;
    if (part.find('\0') != std::string::npos) return "";
    if (part == "..") {
      if (!up || parts.empty()) return "";
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return name.starts_with("/") ? "" : Join(parts, "/");
}

// An archive's regular files written under `dir`; its links (hard, and
// symbolic between its own files) kept as name -> target.
struct Extracted {
  std::map<std::string, std::string> links;
  size_t files = 0;
  int64_t bytes = 0;
};

// The member's data, `declared` bytes at most, written in order.
Status CopyData(archive* a, int fd, const std::string& name, int64_t declared) {
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int64_t written = 0;
  for (;;) {
    int r = archive_read_data_block(a, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return Ok();
    if (r != ARCHIVE_OK) return Failf("{}: {}", name, archive_error_string(a));
    if (offset != written || static_cast<int64_t>(size) > declared - written)
      return Failf("{}: data beyond its size", name);
    written += static_cast<int64_t>(size);
    if (::pwrite(fd, buf, size, offset) != static_cast<ssize_t>(size))
      return Failf("{}: {}", name, std::strerror(errno));
  }
}

Status Extract(const std::string& file, const std::string& dir, Extracted& out) {
  ReadArchive a(archive_read_new(), archive_read_free);
  archive_read_support_filter_none(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), 1 << 16) != ARCHIVE_OK)
    return Failf("{}: {}", file, archive_error_string(a.get()));
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) return Ok();
    if (r != ARCHIVE_OK) return Failf("{}: {}", file, archive_error_string(a.get()));
    const char* raw = archive_entry_pathname(e);
    const std::string name = Plain(raw ? raw : "");
    const auto type = archive_entry_filetype(e);
    if (type == AE_IFDIR) continue;
    if (name.empty()) return Failf("{}: member {} leaves the archive", file, Quote(raw ? raw : ""));
    if (++out.files > kMaxArchiveFiles)
      return Failf("{}: more than {} files", file, kMaxArchiveFiles);
    if (const char* hard = archive_entry_hardlink(e)) {
      out.links[name] = Plain(hard);
      continue;
    }
    if (type == AE_IFLNK) {
      const std::string base =
          name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/') + 1);
      const char* target = archive_entry_symlink(e);
      out.links[name] = target && target[0] != '/' ? Plain(base + target, true) : "";
      continue;
    }
    if (type != AE_IFREG) return Failf("{}: member {} is not a file", file, Quote(name));
    // A sparse member could say terabytes in a few bytes: refused, and
    // every member's size counts before a byte of it is written.
    if (archive_entry_sparse_count(e) > 0)
      return Failf("{}: member {} is sparse", file, Quote(name));
    if (archive_entry_size(e) < 0 || archive_entry_size(e) > kMaxArchiveBytes - out.bytes)
      return Failf("{}: more than {} bytes", file, kMaxArchiveBytes);
    out.bytes += archive_entry_size(e);
    if (name.find('/') != std::string::npos)
      STRAKE_TRY(MakeDirs(PathJoin(dir, name.substr(0, name.rfind('/'))), 0700));
    const std::string path = PathJoin(dir, name);
    Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!f) return Failf("{}: {}: {}", file, name, std::strerror(errno));
    STRAKE_TRY(CopyData(a.get(), f.get(), name, archive_entry_size(e)));
  }
}

// The file `name` stands for, its links followed.
Result<std::string> Resolve(const Extracted& x, std::string name) {
  for (int hops = 0; hops < 16; ++hops) {
    auto link = x.links.find(name);
    if (link == x.links.end()) return name;
    if (link->second.empty()) return Failf("member {} links out of the archive", Quote(name));
    name = link->second;
  }
  return Failf("member {}: too many links", Quote(name));
}

// A layer file's media type, by its first bytes.
Result<std::string> LayerType(const std::string& path) {
  std::array<unsigned char, 4> magic{};
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f) return Failf("{}: {}", path, std::strerror(errno));
  const ssize_t n = ::pread(f.get(), magic.data(), magic.size(), 0);
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
    return std::string("application/vnd.oci.image.layer.v1.tar+gzip");
  if (n == 4 && magic == std::array<unsigned char, 4>{0x28, 0xb5, 0x2f, 0xfd})
    return std::string("application/vnd.oci.image.layer.v1.tar+zstd");
  return std::string("application/vnd.oci.image.layer.v1.tar");
}

// Moves the extracted file into the layout's blobs under its digest; the
// descriptor for it.
Result<json> AddBlob(const std::string& layout, const std::string& from,
                     const std::string& media_type) {
  STRAKE_TRY_ASSIGN(hex, Sha256File(from));
  struct stat st {};
  if (::stat(from.c_str(), &st) != 0) return Failf("{}: {}", from, std::strerror(errno));
  const std::string to = PathJoin(layout, "blobs/sha256/" + hex);
  if (!PathExists(to) && ::link(from.c_str(), to.c_str()) != 0)
    return Failf("{}: {}", to, std::strerror(errno));
  return json{{"mediaType", media_type}, {"digest", "sha256:" + hex}, {"size", st.st_size}};
}

Status WriteBlobJson(const std::string& layout, const json& j, json& descriptor) {
  const std::string text = j.dump();
  const std::string hex = Sha256Hex(text);
  STRAKE_TRY(WriteFile(PathJoin(layout, "blobs/sha256/" + hex), text));
  descriptor = {
      {"mediaType", j.value("mediaType", "")}, {"digest", "sha256:" + hex}, {"size", text.size()}};
  return Ok();
}

// Whether an archive's RepoTag names `want` ("app:v1", "docker.io/library/app:v1").
bool TagMatches(const std::string& repo_tag, const std::string& want) {
  auto a = ParseReference(repo_tag);
  auto b = ParseReference(want);
  return repo_tag == want || (a && b && a->String() == b->String());
}

Result<ArchiveLayout> DockerLayout(const Reference& ref, const std::string& files,
                                   const Extracted& x, const std::string& layout) {
  const std::string archive = ref.repo.repository;
  STRAKE_TRY_ASSIGN(text, ReadFile(PathJoin(files, "manifest.json"), size_t{16} << 20));
  json m = json::parse(text, nullptr, false);
  if (!m.is_array() || m.empty())
    return Failf("{}: manifest.json lists no image (not a docker archive?)", archive);
  const json* chosen = m.size() == 1 && ref.tag.empty() ? &m[0] : nullptr;
  for (const auto& entry : m) {
    for (const auto& t : entry.value("RepoTags", json::array())) {
      if (t.is_string() && !ref.tag.empty() && TagMatches(t.get<std::string>(), ref.tag))
        chosen = &entry;
    }
  }
  if (!chosen) {
    return Fail(ErrorCode::kNotFound,
                ref.tag.empty()
                    ? fmt::format("{}: {} images; name one of their RepoTags", archive, m.size())
                    : fmt::format("{}: no image tagged {}", archive, ref.tag));
  }
  auto member = [&](const std::string& name) -> Result<std::string> {
    STRAKE_TRY_ASSIGN(real, Resolve(x, Plain(name)));
    const std::string path = PathJoin(files, real);
    if (real.empty() || !PathExists(path)) return Failf("{}: no member {}", archive, Quote(name));
    return path;
  };
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"layers", json::array()}};
  STRAKE_TRY_ASSIGN(config, member(chosen->value("Config", "")));
  STRAKE_TRY_ASSIGN(config_d, AddBlob(layout, config, "application/vnd.oci.image.config.v1+json"));
  manifest["config"] = config_d;
  for (const auto& l : chosen->value("Layers", json::array())) {
    STRAKE_TRY_ASSIGN(path, member(l.is_string() ? l.get<std::string>() : ""));
    STRAKE_TRY_ASSIGN(type, LayerType(path));
    STRAKE_TRY_ASSIGN(d, AddBlob(layout, path, type));
    manifest["layers"].push_back(d);
  }
  json descriptor;
  STRAKE_TRY(WriteBlobJson(layout, manifest, descriptor));
  descriptor["annotations"] = {{"org.opencontainers.image.ref.name", "latest"}};
  json index = {{"schemaVersion", 2}, {"manifests", json::array({descriptor})}};
  STRAKE_TRY(WriteFile(PathJoin(layout, "index.json"), index.dump()));
  return ArchiveLayout{layout, "latest"};
}

}  // namespace

bool IsArchive(const RepositoryRef& repo) {
  return repo.registry == kDockerArchive || repo.registry == kOciArchive;
}

Result<ArchiveLayout> ArchiveAsLayout(const Reference& ref, const std::string& dir) {
  const std::string& file = ref.repo.repository;
  const std::string files = PathJoin(dir, "files");
  const std::string layout = PathJoin(dir, "layout");
  STRAKE_TRY(MakeDirs(files, 0700));
  STRAKE_TRY(MakeDirs(PathJoin(layout, "blobs/sha256"), 0700));
  Extracted x;
  STRAKE_TRY(Extract(file, files, x));
  if (ref.repo.registry == kOciArchive) {
    // The archive is a layout: read where it was unpacked.
    return ArchiveLayout{files, ref.tag.empty() ? "latest" : ref.tag};
  }
  return DockerLayout(ref, files, x, layout);
}

}  // namespace strake::images
