#include "delivery/pull_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <utility>

#include "base/clock.h"
#include "base/duration.h"
#include "base/fs.h"
#include "base/net.h"
#include "base/strings.h"
#include "delivery/stage.h"
#include "delivery/step_config.h"

namespace strake::delivery {

namespace {

constexpr std::chrono::minutes kGitTimeout{5};
constexpr Millis kWaitPoll{30000};
constexpr Millis kMergePoll{10000};
constexpr int kMergeAttempts = 3;
constexpr size_t kMaxTitle = 256;
constexpr size_t kMaxDescription = size_t{64} * 1024;

// A temporary directory, removed when it goes.
struct Scratch {
  std::string dir;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (!dir.empty()) (void)RemoveAll(dir);
  }
};

Result<std::unique_ptr<Scratch>> NewScratch() {
  auto s = std::make_unique<Scratch>();
  STRAKE_TRY_ASSIGN(dir, MakeTempDir("pr"));
  s->dir = dir;
  return s;
}

std::string State(const store::Resource& pr) {
  return pr.status.is_object() ? pr.status.value("state", "") : "";
}

const Json& Spec(const store::Resource& pr) {
  static const Json kEmpty = Json::object();
  const Json& s = pr.object.contains("spec") ? pr.object["spec"] : kEmpty;
  return s.is_object() ? s : kEmpty;
}

Status CheckBranch(const std::string& branch, const std::string& field,
                   const std::string& scratch) {
  if (branch.empty() || branch.front() == '-' ||
      !gitops::RunGitLocal({"check-ref-format", "refs/heads/" + branch}, scratch, kGitTimeout)) {
    return Failf(ErrorCode::kInvalid, "config.{}: {} is not a valid branch name", field,
                 Quote(branch));
  }
  return Ok();
}

// The remote's branches among `branches`: name -> commit.
Result<std::map<std::string, std::string>> RemoteHeads(const PullRequestGit& git,
                                                       const std::string& ns,
                                                       const std::string& url,
                                                       const std::vector<std::string>& branches,
                                                       const std::string& scratch) {
  std::vector<std::string> args = {"ls-remote", "--heads", url};
  for (const auto& b : branches) args.push_back("refs/heads/" + b);
  STRAKE_TRY_ASSIGN(out, gitops::RunGitRemote(url, args, git.egress, git.credentials(ns, url),
                                              scratch, kGitTimeout));
  std::map<std::string, std::string> heads;
  for (const auto& line : Split(out, '\n')) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string ref = std::string(Trim(line.substr(tab + 1)));
    if (StartsWith(ref, "refs/heads/")) heads[ref.substr(11)] = line.substr(0, tab);
  }
  return heads;
}

// The remote's default branch (what its HEAD names).
Result<std::string> DefaultBranch(const PullRequestGit& git, const std::string& ns,
                                  const std::string& url, const std::string& scratch) {
  STRAKE_TRY_ASSIGN(out,
                    gitops::RunGitRemote(url, {"ls-remote", "--symref", url, "HEAD"}, git.egress,
                                         git.credentials(ns, url), scratch, kGitTimeout));
  for (const auto& line : Split(out, '\n')) {
    if (!StartsWith(line, "ref: refs/heads/")) continue;
    auto tab = line.find('\t');
    return line.substr(16, tab == std::string::npos ? std::string::npos : tab - 16);
  }
  return Failf("{} names no default branch: give config.targetBranch", RedactUrl(url));
}

Json Output(const store::Resource& pr) {
  const int64_t number = Spec(pr).value("number", int64_t{0});
  const std::string state = State(pr);
  Json out = {{"pr",
               {{"id", number},
                {"url", PullRequestUrl(pr.key.ns, number)},
                {"open", state == "Open"},
                {"merged", state == "Merged"}}}};
  if (state == "Merged") out["commit"] = pr.status.value("mergeCommit", "");
  return out;
}

