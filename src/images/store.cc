#include "images/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/clock.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "images/archive.h"

namespace strake::images {
namespace {

using nlohmann::json;

// What one pull may ask of a registry.
constexpr size_t kPullRequests = 10'000;
constexpr std::chrono::seconds kPullDeadline{6 * 3600};

std::string Hex(const std::string& digest) { return digest.substr(digest.find(':') + 1); }

// The root of a chain of layers is named by their digests, in order.
std::string ChainId(const std::vector<Descriptor>& layers) {
  std::string text;
  for (const auto& l : layers) {
    text += l.digest;
    text += '\n';
  }
  return Sha256Hex(text);
}

std::string TempName(const std::string& dir) {
  return PathJoin(dir, ".tmp-" + HexEncode(RandomBytes(8)));
}

// A record written whole or not at all, under a name of its own (two
// writers of one record do not share a temporary file).
Status WriteRecord(const std::string& path, const std::string& text) {
  const std::string tmp = TempName(path.substr(0, path.rfind('/')));
  STRAKE_TRY(WriteFile(tmp, text));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Failf("{}: {}", path, std::strerror(err));
  }
  return Ok();
}

// Removes what a crash left under a temporary name in `dir`.
Status RemoveTemps(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Failf("{}: {}", dir, std::strerror(errno));
  std::vector<std::string> temps;
  while (dirent* e = ::readdir(d)) {
    if (std::string_view(e->d_name).starts_with(".tmp-")) temps.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const auto& t : temps) STRAKE_TRY(RemoveAll(PathJoin(dir, t)));
  return Ok();
}

// The names in `dir` that do not start with '.' (no leftovers).
Result<std::vector<std::string>> Names(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Failf("{}: {}", dir, std::strerror(errno));
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// The bytes of the regular files under `path` (their sizes).
int64_t TreeBytes(const std::string& path) {
  namespace fs = std::filesystem;
  int64_t total = 0;
  std::error_code ec;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return st.st_size;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->symlink_status(size_ec).type() == fs::file_type::regular) {
      total += static_cast<int64_t>(it->file_size(size_ec));
    }
  }
  return total;
}

// Removes `path` by renaming it to a leftover first: a kill -9 midway
// leaves a `.tmp-` name Open removes, never half a root under its name.
Status RemoveWhole(const std::string& path) {
  const std::string tmp = TempName(path.substr(0, path.rfind('/')));
  if (::rename(path.c_str(), tmp.c_str()) != 0) return Failf("{}: {}", path, std::strerror(errno));
  return RemoveAll(tmp);
}

// The roots under `roots` that some process has mounted as an overlay's
// lower directory; each mount namespace read once.
std::set<std::string> MountedRoots(const std::string& roots) {
  std::set<std::string> out;
  std::set<ino_t> seen;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  std::vector<std::string> pids;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9') pids.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const auto& pid : pids) {
    struct stat ns {};
    if (::stat(("/proc/" + pid + "/ns/mnt").c_str(), &ns) == 0 && !seen.insert(ns.st_ino).second)
      continue;
    auto text = ReadFile("/proc/" + pid + "/mountinfo", size_t{16} << 20);
    if (!text) continue;
    for (const auto& lower : OverlayLowerDirs(*text)) {
      if (!lower.starts_with(roots + "/")) continue;
      const std::string rest = lower.substr(roots.size() + 1);
      out.insert(PathJoin(roots, rest.substr(0, rest.find('/'))));
    }
  }
  return out;
}

// What the collector reads of the store.
struct StoreIndex {
  struct Ref {
    std::string file;      // refs/<name>
    std::string manifest;  // hex
    int64_t used = 0;      // the record's mtime, ns
  };
  struct Manifest {
    std::string root;
    std::vector<std::string> layers;  // hex
  };
  std::vector<Ref> refs;  // least recently used first
  std::map<std::string, Manifest> manifests;
  std::map<std::string, int64_t> root_bytes, layer_bytes;
};

