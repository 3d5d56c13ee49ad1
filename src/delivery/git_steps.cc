#include "delivery/git_steps.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <utility>

#include "base/fs.h"
#include "base/net.h"
#include "base/strings.h"
#include "model/gitops.h"

namespace strake::delivery {

namespace {

constexpr std::chrono::minutes kGitTimeout{5};

StepOutcome Errored(std::string error, bool terminal = false) {
  StepOutcome out;
  out.attempt = {StepStatus::kErrored, "", std::move(error), terminal};
  return out;
}

// A string field of the config ("" when absent); a value of another type
// is an error naming the field.
Result<std::string> Text(const Json& config, const std::string& key, bool required = false) {
  if (!config.is_object()) return Fail("config must be an object");
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    if (required) return Failf("config.{} is required", key);
    return std::string();
  }
  if (!it->is_string()) return Failf("config.{} must be a string", key);
  return it->get<std::string>();
}

// `path` of the config, inside the working directory.
Result<std::string> WorkPath(const StepContext& ctx, const Json& config, const std::string& key) {
  STRAKE_TRY_ASSIGN(rel, Text(config, key, true));
  auto clean = gitops::CleanRepoPath(rel);
  if (!clean || *clean == ".")
    return Failf("config.{}: {} must name a directory inside the working directory", key,
                 Quote(rel));
  return PathJoin(ctx.work_dir, *clean);
}

Result<std::string> Head(const std::string& dir, const std::string& scratch) {
  STRAKE_TRY_ASSIGN(out,
                    gitops::RunGitLocal({"-C", dir, "rev-parse", "HEAD"}, scratch, kGitTimeout));
  return std::string(Trim(out));
}

// Refuses fields strake does not act on yet, naming them.
Status NotYet(const Json& config, std::initializer_list<const char*> keys, const std::string& at) {
  for (const char* k : keys) {
    if (config.is_object() && config.contains(k) && !config[k].is_null() && config[k] != false)
      return Failf("{}{}: not supported yet", at, k);
  }
  return Ok();
}

class GitClone : public StepRunner {
 public:
  GitClone(EgressPolicy egress, GitCredentialsFor creds)
      : egress_(std::move(egress)), creds_(std::move(creds)) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto done = Clone(ctx);
    if (!done) return Errored(done.error().message);
    StepOutcome out;
    out.output = {{"commits", *done}};
    return out;
  }

 private:
  Result<Json> Clone(const StepContext& ctx) {
    const Json& c = ctx.config;
    STRAKE_TRY_ASSIGN(url, Text(c, "repoURL", true));
    if (!model::SupportedRepoUrl(url) || StartsWith(url, "-"))
      return Failf("config.repoURL: {} is not a repository URL strake reaches",
                   Quote(RedactUrl(url)));
    STRAKE_TRY(NotYet(c, {"insecureSkipTLSVerify", "blobless", "recurseSubmodules"}, "config."));
    std::string name = "Kargo", email = "no-reply@kargo.io";
    if (c.contains("author")) {
      STRAKE_TRY(NotYet(c["author"], {"signingKey"}, "config.author."));
      STRAKE_TRY_ASSIGN(n, Text(c["author"], "name"));
      STRAKE_TRY_ASSIGN(e, Text(c["author"], "email"));
      if (!n.empty()) name = n;
      if (!e.empty()) email = e;
    }
    const Json checkouts = c.value("checkout", Json::array());
    if (!checkouts.is_array() || checkouts.empty())
      return Fail("config.checkout: at least one checkout is required");
    const auto creds = creds_(url);
    Json commits = Json::object();
    for (size_t i = 0; i < checkouts.size(); ++i) {
      const Json& co = checkouts[i];
      const std::string at = fmt::format("config.checkout[{}].", i);
      STRAKE_TRY(NotYet(co, {"sparse", "fromFreight", "fromOrigin"}, at));
      STRAKE_TRY_ASSIGN(dir, WorkPath(ctx, co, "path"));
      STRAKE_TRY_ASSIGN(branch, Text(co, "branch"));
      STRAKE_TRY_ASSIGN(tag, Text(co, "tag"));
      STRAKE_TRY_ASSIGN(commit, Text(co, "commit"));
      int refs = (branch.empty() ? 0 : 1) + (tag.empty() ? 0 : 1) + (commit.empty() ? 0 : 1);
      if (refs > 1) return Failf("{}branch, tag and commit are mutually exclusive", at);
      // A run again (after a crash) starts from nothing.
      STRAKE_TRY(RemoveAll(dir));
      STRAKE_TRY(MakeDirs(dir));
      const std::string scratch = ctx.work_dir;
      std::vector<std::string> clone = {"clone", "--quiet"};
      std::string ref = !branch.empty() ? branch : tag;
      bool orphan = false;
      if (!branch.empty() && co.value("create", false)) {
        STRAKE_TRY_ASSIGN(
            heads, gitops::RunGitRemote(url, {"ls-remote", "--heads", url, "refs/heads/" + branch},
                                        egress_, creds, scratch, kGitTimeout));
        orphan = Trim(heads).empty();
      }
      if (!ref.empty() && !orphan) clone.insert(clone.end(), {"--branch", ref});
      clone.insert(clone.end(), {"--", url, dir});
      STRAKE_TRY(gitops::RunGitRemote(url, clone, egress_, creds, scratch, kGitTimeout));
      if (orphan) {
        STRAKE_TRY(gitops::RunGitLocal({"-C", dir, "checkout", "--quiet", "--orphan", branch},
                                       scratch, kGitTimeout));
        STRAKE_TRY(
            gitops::RunGitLocal({"-C", dir, "rm", "-r", "-f", "--quiet", "--ignore-unmatch", "."},
                                scratch, kGitTimeout));
      }
      if (!commit.empty()) {
        STRAKE_TRY(gitops::RunGitLocal({"-C", dir, "checkout", "--quiet", "--detach", commit},
                                       scratch, kGitTimeout));
      }
      for (const auto& [k, v] :
           {std::pair<const char*, const std::string&>{"user.name", name}, {"user.email", email}}) {
        STRAKE_TRY(gitops::RunGitLocal({"-C", dir, "config", k, v}, scratch, kGitTimeout));
      }
      std::string key = co.value("as", "");
      if (key.empty()) key = co.value("path", "");
      auto head = orphan ? Result<std::string>(std::string()) : Head(dir, scratch);
      if (!head) return tl::unexpected(head.error());
      commits[key] = *head;
    }
    return commits;
  }

