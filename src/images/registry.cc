#include "images/registry.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_map>

#include "base/curl.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/http.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::images {
namespace {

using nlohmann::json;

constexpr size_t kMaxManifest = size_t{4} << 20;
constexpr size_t kMaxConfig = size_t{4} << 20;
constexpr size_t kMaxIndexEntries = 256;
constexpr std::chrono::milliseconds kTimeout{30'000};
// A layer download: as long as it keeps moving (1 KiB/s over a minute), up
// to an hour.
constexpr std::chrono::milliseconds kBlobTimeout{3'600'000};
constexpr std::chrono::seconds kBlobStall{60};
constexpr size_t kMaxLayers = 512;

constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

std::string AcceptAll() {
  return fmt::format("{}, {}, {}, {}", kOciIndex, kDockerList, kOciManifest, kDockerManifest);
}

// OCI's tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t[0] == '.' || t[0] == '-') return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// At most kMaxAnnotations annotations of at most kMaxAnnotationBytes in all
// are kept of a manifest (in key order): what a registry says is bounded
// before it reaches Freight and Warehouse status.
constexpr size_t kMaxAnnotations = 64;
constexpr size_t kMaxAnnotationBytes = 16 << 10;

bool ValidDigest(std::string_view d) {
  if (!d.starts_with("sha256:") || d.size() != 7 + 64) return false;
  return d.substr(7).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// The images each digest names, shared by every client: a digest's image
// never changes. Bounded: the oldest entries go past kCacheSize.
class DigestCache {
 public:
  static DigestCache& Get() {
    static DigestCache c;
    return c;
  }
  std::optional<ImageInfo> Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  void Put(const std::string& key, const ImageInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.emplace(key, info).second) order_.push_back(key);
    while (order_.size() > kCacheSize) {
      map_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  static constexpr size_t kCacheSize = 4096;  // bounded annotations: ~64 MiB at worst
  std::mutex mu_;
  std::unordered_map<std::string, ImageInfo> map_;
  std::list<std::string> order_;
};

// A challenge's parameters: Bearer realm="…",service="…",scope="…".
std::map<std::string, std::string> ChallengeParams(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t i = text.find(' ');
  while (i != std::string_view::npos && i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    size_t eq = text.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key = ToLower(Trim(text.substr(i, eq - i)));
    std::string value;
    size_t j = eq + 1;
    if (j < text.size() && text[j] == '"') {
      for (++j; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size()) ++j;
        value += text[j];
      }
      ++j;
    } else {
      while (j < text.size() && text[j] != ',') value += text[j++];
    }
    out[key] = std::string(Trim(value));
    i = j;
  }
  return out;
}

// The "next" page of a Link header (RFC 5988), "" when none.
std::string NextLink(const std::string& link) {
  auto lt = link.find('<'), gt = link.find('>');
  if (lt == std::string::npos || gt == std::string::npos || gt < lt) return "";
  if (link.find("rel=\"next\"", gt) == std::string::npos &&
      link.find("rel=next", gt) == std::string::npos) {
    return "";
  }
  return link.substr(lt + 1, gt - lt - 1);
}

std::optional<int64_t> CreatedFrom(const json& annotations) {
  if (!annotations.is_object()) return std::nullopt;
  for (const char* key : {"org.opencontainers.image.created", "org.label-schema.build-date"}) {
    auto it = annotations.find(key);
    if (it != annotations.end() && it->is_string()) {
      if (auto t = ParseImageTime(it->get<std::string>())) return t;
    }
  }
  return std::nullopt;
}

std::map<std::string, std::string> StringMap(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  size_t bytes = 0;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) continue;
    const auto& text = v.get_ref<const std::string&>();
    if (out.size() >= kMaxAnnotations || bytes + k.size() + text.size() > kMaxAnnotationBytes)
      break;
    bytes += k.size() + text.size();
    out[k] = text;
  }
  return out;
}

// j[key] when j is an object and it is one, else {}.
json Object(const json& j, const char* key) {
  if (!j.is_object()) return json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : json::object();
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool IsLoopbackHost(std::string_view host_port) {
  std::string host(host_port.substr(0, host_port.find(':')));
  if (host == "localhost") return true;
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

bool IsInsecureRegistry(std::string_view registry, const std::vector<std::string>& insecure) {
  const std::string_view host = registry.substr(0, registry.find(':'));
  return std::any_of(insecure.begin(), insecure.end(), [&](const std::string& entry) {
    return entry == registry || (entry.find(':') == std::string::npos && entry == host);
  });
}

std::string RepositoryRef::ApiBase() const {
  if (registry == "docker.io") return "https://registry-1.docker.io";
  return (IsLoopbackHost(registry) ? "http://" : "https://") + registry;
}

Result<RepositoryRef> ParseRepository(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalid, fmt::format("image repository {}: {}", Quote(url), why));
  };
  if (url.empty()) return bad("empty");
  if (url.find("://") != std::string_view::npos) return bad("no scheme: write host/path");
  if (url.find('@') != std::string_view::npos) return bad("must not include a digest");
  RepositoryRef ref;
  std::string_view rest = url;
  size_t slash = url.find('/');
  std::string_view first = url.substr(0, slash);
  if (slash != std::string_view::npos &&
      (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
       first == "localhost")) {
    ref.registry = ToLower(first);
    rest = url.substr(slash + 1);
  } else {
    ref.registry = "docker.io";
  }
  if (ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io") {
    ref.registry = "docker.io";
  }
  if (rest.find(':') != std::string_view::npos) return bad("must not include an image tag");
  if (rest.empty()) return bad("no repository path");
  for (const std::string& part : Split(rest, '/')) {
    bool ok = !part.empty();
    for (char c : part) {
      ok = ok &&
           ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
    }
    if (!ok || !std::isalnum(static_cast<unsigned char>(part.front())) ||
        !std::isalnum(static_cast<unsigned char>(part.back()))) {
      return bad(fmt::format("path component {} must be lower-case letters, digits and . _ -",
                             Quote(part)));
    }
  }
  ref.repository = std::string(rest);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  return ref;
}

std::string NormalizeImageUrl(std::string_view url) {
  auto ref = ParseRepository(ToLower(url));
  if (!ref) return std::string(url);
  if (ref->registry == "docker.io") {
    return ref->repository.starts_with("library/") ? ref->repository.substr(8) : ref->repository;
  }
  return ref->registry + "/" + ref->repository;
}

std::string Platform::String() const {
  return variant.empty() ? os + "/" + arch : os + "/" + arch + "/" + variant;
}

Result<Platform> ParsePlatform(std::string_view text) {
  auto parts = Split(text, '/');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
      (parts.size() == 3 && parts[2].empty())) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("platform {}: want os/arch or os/arch/variant", Quote(text)));
  }
  return Platform{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
}

