// Git sources: a bare mirror per repository URL in the data directory.
//
// Fetching runs the `git` binary (every transport, credentials and proxies
// work as users expect of git); reading (revision resolution, trees, blobs)
// goes through libgit2 on the mirror, in-process and without a checkout. A
// file:// repository is on this machine already: it is read in place (bare
// or not), and a fetch only checks that it is still there.
// Credentials never reach argv or logs: http(s) basic auth travels as an
// extra header set through git's GIT_CONFIG_* environment, an ssh key as a
// 0600 file that lives only for the fetch.
//
// A Mirror is thread-safe: fetches of one mirror are serialised, reads run
// concurrently with each other and with a fetch (libgit2 sees a consistent
// set of refs at the moment it opens the repository).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/egress.h"
#include "base/result.h"

namespace strake::gitops {

struct GitCredentials {
  std::string username;
  std::string password;         // or a token
  std::string ssh_private_key;  // PEM/OpenSSH text
};

struct RepoFile {
  std::string path;  // relative to the repository root
  std::string data;
};

struct ReadLimits {
  size_t max_file_bytes = 8u << 20;
  size_t max_total_bytes = 64u << 20;
  size_t max_files = 10'000;
  int max_symlink_hops = 8;
};

struct CommitInfo {
  std::string sha;
  std::string author;
  std::string message;  // first line
  int64_t time_ms = 0;  // the committer's date
  std::string author_email;
  std::string committer;
  std::string committer_email;
};

// Runs `git args` against the remote `url` (clone, push): it reaches the
// remote only as `egress` allows (the host resolved and checked here, git
// pinned to that address, no redirects; file:// only where the policy
// allows file), with `creds` as an Authorization header (never in argv).
// `scratch` is a directory for the output. Returns git's output; a
// non-zero exit is an error with git's last lines, credentials masked.
Result<std::string> RunGitRemote(const std::string& url, const std::vector<std::string>& args,
                                 const EgressPolicy& egress, const GitCredentials& creds,
                                 const std::string& scratch, std::chrono::milliseconds timeout);

// Runs a local `git args` (no remote), as RunGitRemote reports it.
Result<std::string> RunGitLocal(const std::vector<std::string>& args, const std::string& scratch,
                                std::chrono::milliseconds timeout);

// One commit of a first-parent history, with the paths it changed against
// its first parent (every path for a root commit).
struct LogEntry {
  CommitInfo commit;
  std::vector<std::string> paths;
  bool paths_complete = true;  // false: more changed paths than the limit
};

// A tag and the commit it names; annotated tags have a tagger and a message.
struct TagInfo {
  std::string name;
  std::string commit;  // the commit the tag (peeled) names
  std::string tagger;  // "Name <email>", "" for a lightweight tag
  std::string annotation;
  int64_t created_ms = 0;  // git's creatordate: the tagger's date, else the commit's
};

class Mirror {
 public:
  // The mirror of `url` under `root` (created empty if missing; filled by
  // Fetch). Fetch reaches the remote only where `egress` allows: https://,
  // http:// and ssh remotes (git's other transports refused), the host
  // resolved and checked here and git pinned to that address, redirects not
  // followed. A file:// repository (read in place) needs `egress` to allow
  // file.
  static Result<std::unique_ptr<Mirror>> Open(const std::string& root, const std::string& url,
                                              const EgressPolicy& egress);
  // The repository at `path` (a Mirror's path()), for reading only (a
  // Fetch fails): how a child process reads what its parent's Mirror holds.
  static std::unique_ptr<Mirror> OpenLocal(const std::string& path);
  ~Mirror();
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  const std::string& url() const { return url_; }
  const std::string& path() const { return path_; }

  // Brings every branch and tag (and the remote's HEAD) up to date; removes
  // refs the remote no longer has. An error says what git said, with any
  // credentials removed.
  Status Fetch(const GitCredentials& creds, std::chrono::milliseconds timeout);

  // A branch, tag, full or abbreviated SHA, or HEAD (the remote's default
  // branch), to the commit's full SHA.
  Result<std::string> Resolve(const std::string& revision) const;
  Result<CommitInfo> Commit(const std::string& sha) const;
  // Branch name -> commit SHA, for every branch.
  Result<std::map<std::string, std::string>> Branches() const;
  // Up to `limit` commits from `sha` following first parents (git log
  // --first-parent), newest first, each with its changed paths (at most
  // `path_limit` of them).
  Result<std::vector<LogEntry>> FirstParentLog(const std::string& sha, size_t limit,
                                               size_t path_limit = 10'000) const;
  // Calls `visit` with each commit from `sha` following first parents,
  // newest first, until it returns false or the history ends; each with
  // its changed paths when `with_paths` (else none, and paths_complete).
  Status WalkFirstParent(const std::string& sha, bool with_paths, size_t path_limit,
                         const std::function<bool(LogEntry&)>& visit) const;
  // The commits reachable from `to` and not from `from` (git rev-list
  // from..to), newest first, at most `limit`; with no `from`, `to` alone.
  // Both must be full SHAs of commits the mirror holds.
  Result<std::vector<CommitInfo>> Between(const std::string& from, const std::string& to,
                                          size_t limit) const;
  // Every tag that names a commit (a tag of a tree or blob is skipped).
  Result<std::vector<TagInfo>> Tags() const;

  // The files under `dir` ("." = root) at commit `sha`, whose path (relative
  // to `dir`) `want` accepts; recursive or not. Symlinks are followed inside
  // the repository; one that points outside it is an error, as is a `dir`
  // that leaves the repository or does not exist.
  Result<std::vector<RepoFile>> ReadDir(const std::string& sha, const std::string& dir,
                                        bool recurse,
                                        const std::function<bool(const std::string&)>& want,
                                        const ReadLimits& limits = {}) const;
  // The paths that differ between two commits' trees (added, removed or
  // changed files); nullopt past `limit` paths.
  Result<std::optional<std::vector<std::string>>> ChangedPaths(const std::string& from_sha,
                                                               const std::string& to_sha,
                                                               size_t limit = 10'000) const;
  // True if `dir` is a directory at commit `sha` (false if missing or a file).
  Result<bool> IsDir(const std::string& sha, const std::string& dir) const;
  // Writes the files of commit `sha` into `dir` (created if missing; files
  // there that the commit has are overwritten), with their modes and
  // symbolic links as git would check them out. No .git is written.
  Status Checkout(const std::string& sha, const std::string& dir) const;
  // One file at `sha`; nullopt if it does not exist.
  Result<std::optional<std::string>> ReadFileAt(const std::string& sha, const std::string& path,
                                                const ReadLimits& limits = {}) const;

 private:
  Mirror(std::string url, std::string path, EgressPolicy egress)
      : url_(std::move(url)), path_(std::move(path)), egress_(std::move(egress)) {}
  std::string url_;
  std::string path_;
  EgressPolicy egress_;
  std::mutex fetch_mu_;
};

// The last lines of git's output, for an error, with the credentials masked
// in every form git may print them: raw, base64 (an Authorization: Basic
// header of "user:password", as GIT_TRACE_CURL shows it), URL-encoded.
std::string GitErrorText(std::string output, const GitCredentials& creds);

// Normalises a repository path: "a/./b/../c" -> "a/c"; an error if it leaves
// the root.
Result<std::string> CleanRepoPath(const std::string& path);

}  // namespace strake::gitops
