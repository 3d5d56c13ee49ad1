#include "delivery/git_steps.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include "base/fs.h"
#include "base/net.h"
#include "base/strings.h"
#include "delivery/step_config.h"

namespace strake::delivery {

namespace {

constexpr std::chrono::minutes kGitTimeout{5};

Result<std::string> Head(const std::string& dir, const std::string& scratch) {
  STRAKE_TRY_ASSIGN(out,
                    gitops::RunGitLocal({"-C", dir, "rev-parse", "HEAD"}, scratch, kGitTimeout));
  return std::string(Trim(out));
}

class GitClone : public StepRunner {
 public:
  GitClone(EgressPolicy egress, GitCredentialsFor creds)
      : egress_(std::move(egress)), creds_(std::move(creds)) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto done = Clone(ctx);
    if (!done) return ErroredStep(done.error().message);
    StepOutcome out;
    out.output = {{"commits", *done}};
    return out;
  }

 private:
  struct Author {
    std::string name = "Kargo";
    std::string email = "no-reply@kargo.io";
  };

  static Result<Author> AuthorOf(const Json& c) {
    Author a;
    if (!c.contains("author")) return a;
    STRAKE_TRY(NotYet(c["author"], {"signingKey"}, "config.author."));
    STRAKE_TRY_ASSIGN(n, Text(c["author"], "name"));
    STRAKE_TRY_ASSIGN(e, Text(c["author"], "email"));
    if (!n.empty()) a.name = n;
    if (!e.empty()) a.email = e;
    return a;
  }

  Result<Json> Clone(const StepContext& ctx) {
    const Json& c = ctx.config;
    STRAKE_TRY_ASSIGN(url, RepoUrlField(c));
    STRAKE_TRY(NotYet(c, {"insecureSkipTLSVerify", "blobless", "recurseSubmodules"}, "config."));
    STRAKE_TRY_ASSIGN(author, AuthorOf(c));
    const Json checkouts = c.value("checkout", Json::array());
    if (!checkouts.is_array() || checkouts.empty())
      return Fail("config.checkout: at least one checkout is required");
    Json commits = Json::object();
    for (size_t i = 0; i < checkouts.size(); ++i) {
      const Json& co = checkouts[i];
      STRAKE_TRY_ASSIGN(head,
                        Checkout(ctx, url, co, fmt::format("config.checkout[{}].", i), author));
      std::string key = co.value("as", "");
      if (key.empty()) key = co.value("path", "");
      commits[key] = head;
    }
    return commits;
  }

  // One checkout into its path, from an empty directory (a run again after
  // a crash starts from nothing); the HEAD checked out ("" for a new
  // orphan branch).
  Result<std::string> Checkout(const StepContext& ctx, const std::string& url, const Json& co,
                               const std::string& at, const Author& author) {
    STRAKE_TRY(NotYet(co, {"sparse", "fromFreight", "fromOrigin"}, at));
    STRAKE_TRY_ASSIGN(dir, WorkPath(ctx, co, "path"));
    STRAKE_TRY_ASSIGN(branch, Text(co, "branch"));
    STRAKE_TRY_ASSIGN(tag, Text(co, "tag"));
    STRAKE_TRY_ASSIGN(commit, Text(co, "commit"));
    int refs = (branch.empty() ? 0 : 1) + (tag.empty() ? 0 : 1) + (commit.empty() ? 0 : 1);
    if (refs > 1) return Failf("{}branch, tag and commit are mutually exclusive", at);
    STRAKE_TRY(RemoveAll(dir));
    STRAKE_TRY(MakeDirs(dir));
    const std::string& scratch = ctx.work_dir;
    const auto creds = creds_(ctx.project, url);
    bool orphan = false;
    if (!branch.empty() && co.value("create", false)) {
      STRAKE_TRY_ASSIGN(
          heads, gitops::RunGitRemote(url, {"ls-remote", "--heads", url, "refs/heads/" + branch},
                                      egress_, creds, scratch, kGitTimeout));
      orphan = Trim(heads).empty();
    }
    std::vector<std::string> clone = {"clone", "--quiet"};
    const std::string ref = !branch.empty() ? branch : tag;
    if (!ref.empty() && !orphan) clone.insert(clone.end(), {"--branch", ref});
    clone.insert(clone.end(), {"--", url, dir});
    STRAKE_TRY(gitops::RunGitRemote(url, clone, egress_, creds, scratch, kGitTimeout));
    std::vector<std::vector<std::string>> local;
    if (orphan) {
      local.push_back({"-C", dir, "checkout", "--quiet", "--orphan", branch});
      local.push_back({"-C", dir, "rm", "-r", "-f", "--quiet", "--ignore-unmatch", "."});
    }
    if (!commit.empty()) local.push_back({"-C", dir, "checkout", "--quiet", "--detach", commit});
    local.push_back({"-C", dir, "config", "user.name", author.name});
    local.push_back({"-C", dir, "config", "user.email", author.email});
    for (const auto& args : local) STRAKE_TRY(gitops::RunGitLocal(args, scratch, kGitTimeout));
    if (orphan) return std::string();
    return Head(dir, scratch);
  }