std::optional<int64_t> ParseImageTime(std::string_view text) {
  std::tm tm{};
  int64_t frac_ms = 0;
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  auto num = [&](size_t at, size_t len) -> int {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_year < -1899 || tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_hour < 0 || tm.tm_min < 0 ||
      tm.tm_sec < 0) {
    return std::nullopt;
  }
  size_t i = 19;
  if (text[i] == '.') {
    int digits = 0;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (digits++ < 3) frac_ms = frac_ms * 10 + (text[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) frac_ms *= 10;
  }
  int64_t offset_s = 0;
  std::string_view zone = text.substr(i);
  if (zone == "Z" || zone == "z") {
    offset_s = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int h = num(i + 1, 2), m = num(i + 4, 2);
    if (h < 0 || m < 0) return std::nullopt;
    offset_s = (zone[0] == '+' ? 1 : -1) * (int64_t{h} * 3600 + int64_t{m} * 60);
  } else {
    return std::nullopt;
  }
  time_t t = timegm(&tm);
  return (static_cast<int64_t>(t) - offset_s) * 1000 + frac_ms;
}

struct RegistryClient::Answer {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string digest;  // Docker-Content-Digest
  std::string link;
};

RegistryClient::RegistryClient(RepositoryRef repo, Credentials creds, EgressPolicy egress,
                               bool insecure_skip_tls_verify)
    : repo_(std::move(repo)),
      creds_(std::move(creds)),
      egress_(std::move(egress)),
      insecure_(insecure_skip_tls_verify),
      base_(repo_.ApiBase()),
      deadline_(std::chrono::steady_clock::now() + kDeadline) {}

std::string RepositoryRef::Name() const {
  // A layout's or an archive's: the transport and the path.
  return registry.ends_with(":") ? registry + repository : registry + "/" + repository;
}

std::string RegistryClient::Where() const { return repo_.Name(); }

namespace {

// A layout's file, read whole up to `max` bytes or streamed to `sink`
// (then also at most `max`): only a regular file, never through a final
// symlink, never blocking on a FIFO. nullopt: there is no such file.
Result<std::optional<std::string>> ReadLayoutFile(
    const std::string& path, size_t max, const std::function<bool(std::string_view)>* sink) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!f && (errno == ENOENT || errno == ENOTDIR)) return std::optional<std::string>();
  if (!f) return Failf("{}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return Failf("{}: not a regular file", path);
  if (static_cast<uint64_t>(st.st_size) > max)
    return Fail(ErrorCode::kTooLarge, fmt::format("{}: larger than {} bytes", path, max));
  std::string body;
  std::string chunk(size_t{1} << 16, '\0');
  size_t total = 0;
  for (;;) {
    ssize_t n = ::read(f.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Failf("{}: {}", path, std::strerror(errno));
    if (n == 0) break;
    total += static_cast<size_t>(n);
    if (total > max)
      return Fail(ErrorCode::kTooLarge, fmt::format("{}: larger than {} bytes", path, max));
    std::string_view got(chunk.data(), static_cast<size_t>(n));
    if (sink && !(*sink)(got)) return Failf("{}: not written", path);
    if (!sink) body.append(got);
  }
  return std::optional<std::string>(std::move(body));
}

}  // namespace

Result<RegistryClient::Answer> RegistryClient::GetFromLayout(
    const std::string& path, size_t max_body, const std::function<bool(std::string_view)>* sink) {
  const std::string& dir = repo_.repository;
  Answer a;
  a.status = 404;
  // What the client asks of "/v2/<repository>": blobs/<digest> or
  // manifests/<tag or digest>.
  const std::string prefix = "/v2/" + repo_.repository + "/";
  if (!path.starts_with(prefix)) return a;
  const std::string rest = path.substr(prefix.size());
  std::string digest;
  if (rest.starts_with("blobs/")) {
    digest = rest.substr(6);
  } else if (rest.starts_with("manifests/")) {
    const std::string target = http::UrlDecode(rest.substr(10));
    if (ValidDigest(target)) {
      digest = target;
    } else {
      STRAKE_TRY_ASSIGN(text, ReadLayoutFile(PathJoin(dir, "index.json"), kMaxManifest, nullptr));
      if (!text) return Fail(fmt::format("{}: no index.json (not an OCI image layout)", Where()));
      json index = json::parse(*text, nullptr, false);
      if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
        return Fail(fmt::format("{}: index.json is not an OCI image index", Where()));
      const json& all = index["manifests"];
      for (const auto& d : all) {
        const json notes = d.is_object() ? d.value("annotations", json::object()) : json();
        if (notes.is_object() && notes.value("org.opencontainers.image.ref.name", "") == target)
          digest = d.value("digest", "");
      }
      if (digest.empty() && target == "latest" && all.size() == 1 && all[0].is_object())
        digest = all[0].value("digest", "");
      if (digest.empty()) return a;
    }
  }
  if (!ValidDigest(digest)) return a;
  STRAKE_TRY_ASSIGN(
      body, ReadLayoutFile(PathJoin(dir, "blobs/sha256/" + digest.substr(7)), max_body, sink));
  if (!body) return a;
  a.status = 200;
  a.body = std::move(*body);
  a.digest = digest;
  return a;
}

Result<std::string> RegistryClient::Token(const std::string& challenge) {
  auto params = ChallengeParams(challenge);
  std::string realm = params["realm"];
  if (realm.empty()) return Fail(fmt::format("{}: a bearer challenge without a realm", Where()));
  // Credentials go to a token service over TLS (a loopback registry's, or
  // an insecure registry's, may be plain HTTP, as the registry itself is).
  if (!StartsWith(ToLower(realm), "https://") &&
      !(StartsWith(ToLower(realm), "http://") &&
        (insecure_registry_ || IsLoopbackHost(realm.substr(7, realm.find('/', 7) - 7))) &&
        base_.starts_with("http://"))) {
    return Fail(fmt::format("{}: the token service must be https, not {}", Where(),
                            Quote(realm.substr(0, realm.find('?')))));
  }
  std::string scope =
      params.count("scope") ? params["scope"] : "repository:" + repo_.repository + ":pull";
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  if (!params["service"].empty()) url += "service=" + http::UrlEncode(params["service"]) + "&";
  url += "scope=" + http::UrlEncode(scope);
  curl::Request req;
  req.url = url;
  req.timeout = kTimeout;
  req.max_body = 1 << 20;
  req.insecure_skip_tls_verify = insecure_;
  if (!creds_.empty()) {
    req.headers.emplace_back("Authorization",
                             "Basic " + Base64Encode(creds_.username + ":" + creds_.password));
  }
  STRAKE_TRY_ASSIGN(resp, curl::Send(req, egress_));
  if (resp.status == 401 || resp.status == 403) {
    return Fail(ErrorCode::kUnauthenticated,
                fmt::format("{}: the token service refused {} ({})", Where(),
                            creds_.empty() ? "anonymous access" : "the credentials", resp.status));
  }
  if (resp.status != 200) {
    return Fail(fmt::format("{}: the token service answered {}", Where(), resp.status));
  }
  json j = json::parse(resp.body, nullptr, false);
  std::string token = j.is_object() ? Str(j, "token") : "";
  if (token.empty() && j.is_object()) token = Str(j, "access_token");
  if (token.empty()) return Fail(fmt::format("{}: the token service gave no token", Where()));
  return "Bearer " + token;
}

Result<RegistryClient::Answer> RegistryClient::Get(
    const std::string& path_or_url, const std::string& accept, const std::string& method,
    size_t max_body, bool follow, const std::function<bool(std::string_view)>* sink) {
  const bool relative = path_or_url.starts_with("/");
  // One discovery's reads are bounded, however many tags and images the
  // registry offers: no registry holds a Warehouse controller for long.
  if (++requests_ > max_requests_ || std::chrono::steady_clock::now() > deadline_) {
    if (max_requests_ != kMaxRequests) {
      return Fail(ErrorCode::kTooLarge,
                  fmt::format("{}: the pull took more than {} requests or its time", Where(),
                              max_requests_));
    }
    return Fail(ErrorCode::kTooLarge,
                fmt::format("{}: more than {} requests or {} s to the registry in one discovery; "
                            "narrow the subscription (allowTagsRegexes, a strategy that reads "
                            "fewer tags than NewestBuild)",
                            Where(), kMaxRequests, kDeadline.count()));
  }
  if (repo_.IsLayout()) {
    // A directory on this machine's disk: read where files may be.
    if (!egress_.allows_file()) {
      return Fail(ErrorCode::kForbidden,
                  fmt::format("{}: an image layout on this machine's disk is read only where the "
                              "egress policy allows files (--egress-allow file)",
                              Where()));
    }
    return GetFromLayout(path_or_url, max_body, sink);
  }
  for (int attempt = 0;; ++attempt) {
    curl::Request req;
    req.method = method;
    req.url = relative ? base_ + path_or_url : path_or_url;
    req.timeout = kTimeout;
    req.max_body = max_body;
    // Blobs are often served from object storage; nothing else is followed,
    // so a challenge below is always the registry's own.
    req.max_redirects = follow ? 5 : 0;
    req.insecure_skip_tls_verify = insecure_;
    if (sink) {
      req.on_body = *sink;
      req.timeout = kBlobTimeout;
      req.stall_timeout = kBlobStall;
    }
    if (!accept.empty()) req.headers.emplace_back("Accept", accept);
    if (!authorization_.empty()) req.headers.emplace_back("Authorization", authorization_);
    auto sent = curl::Send(req, egress_);
    if (!sent && http_fallback_ && relative && !sink) {
      // An insecure registry that does not speak HTTPS: plain HTTP, once.
      http_fallback_ = false;
      base_ = "http://" + repo_.registry;
      --attempt;
      continue;
    }
    http_fallback_ = false;
    STRAKE_TRY_ASSIGN(resp, std::move(sent));
    if (resp.status == 401 && attempt == 0) {
      std::string challenge = resp.HeaderValue("WWW-Authenticate");
      if (StartsWith(ToLower(challenge), "bearer ")) {
        STRAKE_TRY_ASSIGN(token, Token(challenge));
        authorization_ = std::move(token);
        continue;
      }
      if (StartsWith(ToLower(challenge), "basic") && !creds_.empty()) {
        authorization_ = "Basic " + Base64Encode(creds_.username + ":" + creds_.password);
        continue;
      }
    }
    if (resp.status == 401 || resp.status == 403) {
      return Fail(ErrorCode::kUnauthenticated,
                  fmt::format("{}: the registry refused {} ({}){}", Where(),
                              creds_.empty() ? "anonymous access" : "the credentials", resp.status,
                              creds_.empty() ? "; credentials come from a Secret labelled "
                                               "kargo.akuity.io/cred-type: image"
                                             : ""));
    }
    if (resp.status == 429) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("{}: the registry asks to slow down (429)", Where()));
    }
    Answer a{resp.status, std::move(resp.body), resp.HeaderValue("Content-Type"),
             resp.HeaderValue("Docker-Content-Digest"), resp.HeaderValue("Link")};
    return a;
  }
}