Result<StoreIndex> ReadIndex(const std::string& dir) {
  StoreIndex ix;
  STRAKE_TRY_ASSIGN(refs, Names(PathJoin(dir, "refs")));
  for (const auto& name : refs) {
    const std::string path = PathJoin(dir, "refs/" + name);
    struct stat st {};
    auto text = ReadFile(path, 1 << 20);
    json j = text ? json::parse(*text, nullptr, false) : json();
    if (!j.is_object() || ::stat(path.c_str(), &st) != 0) continue;  // not ours: left alone
    std::string digest = j.value("digest", "");
    ix.refs.push_back(
        {name, Hex(digest), st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec});
  }
  std::stable_sort(ix.refs.begin(), ix.refs.end(),
                   [](const auto& a, const auto& b) { return a.used < b.used; });
  STRAKE_TRY_ASSIGN(manifests, Names(PathJoin(dir, "manifests")));
  for (const auto& name : manifests) {
    if (!EndsWith(name, ".json")) continue;
    auto text = ReadFile(PathJoin(dir, "manifests/" + name), size_t{16} << 20);
    json j = text ? json::parse(*text, nullptr, false) : json();
    if (!j.is_object()) continue;
    StoreIndex::Manifest m;
    m.root = j.value("root", "");
    for (const auto& l : j.value("layers", json::array())) {
      if (l.is_string()) m.layers.push_back(Hex(l.get<std::string>()));
    }
    ix.manifests[name.substr(0, name.size() - 5)] = std::move(m);
  }
  STRAKE_TRY_ASSIGN(roots, Names(PathJoin(dir, "roots")));
  for (const auto& r : roots) ix.root_bytes[r] = TreeBytes(PathJoin(dir, "roots/" + r));
  STRAKE_TRY_ASSIGN(layers, Names(PathJoin(dir, "blobs/sha256")));
  for (const auto& l : layers) ix.layer_bytes[l] = TreeBytes(PathJoin(dir, "blobs/sha256/" + l));
  return ix;
}

// What the references that are kept name, and its size.
struct Live {
  std::set<std::string> manifests, roots, layers;
  int64_t bytes = 0;
};

Live LiveOf(const StoreIndex& ix, const std::vector<bool>& removed) {
  Live live;
  for (size_t i = 0; i < ix.refs.size(); ++i) {
    if (removed[i]) continue;
    auto m = ix.manifests.find(ix.refs[i].manifest);
    if (m == ix.manifests.end()) continue;
    live.manifests.insert(m->first);
    live.roots.insert(m->second.root);
    live.layers.insert(m->second.layers.begin(), m->second.layers.end());
  }
  for (const auto& r : live.roots) {
    if (auto it = ix.root_bytes.find(r); it != ix.root_bytes.end()) live.bytes += it->second;
  }
  for (const auto& l : live.layers) {
    if (auto it = ix.layer_bytes.find(l); it != ix.layer_bytes.end()) live.bytes += it->second;
  }
  return live;
}

}  // namespace

std::vector<std::string> OverlayLowerDirs(std::string_view mountinfo) {
  std::vector<std::string> out;
  for (const auto& line : Split(mountinfo, '\n')) {
    // ... - overlay SOURCE SUPER_OPTIONS
    auto dash = line.find(" - overlay ");
    if (dash == std::string::npos) continue;
    const std::string options = line.substr(line.rfind(' ') + 1);
    auto at = options.find("lowerdir=");
    if (at == std::string::npos) continue;
    std::string dir;
    for (size_t i = at + 9; i < options.size() && options[i] != ','; ++i) {
      char ch = options[i];
      if (ch == '\\' && i + 3 < options.size() + 0 &&
          std::isdigit(static_cast<unsigned char>(options[i + 1]))) {
        dir += static_cast<char>(std::stoi(options.substr(i + 1, 3), nullptr, 8));  // \040
        i += 3;
      } else if (ch == '\\' && i + 1 < options.size()) {
        dir += options[++i];  // \, \: \\ as overlayfs reads them
      } else if (ch == ':') {
        if (!dir.empty()) out.push_back(dir);
        dir.clear();
      } else {
        dir += ch;
      }
    }
    if (!dir.empty()) out.push_back(dir);
  }
  return out;
}

Result<PullPolicy> ParsePullPolicy(std::string_view text, const Reference& ref) {
  if (text.empty()) {
    // A layout or archive on disk is read again each time: a pipeline
    // rebuilds it in place.
    if (ref.repo.IsLayout() || IsArchive(ref.repo)) return PullPolicy::kAlways;
    return ref.digest.empty() && ref.tag == "latest" ? PullPolicy::kAlways
                                                     : PullPolicy::kIfNotPresent;
  }
  if (text == "Always") return PullPolicy::kAlways;
  if (text == "IfNotPresent") return PullPolicy::kIfNotPresent;
  if (text == "Never") return PullPolicy::kNever;
  return Fail(ErrorCode::kInvalid,
              fmt::format("imagePullPolicy {}: want Always, IfNotPresent or Never", Quote(text)));
}

