// An OCI registry client over the distribution API v2
// (https://github.com/opencontainers/distribution-spec): a repository's
// tags, and what a tag names — its digest, when it was built, its
// annotations and platforms — for Warehouses' image subscriptions, and the
// manifests, configs and layers of image pulls (images/store.h).
//
//   - References are read as Docker reads them: "nginx" is
//     docker.io/library/nginx, served by registry-1.docker.io; a first path
//     component with a '.' or ':' (or "localhost") names the registry.
//   - HTTPS always, except a registry on loopback (127.0.0.0/8, localhost),
//     which is spoken to in plain HTTP as Docker does.
//   - Auth: anonymous first; a 401's challenge is answered with a bearer
//     token from its realm (Docker Hub's and every registry's token flow,
//     with the credentials when there are any) or with basic auth.
//   - Every manifest and config blob is checked against its digest; a
//     manifest is at most 4 MiB and a config 4 MiB, as containerd's limits.
//     What a digest names never changes, so images are kept per digest for
//     the process's life (bounded), and a discovery asks the registry only
//     for what a tag names now.
//   - All traffic goes through base/curl.h under the server's egress policy;
//     only blob downloads follow redirects (so a 401's challenge is always
//     the registry's own), and credentials go to a token service over TLS
//     only (plain HTTP for a loopback registry's).
//   - Bounded: tags that are not OCI tags are dropped, a tag list of more
//     than kMaxTags tags or pages that repeat or do not end is refused, an
//     index inside an index is not read and an index lists at most 256
//     images (a platform image is read only when the index gives no date),
//     at most 64 annotations of 16 KiB in all are kept of a manifest.
//
// A RegistryClient is not thread-safe (its token); the digest cache is.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/egress.h"
#include "base/result.h"

namespace strake::images {

// The registry of an OCI image layout on this machine's disk ("oci:" +
// its directory), read as a registry is (images built by a pipeline run
// without one).
inline constexpr char kLayoutRegistry[] = "oci:";

struct RepositoryRef {
  std::string registry;    // "docker.io", "ghcr.io", "127.0.0.1:5000"; kLayoutRegistry
  std::string repository;  // "library/nginx", "akuity/guestbook"; a layout's directory
  // "https://registry-1.docker.io", "http://127.0.0.1:5000".
  std::string ApiBase() const;
  // "docker.io/library/nginx", "oci:/srv/images/app".
  std::string Name() const;
  bool IsLayout() const { return registry == kLayoutRegistry; }
  bool operator==(const RepositoryRef&) const = default;
};

// A repository reference without tag or digest; a tag, a digest, a scheme
// or an upper-case path is refused with the reason.
Result<RepositoryRef> ParseRepository(std::string_view url);

// Whether "host[:port]" is on loopback: "localhost" or an address of
// 127.0.0.0/8 (by the address, not a name that merely starts with "127.").
bool IsLoopbackHost(std::string_view host_port);

// Whether `registry` ("host[:port]") is one of `insecure` (Docker's
// insecure-registries: "host:port", or "host" for any of its ports).
bool IsInsecureRegistry(std::string_view registry, const std::vector<std::string>& insecure);

// Kargo's NormalizeImage (pkg/urls/image.go): lower case; Docker Hub's
// repositories without registry and "library/" ("nginx", "bob/app"), any
// other "registry/repository". `url` returned as given if it does not parse.
std::string NormalizeImageUrl(std::string_view url);

struct Platform {
  std::string os, arch, variant;
  std::string String() const;  // "linux/arm64/v8"
  bool operator==(const Platform&) const = default;
};
// "os/arch[/variant]".
Result<Platform> ParsePlatform(std::string_view text);

// What a tag (or digest) names.
struct ImageInfo {
  std::string digest;  // of the manifest, or of the index for a multi-platform image
  std::optional<int64_t> created_ms;
  std::map<std::string, std::string> annotations;
  std::vector<Platform> platforms;  // an image's own, or every one an index lists
};

// An RFC 3339 time with any fraction and offset (images write nanoseconds):
// unix milliseconds, or nullopt.
std::optional<int64_t> ParseImageTime(std::string_view text);

// An image reference as Docker and Kubernetes read one:
// "[registry/]repository[:tag][@digest]"; with neither tag nor digest the
// tag is "latest".
struct Reference {
  RepositoryRef repo;
  std::string tag;     // "" when only a digest is given
  std::string digest;  // "sha256:…", or ""
  // "127.0.0.1:5000/app:1.0", "docker.io/library/busybox@sha256:…".
  std::string String() const;
  // The tag, or the digest when there is one (what the registry is asked for).
  const std::string& Target() const { return digest.empty() ? tag : digest; }
};
Result<Reference> ParseReference(std::string_view text);

// A blob as a manifest names it.
struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
};

// What an image's config says of how to run it (its "config" object).
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "NAME=value"
  std::string working_dir;
  std::string user;
};
// Reads the "config" object of an image config blob; bad types are errors.
Result<ImageConfig> ParseImageConfig(std::string_view config_json);