Result<std::vector<std::string>> RegistryClient::Tags() {
  std::vector<std::string> tags;
  std::set<std::string> seen;
  size_t pages = 0;
  const size_t kMaxPages = kMaxTags / 100;
  std::string next = "/v2/" + repo_.repository + "/tags/list?n=1000";
  while (!next.empty()) {
    STRAKE_TRY_ASSIGN(a, Get(next, "application/json", "GET", size_t{4} << 20));
    if (a.status == 404) {
      return Fail(ErrorCode::kNotFound, fmt::format("{}: no such repository", Where()));
    }
    if (a.status != 200) {
      return Fail(fmt::format("{}: listing tags: the registry answered {}", Where(), a.status));
    }
    json j = json::parse(a.body, nullptr, false);
    if (!j.is_object()) return Fail(fmt::format("{}: the tag list is not JSON", Where()));
    auto it = j.find("tags");
    if (it != j.end() && it->is_array()) {
      for (const auto& t : *it) {
        if (t.is_string() && ValidTag(t.get_ref<const std::string&>()))
          tags.push_back(t.get<std::string>());
      }
    }
    if (tags.size() > kMaxTags) {
      return Fail(ErrorCode::kTooLarge, fmt::format("{}: more than {} tags", Where(), kMaxTags));
    }
    std::string link = NextLink(a.link);
    if (link.empty()) break;
    // The next page, on the same registry only: a path, or a URL of the
    // same host (its scheme as a proxy in front may spell it).
    std::string path = link;
    if (!link.starts_with("/")) {
      auto scheme = link.find("://");
      auto slash = scheme == std::string::npos ? scheme : link.find('/', scheme + 3);
      std::string host =
          slash == std::string::npos ? "" : ToLower(link.substr(scheme + 3, slash - scheme - 3));
      if (host != ToLower(repo_.registry) &&
          !(repo_.registry == "docker.io" && host == "registry-1.docker.io")) {
        return Fail(fmt::format("{}: the tag list continues on another host; refused", Where()));
      }
      path = link.substr(slash);
    }
    if (!seen.insert(path).second || ++pages > kMaxPages) {
      return Fail(fmt::format("{}: the tag list does not end (more than {} pages, or a page twice)",
                              Where(), kMaxPages));
    }
    next = path;
  }
  return tags;
}

