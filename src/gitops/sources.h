// Sources: the git mirrors of every repository URL in use, fetched at most
// once per refresh interval however many Applications read them, with
// revisions resolved once per fetch.
//
// A URL's refresh interval is its Repository's pollInterval, or Argo CD's
// default of 3 minutes. Credentials come from the Repository's Secret
// (keys username and password, or sshPrivateKey). A failed fetch keeps the
// mirror as it was: readers go on with the last good content and are told
// the source is unavailable. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/duration.h"
#include "gitops/git.h"
#include "model/gitops.h"
#include "store/store.h"

namespace strake::gitops {

inline constexpr Millis kDefaultRefresh{180'000};

// What the last fetch that moved a branch changed.
struct SourceChange {
  bool everything = true;          // unknown, or too many paths to list
  std::vector<std::string> paths;  // repository paths, when not everything
};

struct SourceState {
  const Mirror* mirror = nullptr;  // nullptr until a fetch has succeeded once
  std::string error;               // the last fetch's error, "" if it succeeded
  int64_t fetched_ms = 0;          // time of the last good fetch
  uint64_t generation = 0;         // bumped when the refs change
};

class Sources {
 public:
  // Remotes are reached only where `egress` allows (Mirror::Open).
  Sources(std::string mirror_root, store::Store& store, const Clock& clock, EgressPolicy egress);

  // The state of `url`, fetched first if the last attempt is older than
  // its refresh interval (`force`: now). While another thread fetches the
  // same URL, a caller without `force` gets the state as it is (it waits
  // only for the very first fetch); with `force` it waits and fetches again.
  SourceState Get(const std::string& url, bool force = false);

  // The paths the last branch-moving fetch of `url` changed.
  SourceChange LastChange(const std::string& url);

  // How often `url` is fetched (its Repository's pollInterval, or 3 minutes).
  Millis Interval(const std::string& url);

  // The credentials of the Repository that names `url` (none: empty).
  GitCredentials CredentialsFor(const std::string& url);
  // As CredentialsFor, from a Repository of namespace `ns` only (a Kargo
  // Project's steps never borrow another namespace's credentials).
  GitCredentials CredentialsIn(const std::string& ns, const std::string& url);

  // Resolves a revision at the state `Get` returned (cached per fetch).
  Result<std::string> Resolve(const std::string& url, const std::string& revision);

 private:
  struct Entry {
    std::mutex fetch_mu;  // held while fetching; readers never wait for it
    std::mutex mu;        // guards the fields below (not `mirror`, set once before `ok`)
    std::unique_ptr<Mirror> mirror;
    bool ok = false;
    std::string error;
    int64_t attempted_ms = 0;
    int64_t fetched_ms = 0;
    uint64_t generation = 0;
    std::atomic<int64_t> interval_ms{kDefaultRefresh.count()};  // from the Repository, per fetch
    std::map<std::string, std::string> branches;
    SourceChange last_change;
    std::mutex resolved_mu;
    uint64_t fetches = 0;  // successful fetches; guarded by resolved_mu
    std::map<std::string, std::string> resolved;
  };
  Entry& EntryOf(const std::string& url);
  static SourceState Snapshot(Entry& e);              // takes e.mu
  static SourceState SnapshotLocked(const Entry& e);  // e.mu held
  // The Repository resource that names `url`, if any: interval and credentials.
  std::optional<store::Resource> RepositoryOf(const std::string& url, const std::string& ns = "");
  GitCredentials CredentialsOf(const store::Resource& repo, const model::Repository& spec);

  std::string root_;
  store::Store& store_;
  const Clock& clock_;
  EgressPolicy egress_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace strake::gitops
