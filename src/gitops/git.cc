#include "gitops/git.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <git2.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>

#include "base/fs.h"
#include "base/http.h"
#include "base/mask.h"
#include "base/net.h"
#include "base/process.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::gitops {

namespace {

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Trees are what every render walks from the root: a directory of
    // thousands of applications is one large tree, read once and kept.
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, size_t{8} << 20);
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, ssize_t{64} << 20);
  });
}

std::string LastGitError() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

// Owners of libgit2 handles.
template <typename T, void (*Free)(T*)>
struct Handle {
  T* p = nullptr;
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};
using RepoHandle = Handle<git_repository, git_repository_free>;
using ObjectHandle = Handle<git_object, git_object_free>;
using CommitHandle = Handle<git_commit, git_commit_free>;
using TreeHandle = Handle<git_tree, git_tree_free>;
using EntryHandle = Handle<git_tree_entry, git_tree_entry_free>;
using BlobHandle = Handle<git_blob, git_blob_free>;
using OdbHandle = Handle<git_odb, git_odb_free>;
using RefHandle = Handle<git_reference, git_reference_free>;
using BranchIterHandle = Handle<git_branch_iterator, git_branch_iterator_free>;

Result<std::unique_ptr<RepoHandle>> OpenRepo(const std::string& path) {
  InitLibgit2();
  auto repo = std::make_unique<RepoHandle>();
  // Bare (a mirror, a bare repository) or not (a file:// work tree).
  if (git_repository_open_ext(repo->out(), path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) !=
      0)
    return Failf("opening the repository {}: {}", path, LastGitError());
  return repo;
}

// This thread's handle on a mirror, kept so that its object cache (trees,
// commits) serves the next read. Objects a fetch adds are found by
// libgit2's refresh on a miss; refs are read from disk each time.
Result<RepoHandle*> ThreadRepo(const std::string& path) {
  thread_local std::map<std::string, std::unique_ptr<RepoHandle>> repos;
  auto it = repos.find(path);
  if (it != repos.end()) return it->second.get();
  STRAKE_TRY_ASSIGN(repo, OpenRepo(path));
  RepoHandle* raw = repo.get();
  repos[path] = std::move(repo);
  return raw;
}

Result<std::unique_ptr<CommitHandle>> LookupCommit(git_repository* repo, const std::string& sha) {
  git_oid oid;
  if (sha.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, sha.c_str()) != 0)
    return Failf("{}: not a full commit SHA", Quote(sha));
  auto c = std::make_unique<CommitHandle>();
  if (git_commit_lookup(c->out(), repo, &oid) != 0)
    return Failf("commit {}: {}", sha, LastGitError());
  return c;
}

struct Ran {
  int exit_code = 0;
  std::string output;
};

// Runs git with `args`; output (stdout and stderr) is captured through a
// file in `scratch`.
Result<Ran> RunGit(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                   const std::string& scratch, std::chrono::milliseconds timeout) {
  SpawnOptions o;
  // A repository's own hooks and fsmonitor never run: a clone, or a
  // repository-shaped folder inside one, is written by whoever pushed it.
  o.argv = {"git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  for (const std::string& kv : CurrentEnv()) {
    // Our own settings below win; a GIT_DIR or GIT_CONFIG_* of the caller
    // must not redirect the mirror.
    if (StartsWith(kv, "GIT_") || StartsWith(kv, "LC_ALL=")) continue;
    o.env.emplace_back(kv);
  }
  o.env.insert(o.env.end(), {"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false",
                             "SSH_ASKPASS=/bin/false", "LC_ALL=C"});
  o.env.insert(o.env.end(), extra_env.begin(), extra_env.end());
  std::string out_path = PathJoin(scratch, "git.out");
  int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Failf("{}: {}", out_path, std::strerror(errno));
  o.stdout_fd = o.stderr_fd = fd;
  auto proc = Spawn(o);
  ::close(fd);
  if (!proc) return Failf("running git: {}", proc.error().message);
  auto w = WaitProcess(*proc, timeout);
  if (!w || w->outcome != WaitOutcome::kExited) {
    KillAndReap(*proc);
    return Failf("git {} timed out after {} s", args.empty() ? "" : args[0],
                 std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
  }
  Ran r;
  r.exit_code = w->exit_code;
  r.output = ReadFile(out_path, 1 << 20).value_or("");
  (void)::unlink(out_path.c_str());
  return r;
}

}  // namespace