Result<std::string> RegistryClient::Blob(const std::string& digest, size_t max) {
  if (!ValidDigest(digest))
    return Fail(ErrorCode::kInvalid, fmt::format("{}: bad digest {}", Where(), Quote(digest)));
  STRAKE_TRY_ASSIGN(a, Get("/v2/" + repo_.repository + "/blobs/" + digest, "", "GET", max,
                           /*follow=*/true));
  if (a.status == 404) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("{}: the registry has no blob {}", Where(), digest));
  }
  if (a.status != 200) {
    return Fail(fmt::format("{}: blob {}: the registry answered {}", Where(), digest, a.status));
  }
  if ("sha256:" + Sha256Hex(a.body) != digest) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: blob {} does not match its digest", Where(), digest));
  }
  return std::move(a.body);
}

Result<ImageInfo> RegistryClient::FromManifest(const std::string& digest, const std::string& body,
                                               bool nested) {
  json m = json::parse(body, nullptr, false);
  if (!m.is_object()) return Fail(fmt::format("{}@{}: the manifest is not JSON", Where(), digest));
  std::string type = Str(m, "mediaType");
  ImageInfo info;
  info.digest = digest;
  info.annotations = StringMap(Object(m, "annotations"));
  if (m.contains("manifests") || type == kOciIndex || type == kDockerList) {
    if (nested) {
      return Fail(fmt::format("{}@{}: an index inside an index is not read", Where(), digest));
    }
    const json manifests = m.value("manifests", json::array());
    if (!manifests.is_array() || manifests.size() > kMaxIndexEntries) {
      return Fail(fmt::format("{}@{}: an index of more than {} images is not read", Where(), digest,
                              kMaxIndexEntries));
    }
    std::optional<int64_t> newest;
    for (const auto& ref : manifests) {
      const json platform = Object(ref, "platform");
      Platform p{Str(platform, "os"), Str(platform, "architecture"), Str(platform, "variant")};
      if (p.os.empty() || p.arch.empty() || p.os == "unknown" || p.arch == "unknown") continue;
      std::optional<int64_t> created = CreatedFrom(Object(ref, "annotations"));
      if (!created) {  // the image's own date, read only when the index does not say it
        STRAKE_TRY_ASSIGN(child, ImageByDigest(Str(ref, "digest"), /*nested=*/true));
        created = child.created_ms;
      }
      if (created && (!newest || *created > *newest)) newest = created;
      info.platforms.push_back(std::move(p));
    }
    if (info.platforms.empty()) {
      return Fail(fmt::format("{}@{}: an index that lists no platform image", Where(), digest));
    }
    info.created_ms = CreatedFrom(Object(m, "annotations"));
    if (!info.created_ms) info.created_ms = newest;
    return info;
  }
  if (!m.contains("config") || (!type.empty() && type != kOciManifest && type != kDockerManifest)) {
    return Fail(fmt::format("{}@{}: unsupported manifest type {}", Where(), digest,
                            Quote(type.empty() ? "(schema 1 or unknown)" : type)));
  }
  STRAKE_TRY_ASSIGN(config_bytes, Blob(Str(Object(m, "config"), "digest"), kMaxConfig));
  json config = json::parse(config_bytes, nullptr, false);
  if (!config.is_object()) {
    return Fail(fmt::format("{}@{}: the image config is not JSON", Where(), digest));
  }
  info.platforms.push_back(
      Platform{Str(config, "os"), Str(config, "architecture"), Str(config, "variant")});
  // Kargo's getCreationTime: the manifest's annotation, else the later of
  // the build-date label (which a base image may have set) and `created`.
  info.created_ms = CreatedFrom(Object(m, "annotations"));
  if (!info.created_ms) {
    auto label = CreatedFrom(Object(Object(config, "config"), "Labels"));
    auto created = ParseImageTime(Str(config, "created"));
    info.created_ms = label && created ? std::max(*label, *created) : label ? label : created;
  }
  return info;
}