// The pull request a step names: its repoURL and prNumber.
Result<store::Resource> Named(store::Store& store, const std::string& ns, const Json& c) {
  STRAKE_TRY_ASSIGN(url, Text(c, "repoURL", true));
  const Json n = c.value("prNumber", Json());
  int64_t number = 0;
  if (n.is_number_integer()) {
    number = n.get<int64_t>();
  } else if (auto parsed = n.is_string() ? PullRequestNumber(n.get<std::string>()) : std::nullopt) {
    number = *parsed;
  } else {
    return strake::Fail(ErrorCode::kInvalid, "config.prNumber: a pull request number is required");
  }
  STRAKE_TRY_ASSIGN(got, store.Get({"PullRequest", ns, PullRequestName(number)}));
  if (!got || Spec(*got).value("repoURL", "") != url) {
    return Failf(ErrorCode::kInvalid, "config.prNumber: no pull request {} of {} in {}", number,
                 Quote(RedactUrl(url)), ns);
  }
  return *got;
}

// A config error: for good (the step is not tried again).
Error ConfigError(const Error& e) { return Error{e.message, ErrorCode::kInvalid}; }

Status NoForge(const Json& c) {
  auto ok = NotYet(c, {"provider", "insecureSkipTLSVerify"}, "config.");
  if (!ok) return tl::unexpected(ConfigError(ok.error()));
  return Ok();
}

Result<Millis> Poll(const Json& c, Millis fallback) {
  STRAKE_TRY_ASSIGN(poll, DurationField(c, "pollInterval", fallback));
  return std::max(poll, kMinPollInterval);
}

// At most `max` bytes of `s`, not cutting a UTF-8 character.
std::string Utf8Prefix(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

// A title on one line, without control characters (it is shown in tables).
std::string OneLine(std::string s) {
  for (char& ch : s) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  }
  return s;
}

// A step's answer for a config error (for good) or another (tried again).
StepOutcome Erred(const Error& e) { return ErroredStep(e.message, e.Is(ErrorCode::kInvalid)); }

// --- git-open-pr ---------------------------------------------------------

struct OpenRequest {
  std::string url, source, target, title, description;
  Json labels = Json::array();
};

Result<OpenRequest> ReadOpen(const Json& c) {
  STRAKE_TRY(OnlyFields(c,
                        {"repoURL", "provider", "insecureSkipTLSVerify", "sourceBranch",
                         "targetBranch", "createTargetBranch", "title", "description", "labels"},
                        "config."));
  STRAKE_TRY(NoForge(c));
  OpenRequest r;
  STRAKE_TRY_ASSIGN(url, RepoUrlField(c));
  r.url = url;
  STRAKE_TRY_ASSIGN(source, Text(c, "sourceBranch", true));
  STRAKE_TRY_ASSIGN(target, Text(c, "targetBranch"));
  STRAKE_TRY_ASSIGN(title, Text(c, "title"));
  STRAKE_TRY_ASSIGN(description, Text(c, "description"));
  r.source = source;
  r.target = target;
  r.title = title;
  r.description = description;
  if (c.contains("labels") && !c["labels"].is_null()) {
    const Json& l = c["labels"];
    bool strings = l.is_array() && std::all_of(l.begin(), l.end(), [](const Json& x) {
                     return x.is_string() && !x.get<std::string>().empty();
                   });
    if (!strings) return strake::Fail(ErrorCode::kInvalid, "config.labels: a list of names");
    r.labels = l;
  }
  return r;
}

// The first line of a commit message, and the rest.
std::pair<std::string, std::string> TitleAndBody(const std::string& message) {
  std::string m(Trim(message));
  auto nl = m.find('\n');
  if (nl == std::string::npos) return {m, ""};
  return {std::string(Trim(m.substr(0, nl))), std::string(Trim(m.substr(nl + 1)))};
}