std::string GitErrorText(std::string output, const GitCredentials& creds) {
  SecretMasker masker;
  for (const std::string* secret : {&creds.password, &creds.ssh_private_key}) {
    if (secret->empty()) continue;
    ReplaceAll(output, *secret, "<redacted>");  // raw, however short
    (void)masker.Add(*secret);                  // base64 at any alignment, URL-encoded, lines
  }
  // "user:password" as an Authorization: Basic header carries it.
  if (!creds.password.empty()) (void)masker.Add(creds.username + ":" + creds.password);
  output = masker.Mask(output);
  std::vector<std::string> lines;
  for (auto& l : Split(output, '\n')) {
    if (!Trim(l).empty()) lines.emplace_back(Trim(l));
  }
  if (lines.size() > 4) lines.erase(lines.begin(), lines.end() - 4);
  return Join(lines, "; ");
}

Result<std::string> CleanRepoPath(const std::string& path) {
  std::vector<std::string> out;
  if (!path.empty() && path[0] == '/') return Failf("{} is not relative", Quote(path));
  for (const auto& part : Split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (out.empty()) return Failf("{} leaves the repository", Quote(path));
      out.pop_back();
      continue;
    }
    out.push_back(part);
  }
  return out.empty() ? std::string(".") : Join(out, "/");
}

std::unique_ptr<Mirror> Mirror::OpenLocal(const std::string& path) {
  return std::unique_ptr<Mirror>(new Mirror("", path, EgressPolicy()));
}

Result<std::unique_ptr<Mirror>> Mirror::Open(const std::string& root, const std::string& url,
                                             const EgressPolicy& egress) {
  if (StartsWith(url, "file://")) {
    if (!egress.allows_file()) {
      return Failf(ErrorCode::kForbidden,
                   "{}: file:// repositories are refused by this server's egress policy "
                   "(strake serve --egress-allow file allows them)",
                   url);
    }
    // Already on this machine: read in place, nothing to copy.
    return std::unique_ptr<Mirror>(new Mirror(url, http::UrlDecode(url.substr(7)), egress));
  }
  std::string dir = PathJoin(root, Sha256Hex(url).substr(0, 24) + ".git");
  STRAKE_TRY(MakeDirs(root, 0700));
  auto m = std::unique_ptr<Mirror>(new Mirror(url, dir, egress));
  if (!PathExists(PathJoin(dir, "HEAD"))) {
    auto r = RunGit({"init", "--quiet", "--bare", dir}, {}, root, std::chrono::seconds(30));
    if (!r) return tl::unexpected(r.error());
    if (r->exit_code != 0) return Failf("git init {}: {}", dir, GitErrorText(r->output, {}));
  }
  return m;
}

Mirror::~Mirror() = default;

namespace {

// A repository on this machine is read in place: "fetching" it is seeing
// that it is still there and readable.
Status CheckLocal(const std::string& path, const std::string& url) {
  if (!PathExists(path)) return Failf("fetching {}: no such repository", url);
  auto repo = OpenRepo(path);
  if (!repo) return Failf("fetching {}: {}", url, repo.error().message);
  return Ok();
}

// A remote's transport and host, as git reads its URL.
struct Remote {
  bool ssh = false;
  std::string host;
  uint16_t port = 0;
};

Result<Remote> ParseRemote(const std::string& url) {
  Remote r;
  std::string authority;
  if (url.find("::") != std::string::npos) {
    // git's <transport>::<address> (ext::, fd::, remote helpers): never.
    return Failf(ErrorCode::kForbidden, "{}: git remote helpers are not allowed",
                 Quote(RedactUrl(url)));
  }
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) {
    // scp-like: [user@]host:path
    size_t colon = url.find(':');
    if (colon == std::string::npos || url.find('/') < colon)
      return Failf("{} is not a git URL", Quote(RedactUrl(url)));
    r.ssh = true;
    r.port = 22;
    authority = url.substr(0, colon);
  } else {
    std::string s = url.substr(0, scheme);
    if (s == "http" || s == "https") {
      r.port = s == "https" ? 443 : 80;
    } else if (s == "ssh" || s == "git+ssh" || s == "ssh+git") {
      r.ssh = true;
      r.port = 22;
    } else {
      return Failf(ErrorCode::kForbidden,
                   "{}: only https://, http://, ssh:// and file:// repositories are fetched",
                   Quote(RedactUrl(url)));
    }
    authority = url.substr(scheme + 3, url.find('/', scheme + 3) - scheme - 3);
  }
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  if (StartsWith(authority, "["))
    return Failf("{}: IPv6 remotes are not supported", Quote(RedactUrl(url)));
  size_t colon = authority.find(':');
  if (colon != std::string::npos) {
    char* end = nullptr;
    long p = std::strtol(authority.c_str() + colon + 1, &end, 10);
    bool valid = *end == '\0' && p > 0 && p <= 65535;
    // An http(s) port must be one; ssh's default stands otherwise.
    if (!valid && !r.ssh) return Failf("{}: bad port", Quote(RedactUrl(url)));
    if (valid) r.port = static_cast<uint16_t>(p);
  }
  r.host = authority.substr(0, colon);
  if (r.host.empty()) return Failf("{}: no host", Quote(RedactUrl(url)));
  return r;
}