Result<std::string> RegistryClient::ManifestByDigest(const std::string& digest) {
  STRAKE_TRY_ASSIGN(
      a, Get("/v2/" + repo_.repository + "/manifests/" + digest, AcceptAll(), "GET", kMaxManifest));
  if (a.status != 200) {
    return Fail(fmt::format("{}@{}: the registry answered {}", Where(), digest, a.status));
  }
  if ("sha256:" + Sha256Hex(a.body) != digest) {
    return Fail(fmt::format("{}@{}: the manifest does not match its digest", Where(), digest));
  }
  return std::move(a.body);
}

Result<ImageInfo> RegistryClient::ImageByDigest(const std::string& digest, bool nested) {
  if (!ValidDigest(digest)) return Fail(fmt::format("{}: bad digest {}", Where(), Quote(digest)));
  std::string key = Where() + "@" + digest;
  if (auto hit = DigestCache::Get().Find(key)) return *hit;
  STRAKE_TRY_ASSIGN(body, ManifestByDigest(digest));
  STRAKE_TRY_ASSIGN(info, FromManifest(digest, body, nested));
  DigestCache::Get().Put(key, info);
  return info;
}

Result<std::optional<ImageInfo>> RegistryClient::ImageByTag(const std::string& tag) {
  std::string path = "/v2/" + repo_.repository + "/manifests/" + http::UrlEncode(tag);
  // HEAD first: a tag whose digest is known costs one small request.
  STRAKE_TRY_ASSIGN(head, Get(path, AcceptAll(), "HEAD", 0));
  if (head.status == 404) return std::optional<ImageInfo>();
  if (head.status == 200 && ValidDigest(head.digest)) {
    if (auto hit = DigestCache::Get().Find(Where() + "@" + head.digest)) return hit;
  }
  STRAKE_TRY_ASSIGN(a, Get(path, AcceptAll(), "GET", kMaxManifest));
  if (a.status == 404) return std::optional<ImageInfo>();
  if (a.status != 200) {
    return Fail(fmt::format("{}:{}: the registry answered {}", Where(), tag, a.status));
  }
  std::string digest = "sha256:" + Sha256Hex(a.body);
  if (!a.digest.empty() && a.digest != digest && a.digest.starts_with("sha256:")) {
    return Fail(fmt::format("{}:{}: the manifest does not match the digest the registry gave",
                            Where(), tag));
  }
  std::string key = Where() + "@" + digest;
  if (auto hit = DigestCache::Get().Find(key)) return hit;
  STRAKE_TRY_ASSIGN(info, FromManifest(digest, a.body, false));
  DigestCache::Get().Put(key, info);
  return std::optional<ImageInfo>(std::move(info));
}