  EgressPolicy egress_;
  GitCredentialsFor creds_;
};

class GitClear : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto dir = WorkPath(ctx, ctx.config, "path");
    if (!dir) return Errored(dir.error().message, true);
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(*dir, ec))
      names.push_back(e.path().filename().string());
    if (ec) return Errored(fmt::format("{}: {}", *dir, ec.message()));
    for (const auto& n : names) {
      if (n == ".git") continue;
      if (auto gone = RemoveAll(PathJoin(*dir, n)); !gone) return Errored(gone.error().message);
    }
    return StepOutcome{};
  }
};

class GitCommit : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto commit = Commit(ctx);
    if (!commit) return Errored(commit.error().message);
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

class GitPush : public StepRunner {
 public:
  GitPush(EgressPolicy egress, GitCredentialsFor creds)
      : egress_(std::move(egress)), creds_(std::move(creds)) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto pushed = Push(ctx);
    if (!pushed) return Errored(pushed.error().message);
    StepOutcome out;
    out.output = *pushed;
    return out;
  }

 private:
  Result<Json> Push(const StepContext& ctx) {
    const Json& c = ctx.config;
    STRAKE_TRY(NotYet(c, {"tag"}, "config."));
    STRAKE_TRY_ASSIGN(dir, WorkPath(ctx, c, "path"));
    STRAKE_TRY_ASSIGN(target, Text(c, "targetBranch"));
    const bool generate = c.value("generateTargetBranch", false);
    if (generate && !target.empty())
      return Fail("config.targetBranch and generateTargetBranch are mutually exclusive");
    const std::string& scratch = ctx.work_dir;
    if (generate) target = "kargo/promotion/" + ctx.promotion;
    if (target.empty()) {
      STRAKE_TRY_ASSIGN(current, gitops::RunGitLocal({"-C", dir, "symbolic-ref", "--short", "HEAD"},
                                                     scratch, kGitTimeout));
      target = std::string(Trim(current));
    }
    STRAKE_TRY_ASSIGN(origin, gitops::RunGitLocal({"-C", dir, "remote", "get-url", "origin"},
                                                  scratch, kGitTimeout));
    const std::string url(Trim(origin));
    const auto creds = creds_(url);
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

  EgressPolicy egress_;
  GitCredentialsFor creds_;
};

}  // namespace

const std::vector<std::string>& GitStepNames() {
  static const std::vector<std::string> kNames = {"git-clear", "git-clone", "git-commit",
                                                  "git-push"};
  return kNames;
}

void AddGitSteps(StepRegistry& registry, EgressPolicy egress, GitCredentialsFor credentials) {
  registry.Add("git-clone", std::make_unique<GitClone>(egress, credentials));
  registry.Add("git-clear", std::make_unique<GitClear>());
  registry.Add("git-commit", std::make_unique<GitCommit>());
  registry.Add("git-push", std::make_unique<GitPush>(std::move(egress), std::move(credentials)));
}

}  // namespace strake::delivery