// Single quotes for a word in GIT_SSH_COMMAND (run by the shell).
std::string ShellWord(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The environment that lets git reach the remote only as the egress policy
// allows: the host resolved and checked here, git pinned to that address
// (curl's resolve list, ssh's HostName), no redirects, no other transport.
// With the credentials' Authorization header, and `ssh_key` (a file) if set.
Result<std::vector<std::string>> FetchEnv(const std::string& url, const EgressPolicy& egress,
                                          const GitCredentials& creds, const std::string& ssh_key) {
  STRAKE_TRY_ASSIGN(remote, ParseRemote(url));
  STRAKE_TRY_ASSIGN(addr, ResolveTcp(remote.host, remote.port, &egress));
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  std::vector<std::pair<std::string, std::string>> config;
  std::vector<std::string> env = {"GIT_PROTOCOL_FROM_USER=0"};
  if (remote.ssh) {
    env.emplace_back("GIT_ALLOW_PROTOCOL=ssh");
    std::string ssh = fmt::format("ssh -o HostName={} -o BatchMode=yes", ip);
    if (!ssh_key.empty()) ssh += " -i " + ShellWord(ssh_key) + " -o IdentitiesOnly=yes";
    env.push_back("GIT_SSH_COMMAND=" + ssh + " -o StrictHostKeyChecking=accept-new");
  } else {
    env.emplace_back("GIT_ALLOW_PROTOCOL=http:https");
    config.emplace_back("http.followRedirects", "false");
    config.emplace_back("http.curloptResolve",
                        fmt::format("{}:{}:{}", remote.host, remote.port, ip));
  }
  if (!creds.username.empty() || !creds.password.empty()) {
    config.emplace_back(
        "http.extraHeader",
        "Authorization: Basic " + Base64Encode(creds.username + ":" + creds.password));
  }
  env.push_back(fmt::format("GIT_CONFIG_COUNT={}", config.size()));
  for (size_t i = 0; i < config.size(); ++i) {
    env.push_back(fmt::format("GIT_CONFIG_KEY_{}={}", i, config[i].first));
    env.push_back(fmt::format("GIT_CONFIG_VALUE_{}={}", i, config[i].second));
  }
  return env;
}

}  // namespace

Result<std::string> RunGitRemote(const std::string& url, const std::vector<std::string>& args,
                                 const EgressPolicy& egress, const GitCredentials& creds,
                                 const std::string& scratch, std::chrono::milliseconds timeout) {
  std::vector<std::string> env;
  if (StartsWith(url, "file://")) {
    if (!egress.allows_file()) {
      return Failf(
          "{}: file:// repositories are refused by this server's egress policy "
          "(strake serve --egress-allow file allows them)",
          url);
    }
    env = {"GIT_ALLOW_PROTOCOL=file", "GIT_PROTOCOL_FROM_USER=0"};
  } else {
    auto fetch_env = FetchEnv(url, egress, creds, "");
    if (!fetch_env) {
      return Failf(fetch_env.error().code, "{}: {}", RedactUrl(url), fetch_env.error().message);
    }
    env = std::move(*fetch_env);
  }
  STRAKE_TRY_ASSIGN(ran, RunGit(args, env, scratch, timeout));
  if (ran.exit_code != 0) {
    return Failf("git {} {}: {}", args.empty() ? "" : args[0], RedactUrl(url),
                 GitErrorText(ran.output, creds));
  }
  return ran.output;
}