namespace {

bool IsIndex(const json& m) {
  std::string type = Str(m, "mediaType");
  return m.contains("manifests") || type == kOciIndex || type == kDockerList;
}

// A layer's media type strake can unpack: a tar, plain or compressed.
bool IsFilesystemLayer(std::string_view type) {
  for (std::string_view known :
       {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"}) {
    if (type == known) return true;
  }
  return false;
}

Result<Descriptor> DescriptorOf(const json& j, const std::string& what) {
  Descriptor d;
  d.media_type = Str(j, "mediaType");
  d.digest = Str(j, "digest");
  auto size = j.is_object() ? j.find("size") : j.end();
  if (!ValidDigest(d.digest)) return Fail(fmt::format("{}: bad digest {}", what, Quote(d.digest)));
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return Fail(fmt::format("{}: no size", what));
  }
  d.size = size->get<int64_t>();
  return d;
}

Status StringsField(const json& c, const char* key, std::vector<std::string>& into) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) return Ok();
  if (!it->is_array()) return Fail(fmt::format("config.{} is not a list of strings", key));
  for (const auto& v : *it) {
    if (!v.is_string()) return Fail(fmt::format("config.{} is not a list of strings", key));
    into.push_back(v.get<std::string>());
  }
  return Ok();
}

}  // namespace

std::string Reference::String() const {
  std::string out = repo.Name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

namespace {

// An absolute path with no ".." component and no NUL.
bool CleanAbsolutePath(std::string_view p) {
  if (!p.starts_with("/") || p.find('\0') != std::string_view::npos) return false;
  for (const auto& part : Split(p, '/')) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

Result<Reference> ParseReference(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalid, fmt::format("image {}: {}", Quote(text), why));
  };
  Reference ref;
  std::string_view rest = text;
  for (const char* transport : {"docker-archive:", "oci-archive:"}) {
    // docker-archive:/file.tar[:name:tag], oci-archive:/file.tar[:tag]:
    // the file's path ends at the first ':' (as skopeo reads them).
    if (!rest.starts_with(transport)) continue;
    rest.remove_prefix(std::string_view(transport).size());
    const std::string file(rest.substr(0, rest.find(':')));
    if (!CleanAbsolutePath(file)) return bad("an image archive needs an absolute file path");
    ref.repo = {transport, file};
    if (auto colon = rest.find(':'); colon != std::string_view::npos) {
      ref.tag = std::string(rest.substr(colon + 1));
      if (ref.tag.empty()) return bad("an empty image name after the archive's path");
    }
    return ref;
  }
  const bool layout = rest.starts_with(kLayoutRegistry);
  if (layout) rest.remove_prefix(std::string_view(kLayoutRegistry).size());
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!ValidDigest(ref.digest)) return bad("the digest must be sha256: and 64 hex digits");
  }
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!ValidTag(ref.tag)) return bad(fmt::format("{} is not a valid tag", Quote(ref.tag)));
  }
  if (layout) {
    // oci:/abs/dir[:tag][@digest], as skopeo's oci: transport.
    const std::string dir(rest);
    if (!CleanAbsolutePath(dir)) return bad("an oci: image layout needs an absolute directory");
    ref.repo = {kLayoutRegistry,
                dir.size() > 1 && dir.ends_with("/") ? dir.substr(0, dir.size() - 1) : dir};
    if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
    return ref;
  }
  auto repo = ParseRepository(rest);
  if (!repo) return bad(repo.error().message);
  ref.repo = std::move(*repo);
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

Result<ImageConfig> ParseImageConfig(std::string_view config_json) {
  json j = json::parse(config_json, nullptr, false);
  if (!j.is_object()) return Fail("the image config is not a JSON object");
  ImageConfig out;
  const json c = Object(j, "config");
  STRAKE_TRY(StringsField(c, "Entrypoint", out.entrypoint));
  STRAKE_TRY(StringsField(c, "Cmd", out.cmd));
  STRAKE_TRY(StringsField(c, "Env", out.env));
  out.working_dir = Str(c, "WorkingDir");
  out.user = Str(c, "User");
  return out;
}