Status ImageStore::Open() {
  for (const char* sub : {"blobs/sha256", "roots", "manifests", "refs"}) {
    STRAKE_TRY(MakeDirs(PathJoin(dir_, sub), 0755));
  }
  const std::string lock = PathJoin(dir_, "lock");
  lock_ = Fd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_) return Failf("{}: {}", lock, std::strerror(errno));
  // Leftovers are removed only by the store's one user: another process's
  // temporary files may be a pull under way.
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) == 0) {
    for (const char* sub : {"blobs/sha256", "roots", "manifests", "refs"}) {
      STRAKE_TRY(RemoveTemps(PathJoin(dir_, sub)));
    }
  }
  if (::flock(lock_.get(), LOCK_SH) != 0) return Failf("{}: {}", lock, std::strerror(errno));
  return Ok();
}

std::string ImageStore::RefPath(const Reference& ref, const Platform& platform) const {
  return PathJoin(dir_, "refs/" + Sha256Hex(ref.String() + " " + platform.String()) + ".json");
}

Result<std::optional<Image>> ImageStore::FromRecord(const std::string& manifest_hex) const {
  const std::string path = PathJoin(dir_, "manifests/" + manifest_hex + ".json");
  if (!PathExists(path)) return std::optional<Image>();
  STRAKE_TRY_ASSIGN(text, ReadFile(path, size_t{16} << 20));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Failf("{}: not JSON", path);
  Image img;
  img.digest = j.value("digest", "");
  img.index_digest = j.value("indexDigest", "");
  img.root = PathJoin(dir_, "roots/" + j.value("root", ""));
  if (!PathExists(img.root)) return std::optional<Image>();  // collected since
  auto config = ParseImageConfig(j.value("config", ""));
  if (!config) return tl::unexpected(config.error().Wrap(path));
  img.config = std::move(*config);
  return std::optional<Image>(std::move(img));
}

void ImageStore::Given(const std::string& root) const {
  std::lock_guard<std::mutex> l(given_mu_);
  const auto now = std::chrono::steady_clock::now();
  given_[root] = now;
  std::erase_if(given_, [&](const auto& e) { return now - e.second > kGivenLease; });
}

Result<std::optional<Image>> ImageStore::Find(const Reference& ref,
                                              const Platform& platform) const {
  std::shared_lock<std::shared_timed_mutex> shared(collect_mu_);
  return FindLocked(ref, platform);
}

Result<std::optional<Image>> ImageStore::FindLocked(const Reference& ref,
                                                    const Platform& platform) const {
  const std::string path = RefPath(ref, platform);
  if (!PathExists(path)) {
    // Named by its manifest's digest: these bytes, whichever reference (a
    // tag, another repository) brought them here. A registry's only: a
    // layout or archive on disk is read under the egress policy's `file`.
    const bool on_disk = ref.repo.registry.ends_with(':');  // oci:, docker-archive:, oci-archive:
    if (ref.digest.empty() || on_disk) return std::optional<Image>();
    STRAKE_TRY_ASSIGN(img, FromRecord(Hex(ref.digest)));
    if (img) {
      img->reference = ref.String();
      Given(img->root);
    }
    return img;
  }
  STRAKE_TRY_ASSIGN(text, ReadFile(path, 1 << 20));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("digest")) return Failf("{}: not a reference record", path);
  STRAKE_TRY_ASSIGN(img, FromRecord(Hex(j.value("digest", ""))));
  if (img) {
    img->reference = ref.String();
    (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // used now: kept longest
    Given(img->root);
  }
  return img;
}

Result<ImageStore::Collected> ImageStore::Collect(int64_t max_bytes,
                                                  const std::set<std::string>& in_use,
                                                  std::chrono::milliseconds wait) {
  if (!lock_) return Fail("image store: not open");
  // No pull or find of this process is under way, and none starts.
  std::unique_lock<std::shared_timed_mutex> alone(collect_mu_, std::defer_lock);
  if (!alone.try_lock_for(wait)) {
    return Fail(ErrorCode::kConflict,
                fmt::format("image store {}: pulls kept it busy; collected later", dir_));
  }
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    // Linux let go of the shared lock to try: taken again at once.
    (void)::flock(lock_.get(), LOCK_SH);
    return Fail(ErrorCode::kConflict,
                fmt::format("image store {}: another strake process (a server or a run) has it "
                            "open; collect when it is not, or from that server",
                            dir_));
  }
  auto collected = CollectLocked(max_bytes, in_use);
  (void)::flock(lock_.get(), LOCK_SH);
  return collected;
}