Result<std::string> RunGitLocal(const std::vector<std::string>& args, const std::string& scratch,
                                std::chrono::milliseconds timeout) {
  STRAKE_TRY_ASSIGN(ran, RunGit(args, {}, scratch, timeout));
  if (ran.exit_code != 0) {
    std::string what;
    for (const auto& a : args) {
      if (a != "-C" && !StartsWith(a, "/")) {
        what = a;
        break;
      }
    }
    return Failf("git {}: {}", what, GitErrorText(ran.output, GitCredentials{}));
  }
  return ran.output;
}

Status Mirror::Fetch(const GitCredentials& creds, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(fetch_mu_);
  if (url_.empty()) return Failf("{}: opened for reading only", path_);
  if (StartsWith(url_, "file://")) return CheckLocal(path_, url_);
  std::string key_dir;
  std::string key;
  if (!creds.ssh_private_key.empty()) {
    key_dir = path_ + ".key";
    STRAKE_TRY(MakeDirs(key_dir, 0700));
    key = PathJoin(key_dir, "id");
    STRAKE_TRY(WriteFile(key, creds.ssh_private_key + "\n", 0600));
  }
  auto env = FetchEnv(url_, egress_, creds, key);
  if (!env) {
    if (!key_dir.empty()) (void)RemoveAll(key_dir);
    return Failf(env.error().code, "fetching {}: {}", RedactUrl(url_), env.error().message);
  }
  auto cleanup = [&] {
    if (!key_dir.empty()) (void)RemoveAll(key_dir);
  };
  auto fetched = RunGit({"-C", path_, "fetch", "--quiet", "--prune", "--force", "--no-tags", "--",
                         url_, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
                        *env, path_, timeout);
  if (!fetched || fetched->exit_code != 0) {
    cleanup();
    if (!fetched) return tl::unexpected(fetched.error());
    return Failf("fetching {}: {}", RedactUrl(url_), GitErrorText(fetched->output, creds));
  }
  // The remote's default branch becomes the mirror's HEAD.
  auto head =
      RunGit({"-C", path_, "ls-remote", "--symref", "--", url_, "HEAD"}, *env, path_, timeout);
  cleanup();
  if (head && head->exit_code == 0) {
    for (const auto& line : Split(head->output, '\n')) {
      if (!StartsWith(line, "ref: ")) continue;
      std::string ref = line.substr(5, line.find('\t') - 5);
      if (!StartsWith(ref, "refs/heads/")) continue;
      auto set =
          RunGit({"-C", path_, "symbolic-ref", "HEAD", ref}, {}, path_, std::chrono::seconds(30));
      if (!set || set->exit_code != 0) return Failf("setting HEAD of {}", path_);
    }
  }
  return Ok();
}

Result<std::string> Mirror::Resolve(const std::string& revision) const {
  if (revision.empty() || revision[0] == '-' ||
      revision.find_first_of(":\n ") != std::string::npos) {
    return Failf("{} is not a revision", Quote(revision));
  }
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  ObjectHandle obj;
  if (git_revparse_single(obj.out(), repo->get(), revision.c_str()) != 0) {
    return Failf("revision {} not found in {}", Quote(revision), RedactUrl(url_));
  }
  ObjectHandle commit;
  if (git_object_peel(commit.out(), obj.get(), GIT_OBJECT_COMMIT) != 0)
    return Failf("revision {} is not a commit", Quote(revision));
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, git_object_id(commit.get()));
  return std::string(hex);
}

namespace {

void FillCommitInfo(git_commit* c, CommitInfo& info) {
  if (const git_signature* a = git_commit_author(c)) {
    if (a->name) info.author = a->name;
    if (a->email) info.author_email = a->email;
  }
  if (const git_signature* m = git_commit_committer(c)) {
    if (m->name) info.committer = m->name;
    if (m->email) info.committer_email = m->email;
  }
  if (const char* summary = git_commit_summary(c)) info.message = summary;
  info.time_ms = static_cast<int64_t>(git_commit_time(c)) * 1000;
}

std::string OidHex(const git_oid* oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, oid);
  return hex;
}

}  // namespace

Result<CommitInfo> Mirror::Commit(const std::string& sha) const {
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  STRAKE_TRY_ASSIGN(c, LookupCommit(repo->get(), sha));
  CommitInfo info;
  info.sha = sha;
  FillCommitInfo(c->get(), info);
  return info;
}