namespace {

// Whether a dockerconfig key names `repo`; its specificity (the length of
// its path) when it does.
std::optional<size_t> KeyMatches(std::string key, const RepositoryRef& repo) {
  for (const char* scheme : {"https://", "http://"}) {
    if (StartsWith(key, scheme)) key = key.substr(std::string_view(scheme).size());
  }
  while (!key.empty() && key.back() == '/') key.pop_back();
  std::string host = key.substr(0, key.find('/'));
  std::string path = key.find('/') == std::string::npos ? "" : key.substr(key.find('/') + 1);
  if (path == "v1" || path == "v2") path.clear();  // Docker's index URL
  if (host == "index.docker.io" || host == "registry-1.docker.io") host = "docker.io";
  bool host_ok = host == repo.registry;
  if (!host_ok && StartsWith(host, "*.")) {
    auto dot = repo.registry.find('.');
    host_ok = dot != std::string::npos && repo.registry.substr(dot) == host.substr(1);
  }
  if (!host_ok) return std::nullopt;
  if (!path.empty() && repo.repository != path && !StartsWith(repo.repository, path + "/"))
    return std::nullopt;
  return path.size();
}

}  // namespace

Result<Credentials> DockerConfigCredentials(std::string_view text, const RepositoryRef& repo) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Fail("not a JSON object");
  const json& auths = j.contains("auths") ? j["auths"] : j;
  if (!auths.is_object()) return Fail("auths: not an object");
  std::optional<size_t> best;
  Credentials out;
  for (const auto& [key, entry] : auths.items()) {
    auto specific = KeyMatches(key, repo);
    if (!specific || (best && *specific <= *best) || !entry.is_object()) continue;
    Credentials c;
    if (entry.contains("auth") && entry["auth"].is_string()) {
      auto plain = Base64Decode(entry["auth"].get<std::string>());
      if (!plain || plain->find(':') == std::string::npos) {
        return Failf("auths[{}].auth: not base64 of user:password", Quote(key));
      }
      c.username = plain->substr(0, plain->find(':'));
      c.password = plain->substr(plain->find(':') + 1);
    } else {
      c.username = entry.value("username", "");
      c.password = entry.value("password", "");
    }
    best = specific;
    out = std::move(c);
  }
  return out;
}

Platform HostPlatform() {
  utsname u{};
  ::uname(&u);
  std::string_view m = u.machine;
  if (m == "x86_64") return {"linux", "amd64", ""};
  if (m == "aarch64" || m == "arm64") return {"linux", "arm64", "v8"};
  if (m.starts_with("armv7")) return {"linux", "arm", "v7"};
  if (m.starts_with("armv6")) return {"linux", "arm", "v6"};
  if (m == "i386" || m == "i686") return {"linux", "386", ""};
  return {"linux", std::string(m), ""};  // ppc64le, s390x, riscv64: OCI's names too
}

void RegistryClient::SetInsecureRegistry() {
  if (repo_.registry == "docker.io") return;  // Docker Hub is never insecure
  insecure_ = true;
  insecure_registry_ = true;
  base_ = "https://" + repo_.registry;
  http_fallback_ = true;
}

void RegistryClient::SetBudget(size_t requests, std::chrono::seconds deadline) {
  max_requests_ = requests;
  requests_ = 0;
  deadline_ = std::chrono::steady_clock::now() + deadline;
}

Result<Manifest> RegistryClient::Resolve(const std::string& target, const Platform& platform) {
  const bool by_digest = target.starts_with("sha256:");
  if (by_digest ? !ValidDigest(target) : !ValidTag(target)) {
    return Fail(ErrorCode::kInvalid,
                fmt::format("{}: {} is not a tag or a digest", Where(), Quote(target)));
  }
  std::string path = "/v2/" + repo_.repository + "/manifests/" + http::UrlEncode(target);
  STRAKE_TRY_ASSIGN(a, Get(path, AcceptAll(), "GET", kMaxManifest));
  const std::string named = Where() + (by_digest ? "@" : ":") + target;
  if (a.status == 404) {
    return Fail(ErrorCode::kNotFound, fmt::format("{}: no such image (404)", named));
  }
  if (a.status != 200) {
    return Fail(fmt::format("{}: the registry answered {}", named, a.status));
  }
  std::string digest = "sha256:" + Sha256Hex(a.body);
  if ((by_digest && digest != target) ||
      (!a.digest.empty() && a.digest.starts_with("sha256:") && a.digest != digest)) {
    return Fail(fmt::format("{}: the manifest does not match its digest", named));
  }
  return ManifestOf(digest, a.body, platform, false);
}