class GitOpenPr : public StepRunner {
 public:
  GitOpenPr(store::Store& store, PullRequestGit git) : store_(store), git_(std::move(git)) {}

  StepOutcome Run(const StepContext& ctx) override {
    // Opened by an attempt before (Kargo's short-circuit).
    if (ctx.output.is_object() && ctx.output.contains("pr")) {
      StepOutcome out;
      out.output = ctx.output;
      return out;
    }
    auto opened = Open(ctx);
    if (!opened) return Erred(opened.error());
    StepOutcome out;
    if (!*opened) {
      out.attempt.status = StepStatus::kSkipped;
      out.attempt.message = "the source branch changes nothing in the target branch";
      return out;
    }
    out.output = Json{{"pr", {{"id", (**opened)["pr"]["id"]}, {"url", (**opened)["pr"]["url"]}}}};
    return out;
  }

 private:
  // The pull request's output, or nullopt when there is nothing to merge.
  Result<std::optional<Json>> Open(const StepContext& ctx) {
    auto read = ReadOpen(ctx.config);
    if (!read) return tl::unexpected(ConfigError(read.error()));
    OpenRequest req = std::move(*read);
    STRAKE_TRY_ASSIGN(scratch, NewScratch());
    const std::string& tmp = scratch->dir;
    if (req.target.empty()) {
      STRAKE_TRY_ASSIGN(branch, DefaultBranch(git_, ctx.project, req.url, tmp));
      req.target = branch;
    }
    STRAKE_TRY(CheckBranch(req.source, "sourceBranch", tmp));
    STRAKE_TRY(CheckBranch(req.target, "targetBranch", tmp));
    STRAKE_TRY_ASSIGN(heads,
                      RemoteHeads(git_, ctx.project, req.url, {req.source, req.target}, tmp));
    for (const auto* b : {&req.target, &req.source}) {
      if (!heads.count(*b))
        return Failf("branch {} does not exist in {}", Quote(*b), RedactUrl(req.url));
    }
    const std::string source_commit = heads[req.source];
    // One like it exists (opened before a crash, or by hand): adopted.
    STRAKE_TRY_ASSIGN(all, store_.List("PullRequest", ctx.project));
    for (const auto& pr : all) {
      const Json& s = Spec(pr);
      const std::string state = State(pr);
      if (s.value("repoURL", "") == req.url && s.value("sourceBranch", "") == req.source &&
          s.value("targetBranch", "") == req.target &&
          pr.status.value("sourceCommit", "") == source_commit &&
          (state == "Open" || state == "Merged"))
        return std::optional<Json>(Output(pr));
    }
    const std::string repo = tmp + "/repo.git";
    STRAKE_TRY(gitops::RunGitLocal({"init", "--quiet", "--bare", repo}, tmp, kGitTimeout));
    STRAKE_TRY(gitops::RunGitRemote(req.url,
                                    {"-C", repo, "fetch", "--quiet", "--no-tags", req.url,
                                     "+refs/heads/" + req.source + ":refs/pr/source",
                                     "+refs/heads/" + req.target + ":refs/pr/target"},
                                    git_.egress, git_.credentials(ctx.project, req.url), tmp,
                                    kGitTimeout));
    STRAKE_TRY_ASSIGN(changed, gitops::RunGitLocal({"-C", repo, "diff", "--name-only",
                                                    "refs/pr/target", "refs/pr/source", "--"},
                                                   tmp, kGitTimeout));
    if (Trim(changed).empty()) return std::optional<Json>();
    // In the target already (the target moved on since): nothing to merge,
    // as a forge says "no commits between" them.
    if (gitops::RunGitLocal(
            {"-C", repo, "merge-base", "--is-ancestor", "refs/pr/source", "refs/pr/target"}, tmp,
            kGitTimeout))
      return std::optional<Json>();
    STRAKE_TRY_ASSIGN(message, gitops::RunGitLocal(
                                   {"-C", repo, "log", "-1", "--format=%B", "refs/pr/source", "--"},
                                   tmp, kGitTimeout));
    auto [title, body] = TitleAndBody(message);
    if (!req.title.empty()) title = req.title;
    if (!req.description.empty()) body = req.description;
    title = OneLine(Utf8Prefix(title, kMaxTitle));
    body = Utf8Prefix(body, kMaxDescription);
    STRAKE_TRY_ASSIGN(made, Create(ctx, req, title, body, source_commit, heads[req.target], all));
    return std::optional<Json>(Output(made));
  }