Result<std::map<std::string, std::string>> Mirror::Branches() const {
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  BranchIterHandle it;
  if (git_branch_iterator_new(it.out(), repo->get(), GIT_BRANCH_LOCAL) != 0)
    return Failf("listing branches: {}", LastGitError());
  std::map<std::string, std::string> out;
  git_branch_t type;
  while (true) {
    RefHandle ref;
    if (git_branch_next(ref.out(), &type, it.get()) != 0) break;
    const char* name = nullptr;
    if (git_branch_name(&name, ref.get()) != 0 || !name) continue;
    const git_oid* oid = git_reference_target(ref.get());
    if (!oid) continue;
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, oid);
    out[name] = hex;
  }
  return out;
}

namespace {

// Reads trees of one commit, following symlinks inside the repository.
class TreeReader {
 public:
  TreeReader(git_repository* repo, git_tree* root, const ReadLimits& limits)
      : repo_(repo), root_(root), limits_(limits) {}

  // The blob at `path` (following symlinks), or nullopt if nothing is there;
  // a directory there is an error.
  Result<std::optional<std::string>> Blob(std::string path) {
    for (int hop = 0; hop <= limits_.max_symlink_hops; ++hop) {
      EntryHandle e;
      if (git_tree_entry_bypath(e.out(), root_, path.c_str()) != 0) return std::nullopt;
      if (git_tree_entry_type(e.get()) != GIT_OBJECT_BLOB)
        return Failf("{} is a directory, not a file", path);
      STRAKE_TRY_ASSIGN(data, Read(git_tree_entry_id(e.get()), path));
      if (git_tree_entry_filemode(e.get()) != GIT_FILEMODE_LINK) return {data};
      STRAKE_TRY_ASSIGN(target, Follow(path, data));
      path = target;
    }
    return Failf("{}: more than {} symbolic links in a row", path, limits_.max_symlink_hops);
  }

  Status Walk(git_tree* tree, const std::string& dir, const std::string& rel, bool recurse,
              const std::function<bool(const std::string&)>& want, std::vector<RepoFile>& out) {
    size_t n = git_tree_entrycount(tree);
    for (size_t i = 0; i < n; ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(tree, i);
      std::string name = git_tree_entry_name(e);
      std::string rel_path = rel.empty() ? name : rel;
      if (!rel.empty()) rel_path.append("/").append(name);
      std::string full = dir == "." ? rel_path : dir;
      if (dir != ".") full.append("/").append(rel_path);
      git_object_t type = git_tree_entry_type(e);
      if (type == GIT_OBJECT_TREE) {
        if (!recurse) continue;
        TreeHandle sub;
        if (git_tree_lookup(sub.out(), repo_, git_tree_entry_id(e)) != 0)
          return Failf("{}: {}", full, LastGitError());
        STRAKE_TRY(Walk(sub.get(), dir, rel_path, recurse, want, out));
        continue;
      }
      if (type != GIT_OBJECT_BLOB) continue;  // a submodule
      if (!want(rel_path)) continue;
      if (out.size() >= limits_.max_files)
        return Failf("more than {} files under {}", limits_.max_files, dir);
      std::string data;
      if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
        STRAKE_TRY_ASSIGN(link, Read(git_tree_entry_id(e), full));
        STRAKE_TRY_ASSIGN(target, Follow(full, link));
        auto blob = Blob(target);
        if (!blob) return tl::unexpected(blob.error());
        if (!*blob) return Failf("{}: symbolic link to {} which does not exist", full, target);
        data = std::move(**blob);
      } else {
        STRAKE_TRY_ASSIGN(d, Read(git_tree_entry_id(e), full));
        data = std::move(d);
      }
      out.push_back({rel_path, std::move(data)});
    }
    return Ok();
  }