  EgressPolicy egress_;
  GitCredentialsFor creds_;
};

class GitClear : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto dir = WorkPath(ctx, ctx.config, "path");
    if (!dir) return ErroredStep(dir.error().message, true);
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(*dir, ec))
      names.push_back(e.path().filename().string());
    if (ec) return ErroredStep(fmt::format("{}: {}", *dir, ec.message()));
    for (const auto& n : names) {
      if (n == ".git") continue;
      if (auto gone = RemoveAll(PathJoin(*dir, n)); !gone) return ErroredStep(gone.error().message);
    }
    return StepOutcome{};
  }
};

// Kargo's file-write: contents to a file of the working directory,
// opened beneath it (no link leads out), with safe permissions.
class FileWrite : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto wrote = Write(ctx);
    if (!wrote) return ErroredStep(wrote.error().message, true);
    return StepOutcome{};
  }

 private:
  static Result<int> Mode(const Json& config) {
    STRAKE_TRY_ASSIGN(text, Text(config, "permissions"));
    if (text.empty()) return 0600;
    int mode = 0;
    for (char c : text) {
      if (c < '0' || c > '7' || mode > 07777)
        return Failf("config.permissions: {} is not octal", Quote(text));
      mode = mode * 8 + (c - '0');
    }
    if ((mode & 0111) != 0 || (mode & 07000) != 0 || (mode & 0002) != 0) {
      return Failf(
          "config.permissions: {} is refused: no executable, special or world-writable "
          "modes",
          Quote(text));
    }
    return mode;
  }

  static Status Write(const StepContext& ctx) {
    STRAKE_TRY_ASSIGN(path, WorkPath(ctx, ctx.config, "path"));
    if (!ctx.config.contains("contents") || !ctx.config["contents"].is_string())
      return Fail("config.contents is required, a string");
    const std::string contents = ctx.config["contents"];
    STRAKE_TRY_ASSIGN(mode, Mode(ctx.config));
    const bool overwrite = ctx.config.value("overwrite", false);
    size_t slash = path.rfind('/');
    const std::string dir = path.substr(0, slash), leaf = path.substr(slash + 1);
    auto existing = ReadFileBeneath(dir, leaf, 64u << 20);
    if (existing && !overwrite) {
      // The same contents again (a run after a crash): done already.
      if (*existing == contents) return Ok();
      return Failf("config.path: {} exists and overwrite is false",
                   Quote(ctx.config.value("path", "")));
    }
    STRAKE_TRY_ASSIGN(fd, OpenBeneath(dir, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode));
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0)
      return Failf("{}: {}", path, std::strerror(errno));
    size_t done = 0;
    while (done < contents.size()) {
      ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Failf("{}: {}", path, std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    return Ok();
  }
};

// `dir` must be the top of a clone (its own .git directory), not a
// repository-shaped folder inside one whose config a pusher wrote.
Status TopOfClone(const std::string& dir, const std::string& scratch, const std::string& field) {
  auto git_dir =
      gitops::RunGitLocal({"-C", dir, "rev-parse", "--absolute-git-dir"}, scratch, kGitTimeout);
  std::error_code ec;
  const std::string want = std::filesystem::weakly_canonical(dir + "/.git", ec).string();
  if (!git_dir || std::string(Trim(*git_dir)) != want)
    return Failf("config.{}: not the top of a repository that git-clone made", field);
  return Ok();
}