  // A new PullRequest with the next number free in the namespace.
  Result<store::Resource> Create(const StepContext& ctx, const OpenRequest& req,
                                 const std::string& title, const std::string& body,
                                 const std::string& source_commit, const std::string& target_commit,
                                 const std::vector<store::Resource>& existing) {
    int64_t number = 0;
    for (const auto& pr : existing) number = std::max(number, Spec(pr).value("number", int64_t{0}));
    for (int attempt = 0; attempt < 20; ++attempt) {
      ++number;
      store::Resource r;
      r.key = {"PullRequest", ctx.project, PullRequestName(number)};
      r.labels = {{kPullRequestPromotionLabel, ctx.promotion},
                  {"kargo.akuity.io/stage", ctx.stage}};
      r.object = {
          {"apiVersion", kPullRequestApiVersion},
          {"kind", "PullRequest"},
          {"metadata", {{"name", r.key.name}, {"namespace", ctx.project}, {"labels", r.labels}}},
          {"spec",
           {{"number", number},
            {"repoURL", req.url},
            {"sourceBranch", req.source},
            {"targetBranch", req.target},
            {"title", title},
            {"description", body},
            {"labels", req.labels},
            {"openedBy", "promotion " + ctx.promotion}}}};
      r.status = {{"state", "Open"},
                  {"sourceCommit", source_commit},
                  {"targetCommit", target_commit},
                  {"openedAt", FormatRfc3339(std::chrono::system_clock::now())}};
      auto made = store_.Create(std::move(r), "Opened",
                                fmt::format("pull request #{} opened by promotion {}: {} into {}",
                                            number, ctx.promotion, req.source, req.target));
      if (made) return *made;
      if (!made.error().Is(ErrorCode::kAlreadyExists)) return tl::unexpected(made.error());
    }
    return Failf(ErrorCode::kConflict, "no pull request number was free after 20 tries");
  }

  store::Store& store_;
  PullRequestGit git_;
};

// --- git-wait-for-pr -----------------------------------------------------

class GitWaitForPr : public StepRunner {
 public:
  explicit GitWaitForPr(store::Store& store) : store_(store) {}

  StepOutcome Run(const StepContext& ctx) override {
    const Json& c = ctx.config;
    auto fields = OnlyFields(
        c, {"repoURL", "provider", "insecureSkipTLSVerify", "prNumber", "pollInterval"}, "config.");
    if (!fields) return Erred(ConfigError(fields.error()));
    if (auto forge = NoForge(c); !forge) return Erred(forge.error());
    auto poll = Poll(c, kWaitPoll);
    if (!poll) return Erred(poll.error());
    auto pr = Named(store_, ctx.project, c);
    if (!pr) return Erred(pr.error());
    StepOutcome out;
    out.output = Output(*pr);
    const std::string state = State(*pr);
    if (state == "Open") {
      out.attempt.status = StepStatus::kRunning;
      out.attempt.message = fmt::format("waiting for pull request #{} to be merged or closed",
                                        Spec(*pr).value("number", int64_t{0}));
      out.retry_after = *poll;
    } else if (state != "Merged") {
      out.attempt.status = StepStatus::kFailed;
      out.attempt.message = fmt::format("pull request {} was closed without being merged",
                                        Spec(*pr).value("number", int64_t{0}));
      out.attempt.terminal = true;
    }
    return out;
  }

 private:
  store::Store& store_;
};