 private:
  // The size comes from the object's header, which costs a few bytes of
  // inflation: a blob over the limit is refused before it is read (blobs
  // compress, so a small push can hold gigabytes).
  Result<std::string> Read(const git_oid* id, const std::string& path) {
    if (!odb_.get() && git_repository_odb(odb_.out(), repo_) != 0)
      return Failf("{}: {}", path, LastGitError());
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_read_header(&size, &type, odb_.get(), id) != 0)
      return Failf("{}: {}", path, LastGitError());
    if (size > limits_.max_file_bytes) {
      return Failf(ErrorCode::kTooLarge, "{} is {} bytes, over the limit of {}", path, size,
                   limits_.max_file_bytes);
    }
    if (total_ + size > limits_.max_total_bytes) {
      return Failf(ErrorCode::kTooLarge, "the files read pass the limit of {} bytes",
                   limits_.max_total_bytes);
    }
    BlobHandle b;
    if (git_blob_lookup(b.out(), repo_, id) != 0) return Failf("{}: {}", path, LastGitError());
    size = static_cast<size_t>(git_blob_rawsize(b.get()));
    total_ += size;
    return std::string(static_cast<const char*>(git_blob_rawcontent(b.get())), size);
  }

  // The repository path a link at `link_path` with content `target` names.
  static Result<std::string> Follow(const std::string& link_path, const std::string& target) {
    if (!target.empty() && target[0] == '/') {
      return Failf("{} is a symbolic link to {}, outside the repository", link_path, Quote(target));
    }
    auto slash = link_path.rfind('/');
    std::string base = slash == std::string::npos ? "" : link_path.substr(0, slash + 1);
    auto clean = CleanRepoPath(base + target);
    if (!clean) {
      return Failf("{} is a symbolic link to {}, outside the repository", link_path, Quote(target));
    }
    return *clean;
  }

  git_repository* repo_;
  git_tree* root_;
  const ReadLimits& limits_;
  OdbHandle odb_;  // the repository's object database, opened on first read
  size_t total_ = 0;
};

}  // namespace

Result<std::vector<RepoFile>> Mirror::ReadDir(const std::string& sha, const std::string& dir,
                                              bool recurse,
                                              const std::function<bool(const std::string&)>& want,
                                              const ReadLimits& limits) const {
  STRAKE_TRY_ASSIGN(clean, CleanRepoPath(dir));
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  STRAKE_TRY_ASSIGN(c, LookupCommit(repo->get(), sha));
  TreeHandle root;
  if (git_commit_tree(root.out(), c->get()) != 0) return Failf("tree of {}", sha);
  TreeHandle sub;
  git_tree* tree = root.get();
  if (clean != ".") {
    EntryHandle e;
    if (git_tree_entry_bypath(e.out(), root.get(), clean.c_str()) != 0)
      return Failf("path {} does not exist at {}", Quote(clean), sha.substr(0, 12));
    if (git_tree_entry_filemode(e.get()) == GIT_FILEMODE_LINK)
      return Failf("path {} is a symbolic link; name the directory itself", Quote(clean));
    if (git_tree_entry_type(e.get()) != GIT_OBJECT_TREE)
      return Failf("path {} is not a directory", Quote(clean));
    if (git_tree_lookup(sub.out(), repo->get(), git_tree_entry_id(e.get())) != 0)
      return Failf("{}: {}", clean, LastGitError());
    tree = sub.get();
  }
  TreeReader reader(repo->get(), root.get(), limits);
  std::vector<RepoFile> out;
  STRAKE_TRY(reader.Walk(tree, clean, "", recurse, want, out));
  return out;
}

namespace {

// The paths under `prefix` that differ between trees a and b (either may be
// null: everything under the other is added or removed). Entries are sorted
// by name in both, so one merge pass finds them; a subtree whose id did not
// change is skipped whole, which makes a one-file commit in a tree of
// thousands of directories cost a few hundred comparisons. False past `limit`.
bool DiffTrees(git_repository* repo, const git_tree* a, const git_tree* b,
               const std::string& prefix, size_t limit, std::vector<std::string>& out) {
  size_t na = a ? git_tree_entrycount(a) : 0, nb = b ? git_tree_entrycount(b) : 0;
  size_t i = 0, j = 0;
  auto subtree = [&](const git_tree_entry* e, TreeHandle& h) -> const git_tree* {
    if (!e || git_tree_entry_type(e) != GIT_OBJECT_TREE) return nullptr;
    if (git_tree_lookup(h.out(), repo, git_tree_entry_id(e)) != 0) return nullptr;
    return h.get();
  };
  // One side's entry (ea, eb or both, same name) that differs.
  auto changed = [&](const git_tree_entry* ea, const git_tree_entry* eb) {
    const char* name = git_tree_entry_name(ea ? ea : eb);
    std::string path = prefix.empty() ? name : prefix + "/" + name;
    TreeHandle ha, hb;
    const git_tree* ta = subtree(ea, ha);
    const git_tree* tb = subtree(eb, hb);
    if (ta || tb) {
      if (!DiffTrees(repo, ta, tb, path, limit, out)) return false;
      // A file that became a directory (or back) is a change of that path too.
      bool file_a = ea && !ta, file_b = eb && !tb;
      if (file_a || file_b) out.push_back(path);
    } else {
      out.push_back(path);
    }
    return out.size() <= limit;
  };
  while (i < na || j < nb) {
    const git_tree_entry* ea = i < na ? git_tree_entry_byindex(a, i) : nullptr;
    const git_tree_entry* eb = j < nb ? git_tree_entry_byindex(b, j) : nullptr;
    // git's own order (a directory sorts as if its name ended in '/').
    int order = !ea ? 1 : !eb ? -1 : git_tree_entry_cmp(ea, eb);
    if (order < 0) {
      if (!changed(ea, nullptr)) return false;
      ++i;
    } else if (order > 0) {
      if (!changed(nullptr, eb)) return false;
      ++j;
    } else {
      bool same = git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)) &&
                  git_tree_entry_filemode(ea) == git_tree_entry_filemode(eb);
      if (!same && !changed(ea, eb)) return false;
      ++i;
      ++j;
    }
  }
  return true;
}

}  // namespace

