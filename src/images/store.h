// ImageStore: the images of one data directory, pulled from registries and
// unpacked, shared by every run and workload.
//
//   <dir>/blobs/sha256/<hex>   layers, each checked against its digest
//   <dir>/roots/<hex>/         a root filesystem per chain of layers
//                              (hex = sha256 of the layer digests in order)
//   <dir>/manifests/<hex>.json a manifest's layers, config and root
//   <dir>/refs/<hex>.json      what a reference (registry/repo:tag) named
//                              for a platform when it was last pulled
//
// Everything is written under a temporary name in its directory and
// renamed into place once complete, so a kill -9 at any instant leaves
// either the whole thing or a `.tmp-` leftover, which Open removes: no run
// ever sees a half-downloaded layer or a half-unpacked root. Two pulls of
// one image at once in a process share the work; two processes racing
// both do it and one rename wins.
//
// Collect removes what no reference names any more (a tag that moved
// leaves its old manifest, root and layers) and, under a size limit, the
// least recently used references' images, as the kubelet's image garbage
// collection does; never an image a caller says is in use.
//
// Pull policies are Kubernetes': Always asks the registry what the tag
// names now (the layers and root it already has are kept), IfNotPresent
// uses what it pulled before, Never only that. A reference without a
// policy: Always for the tag `latest` (or none), IfNotPresent otherwise.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/egress.h"
#include "base/fd.h"
#include "base/result.h"
#include "images/registry.h"
#include "images/unpack.h"

namespace strake::images {

enum class PullPolicy { kAlways, kIfNotPresent, kNever };

// "Always", "IfNotPresent", "Never"; "" gives Kubernetes' default for `ref`.
Result<PullPolicy> ParsePullPolicy(std::string_view text, const Reference& ref);

struct PullOptions {
  Credentials credentials;
  Platform platform = HostPlatform();
  PullPolicy policy = PullPolicy::kIfNotPresent;
  EgressPolicy egress;
  bool insecure_skip_tls_verify = false;
  // An insecure registry (RegistryClient::SetInsecureRegistry).
  bool insecure_registry = false;
  UnpackLimits limits;
};

// A pulled image, ready to run.
struct Image {
  std::string reference;     // as given, normalised (Reference::String)
  std::string digest;        // of the image manifest
  std::string index_digest;  // of the index it came from, or ""
  ImageConfig config;
  std::string root;        // the unpacked root filesystem (read-only by convention)
  bool fetched = false;    // this call spoke to the registry
  int64_t downloaded = 0;  // layer bytes downloaded by this call
};

// The lower directories of the overlays a /proc/<pid>/mountinfo text
// lists (a container's image roots), unescaped.
std::vector<std::string> OverlayLowerDirs(std::string_view mountinfo);

class ImageStore {
 public:
  explicit ImageStore(std::string dir) : dir_(std::move(dir)) {}

  // Makes the layout and, when no other process has the store open,
  // removes what a crash left half-written. Held open (a shared lock on
  // <dir>/lock) until the store goes.
  Status Open();
  Result<Image> Pull(const Reference& ref, const PullOptions& options);
  // What the store has for `ref` on `platform` without asking a registry;
  // nullopt if none.
  Result<std::optional<Image>> Find(const Reference& ref,
                                    const Platform& platform = HostPlatform()) const;

  const std::string& dir() const { return dir_; }

  struct Collected {
    int references = 0, manifests = 0, roots = 0, layers = 0;  // removed
    int64_t bytes_before = 0, bytes_after = 0;                 // layers and roots, as files' sizes
  };
  // Removes the manifests, roots and layers no reference names; then, while
  // the store holds more than `max_bytes` (0: no limit), the reference used
  // least recently (pulled or found) with what only it names, unless its
  // image's root is one of `in_use` (full paths), was given by this store
  // (Pull, Find) in the last kGivenLease (a container about to start on
  // it), or is a container's now (an overlay's lower directory in any
  // process's mounts: a replica that outlived its server). Refused while
  // another process has the store open (its pulls are not known here), or
  // while this process's pulls keep it busy for `wait`; Find and Pull wait
  // for it. A kill -9 midway leaves references whose image is gone (pulled
  // again when asked for) and leftovers Open removes, never a reference to
  // half an image.
  static constexpr std::chrono::minutes kGivenLease{10};
  Result<Collected> Collect(int64_t max_bytes, const std::set<std::string>& in_use,
                            std::chrono::milliseconds wait = std::chrono::seconds(30));

 private:
  Result<Image> PullNow(const Reference& ref, const PullOptions& options);
  Status FetchLayer(RegistryClient& client, const Descriptor& layer, int64_t& downloaded);
  Result<std::string> Unpack(const Manifest& m, const UnpackLimits& limits);
  Result<std::optional<Image>> FromRecord(const std::string& manifest_hex) const;
  Result<std::optional<Image>> FindLocked(const Reference& ref, const Platform& platform) const;
  void Given(const std::string& root) const;
  Result<Collected> CollectLocked(int64_t max_bytes, std::set<std::string> in_use);
  std::string RefPath(const Reference& ref, const Platform& platform) const;

  std::string dir_;
  Fd lock_;
  // Find and Pull share it; Collect has it alone.
  mutable std::shared_timed_mutex collect_mu_;
  mutable std::mutex given_mu_;
  mutable std::map<std::string, std::chrono::steady_clock::time_point> given_;  // root -> when
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> pulling_;  // references being pulled now
};

}  // namespace strake::images