class GitCommit : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto commit = Commit(ctx);
    if (!commit) return ErroredStep(commit.error().message);
    StepOutcome out;
    out.output = {{"commit", *commit}};
    return out;
  }

 private:
  static Result<std::string> Commit(const StepContext& ctx) {
    if (ctx.config.is_object() && ctx.config.contains("author"))
      return Fail("config.author: not supported yet (deprecated by Kargo: set it in git-clone)");
    STRAKE_TRY_ASSIGN(dir, WorkPath(ctx, ctx.config, "path"));
    STRAKE_TRY_ASSIGN(message, Text(ctx.config, "message", true));
    const std::string& scratch = ctx.work_dir;
    STRAKE_TRY(TopOfClone(dir, scratch, "path"));
    STRAKE_TRY(gitops::RunGitLocal({"-C", dir, "add", "--all"}, scratch, kGitTimeout));
    STRAKE_TRY_ASSIGN(
        changes, gitops::RunGitLocal({"-C", dir, "status", "--porcelain"}, scratch, kGitTimeout));
    // Nothing new (or committed by a run before a crash): HEAD, as Kargo.
    if (Trim(changes).empty()) return Head(dir, scratch);
    STRAKE_TRY(gitops::RunGitLocal({"-C", dir, "commit", "--quiet", "--no-verify", "-m", message},
                                   scratch, kGitTimeout));
    return Head(dir, scratch);
  }
};

// Kargo's git-tag: an annotated tag of HEAD. The same tag on HEAD already
// (a run again after a crash) is done; on another commit, an error unless
// `force`.
class GitTag : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto commit = Tag(ctx);
    if (!commit) return ErroredStep(commit.error().message, true);
    StepOutcome out;
    out.output = {{"commit", *commit}};
    return out;
  }

 private:
  static Result<std::string> Tag(const StepContext& ctx) {
    const Json& c = ctx.config;
    STRAKE_TRY(OnlyFields(c, {"path", "tag", "message", "force"}, "config."));
    STRAKE_TRY_ASSIGN(dir, WorkPath(ctx, c, "path"));
    STRAKE_TRY_ASSIGN(tag, Text(c, "tag", true));
    STRAKE_TRY_ASSIGN(message, Text(c, "message"));
    STRAKE_TRY_ASSIGN(force, Flag(c, "force", false));
    const std::string& scratch = ctx.work_dir;
    STRAKE_TRY(TopOfClone(dir, scratch, "path"));
    if (tag.empty() || tag.front() == '-' ||
        !gitops::RunGitLocal({"check-ref-format", "refs/tags/" + tag}, scratch, kGitTimeout)) {
      return Failf("config.tag: {} is not a valid tag name", Quote(tag));
    }
    STRAKE_TRY_ASSIGN(head, Head(dir, scratch));
    auto at = gitops::RunGitLocal(
        {"-C", dir, "rev-parse", "--verify", "--quiet", "refs/tags/" + tag + "^{commit}"}, scratch,
        kGitTimeout);
    if (at && std::string(Trim(*at)) == head) return head;
    if (at && !force) {
      return Failf("config.tag: tag {} exists on another commit ({}); set force to move it",
                   Quote(tag), std::string(Trim(*at)).substr(0, 12));
    }
    std::vector<std::string> args = {"-C",         dir,  "tag",
                                     "--annotate", "-m", message.empty() ? tag : message};
    if (force) args.emplace_back("--force");
    args.push_back(tag);
    STRAKE_TRY(gitops::RunGitLocal(args, scratch, kGitTimeout));
    return head;
  }
};