Result<std::optional<std::vector<std::string>>> Mirror::ChangedPaths(const std::string& from_sha,
                                                                     const std::string& to_sha,
                                                                     size_t limit) const {
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  STRAKE_TRY_ASSIGN(from, LookupCommit(repo->get(), from_sha));
  STRAKE_TRY_ASSIGN(to, LookupCommit(repo->get(), to_sha));
  TreeHandle a, b;
  if (git_commit_tree(a.out(), from->get()) != 0 || git_commit_tree(b.out(), to->get()) != 0)
    return Failf("trees of {}..{}", from_sha, to_sha);
  std::vector<std::string> out;
  if (!DiffTrees(repo->get(), a.get(), b.get(), "", limit, out))
    return std::optional<std::vector<std::string>>();
  return std::optional<std::vector<std::string>>(std::move(out));
}

Status Mirror::WalkFirstParent(const std::string& sha, bool with_paths, size_t path_limit,
                               const std::function<bool(LogEntry&)>& visit) const {
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  std::string next = sha;
  while (!next.empty()) {
    STRAKE_TRY_ASSIGN(c, LookupCommit(repo->get(), next));
    LogEntry e;
    e.commit.sha = next;
    FillCommitInfo(c->get(), e.commit);
    TreeHandle tree, parent_tree;
    CommitHandle parent;
    next.clear();
    if (git_commit_parentcount(c->get()) > 0) {
      if (git_commit_parent(parent.out(), c->get(), 0) != 0)
        return Failf("the first parent of {}: {}", e.commit.sha, LastGitError());
      next = OidHex(git_commit_id(parent.get()));
    }
    if (with_paths) {
      if (parent.get() && git_commit_tree(parent_tree.out(), parent.get()) != 0)
        return Failf("tree of {}", next);
      if (git_commit_tree(tree.out(), c->get()) != 0) return Failf("tree of {}", e.commit.sha);
      e.paths_complete =
          DiffTrees(repo->get(), parent_tree.get(), tree.get(), "", path_limit, e.paths);
    }
    if (!visit(e)) break;
  }
  return Ok();
}

Result<std::vector<CommitInfo>> Mirror::Between(const std::string& from, const std::string& to,
                                                size_t limit) const {
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  STRAKE_TRY_ASSIGN(head, LookupCommit(repo->get(), to));
  std::vector<CommitInfo> out;
  if (from.empty()) {
    CommitInfo& info = out.emplace_back();
    info.sha = to;
    FillCommitInfo(head->get(), info);
    return out;
  }
  STRAKE_TRY_ASSIGN(base, LookupCommit(repo->get(), from));
  using WalkHandle = Handle<git_revwalk, git_revwalk_free>;
  WalkHandle walk;
  if (git_revwalk_new(walk.out(), repo->get()) != 0 ||
      git_revwalk_sorting(walk.get(), GIT_SORT_TIME) != 0 ||
      git_revwalk_push(walk.get(), git_commit_id(head->get())) != 0 ||
      git_revwalk_hide(walk.get(), git_commit_id(base->get())) != 0)
    return Failf("walking {}..{}: {}", from, to, LastGitError());
  git_oid oid;
  int rc = 0;
  while (out.size() < limit && (rc = git_revwalk_next(&oid, walk.get())) == 0) {
    CommitHandle c;
    if (git_commit_lookup(c.out(), repo->get(), &oid) != 0)
      return Failf("commit {}: {}", OidHex(&oid), LastGitError());
    CommitInfo& info = out.emplace_back();
    info.sha = OidHex(&oid);
    FillCommitInfo(c.get(), info);
  }
  if (rc != 0 && rc != GIT_ITEROVER) return Failf("walking {}..{}: {}", from, to, LastGitError());
  return out;
}