// --- git-merge-pr --------------------------------------------------------

class GitMergePr : public StepRunner {
 public:
  GitMergePr(store::Store& store, PullRequestGit git) : store_(store), git_(std::move(git)) {}

  StepOutcome Run(const StepContext& ctx) override {
    const Json& c = ctx.config;
    auto fields = OnlyFields(c,
                             {"repoURL", "provider", "insecureSkipTLSVerify", "prNumber",
                              "mergeMethod", "wait", "pollInterval"},
                             "config.");
    if (!fields) return Erred(ConfigError(fields.error()));
    if (auto forge = NoForge(c); !forge) return Erred(forge.error());
    auto method = Text(c, "mergeMethod");
    auto wait = Flag(c, "wait", false);
    auto poll = Poll(c, kMergePoll);
    auto pr = Named(store_, ctx.project, c);
    for (const Error* e : {method ? nullptr : &method.error(), wait ? nullptr : &wait.error(),
                           poll ? nullptr : &poll.error()}) {
      if (e) return Erred(ConfigError(*e));
    }
    if (!pr) return Erred(pr.error());
    auto merged = MergePullRequest(store_, git_, ctx.project, pr->key.name, *method,
                                   "promotion " + ctx.promotion);
    StepOutcome out;
    if (merged) {
      out.output = {{"commit", merged->value("mergeCommit", "")}};
      return out;
    }
    if (merged.error().Is(ErrorCode::kConflict) && *wait) {
      out.attempt.status = StepStatus::kRunning;
      out.attempt.message = merged.error().message;
      out.retry_after = *poll;
      return out;
    }
    if (merged.error().Is(ErrorCode::kConflict) || merged.error().Is(ErrorCode::kInvalid)) {
      out.attempt.status = StepStatus::kFailed;
      out.attempt.message = merged.error().message;
      out.attempt.terminal = true;
      return out;
    }
    return ErroredStep(merged.error().message);
  }

 private:
  store::Store& store_;
  PullRequestGit git_;
};

// What a merge found or made in the target branch.
struct Merged {
  std::string commit;
  std::string source_commit;
};

// "conflicts in a, b" (the files git left unmerged in `local`'s work
// tree), else git's own error.
template <typename Local>
std::string WhyNotMerged(Local& local, const Error& git_error) {
  auto conflicts = local(std::vector<std::string>{"diff", "--name-only", "--diff-filter=U"});
  std::string files = conflicts ? Join(Split(std::string(Trim(*conflicts)), '\n'), ", ") : "";
  return files.empty() ? git_error.message : "conflicts in " + files;
}