class GitPush : public StepRunner {
 public:
  GitPush(EgressPolicy egress, GitCredentialsFor creds)
      : egress_(std::move(egress)), creds_(std::move(creds)) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto pushed = Push(ctx);
    if (!pushed) return ErroredStep(pushed.error().message);
    StepOutcome out;
    out.output = *pushed;
    return out;
  }

 private:
  Result<Json> Push(const StepContext& ctx) {
    const Json& c = ctx.config;
    STRAKE_TRY_ASSIGN(dir, WorkPath(ctx, c, "path"));
    STRAKE_TRY_ASSIGN(target, Text(c, "targetBranch"));
    STRAKE_TRY_ASSIGN(tag, Text(c, "tag"));
    const bool generate = c.value("generateTargetBranch", false);
    if (generate && !target.empty())
      return Fail("config.targetBranch and generateTargetBranch are mutually exclusive");
    if (!tag.empty() && (generate || !target.empty() || c.value("force", false)))
      return Fail(
          "config.tag is mutually exclusive with targetBranch, generateTargetBranch and force");
    const std::string& scratch = ctx.work_dir;
    STRAKE_TRY(TopOfClone(dir, scratch, "path"));
    if (!tag.empty()) return PushTag(ctx, dir, tag);
    if (generate) target = "kargo/promotion/" + ctx.promotion;
    if (target.empty()) {
      STRAKE_TRY_ASSIGN(current, gitops::RunGitLocal({"-C", dir, "symbolic-ref", "--short", "HEAD"},
                                                     scratch, kGitTimeout));
      target = std::string(Trim(current));
    }
    STRAKE_TRY_ASSIGN(origin, gitops::RunGitLocal({"-C", dir, "remote", "get-url", "origin"},
                                                  scratch, kGitTimeout));
    const std::string url(Trim(origin));
    const auto creds = creds_(ctx.project, url);
    const int attempts = std::max(1, c.value("maxAttempts", 10));
    const bool force = c.value("force", false);
    for (int attempt = 1;; ++attempt) {
      std::vector<std::string> push = {"-C", dir, "push", "--quiet", "--porcelain"};
      if (force) push.emplace_back("--force");
      push.insert(push.end(), {url, "HEAD:refs/heads/" + target});
      auto done = gitops::RunGitRemote(url, push, egress_, creds, scratch, kGitTimeout);
      if (done) break;
      if (attempt >= attempts) return tl::unexpected(done.error());
      // Someone pushed first: replay ours on theirs, as Kargo does.
      STRAKE_TRY(gitops::RunGitRemote(
          url, {"-C", dir, "pull", "--quiet", "--rebase", url, "refs/heads/" + target}, egress_,
          creds, scratch, kGitTimeout));
    }
    STRAKE_TRY_ASSIGN(head, Head(dir, scratch));
    return Json{{"branch", target}, {"commit", head}};
  }

  // A tag, as Kargo pushes one: no rebase and retry (a tag names one
  // commit); pushing the same tag again is up to date.
  Result<Json> PushTag(const StepContext& ctx, const std::string& dir, const std::string& tag) {
    const std::string& scratch = ctx.work_dir;
    if (tag.front() == '-' ||
        !gitops::RunGitLocal({"check-ref-format", "refs/tags/" + tag}, scratch, kGitTimeout)) {
      return Failf("config.tag: {} is not a valid tag name", Quote(tag));
    }
    STRAKE_TRY_ASSIGN(origin, gitops::RunGitLocal({"-C", dir, "remote", "get-url", "origin"},
                                                  scratch, kGitTimeout));
    const std::string url(Trim(origin));
    STRAKE_TRY_ASSIGN(commit, gitops::RunGitLocal({"-C", dir, "rev-parse", "--verify",
                                                   "refs/tags/" + tag + "^{commit}"},
                                                  scratch, kGitTimeout));
    STRAKE_TRY(gitops::RunGitRemote(url,
                                    {"-C", dir, "push", "--quiet", "--porcelain", url,
                                     "refs/tags/" + tag + ":refs/tags/" + tag},
                                    egress_, creds_(ctx.project, url), scratch, kGitTimeout));
    return Json{{"tag", tag}, {"commit", std::string(Trim(commit))}};
  }

  EgressPolicy egress_;
  GitCredentialsFor creds_;
};

}  // namespace

const std::vector<std::string>& GitStepNames() {
  static const std::vector<std::string> kNames = {"file-write", "git-clear", "git-clone",
                                                  "git-commit", "git-push",  "git-tag"};
  return kNames;
}

void AddGitSteps(StepRegistry& registry, EgressPolicy egress, GitCredentialsFor credentials) {
  registry.Add("git-clone", std::make_unique<GitClone>(egress, credentials));
  registry.Add("git-clear", std::make_unique<GitClear>());
  registry.Add("file-write", std::make_unique<FileWrite>());
  registry.Add("git-commit", std::make_unique<GitCommit>());
  registry.Add("git-tag", std::make_unique<GitTag>());
  registry.Add("git-push", std::make_unique<GitPush>(std::move(egress), std::move(credentials)));
}

}  // namespace strake::delivery