Result<std::vector<LogEntry>> Mirror::FirstParentLog(const std::string& sha, size_t limit,
                                                     size_t path_limit) const {
  std::vector<LogEntry> out;
  if (limit == 0) return out;
  STRAKE_TRY(WalkFirstParent(sha, true, path_limit, [&](LogEntry& e) {
    out.push_back(std::move(e));
    return out.size() < limit;
  }));
  return out;
}

namespace {

struct TagWalk {
  git_repository* repo;
  std::vector<TagInfo> tags;
};

int OnTag(const char* ref_name, git_oid* oid, void* payload) {
  auto& walk = *static_cast<TagWalk*>(payload);
  ObjectHandle obj;
  if (git_object_lookup(obj.out(), walk.repo, oid, GIT_OBJECT_ANY) != 0) return 0;
  TagInfo t;
  t.name = std::string(ref_name).substr(std::string_view("refs/tags/").size());
  if (git_object_type(obj.get()) == GIT_OBJECT_TAG) {
    const auto* tag = reinterpret_cast<const git_tag*>(obj.get());
    if (const git_signature* s = git_tag_tagger(tag)) {
      t.tagger = fmt::format("{} <{}>", s->name ? s->name : "", s->email ? s->email : "");
      t.created_ms = static_cast<int64_t>(s->when.time) * 1000;
    }
    if (const char* m = git_tag_message(tag)) t.annotation = std::string(Trim(m));
  }
  ObjectHandle peeled;
  if (git_object_peel(peeled.out(), obj.get(), GIT_OBJECT_COMMIT) != 0) return 0;
  t.commit = OidHex(git_object_id(peeled.get()));
  if (t.tagger.empty()) {
    t.created_ms =
        static_cast<int64_t>(git_commit_time(reinterpret_cast<const git_commit*>(peeled.get()))) *
        1000;
  }
  walk.tags.push_back(std::move(t));
  return 0;
}

}  // namespace

Result<std::vector<TagInfo>> Mirror::Tags() const {
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  TagWalk walk{repo->get(), {}};
  if (git_tag_foreach(repo->get(), OnTag, &walk) != 0)
    return Failf("listing tags: {}", LastGitError());
  return std::move(walk.tags);
}

Result<std::optional<std::string>> Mirror::ReadFileAt(const std::string& sha,
                                                      const std::string& path,
                                                      const ReadLimits& limits) const {
  STRAKE_TRY_ASSIGN(clean, CleanRepoPath(path));
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  STRAKE_TRY_ASSIGN(c, LookupCommit(repo->get(), sha));
  TreeHandle root;
  if (git_commit_tree(root.out(), c->get()) != 0) return Failf("tree of {}", sha);
  TreeReader reader(repo->get(), root.get(), limits);
  return reader.Blob(clean);
}

Result<bool> Mirror::IsDir(const std::string& sha, const std::string& dir) const {
  STRAKE_TRY_ASSIGN(clean, CleanRepoPath(dir));
  if (clean == ".") return true;
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  STRAKE_TRY_ASSIGN(c, LookupCommit(repo->get(), sha));
  TreeHandle root;
  if (git_commit_tree(root.out(), c->get()) != 0) return Failf("tree of {}", sha);
  EntryHandle e;
  if (git_tree_entry_bypath(e.out(), root.get(), clean.c_str()) != 0) return false;
  return git_tree_entry_type(e.get()) == GIT_OBJECT_TREE;
}

Status Mirror::Checkout(const std::string& sha, const std::string& dir) const {
  STRAKE_TRY_ASSIGN(repo, ThreadRepo(path_));
  STRAKE_TRY_ASSIGN(c, LookupCommit(repo->get(), sha));
  STRAKE_TRY(MakeDirs(dir, 0755));
  git_checkout_options opts;
  git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
  // Into a directory of its own: the repository's index and work tree (a
  // file:// repository is read in place) are never touched.
  opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
  opts.target_directory = dir.c_str();
  opts.disable_filters = 1;
  if (git_checkout_tree(repo->get(), reinterpret_cast<const git_object*>(c->get()), &opts) != 0)
    return Failf("check out {} into {}: {}", sha.substr(0, 12), dir, LastGitError());
  return Ok();
}

}  // namespace strake::gitops