// The image manifest of one platform, with its config.
struct Manifest {
  std::string digest;        // of the image manifest
  std::string index_digest;  // of the index it was picked from, or ""
  Platform platform;
  Descriptor config;
  std::string config_json;  // checked against config.digest
  ImageConfig image_config;
  std::vector<Descriptor> layers;  // base first
};

// The platform of this machine, as OCI names it ("linux/amd64", "linux/arm64/v8").
Platform HostPlatform();

struct Credentials {
  std::string username, password;
  bool empty() const { return username.empty() && password.empty(); }
};

// The credentials a `kubernetes.io/dockerconfigjson` Secret's
// `.dockerconfigjson` (or a `.dockercfg`'s object of registries) gives for
// `repo`, as the kubelet matches them: a key is a registry host (a scheme,
// Docker's "/v1/" and "index.docker.io" for docker.io read as the kubelet
// reads them), a "*." label glob, or a host and path prefix; the most
// specific key wins. An entry's `auth` (base64 "user:password") or its
// `username` and `password`. None when nothing matches; an error when the
// text is not such a JSON object.
Result<Credentials> DockerConfigCredentials(std::string_view text, const RepositoryRef& repo);

class RegistryClient {
 public:
  static constexpr size_t kMaxTags = 100'000;
  // What one client (one discovery) may ask of the registry.
  static constexpr size_t kMaxRequests = 3'000;
  static constexpr std::chrono::seconds kDeadline{300};

  RegistryClient(RepositoryRef repo, Credentials creds, EgressPolicy egress,
                 bool insecure_skip_tls_verify = false);

  // Every tag of the repository, through all pages (at most kMaxTags).
  Result<std::vector<std::string>> Tags();
  // What `tag` names now; nullopt when the tag does not exist.
  Result<std::optional<ImageInfo>> ImageByTag(const std::string& tag);

  // A pull's budget instead of a discovery's (kMaxRequests, kDeadline).
  void SetBudget(size_t requests, std::chrono::seconds deadline);
  // An insecure registry, as Docker's insecure-registries: HTTPS without
  // checking its certificate and, when it does not speak HTTPS at all (the
  // first request fails before any answer), plain HTTP.
  void SetInsecureRegistry();
  // The manifest that `tag_or_digest` names for `platform` (from an index:
  // os and architecture equal, and the variant when both give one), its
  // config read and checked. A missing tag or digest is kNotFound.
  Result<Manifest> Resolve(const std::string& tag_or_digest, const Platform& platform);
  // Streams a blob to `sink` (following redirects to object storage),
  // checking its size and digest; what was given to sink before a mismatch
  // is the caller's to discard.
  Status FetchBlob(const Descriptor& blob, const std::function<bool(std::string_view)>& sink);
  // A blob of unknown size read whole, checked against its digest: more
  // than `max` bytes or a mismatch is kInvalid, a blob the registry does not
  // have kNotFound, a registry that cannot be reached kUnavailable.
  Result<std::string> Blob(const std::string& digest, size_t max);

 private:
  struct Answer;
  // `sink`: a 2xx body is streamed to it (a blob), with a long timeout.
  Result<Answer> Get(const std::string& path_or_url, const std::string& accept,
                     const std::string& method, size_t max_body, bool follow = false,
                     const std::function<bool(std::string_view)>* sink = nullptr);
  // Get's answer from an OCI image layout: index.json names a tag (its
  // org.opencontainers.image.ref.name annotation; "latest" is the only
  // image of an index of one), blobs/sha256/ the rest.
  Result<Answer> GetFromLayout(const std::string& path, size_t max_body,
                               const std::function<bool(std::string_view)>* sink);
  // An index picks `platform`'s image: by its entries' platforms, else by
  // the configs of entries that name none. `check_platform`: an image for
  // another platform is an error (kInvalid).
  Result<Manifest> ManifestOf(const std::string& digest, const std::string& body,
                              const Platform& platform, bool nested, bool check_platform = true);
  // ManifestOf's index: the image it picks for `want`.
  Result<Manifest> FromIndex(const std::string& digest, const nlohmann::json& index,
                             const Platform& want);
  Result<std::string> Token(const std::string& challenge);
  Result<ImageInfo> ImageByDigest(const std::string& digest, bool nested = false);
  // The manifest `digest` names, checked against it.
  Result<std::string> ManifestByDigest(const std::string& digest);
  Result<ImageInfo> FromManifest(const std::string& digest, const std::string& body, bool nested);
  std::string Where() const;

  RepositoryRef repo_;
  Credentials creds_;
  EgressPolicy egress_;
  bool insecure_;
  bool insecure_registry_ = false;  // SetInsecureRegistry
  bool http_fallback_ = false;      // SetInsecureRegistry, until the first answer
  std::string base_;                // "https://host[:port]", or http://
  std::string authorization_;       // "Bearer …" or "Basic …" once a challenge was answered
  size_t requests_ = 0;
  size_t max_requests_ = kMaxRequests;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace strake::images