Result<ImageStore::Collected> ImageStore::CollectLocked(int64_t max_bytes,
                                                        std::set<std::string> in_use) {
  in_use.merge(MountedRoots(PathJoin(dir_, "roots")));
  {
    std::lock_guard<std::mutex> l(given_mu_);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [root, when] : given_) {
      if (now - when <= kGivenLease) in_use.insert(root);
    }
  }
  STRAKE_TRY_ASSIGN(ix, ReadIndex(dir_));
  Collected c;
  for (const auto& [r, bytes] : ix.root_bytes) c.bytes_before += bytes;
  for (const auto& [layer, bytes] : ix.layer_bytes) c.bytes_before += bytes;
  std::vector<bool> removed(ix.refs.size(), false);
  Live live = LiveOf(ix, removed);
  // The least recently used first, while over the limit.
  for (size_t i = 0; max_bytes > 0 && live.bytes > max_bytes && i < ix.refs.size(); ++i) {
    auto m = ix.manifests.find(ix.refs[i].manifest);
    if (m != ix.manifests.end() && in_use.count(PathJoin(dir_, "roots/" + m->second.root))) {
      continue;
    }
    removed[i] = true;
    live = LiveOf(ix, removed);
  }
  // References first, then what they named: a crash in between leaves
  // only what nothing names.
  for (size_t i = 0; i < ix.refs.size(); ++i) {
    if (!removed[i]) continue;
    if (::unlink(PathJoin(dir_, "refs/" + ix.refs[i].file).c_str()) != 0 && errno != ENOENT)
      return Failf("{}: {}", ix.refs[i].file, std::strerror(errno));
    ++c.references;
  }
  for (const auto& [hex, m] : ix.manifests) {
    if (live.manifests.count(hex)) continue;
    const std::string path = PathJoin(dir_, "manifests/" + hex + ".json");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Failf("{}: {}", path, std::strerror(errno));
    ++c.manifests;
  }
  for (const auto& [root, bytes] : ix.root_bytes) {
    const std::string path = PathJoin(dir_, "roots/" + root);
    if (live.roots.count(root) || in_use.count(path)) continue;
    STRAKE_TRY(RemoveWhole(path));
    ++c.roots;
  }
  for (const auto& [layer, bytes] : ix.layer_bytes) {
    if (live.layers.count(layer)) continue;
    const std::string path = PathJoin(dir_, "blobs/sha256/" + layer);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Failf("{}: {}", path, std::strerror(errno));
    ++c.layers;
  }
  c.bytes_after = live.bytes;
  for (const auto& [root, bytes] : ix.root_bytes) {
    if (!live.roots.count(root) && in_use.count(PathJoin(dir_, "roots/" + root))) {
      c.bytes_after += bytes;
    }
  }
  return c;
}

Result<Image> ImageStore::Pull(const Reference& ref, const PullOptions& options) {
  std::shared_lock<std::shared_timed_mutex> shared(collect_mu_);
  const std::string key = ref.String() + " " + options.platform.String();
  {
    // One pull of a reference at a time; the second waits and finds it.
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !pulling_.count(key); });
    pulling_.insert(key);
  }
  struct Done {
    ImageStore& s;
    const std::string& key;
    ~Done() {
      std::lock_guard<std::mutex> l(s.mu_);
      s.pulling_.erase(key);
      s.cv_.notify_all();
    }
  } done{*this, key};
  // A digest names the same bytes for ever: Always has nothing to ask.
  if (options.policy != PullPolicy::kAlways || !ref.digest.empty()) {
    STRAKE_TRY_ASSIGN(found, FindLocked(ref, options.platform));
    if (found) return std::move(*found);
  }
  if (options.policy == PullPolicy::kNever) {
    return Fail(
        ErrorCode::kNotFound,
        fmt::format("image {} is not present and its imagePullPolicy is Never", ref.String()));
  }
  STRAKE_TRY_ASSIGN(pulled, PullNow(ref, options));
  Given(pulled.root);
  return pulled;
}