bool IsCommitId(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// One attempt: clone the target, merge the reviewed commit (`reviewed`,
// the source head when the pull request was opened) into it, push.
// kConflict when it cannot be merged (or the source branch moved since);
// a rejected push comes back as kUnavailable, to be tried again on the new
// target. Merged before (a crash after the push, a person's squash racing
// the step's merge): found, not made again.
Result<Merged> MergeOnce(const PullRequestGit& git, const std::string& ns, const Json& spec,
                         const std::string& reviewed, const std::string& method,
                         const std::string& actor) {
  const std::string url = spec.value("repoURL", "");
  const std::string source = spec.value("sourceBranch", "");
  const std::string target = spec.value("targetBranch", "");
  const int64_t number = spec.value("number", int64_t{0});
  if (!IsCommitId(reviewed))
    return Failf(ErrorCode::kInvalid, "pull request #{} records no source commit", number);
  const auto creds = git.credentials(ns, url);
  STRAKE_TRY_ASSIGN(scratch, NewScratch());
  const std::string& tmp = scratch->dir;
  const std::string dir = tmp + "/work";
  STRAKE_TRY(gitops::RunGitRemote(
      url, {"clone", "--quiet", "--single-branch", "--branch", target, "--", url, dir}, git.egress,
      creds, tmp, kGitTimeout));
  auto local = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {"-C", dir, "-c", "user.name=" + actor, "-c", "user.email=no-reply@strake.dev"});
    return gitops::RunGitLocal(args, tmp, kGitTimeout);
  };
  Merged m;
  m.source_commit = reviewed;
  // In the target already: the first commit that has it behind it.
  if (local({"merge-base", "--is-ancestor", reviewed, "HEAD"})) {
    STRAKE_TRY_ASSIGN(after,
                      local({"rev-list", "--ancestry-path", "--reverse", reviewed + "..HEAD"}));
    auto lines = Split(std::string(Trim(after)), '\n');
    m.commit = lines.empty() || lines.front().empty() ? reviewed : lines.front();
    return m;
  }
  auto fetched = gitops::RunGitRemote(url,
                                      {"-C", dir, "fetch", "--quiet", "--no-tags", url,
                                       "+refs/heads/" + source + ":refs/pr/source"},
                                      git.egress, creds, tmp, kGitTimeout);
  if (!fetched) {
    return Failf(ErrorCode::kConflict,
                 "pull request #{} cannot be merged: its source branch {} "
                 "cannot be read: {}",
                 number, Quote(source), fetched.error().message);
  }
  STRAKE_TRY_ASSIGN(head_now, local({"rev-parse", "--verify", "refs/pr/source^{commit}"}));
  if (Trim(head_now) != reviewed) {
    return Failf(ErrorCode::kConflict,
                 "pull request #{} cannot be merged: its source branch {} moved from {} to {} "
                 "since it was opened (what was reviewed is what is merged: open another)",
                 number, Quote(source), reviewed.substr(0, 12),
                 std::string(Trim(head_now)).substr(0, 12));
  }
  STRAKE_TRY_ASSIGN(before, local({"rev-parse", "HEAD"}));
  const std::string title = spec.value("title", "");
  if (method == "squash") {
    auto done = local({"merge", "--squash", "--quiet", reviewed});
    if (!done) {
      return Failf(ErrorCode::kConflict, "pull request #{} cannot be merged: {}", number,
                   WhyNotMerged(local, done.error()));
    }
    if (!local({"diff", "--cached", "--quiet"}))
      STRAKE_TRY(local({"commit", "--quiet", "-m", fmt::format("{} (#{})", title, number)}));
  } else {
    auto done = local({"merge", "--no-ff", "--quiet", "-m",
                       fmt::format("Merge pull request #{} from {}", number, source), "-m", title,
                       reviewed});
    if (!done) {
      return Failf(ErrorCode::kConflict, "pull request #{} cannot be merged: {}", number,
                   WhyNotMerged(local, done.error()));
    }
  }
  // Its changes are in the target already (squashed before a crash, or
  // merged by a person at the same time): nothing is pushed.
  STRAKE_TRY_ASSIGN(trees,
                    local({"rev-parse", "HEAD^{tree}", std::string(Trim(before)) + "^{tree}"}));
  auto both = Split(std::string(Trim(trees)), '\n');
  if (both.size() == 2 && both[0] == both[1]) {
    m.commit = std::string(Trim(before));
    return m;
  }
  STRAKE_TRY_ASSIGN(head, local({"rev-parse", "HEAD"}));
  m.commit = std::string(Trim(head));
  auto pushed = gitops::RunGitRemote(
      url, {"-C", dir, "push", "--quiet", "--porcelain", url, "HEAD:refs/heads/" + target},
      git.egress, creds, tmp, kGitTimeout);
  if (!pushed)
    return Failf(ErrorCode::kUnavailable, "pushing the merge: {}", pushed.error().message);
  return m;
}

}  // namespace

std::string PullRequestName(int64_t number) { return fmt::format("pr-{}", number); }

std::optional<int64_t> PullRequestNumber(const std::string& name_or_number) {
  std::string_view s = name_or_number;
  if (StartsWith(s, "pr-")) s.remove_prefix(3);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || n <= 0) return std::nullopt;
  return n;
}

