#include "images/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "base/strings.h"

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

}  // namespace

Result<PullPolicy> ParsePullPolicy(std::string_view text, const Reference& ref) {
  if (text.empty()) {
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

Result<std::optional<Image>> ImageStore::Find(const Reference& ref,
                                              const Platform& platform) const {
  const std::string path = RefPath(ref, platform);
  if (!PathExists(path)) return std::optional<Image>();
  STRAKE_TRY_ASSIGN(text, ReadFile(path, 1 << 20));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("digest")) return Failf("{}: not a reference record", path);
  STRAKE_TRY_ASSIGN(img, FromRecord(Hex(j.value("digest", ""))));
  if (img) img->reference = ref.String();
  return img;
}

Result<Image> ImageStore::Pull(const Reference& ref, const PullOptions& options) {
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
    STRAKE_TRY_ASSIGN(found, Find(ref, options.platform));
    if (found) return std::move(*found);
  }
  if (options.policy == PullPolicy::kNever) {
    return Fail(
        ErrorCode::kNotFound,
        fmt::format("image {} is not present and its imagePullPolicy is Never", ref.String()));
  }
  return PullNow(ref, options);
}

Result<Image> ImageStore::PullNow(const Reference& ref, const PullOptions& options) {
  RegistryClient client(ref.repo, options.credentials, options.egress,
                        options.insecure_skip_tls_verify);
  client.SetBudget(kPullRequests, kPullDeadline);
  STRAKE_TRY_ASSIGN(m, client.Resolve(ref.Target(), options.platform));
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