Result<Image> ImageStore::PullNow(const Reference& ref, const PullOptions& options) {
  // An archive is read through the layout it holds, unpacked in a scratch
  // directory of the store (a leftover Open removes if this process dies).
  RepositoryRef source = ref.repo;
  std::string target = ref.Target();
  struct Scratch {
    std::string dir;
    ~Scratch() {
      if (!dir.empty()) (void)RemoveAll(dir);
    }
  } scratch;
  if (IsArchive(ref.repo)) {
    if (!options.egress.allows_file()) {
      return Fail(ErrorCode::kForbidden,
                  fmt::format("{}: an image archive on this machine's disk is read only where "
                              "the egress policy allows files (--egress-allow file)",
                              ref.String()));
    }
    scratch.dir = TempName(PathJoin(dir_, "roots"));
    STRAKE_TRY_ASSIGN(layout, ArchiveAsLayout(ref, scratch.dir));
    source = {kLayoutRegistry, layout.dir};
    target = layout.tag;
  }
  RegistryClient client(source, options.credentials, options.egress,
                        options.insecure_skip_tls_verify);
  client.SetBudget(kPullRequests, kPullDeadline);
  if (options.insecure_registry) client.SetInsecureRegistry();
  STRAKE_TRY_ASSIGN(m, client.Resolve(target, options.platform));
  Image img;
  img.reference = ref.String();
  img.digest = m.digest;
  img.index_digest = m.index_digest;
  img.config = m.image_config;
  img.fetched = true;
  for (const auto& layer : m.layers) STRAKE_TRY(FetchLayer(client, layer, img.downloaded));
  STRAKE_TRY_ASSIGN(root, Unpack(m, options.limits));
  img.root = PathJoin(dir_, "roots/" + root);
  json record = {
      {"digest", m.digest},      {"indexDigest", m.index_digest}, {"platform", m.platform.String()},
      {"config", m.config_json}, {"layers", json::array()},       {"root", root}};
  for (const auto& l : m.layers) record["layers"].push_back(l.digest);
  STRAKE_TRY(WriteRecord(PathJoin(dir_, "manifests/" + Hex(m.digest) + ".json"), record.dump()));
  json ref_record = {{"reference", ref.String()},
                     {"digest", m.digest},
                     {"pulledAt", FormatRfc3339(std::chrono::system_clock::now())}};
  STRAKE_TRY(WriteRecord(RefPath(ref, options.platform), ref_record.dump()));
  return img;
}

Status ImageStore::FetchLayer(RegistryClient& client, const Descriptor& layer,
                              int64_t& downloaded) {
  const std::string dir = PathJoin(dir_, "blobs/sha256");
  const std::string path = PathJoin(dir, Hex(layer.digest));
  if (PathExists(path)) return Ok();  // checked against its digest when it was written
  const std::string tmp = TempName(dir);
  Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!f) return Failf("{}: {}", tmp, std::strerror(errno));
  std::string write_error;
  auto sink = [&](std::string_view chunk) {
    while (!chunk.empty()) {
      ssize_t w = ::write(f.get(), chunk.data(), chunk.size());
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        write_error = fmt::format("{}: {}", path, std::strerror(errno));
        return false;
      }
      chunk.remove_prefix(static_cast<size_t>(w));
    }
    return true;
  };
  auto fetched = client.FetchBlob(layer, sink);
  if (!fetched || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    if (!write_error.empty()) return Fail(write_error);
    if (!fetched) return tl::unexpected(fetched.error());
    return Failf("{}: {}", path, std::strerror(errno));
  }
  downloaded += layer.size;
  return Ok();
}

Result<std::string> ImageStore::Unpack(const Manifest& m, const UnpackLimits& limits) {
  const std::string id = ChainId(m.layers);
  const std::string roots = PathJoin(dir_, "roots");
  const std::string root = PathJoin(roots, id);
  if (PathExists(root)) return id;
  const std::string tmp = TempName(roots);
  STRAKE_TRY(MakeDir(tmp, 0755));
  for (const auto& layer : m.layers) {
    const std::string blob = PathJoin(dir_, "blobs/sha256/" + Hex(layer.digest));
    Fd f(::open(blob.c_str(), O_RDONLY | O_CLOEXEC));
    auto applied = f ? ApplyLayer(tmp, f.get(), layer.digest, limits)
                     : Result<LayerStats>(Failf("{}: {}", blob, std::strerror(errno)));
    if (!applied) {
      (void)RemoveAll(tmp);
      return tl::unexpected(applied.error());
    }
  }
  if (::rename(tmp.c_str(), root.c_str()) != 0) {
    int err = errno;
    (void)RemoveAll(tmp);
    // Another process unpacked the same chain first: equally good.
    if (err != EEXIST && err != ENOTEMPTY) return Failf("{}: {}", root, std::strerror(err));
  }
  return id;
}

}  // namespace strake::images