std::string PullRequestUrl(const std::string& ns, int64_t number) {
  return fmt::format("/apis/{}/namespaces/{}/pullrequests/{}", kPullRequestApiVersion, ns,
                     PullRequestName(number));
}

Result<Json> MergePullRequest(store::Store& store, const PullRequestGit& git, const std::string& ns,
                              const std::string& name, const std::string& method,
                              const std::string& actor) {
  STRAKE_TRY_ASSIGN(got, store.Get({"PullRequest", ns, name}));
  if (!got) return Failf(ErrorCode::kNotFound, "pull request {} not found in {}", name, ns);
  const std::string state = State(*got);
  if (!method.empty() && method != "merge" && method != "squash") {
    return Failf(ErrorCode::kInvalid,
                 "mergeMethod: {}: strake's own pull requests merge with merge (a merge commit) "
                 "or squash",
                 Quote(method));
  }
  if (state == "Merged") return got->status;
  if (state != "Open") {
    return Failf(ErrorCode::kInvalid, "pull request {} is {}: only an open one is merged", name,
                 state.empty() ? "not open" : ToLower(state));
  }
  Result<Merged> m = Fail("not tried");
  for (int attempt = 0; attempt < kMergeAttempts; ++attempt) {
    m = MergeOnce(git, ns, Spec(*got), got->status.value("sourceCommit", ""), method, actor);
    if (m || !m.error().Is(ErrorCode::kUnavailable)) break;
  }
  if (!m) return tl::unexpected(m.error());
  Json after;
  STRAKE_TRY(UpdateStatusOf(
      store, got->key,
      [&](const Json& was) {
        Json next = was.is_object() ? was : Json::object();
        if (next.value("state", "") == "Merged") return after = next;
        next["state"] = "Merged";
        next["sourceCommit"] = m->source_commit;
        next["mergeCommit"] = m->commit;
        next["mergedBy"] = actor;
        next["mergedAt"] = FormatRfc3339(std::chrono::system_clock::now());
        return after = next;
      },
      "Merged", fmt::format("pull request {} merged by {}: {}", name, actor, m->commit)));
  return after;
}

Result<Json> ClosePullRequest(store::Store& store, const std::string& ns, const std::string& name,
                              const std::string& actor) {
  STRAKE_TRY_ASSIGN(got, store.Get({"PullRequest", ns, name}));
  if (!got) return Failf(ErrorCode::kNotFound, "pull request {} not found in {}", name, ns);
  if (State(*got) == "Merged")
    return Failf(ErrorCode::kInvalid, "pull request {} is merged already", name);
  Json after;
  STRAKE_TRY(UpdateStatusOf(
      store, got->key,
      [&](const Json& was) {
        Json next = was.is_object() ? was : Json::object();
        if (next.value("state", "") != "Open") return after = next;
        next["state"] = "Closed";
        next["closedBy"] = actor;
        next["closedAt"] = FormatRfc3339(std::chrono::system_clock::now());
        return after = next;
      },
      "Closed", fmt::format("pull request {} closed by {}", name, actor)));
  if (after.value("state", "") == "Merged")
    return Failf(ErrorCode::kInvalid, "pull request {} is merged already", name);
  return after;
}

const std::vector<std::string>& PullRequestStepNames() {
  static const std::vector<std::string> kNames = {"git-merge-pr", "git-open-pr", "git-wait-for-pr"};
  return kNames;
}

void AddPullRequestSteps(StepRegistry& registry, store::Store& store, PullRequestGit git) {
  registry.Add("git-open-pr", std::make_unique<GitOpenPr>(store, git));
  registry.Add("git-wait-for-pr", std::make_unique<GitWaitForPr>(store));
  registry.Add("git-merge-pr", std::make_unique<GitMergePr>(store, std::move(git)));
}

}  // namespace strake::delivery