Result<Manifest> RegistryClient::FromIndex(const std::string& digest, const json& m,
                                           const Platform& want) {
  const std::string named = Where() + "@" + digest;
  const json manifests = m.value("manifests", json::array());
  if (!manifests.is_array() || manifests.size() > kMaxIndexEntries) {
    return Fail(
        fmt::format("{}: an index of more than {} images is not read", named, kMaxIndexEntries));
  }
  const json* pick = nullptr;
  std::vector<std::string> offered;
  std::vector<const json*> unlabelled;  // no platform: their configs say (containerd's way)
  for (const auto& ref : manifests) {
    const json p = Object(ref, "platform");
    Platform have{Str(p, "os"), Str(p, "architecture"), Str(p, "variant")};
    if (!ref.contains("platform")) unlabelled.push_back(&ref);
    if (have.os.empty() || have.os == "unknown") continue;  // attestations
    offered.push_back(have.String());
    if (have.os != want.os || have.arch != want.arch) continue;
    if (!want.variant.empty() && !have.variant.empty() && have.variant != want.variant) continue;
    // The exact variant wins over one that names none.
    if (!pick || (have.variant == want.variant &&
                  Str(Object(*pick, "platform"), "variant") != want.variant)) {
      pick = &ref;
    }
  }
  if (!pick) {
    for (const json* ref : unlabelled) {
      // One that cannot be read as an image (a signature, an artifact) is
      // not this machine's: the next one may be.
      auto d = DescriptorOf(*ref, named + ": manifests[]");
      auto picked =
          d ? ManifestByDigest(d->digest) : Result<std::string>(tl::unexpected(d.error()));
      auto out = picked ? ManifestOf(d->digest, *picked, want, true, false)
                        : Result<Manifest>(tl::unexpected(picked.error()));
      if (!out) {
        offered.push_back("an unreadable entry (" + out.error().message + ")");
        continue;
      }
      const Platform& have = out->platform;
      if (have.os != want.os || have.arch != want.arch ||
          (!want.variant.empty() && !have.variant.empty() && have.variant != want.variant)) {
        offered.push_back(have.String());  // another platform's
        continue;
      }
      out->index_digest = digest;
      return out;
    }
  }
  if (!pick) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("{}: no image for {} (the index has {})", named, want.String(),
                            offered.empty() ? std::string("none") : Join(offered, ", ")));
  }
  STRAKE_TRY_ASSIGN(d, DescriptorOf(*pick, named + ": manifests[]"));
  STRAKE_TRY_ASSIGN(picked, ManifestByDigest(d.digest));
  STRAKE_TRY_ASSIGN(out, ManifestOf(d.digest, picked, want, true));
  out.index_digest = digest;
  return out;
}

Result<Manifest> RegistryClient::ManifestOf(const std::string& digest, const std::string& body,
                                            const Platform& want, bool nested,
                                            bool check_platform) {
  const std::string named = Where() + "@" + digest;
  json m = json::parse(body, nullptr, false);
  if (!m.is_object()) return Fail(fmt::format("{}: the manifest is not JSON", named));
  if (IsIndex(m)) {
    if (nested) return Fail(fmt::format("{}: an index inside an index is not read", named));
    return FromIndex(digest, m, want);
  }
  std::string type = Str(m, "mediaType");
  if (!m.contains("config") || (!type.empty() && type != kOciManifest && type != kDockerManifest)) {
    return Fail(fmt::format("{}: unsupported manifest type {}", named,
                            Quote(type.empty() ? "(schema 1 or unknown)" : type)));
  }
  Manifest out;
  out.digest = digest;
  STRAKE_TRY_ASSIGN(config, DescriptorOf(Object(m, "config"), named + ": config"));
  out.config = std::move(config);
  const json layers = m.value("layers", json::array());
  if (!layers.is_array() || layers.size() > kMaxLayers) {
    return Fail(fmt::format("{}: more than {} layers", named, kMaxLayers));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string what = fmt::format("{}: layers[{}]", named, i);
    STRAKE_TRY_ASSIGN(d, DescriptorOf(layers[i], what));
    if (!IsFilesystemLayer(d.media_type)) {
      return Fail(
          fmt::format("{}: media type {} is not a filesystem layer", what, Quote(d.media_type)));
    }
    out.layers.push_back(std::move(d));
  }
  STRAKE_TRY_ASSIGN(config_bytes, Blob(out.config.digest, kMaxConfig));
  json cj = json::parse(config_bytes, nullptr, false);
  if (!cj.is_object()) return Fail(fmt::format("{}: the image config is not JSON", named));
  out.platform = Platform{Str(cj, "os"), Str(cj, "architecture"), Str(cj, "variant")};
  if (check_platform && (out.platform.os != want.os || out.platform.arch != want.arch)) {
    return Fail(ErrorCode::kInvalid, fmt::format("{}: the image is for {}, this machine runs {}",
                                                 named, out.platform.String(), want.String()));
  }
  auto image_config = ParseImageConfig(config_bytes);
  if (!image_config) return tl::unexpected(image_config.error().Wrap(named));
  out.image_config = std::move(*image_config);
  out.config_json = std::move(config_bytes);
  return out;
}

Status RegistryClient::FetchBlob(const Descriptor& blob,
                                 const std::function<bool(std::string_view)>& sink) {
  if (!ValidDigest(blob.digest)) {
    return Fail(fmt::format("{}: bad digest {}", Where(), Quote(blob.digest)));
  }
  Sha256 hash;
  int64_t got = 0;
  std::function<bool(std::string_view)> tee = [&](std::string_view chunk) {
    hash.Update(chunk);
    got += static_cast<int64_t>(chunk.size());
    return sink(chunk);
  };
  STRAKE_TRY_ASSIGN(a, Get("/v2/" + repo_.repository + "/blobs/" + blob.digest, "", "GET",
                           static_cast<size_t>(blob.size), /*follow=*/true, &tee));
  if (a.status != 200) {
    return Fail(
        fmt::format("{}: blob {}: the registry answered {}", Where(), blob.digest, a.status));
  }
  if (got != blob.size) {
    return Fail(fmt::format("{}: blob {} is {} bytes, the manifest says {}", Where(), blob.digest,
                            got, blob.size));
  }
  if ("sha256:" + hash.HexDigest() != blob.digest) {
    return Fail(fmt::format("{}: blob {} does not match its digest", Where(), blob.digest));
  }
  return Ok();
}

}  // namespace strake::images
