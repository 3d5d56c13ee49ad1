#include "model/kargo.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/cron.h"
#include "base/fs.h"
#include "base/net.h"
#include "base/regex.h"
#include "base/rrule.h"
#include "base/strings.h"
#include "base/tz.h"
#include "model/decoders.h"
#include "model/gitops.h"

namespace strake::model {

namespace {

// Kargo's patterns, as written in its schemas (Go's regexp is RE2, as is
// base/regex.h, so they mean here what they mean there).
constexpr const char* kIntervalPattern = R"(^([0-9]+(\.[0-9]+)?(s|m|h))+$)";  // WarehouseSpec
constexpr const char* kGitUrlPattern =                                        // git.json repoURL
    R"((?:^(ssh|https?)://(?:([\w-]+)(:(.+))?@)?([\w-]+(?:\.[\w-]+)*)(?::(\d{1,5}))?(/.*)$))"
    R"(|(?:^([\w-]+)@([\w+]+(?:\.[\w-]+)*):(/?.*))$)";
constexpr const char* kBranchPattern = R"(^[a-zA-Z0-9]([a-zA-Z0-9._\/-]*[a-zA-Z0-9_-])?$)";

const std::vector<std::string> kStrategies = {"NewestFromBranch", "SemVer", "Lexical", "NewestTag"};
const std::vector<std::string> kSubscriptionTypes = {"git", "image", "chart"};

// Whether s matches one of the patterns above, as Go's MatchString does
// (unanchored; the patterns anchor themselves). Compiled once.
bool Matches(const char* pattern, std::string_view s) {
  static const auto* compiled = [] {
    auto* m = new std::map<std::string_view, Regex>;  // never destroyed, as a constant
    for (const char* p : {kIntervalPattern, kGitUrlPattern, kBranchPattern}) {
      if (auto re = Regex::Compile(p)) m->emplace(p, *re);
    }
    return m;
  }();
  auto re = compiled->find(pattern);
  return re != compiled->end() && re->second.PartialMatch(s);
}

// "not supported yet: …", at the field, for what strake does not act on yet
// (Fields::NotSupported says "not supported" alone).
void NotYet(Ctx& ctx, Fields& f, const std::string& key, std::string_view what) {
  if (const Node* n = f.Get(key); n && !n->IsNull())
    ctx.Error(*n, f.Sub(key), fmt::format("not supported yet: {}", what));
}

// The string at n when it is one of `names`; else an error with a near-miss,
// and "".
std::string Enum(Ctx& ctx, const Node& n, const std::string& path,
                 const std::vector<std::string>& names) {
  std::string v = ctx.Str(n, path);
  if (std::find(names.begin(), names.end(), v) != names.end()) return v;
  std::vector<std::string> first(names.begin(), names.end() - 1);
  ctx.Error(n, path,
            fmt::format("must be {} or {}, found {}{}", Join(first, ", "), names.back(), Quote(v),
                        DidYouMean(v, names)));
  return "";
}

// The number written by the `count` digits of s at `at`; -1 if they are not digits.
int Digits(std::string_view s, size_t at, size_t count) {
  int v = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// RFC 3339 as Go's time.RFC3339 parses it (what a metav1.Time takes):
// "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5+02:00".
bool IsRfc3339(std::string_view s) {
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') {
    return false;
  }
  int year = Digits(s, 0, 4), month = Digits(s, 5, 2), day = Digits(s, 8, 2);
  int hour = Digits(s, 11, 2), minute = Digits(s, 14, 2), second = Digits(s, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 59) {
    return false;
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  size_t i = 19;
  if (s[i] == '.') {
    size_t digits = ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == digits) return false;
  }
  std::string_view zone = s.substr(i);
  if (zone == "Z") return true;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') return false;
  int zh = Digits(zone, 1, 2), zm = Digits(zone, 4, 2);
  return zh >= 0 && zh <= 23 && zm >= 0 && zm <= 59;
}

void CheckRfc3339(Ctx& ctx, const Node& n, const std::string& path, const std::string& value) {
  if (!IsRfc3339(value)) {
    ctx.Error(n, path,
              fmt::format("must be an RFC 3339 time such as \"2026-01-01T00:00:00Z\", found {}",
                          Quote(value)));
  }
}

// Lower case, without surrounding spaces or any control character.
std::string Sanitized(const std::string& url) {
  std::string out;
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    out.push_back(static_cast<char>(std::tolower(u)));
  }
  return std::string(Trim(out));
}

std::string TrimRepoPath(std::string path) {
  if (EndsWith(path, "/")) path.pop_back();
  if (EndsWith(path, ".git")) path.resize(path.size() - 4);
  return path;
}

// scheme://[userinfo@]host[:port][/path]: userinfo dropped when asked.
std::string NormalizeUrlForm(const std::string& url, size_t scheme_end, bool drop_user) {
  std::string scheme = url.substr(0, scheme_end + 3);
  std::string rest = url.substr(scheme_end + 3);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  size_t at = authority.rfind('@');
  if (drop_user && at != std::string::npos) authority = authority.substr(at + 1);
  return scheme + authority + TrimRepoPath(path);
}

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// Kargo's scpSyntaxRegex: ^((?:[\w-]+@)?[\w-]+(?:\.[\w-]+)*)(?::(.*))?$
bool SplitScp(const std::string& url, std::string& user_host, std::string& path) {
  size_t colon = url.find(':');
  user_host = url.substr(0, colon);
  path = colon == std::string::npos ? "" : url.substr(colon + 1);
  std::string_view host = user_host;
  if (size_t at = host.find('@'); at != std::string_view::npos) {
    std::string_view user = host.substr(0, at);
    if (user.empty() || !std::all_of(user.begin(), user.end(), IsWordChar)) return false;
    host = host.substr(at + 1);
  }
  for (const auto& label : Split(std::string(host), '.')) {
    if (label.empty() || !std::all_of(label.begin(), label.end(), IsWordChar)) return false;
  }
  return true;
}

void CheckGitRepoUrl(Ctx& ctx, const Node& n, const std::string& path, const std::string& url) {
  // file:// is strake's extension (Kargo refuses it): a repository on this
  // machine, reached only where the server's egress policy allows file.
  if (StartsWith(url, "file://") && SupportedRepoUrl(url)) return;
  if (!Matches(kGitUrlPattern, url) || !SupportedRepoUrl(url)) {
    ctx.Error(n, path,
              fmt::format("must be a valid Git repository URL (https://, http://, ssh:// or "
                          "user@host:path, as Kargo's pattern), found {}",
                          Quote(RedactUrl(url))));
  } else if (!StartsWith(url, "http")) {
    ctx.Warning(n, path,
                "Kargo deprecates SSH repository URLs (ssh:// and user@host:path) as of v1.10.0 "
                "and removes them in v1.13.0: use an https:// URL");
  }
}

// allowTagsRegexes, ignoreTagsRegexes: each must compile.
std::vector<std::string> Regexes(Ctx& ctx, Fields& f, const std::string& key) {
  std::vector<std::string> out;
  f.List(key, [&](const Node& item, const std::string& path) {
    std::string re = ctx.Str(item, path);
    if (auto compiled = Regex::Compile(re); !compiled)
      ctx.Error(item, path, "not a regular expression: " + compiled.error().message);
    out.push_back(std::move(re));
  });
  return out;
}

// includePaths, excludePaths: a path prefix, "glob:…" or "regex:"/"regexp:…".
std::vector<std::string> PathSelectors(Ctx& ctx, Fields& f, const std::string& key) {
  std::vector<std::string> out;
  f.List(key, [&](const Node& item, const std::string& path) {
    std::string s = ctx.Str(item, path);
    for (std::string_view prefix : {"regex:", "regexp:"}) {
      if (!StartsWith(s, prefix)) continue;
      if (auto compiled = Regex::Compile(std::string_view(s).substr(prefix.size())); !compiled)
        ctx.Error(item, path, "not a regular expression: " + compiled.error().message);
    }
    out.push_back(std::move(s));
  });
  return out;
}

// A field that only matters with some strategies: said once when it is set
// with another (Kargo ignores it too).
void OnlyWith(Ctx& ctx, Fields& f, const std::string& key, bool applies, std::string_view with) {
  const Node* n = f.Get(key);
  if (!n || n->IsNull() || applies) return;
  ctx.Warning(*n, f.Sub(key),
              fmt::format("\"{}\" is ignored: it only has effect with {}, as in Kargo", key, with));
}

// allowTagsRegexes and ignoreTagsRegexes of a git or image subscription
// (said ignored unless `applies`, as Kargo ignores them), and Kargo's
// removed allowTags / ignoreTags, refused where they are written: Kargo
// v1.11 fails discovery with them (pkg/controller/git/commit/ and
// pkg/image/ tag_based_selector.go).
void TagRegexes(Ctx& ctx, Fields& f, bool applies, std::string_view with,
                std::vector<std::string>& allow, std::vector<std::string>& ignore) {
  allow = Regexes(ctx, f, "allowTagsRegexes");
  ignore = Regexes(ctx, f, "ignoreTagsRegexes");
  OnlyWith(ctx, f, "allowTagsRegexes", applies, with);
  OnlyWith(ctx, f, "ignoreTagsRegexes", applies, with);
  if (const Node* v = f.Get("allowTags"); v && !ctx.Str(*v, f.Sub("allowTags")).empty()) {
    ctx.Error(*v, f.Sub("allowTags"),
              "AllowTags is deprecated and unsupported as of v1.11.0; use AllowTagsRegexes "
              "instead");
  }
  if (const Node* v = f.Get("ignoreTags"); v && !ctx.StrList(*v, f.Sub("ignoreTags")).empty()) {
    ctx.Error(*v, f.Sub("ignoreTags"),
              "IgnoreTags is deprecated and unsupported as of v1.11.0; use IgnoreTagsRegexes "
              "instead");
  }
}

// A git subscription (pkg/subscription/schemas/git.json), Kargo's defaults
// applied (pkg/subscription/git.go ApplySubscriptionDefaults).
GitSubscription DecodeGitSubscription(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  GitSubscription g;
  if (const Node* v = f.Need("repoURL")) {
    g.repo_url = ctx.Str(*v, f.Sub("repoURL"));
    CheckGitRepoUrl(ctx, *v, f.Sub("repoURL"), g.repo_url);
  }
  std::string strategy = "NewestFromBranch";
  if (const Node* v = f.Get("commitSelectionStrategy"); v && !v->IsNull()) {
    strategy = Enum(ctx, *v, f.Sub("commitSelectionStrategy"), kStrategies);
    if (!strategy.empty()) g.commit_selection_strategy = strategy;
  }
  bool from_branch = strategy == "NewestFromBranch";
  bool by_tag = !from_branch && !strategy.empty();
  if (const Node* v = f.Get("branch"); v && !v->IsNull()) {
    g.branch = ctx.Str(*v, f.Sub("branch"));
    if (g.branch.size() > 255 || !Matches(kBranchPattern, g.branch)) {
      ctx.Error(*v, f.Sub("branch"),
                fmt::format("must be a valid branch name (at most 255 letters, digits, '.', "
                            "'_', '/' or '-', starting with a letter or digit and not ending "
                            "with '.' or '/'), found {}",
                            Quote(g.branch.substr(0, 300))));
    }
  }
  OnlyWith(ctx, f, "branch", !by_tag, "commitSelectionStrategy NewestFromBranch");
  // Its syntax is checked where it is applied (server/api.cc, delivery/semver.h).
  if (const Node* v = f.Get("semverConstraint"); v && !v->IsNull())
    g.semver_constraint = ctx.Str(*v, f.Sub("semverConstraint"));
  OnlyWith(ctx, f, "semverConstraint", strategy == "SemVer", "commitSelectionStrategy SemVer");
  if (const Node* v = f.Get("strictSemvers"))
    g.strict_semvers = ctx.Bool(*v, f.Sub("strictSemvers"));
  TagRegexes(ctx, f, !from_branch, "a tag strategy (SemVer, Lexical, NewestTag)",
             g.allow_tags_regexes, g.ignore_tags_regexes);
  // Compiled where it is applied (server/api.cc): the language is rollout/'s.
  if (const Node* v = f.Get("expressionFilter"))
    g.expression_filter = ctx.Str(*v, f.Sub("expressionFilter"));
  g.include_paths = PathSelectors(ctx, f, "includePaths");
  g.exclude_paths = PathSelectors(ctx, f, "excludePaths");
  if (const Node* v = f.Get("discoveryLimit"); v && !v->IsNull())
    g.discovery_limit = ctx.Int(*v, f.Sub("discoveryLimit"), 1, 100);
  if (const Node* v = f.Get("since"); v && !v->IsNull()) {
    std::string since = ctx.Str(*v, f.Sub("since"));
    CheckRfc3339(ctx, *v, f.Sub("since"), since);
    if (from_branch) g.since = since;
  }
  OnlyWith(ctx, f, "since", !by_tag, "commitSelectionStrategy NewestFromBranch");
  if (const Node* v = f.Get("insecureSkipTLSVerify")) {
    g.insecure_skip_tls_verify = ctx.Bool(*v, f.Sub("insecureSkipTLSVerify"));
    if (g.insecure_skip_tls_verify) {
      ctx.Warning(*v, f.Sub("insecureSkipTLSVerify"),
                  "\"insecureSkipTLSVerify\" is not applied: strake verifies the repository's "
                  "certificate (add its CA to the system's trust store)");
    }
  }
  if (const Node* v = f.Get("blobless"); v && ctx.Bool(*v, f.Sub("blobless"))) {
    ctx.Warning(*v, f.Sub("blobless"),
                "\"blobless\" changes nothing here: strake's mirrors of a repository are full "
                "clones");
  }
  return g;
}

const std::vector<std::string> kImageStrategies = {"SemVer", "Lexical", "NewestBuild", "Digest"};

// An image subscription (Kargo's ImageSubscription, api/v1alpha1/
// zz_subscription_types.go). The repository's form and a SemVer constraint
// are checked where they are applied (server/api.cc, images/registry.h).
ImageSubscription DecodeImageSubscription(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  ImageSubscription im;
  if (!f.ok()) return im;
  if (const Node* v = f.Need("repoURL")) im.repo_url = ctx.Str(*v, f.Sub("repoURL"));
  std::string strategy = "SemVer";
  if (const Node* v = f.Get("imageSelectionStrategy"); v && !v->IsNull()) {
    strategy = Enum(ctx, *v, f.Sub("imageSelectionStrategy"), kImageStrategies);
    if (!strategy.empty()) im.image_selection_strategy = strategy;
  }
  bool digest = strategy == "Digest";
  im.constraint = f.Str("constraint");
  if (digest && im.constraint.empty()) {
    ctx.Error(f.Get("constraint") ? *f.Get("constraint") : n, f.Sub("constraint"),
              "is required with imageSelectionStrategy Digest: the tag whose digest to follow");
  }
  OnlyWith(ctx, f, "constraint", strategy == "SemVer" || digest,
           "imageSelectionStrategy SemVer or Digest");
  if (const Node* v = f.Get("strictSemvers"))
    im.strict_semvers = ctx.Bool(*v, f.Sub("strictSemvers"));
  OnlyWith(ctx, f, "strictSemvers", strategy == "SemVer", "imageSelectionStrategy SemVer");
  TagRegexes(ctx, f, !digest, "a tag strategy (SemVer, Lexical, NewestBuild)",
             im.allow_tags_regexes, im.ignore_tags_regexes);
  if (const Node* v = f.Get("platform"); v && !v->IsNull()) {
    im.platform = ctx.Str(*v, f.Sub("platform"));
    auto parts = Split(im.platform, '/');
    bool ok =
        parts.size() >= 2 && parts.size() <= 3 &&
        std::none_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); });
    if (!ok) {
      ctx.Error(*v, f.Sub("platform"),
                fmt::format("must be os/arch or os/arch/variant (\"linux/arm64/v8\"), found {}",
                            Quote(im.platform)));
    }
  }
  if (const Node* v = f.Get("discoveryLimit"); v && !v->IsNull())
    im.discovery_limit = ctx.Int(*v, f.Sub("discoveryLimit"), 1, 100);
  if (const Node* v = f.Get("insecureSkipTLSVerify"))
    im.insecure_skip_tls_verify = ctx.Bool(*v, f.Sub("insecureSkipTLSVerify"));
  if (const Node* v = f.Get("cacheByTag"); v && ctx.Bool(*v, f.Sub("cacheByTag"))) {
    ctx.Warning(*v, f.Sub("cacheByTag"),
                "\"cacheByTag\" changes nothing here: strake keeps what each digest names and "
                "asks the registry what every tag names at each discovery, so a moved tag is "
                "never missed");
  }
  return im;
}

// A generic subscription of type `artifact` (Kargo's Subscription: config
// and discoveryLimit): strake's Artifacts.
ArtifactSubscription DecodeArtifactSubscription(Ctx& ctx, const Node& n, const std::string& path) {
  ArtifactSubscription a;
  Fields f(ctx, n, path);
  if (!f.ok()) return a;
  if (const Node* v = f.Get("discoveryLimit"); v && !v->IsNull())
    a.discovery_limit = ctx.Int(*v, f.Sub("discoveryLimit"), 1, 100);
  const Node* config = f.Get("config");
  if (!config || config->IsNull()) return a;
  Fields cf(ctx, *config, f.Sub("config"));
  if (!cf.ok()) return a;
  a.pipeline = cf.Str("pipeline");
  a.branch = cf.Str("branch");
  a.result = cf.Str("result");
  if (const Node* v = cf.Get("repoURL"); v && !v->IsNull()) {
    a.repo_url = ctx.Str(*v, cf.Sub("repoURL"));
    CheckGitRepoUrl(ctx, *v, cf.Sub("repoURL"), a.repo_url);
  }
  if (const Node* v = cf.Get("type"); v && !v->IsNull())
    a.type = Enum(ctx, *v, cf.Sub("type"), {"image", "artifact"});
  return a;
}

// One item of spec.subscriptions: its name and exactly one type key, as
// Kargo's WarehouseSpec.UnmarshalJSON reads it.
std::optional<WarehouseSubscription> DecodeSubscription(Ctx& ctx, const Node& item,
                                                        const std::string& path) {
  Fields f(ctx, item, path);
  if (!f.ok()) return std::nullopt;
  WarehouseSubscription s;
  if (const Node* v = f.Get("name"); v && !v->IsNull()) {
    s.name = ctx.Str(*v, f.Sub("name"));
    ctx.CheckName(*v, f.Sub("name"), s.name, Ctx::NameRule::kDnsLabel);
  }
  std::vector<std::string> types;
  for (const auto& e : item.map) {
    if (e.key.scalar != "name") types.push_back(e.key.scalar);
  }
  if (types.size() != 1) {
    ctx.Error(item, path,
              fmt::format("must have exactly one field naming its type (git, image, chart), "
                          "apart from an optional \"name\", but has {}{}",
                          types.size(), types.empty() ? "" : ": " + Join(types, ", ")));
    for (const auto& t : types) f.Get(t);
    return std::nullopt;
  }
  const std::string& type = types[0];
  const Node* body = f.Get(type);
  if (type == "git") {
    s.git = DecodeGitSubscription(ctx, *body, f.Sub("git"));
    return s;
  }
  if (type == "image") {
    s.image = DecodeImageSubscription(ctx, *body, f.Sub("image"));
    return s;
  }
  if (type == "artifact") {
    if (s.name.empty()) {
      ctx.Error(item, f.Sub("name"),
                "is required for an artifact subscription (Kargo names generic subscriptions)");
    }
    s.artifact = DecodeArtifactSubscription(ctx, *body, f.Sub("artifact"));
    return s;
  }
  std::string near = type == "chart" ? "" : DidYouMean(type, kSubscriptionTypes);
  ctx.Error(*body, f.Sub(type),
            fmt::format("not supported yet: strake's Warehouse subscribes to git repositories, "
                        "image repositories and strake's artifacts so far{}",
                        near));
  return std::nullopt;
}

WarehouseSpec DecodeWarehouseSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  WarehouseSpec w;
  if (const Node* v = f.Get("interval"); v && !v->IsNull()) {
    std::string text = ctx.Str(*v, "spec.interval");
    if (!Matches(kIntervalPattern, text)) {
      ctx.Error(*v, "spec.interval",
                fmt::format("must be hours, minutes and seconds as Kargo's pattern {} takes "
                            "them (\"5m0s\", \"1h30m\"), found {}",
                            kIntervalPattern, Quote(text)));
    } else if (auto d = ctx.Duration(*v, "spec.interval")) {
      if (d->count() <= 0) {
        ctx.Error(*v, "spec.interval", "must be more than 0s");
      } else {
        w.interval = *d;
      }
    }
  }
  if (const Node* v = f.Get("freightCreationPolicy"); v && !v->IsNull())
    w.manual = Enum(ctx, *v, "spec.freightCreationPolicy", {"Automatic", "Manual"}) == "Manual";
  f.Ignore({"shard"}, "names a controller shard, and strake runs one controller");
  NotYet(ctx, f, "freightCreationCriteria",
         "freightCreationCriteria (an expression over the discovered artifacts); Freight is "
         "made from every new discovery");
  const Node* subs = f.Need("subscriptions");
  if (!subs) return w;
  if (subs->IsSeq() && subs->seq.empty()) {
    ctx.Error(*subs, "spec.subscriptions", "at least one subscription is required");
  }
  std::map<std::string, std::string> names;  // name -> the path that has it
  std::map<std::string, std::string> repos;  // NormalizeGitUrl -> the subscription that has it
  ctx.List(*subs, "spec.subscriptions", [&](const Node& item, const std::string& path) {
    auto s = DecodeSubscription(ctx, item, path);
    if (!s) return;
    if (!s->name.empty()) {
      auto [at, fresh] = names.emplace(s->name, path + ".name");
      if (!fresh) {
        ctx.Error(
            *item.Get("name"), path + ".name",
            fmt::format("subscription name {} already used at {}", Quote(s->name), at->second));
      }
    }
    if (!s->artifact && !s->image && !s->git.repo_url.empty()) {
      auto [at, fresh] = repos.emplace(NormalizeGitUrl(s->git.repo_url), path + ".git");
      if (!fresh) {
        ctx.Error(*item.Get("git")->Get("repoURL"), path + ".git.repoURL",
                  fmt::format("subscription for Git repository already exists at {} (Kargo "
                              "takes one subscription per repository)",
                              at->second));
      }
    }
    w.subscriptions.push_back(std::move(*s));
  });
  return w;
}

// Freight's fields (no spec: they sit beside metadata), from the root.
void DecodeFreightFields(Ctx& ctx, Fields& f, Freight& out) {
  out.alias = f.Str("alias");
  if (const Node* o = f.Need("origin")) {
    Fields of(ctx, *o, "origin");
    if (const Node* v = of.Need("kind")) {
      std::string kind = ctx.Str(*v, "origin.kind");
      if (kind != "Warehouse") {
        ctx.Error(*v, "origin.kind",
                  fmt::format("must be Warehouse (the only origin of Freight), found {}{}",
                              Quote(kind), DidYouMean(kind, {"Warehouse"})));
      }
    }
    if (const Node* v = of.Need("name")) {
      out.origin.name = ctx.Str(*v, "origin.name");
      ctx.CheckName(*v, "origin.name", out.origin.name, Ctx::NameRule::kDnsSubdomain);
    }
  }
  f.List("commits", [&](const Node& item, const std::string& path) {
    Fields cf(ctx, item, path);
    FreightCommit c;
    if (const Node* v = cf.Need("repoURL")) {
      c.repo_url = ctx.Str(*v, cf.Sub("repoURL"));
      CheckGitRepoUrl(ctx, *v, cf.Sub("repoURL"), c.repo_url);
    }
    if (const Node* v = cf.Need("id")) {
      c.id = ctx.Str(*v, cf.Sub("id"));
      bool hex = std::all_of(c.id.begin(), c.id.end(),
                             [](unsigned char ch) { return std::isxdigit(ch) != 0; });
      if (!hex || (c.id.size() != 40 && c.id.size() != 64)) {
        ctx.Error(*v, cf.Sub("id"),
                  fmt::format("must be a full commit ID (40 or 64 hex digits), found {}",
                              Quote(c.id.substr(0, 100))));
      }
    }
    c.branch = cf.Str("branch");
    c.tag = cf.Str("tag");
    c.message = cf.Str("message");
    c.author = cf.Str("author");
    c.committer = cf.Str("committer");
    c.subscription_name = cf.Str("subscriptionName");
    out.commits.push_back(std::move(c));
  });
  f.List("artifacts", [&](const Node& item, const std::string& path) {
    Fields af(ctx, item, path);
    FreightArtifact a;
    for (auto [key, field] :
         {std::pair{"artifactType", &a.artifact_type},
          std::pair{"subscriptionName", &a.subscription_name}, std::pair{"version", &a.version}}) {
      if (const Node* v = af.Need(key)) *field = ctx.Str(*v, af.Sub(key));
    }
    if (const Node* v = af.Get("metadata"); v && !v->IsNull()) {
      if (!v->IsMap()) {
        ctx.Error(*v, af.Sub("metadata"), "must be an object");
      } else {
        a.metadata = ToJson(*v);
      }
    }
    out.artifacts.push_back(std::move(a));
  });
  f.List("images", [&](const Node& item, const std::string& path) {
    Fields imf(ctx, item, path);
    FreightImage im;
    for (auto [key, field] : {std::pair{"repoURL", &im.repo_url}, std::pair{"tag", &im.tag},
                              std::pair{"digest", &im.digest}}) {
      if (const Node* v = imf.Need(key)) *field = ctx.Str(*v, imf.Sub(key));
    }
    im.subscription_name = imf.Str("subscriptionName");
    if (const Node* v = imf.Get("annotations"))
      im.annotations = ctx.StrMap(*v, imf.Sub("annotations"));
    out.images.push_back(std::move(im));
  });
  bool others = !out.artifacts.empty() || !out.images.empty();
  if (const Node* v = f.Get("charts"); v && !v->IsNull() && !(v->IsSeq() && v->seq.empty())) {
    others = true;
    ctx.Error(*v, "charts",
              "not supported yet: strake's Freight references git commits, images and "
              "strake's artifacts so far");
  }
  if (const Node* v = f.Get("discoveredAt"); v && !v->IsNull())
    CheckRfc3339(ctx, *v, "discoveredAt", ctx.Str(*v, "discoveredAt"));
  if (out.commits.empty() && !others && f.ok()) {
    const Node* commits = f.Get("commits");
    ctx.Error(commits ? *commits : f.node(), "commits",
              "freight must contain at least one commit, image, or chart");
  }
}

// vars: [{name, value}], names unique.
std::vector<ExpressionVariable> DecodeVars(Ctx& ctx, Fields& f, const std::string& key) {
  std::vector<ExpressionVariable> out;
  std::map<std::string, std::string> seen;  // name -> its path
  f.List(key, [&](const Node& item, const std::string& path) {
    Fields vf(ctx, item, path);
    ExpressionVariable v;
    if (const Node* n = vf.Need("name")) {
      v.name = ctx.Str(*n, vf.Sub("name"));
      auto [at, fresh] = seen.emplace(v.name, path);
      if (!fresh) {
        ctx.Error(*n, vf.Sub("name"),
                  fmt::format("variable {} already defined at {}", Quote(v.name), at->second));
      }
    }
    v.value = vf.Str("value");
    out.push_back(std::move(v));
  });
  return out;
}

// A step's `task`: Kargo's PromotionTaskReference.
void DecodeTaskRef(Ctx& ctx, Fields& f, const Node& t, bool allow_task, PromotionStepSpec& s) {
  if (!allow_task) {
    ctx.Error(t, f.Sub("task"),
              "a PromotionTask's steps cannot run another task (Kargo: this keeps tasks from "
              "calling each other in a circle)");
    return;
  }
  Fields tf(ctx, t, f.Sub("task"));
  if (const Node* n = tf.Need("name")) {
    s.task_name = ctx.Str(*n, tf.Sub("name"));
    ctx.CheckName(*n, tf.Sub("name"), s.task_name, Ctx::NameRule::kDnsSubdomain);
  }
  s.task_kind = "PromotionTask";
  if (const Node* k = tf.Get("kind"); k && !k->IsNull())
    s.task_kind = Enum(ctx, *k, tf.Sub("kind"), {"PromotionTask", "ClusterPromotionTask"});
  // Kargo inflates only a task step's `as` and `vars`; the rest would be
  // dropped there, so it is refused here.
  for (const char* key : {"uses", "config", "if", "continueOnError", "retry"}) {
    if (const Node* v = f.Get(key); v && !v->IsNull()) {
      ctx.Error(*v, f.Sub(key),
                fmt::format("a step that runs a task takes only task, as and vars, not {} (the "
                            "task's own steps have theirs)",
                            Quote(key)));
    }
  }
}

// Whose steps: a Stage's template, a PromotionTask's, or a Promotion's
// (inflated by the server, each alias explicit: "step-N" is theirs to use).
enum class StepsOf { kTemplate, kTask, kPromotion };

PromotionStepSpec DecodeStep(Ctx& ctx, const Node& item, const std::string& path, StepsOf of) {
  const bool allow_task = of != StepsOf::kTask;
  Fields f(ctx, item, path);
  PromotionStepSpec s;
  if (const Node* t = f.Get("task"); t && !t->IsNull()) {
    DecodeTaskRef(ctx, f, *t, allow_task, s);
  } else if (const Node* u = f.Need("uses")) {
    s.uses = ctx.Str(*u, f.Sub("uses"));  // which kinds exist: checked at apply (delivery/)
  }
  s.as = std::string(Trim(f.Str("as")));
  if (!s.as.empty() && of != StepsOf::kPromotion && IsReservedStepAlias(s.as))
    ctx.Error(*f.Get("as"), f.Sub("as"), fmt::format("step alias {} is reserved", Quote(s.as)));
  s.if_expr = f.Str("if");  // compiled at apply (server/api.cc)
  if (const Node* v = f.Get("continueOnError"))
    s.continue_on_error = ctx.Bool(*v, f.Sub("continueOnError"));
  if (const Node* r = f.Get("retry"); r && !r->IsNull()) {
    Fields rf(ctx, *r, f.Sub("retry"));
    if (const Node* v = rf.Get("errorThreshold"); v && !v->IsNull())
      s.error_threshold = ctx.Int(*v, rf.Sub("errorThreshold"), 0, 1'000'000);
    if (const Node* v = rf.Get("timeout"); v && !v->IsNull())
      s.timeout = ctx.Duration(*v, rf.Sub("timeout"));
  }
  s.vars = DecodeVars(ctx, f, "vars");
  if (const Node* c = f.Get("config"); c && !c->IsNull() && s.task_name.empty())
    s.config = ToJson(*c);
  return s;
}

// steps: aliases unique (Kargo's ValidatePromotionSteps).
std::vector<PromotionStepSpec> DecodeSteps(Ctx& ctx, Fields& f, const std::string& key,
                                           StepsOf of) {
  std::vector<PromotionStepSpec> out;
  std::map<std::string, std::string> aliases;  // alias -> its step's path
  f.List(key, [&](const Node& item, const std::string& path) {
    PromotionStepSpec s = DecodeStep(ctx, item, path, of);
    if (!s.as.empty()) {
      auto [at, fresh] = aliases.emplace(s.as, path);
      if (!fresh) {
        ctx.Error(*item.Get("as"), path + ".as",
                  fmt::format("step alias duplicates that of {}", at->second));
      }
    }
    out.push_back(std::move(s));
  });
  return out;
}

FreightOrigin DecodeOrigin(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  FreightOrigin o;
  if (const Node* v = f.Need("kind")) {
    std::string kind = ctx.Str(*v, f.Sub("kind"));
    if (kind != "Warehouse") {
      ctx.Error(*v, f.Sub("kind"),
                fmt::format("must be Warehouse (the only origin of Freight), found {}{}",
                            Quote(kind), DidYouMean(kind, {"Warehouse"})));
    }
  }
  if (const Node* v = f.Need("name")) {
    o.name = ctx.Str(*v, f.Sub("name"));
    ctx.CheckName(*v, f.Sub("name"), o.name, Ctx::NameRule::kDnsSubdomain);
  }
  return o;
}

FreightSources DecodeSources(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  FreightSources s;
  if (const Node* v = f.Get("direct")) s.direct = ctx.Bool(*v, f.Sub("direct"));
  if (const Node* v = f.Get("stages")) s.stages = ctx.StrList(*v, f.Sub("stages"));
  if (const Node* v = f.Get("requiredSoakTime"); v && !v->IsNull()) {
    std::string text = ctx.Str(*v, f.Sub("requiredSoakTime"));
    if (!Matches(kIntervalPattern, text)) {
      ctx.Error(*v, f.Sub("requiredSoakTime"),
                fmt::format("must be hours, minutes and seconds (\"1h\", \"30m0s\"), found {}",
                            Quote(text)));
    } else if (auto d = ctx.Duration(*v, f.Sub("requiredSoakTime"))) {
      s.required_soak = *d;
    }
  }
  if (const Node* v = f.Get("availabilityStrategy"); v && !v->IsNull())
    s.all = Enum(ctx, *v, f.Sub("availabilityStrategy"), {"All", "OneOf"}) == "All";
  if (const Node* a = f.Get("autoPromotionOptions"); a && !a->IsNull()) {
    Fields af(ctx, *a, f.Sub("autoPromotionOptions"));
    const std::string at = af.Sub("selectionPolicy");
    if (const Node* v = af.Get("selectionPolicy"); v && !v->IsNull()) {
      s.match_upstream = Enum(ctx, *v, at, {"NewestFreight", "MatchUpstream"}) == "MatchUpstream";
      if (s.match_upstream && s.direct) {
        ctx.Error(*v, at,
                  "selection policy 'MatchUpstream' cannot be used when accepting Freight "
                  "directly from its origin");
      }
      if (s.match_upstream && s.stages.size() != 1) {
        ctx.Error(*v, at,
                  "selection policy 'MatchUpstream' requires exactly one upstream Stage to be "
                  "specified");
      }
    }
  }
  if (!s.direct && s.stages.empty()) {
    ctx.Error(n, path,
              "names no source: set direct: true (Freight from the Warehouse) or stages "
              "(Freight verified upstream)");
  }
  return s;
}

Verification DecodeVerification(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  Verification v;
  f.List("analysisTemplates", [&](const Node& item, const std::string& at) {
    Fields tf(ctx, item, at);
    AnalysisTemplateRef ref;
    if (const Node* name = tf.Need("name")) ref.name = ctx.Str(*name, tf.Sub("name"));
    if (const Node* kind = tf.Get("kind"); kind && !kind->IsNull()) {
      ref.cluster =
          Enum(ctx, *kind, tf.Sub("kind"), {"AnalysisTemplate", "ClusterAnalysisTemplate"}) ==
          "ClusterAnalysisTemplate";
    }
    v.templates.push_back(std::move(ref));
  });
  if (v.templates.empty()) {
    ctx.Error(n, path + ".analysisTemplates", "at least one AnalysisTemplate is required");
  }
  if (const Node* m = f.Get("analysisRunMetadata"); m && !m->IsNull()) {
    Fields mf(ctx, *m, f.Sub("analysisRunMetadata"));
    if (const Node* l = mf.Get("labels")) v.run_labels = ctx.StrMap(*l, mf.Sub("labels"));
    if (const Node* a = mf.Get("annotations"))
      v.run_annotations = ctx.StrMap(*a, mf.Sub("annotations"));
  }
  v.args = DecodeVars(ctx, f, "args");
  return v;
}

StageSpec DecodeStageSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  StageSpec s;
  f.Ignore({"shard"}, "names a controller shard, and strake runs one controller");
  s.vars = DecodeVars(ctx, f, "vars");
  std::map<std::string, std::string> origins;  // "Warehouse/x" -> its path
  if (const Node* reqs = f.Need("requestedFreight")) {
    if (reqs->IsSeq() && reqs->seq.empty())
      ctx.Error(*reqs, "spec.requestedFreight", "at least one Freight request is required");
    ctx.List(*reqs, "spec.requestedFreight", [&](const Node& item, const std::string& path) {
      Fields rf(ctx, item, path);
      FreightRequest r;
      if (const Node* o = rf.Need("origin")) r.origin = DecodeOrigin(ctx, *o, rf.Sub("origin"));
      if (const Node* v = rf.Need("sources")) r.sources = DecodeSources(ctx, *v, rf.Sub("sources"));
      auto [at, fresh] = origins.emplace(r.origin.String(), path);
      if (!fresh) {
        ctx.Error(item, path,
                  fmt::format("freight with origin {} requested multiple times in "
                              "spec.requestedFreight (first at {})",
                              r.origin.String(), at->second));
      }
      s.requested_freight.push_back(std::move(r));
    });
  }
  if (const Node* t = f.Get("promotionTemplate"); t && !t->IsNull()) {
    Fields tf(ctx, *t, "spec.promotionTemplate");
    if (const Node* ts = tf.Need("spec")) {
      Fields sf(ctx, *ts, "spec.promotionTemplate.spec");
      s.template_vars = DecodeVars(ctx, sf, "vars");
      s.steps = DecodeSteps(ctx, sf, "steps", StepsOf::kTemplate);
    }
  }
  if (const Node* v = f.Get("verification"); v && !v->IsNull())
    s.verification = DecodeVerification(ctx, *v, "spec.verification");
  NotYet(ctx, f, "targets", "targets (one Stage promoting to several destinations)");
  return s;
}

PromotionSpec DecodePromotionSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  PromotionSpec p;
  if (const Node* v = f.Need("stage")) {
    p.stage = ctx.Str(*v, "spec.stage");
    ctx.CheckName(*v, "spec.stage", p.stage, Ctx::NameRule::kDnsSubdomain);
  }
  if (const Node* v = f.Need("freight")) {
    p.freight = ctx.Str(*v, "spec.freight");
    ctx.CheckName(*v, "spec.freight", p.freight, Ctx::NameRule::kDnsSubdomain);
  }
  NotYet(ctx, f, "origin",
         "origin (the auto-promotion candidate of an origin); name the Freight in spec.freight");
  NotYet(ctx, f, "target", "target (one Stage promoting to several destinations)");
  p.vars = DecodeVars(ctx, f, "vars");
  p.steps = DecodeSteps(ctx, f, "steps", StepsOf::kPromotion);
  return p;
}

StageSelector DecodeSelector(Ctx& ctx, const Node& sel, const std::string& path) {
  StageSelector out;
  Fields sf(ctx, sel, path);
  if (const Node* v = sf.Get("name"); v && !v->IsNull()) {
    out.name = ctx.Str(*v, sf.Sub("name"));
    for (std::string_view prefix : {"regex:", "regexp:"}) {
      if (!StartsWith(out.name, prefix)) continue;
      auto re = Regex::Compile(std::string_view(out.name).substr(prefix.size()));
      if (!re) ctx.Error(*v, sf.Sub("name"), "not a regular expression: " + re.error().message);
    }
  }
  if (const Node* v = sf.Get("matchLabels"))
    out.match_labels = ctx.StrMap(*v, sf.Sub("matchLabels"));
  sf.NotSupported("matchExpressions", "matchExpressions; use matchLabels");
  return out;
}

// Kargo's AutoRollbackConfig: each list a set of at most two of its phases.
AutoRollback DecodeAutoRollback(Ctx& ctx, const Node& node, const std::string& path) {
  AutoRollback out;
  Fields f(ctx, node, path);
  auto phases = [&](const char* key, const std::vector<std::string>& allowed,
                    std::vector<std::string>& into) {
    const Node* v = f.Get(key);
    if (!v || v->IsNull()) return;
    into.clear();
    const std::string at = f.Sub(key);
    if (!v->IsSeq()) {
      ctx.Error(*v, at, fmt::format("expected a list, found a {}", v->TypeName()));
      return;
    }
    for (size_t i = 0; i < v->seq.size(); ++i) {
      std::string phase = Enum(ctx, v->seq[i], fmt::format("{}[{}]", at, i), allowed);
      if (phase.empty()) continue;
      if (std::find(into.begin(), into.end(), phase) != into.end()) {
        ctx.Error(v->seq[i], fmt::format("{}[{}]", at, i), Quote(phase) + " is listed twice");
        continue;
      }
      into.push_back(phase);
    }
  };
  phases("onVerification", {"Failed", "Error"}, out.on_verification);
  // Kargo: absent or empty is [Failed].
  if (out.on_verification.empty()) out.on_verification = {"Failed"};
  phases("onPromotion", {"Failed", "Errored"}, out.on_promotion);
  return out;
}

std::vector<PromotionPolicy> DecodePolicies(Ctx& ctx, Fields& f) {
  std::vector<PromotionPolicy> out;
  f.List("promotionPolicies", [&](const Node& item, const std::string& path) {
    Fields pf(ctx, item, path);
    PromotionPolicy p;
    const Node* stage = pf.Get("stage");  // deprecated: stageSelector.name
    if (stage && !stage->IsNull()) p.selector.name = ctx.Str(*stage, pf.Sub("stage"));
    if (const Node* sel = pf.Get("stageSelector"); sel && !sel->IsNull())
      p.selector = DecodeSelector(ctx, *sel, pf.Sub("stageSelector"));
    if (const Node* v = pf.Get("autoPromotionEnabled"))
      p.auto_promotion_enabled = ctx.Bool(*v, pf.Sub("autoPromotionEnabled"));
    if (const Node* v = pf.Get("autoRollback"); v && !v->IsNull())
      p.auto_rollback = DecodeAutoRollback(ctx, *v, pf.Sub("autoRollback"));
    out.push_back(std::move(p));
  });
  return out;
}

// A window's times and rule, checked as they will be evaluated: the error
// at the field that is wrong.
void CheckWindowTimes(Ctx& ctx, Fields& wf, PromotionWindow& w) {
  const Node* start_node = wf.Need("dtstart");
  const Node* end_node = wf.Need("dtend");
  const Node* rule_node = wf.Get("rrule");
  if (rule_node && !rule_node->IsNull()) w.rrule = ctx.Str(*rule_node, wf.Sub("rrule"));
  if (!start_node || !end_node) return;
  w.dtstart = ctx.Str(*start_node, wf.Sub("dtstart"));
  w.dtend = ctx.Str(*end_node, wf.Sub("dtend"));
  auto start = ParseIcalTime(w.dtstart);
  if (!start) ctx.Error(*start_node, wf.Sub("dtstart"), start.error().message);
  auto end = ParseIcalTime(w.dtend);
  if (!end) ctx.Error(*end_node, wf.Sub("dtend"), end.error().message);
  if (start && end && end->Utc() <= start->Utc())
    ctx.Error(*end_node, wf.Sub("dtend"), "must be after dtstart (it ends each occurrence)");
  if (w.rrule.empty() || !start) return;
  auto rule = ParseRRule(w.rrule);
  Result<Recurrence> made = rule ? Recurrence::Make(*rule, *start) : tl::unexpected(rule.error());
  if (!made) ctx.Error(*rule_node, wf.Sub("rrule"), made.error().message);
}

// A gate's `name`: required, a DNS subdomain, once in its list (`what`).
std::string GateName(Ctx& ctx, Fields& f, std::set<std::string>& names, std::string_view what) {
  std::string name;
  if (const Node* v = f.Need("name")) {
    name = ctx.Str(*v, f.Sub("name"));
    ctx.CheckName(*v, f.Sub("name"), name, Ctx::NameRule::kDnsSubdomain);
    if (!names.insert(name).second)
      ctx.Error(*v, f.Sub("name"), fmt::format("{} {} is named twice", what, Quote(name)));
  }
  return name;
}

// stageSelector, and projectSelector where the object covers Projects (a
// ClusterConfig's); a ProjectConfig's covers its own Project.
void GateSelectors(Ctx& ctx, Fields& f, bool cluster, std::optional<StageSelector>& stage,
                   std::optional<StageSelector>& project) {
  if (const Node* sel = f.Get("stageSelector"); sel && !sel->IsNull())
    stage = DecodeSelector(ctx, *sel, f.Sub("stageSelector"));
  const Node* v = f.Get("projectSelector");
  if (!v || v->IsNull()) return;
  if (cluster) {
    project = DecodeSelector(ctx, *v, f.Sub("projectSelector"));
  } else {
    ctx.Error(*v, f.Sub("projectSelector"),
              "is for a ClusterConfig's windows: a ProjectConfig's cover its own Project");
  }
}

std::vector<PromotionWindow> DecodeWindows(Ctx& ctx, Fields& f, bool cluster) {
  std::vector<PromotionWindow> out;
  std::set<std::string> names;
  f.List("promotionWindows", [&](const Node& item, const std::string& path) {
    Fields wf(ctx, item, path);
    PromotionWindow w;
    w.name = GateName(ctx, wf, names, "window");
    if (const Node* v = wf.Need("kind")) {
      std::string kind = ctx.Str(*v, wf.Sub("kind"));
      if (kind != "Allow" && kind != "Deny")
        ctx.Error(*v, wf.Sub("kind"), fmt::format("must be Allow or Deny, found {}", Quote(kind)));
      w.deny = kind == "Deny";
    }
    GateSelectors(ctx, wf, cluster, w.stage_selector, w.project_selector);
    CheckWindowTimes(ctx, wf, w);
    out.push_back(std::move(w));
  });
  return out;
}

// GitLab's freeze periods: both crons and the zone checked as they will be
// read.
std::vector<FreezePeriod> DecodeFreezePeriods(Ctx& ctx, Fields& f, bool cluster) {
  std::vector<FreezePeriod> out;
  std::set<std::string> names;
  f.List("freezePeriods", [&](const Node& item, const std::string& path) {
    Fields ff(ctx, item, path);
    FreezePeriod p;
    p.name = GateName(ctx, ff, names, "freeze period");
    GateSelectors(ctx, ff, cluster, p.stage_selector, p.project_selector);
    for (auto [key, field] :
         {std::pair{"freezeStart", &p.freeze_start}, std::pair{"freezeEnd", &p.freeze_end}}) {
      const Node* v = ff.Need(key);
      if (!v) continue;
      *field = ctx.Str(*v, ff.Sub(key));
      if (auto cron = ParseCron(*field); !cron) ctx.Error(*v, ff.Sub(key), cron.error().message);
    }
    if (!p.freeze_start.empty() && p.freeze_start == p.freeze_end) {
      ctx.Error(*ff.Get("freezeEnd"), ff.Sub("freezeEnd"),
                "is freezeStart: a freeze that ends as it starts never holds");
    }
    if (const Node* v = ff.Get("cronTimezone"); v && !v->IsNull()) {
      p.cron_timezone = ctx.Str(*v, ff.Sub("cronTimezone"));
      if (auto zone = TimeZone::Get(p.cron_timezone); !zone)
        ctx.Error(*v, ff.Sub("cronTimezone"), zone.error().message);
    }
    out.push_back(std::move(p));
  });
  return out;
}

// An exception names Freight by name, its fingerprint (40 hex digits): an
// alias can be moved to other Freight by anyone who may write Freight.
void CheckFreightName(Ctx& ctx, const Node& at, const std::string& path, const std::string& n) {
  bool hex = n.size() == 40 && std::all_of(n.begin(), n.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
  if (hex) return;
  ctx.Error(at, path,
            fmt::format("{} is not a Freight's name (its fingerprint, 40 hex digits); an exception "
                        "names Freight by name, since an alias can be moved",
                        Quote(n)));
}

// strake's promotionCriteria: each named, selecting Stages (and Projects,
// a ClusterConfig's), with an expression (compiled by the API at apply,
// where the functions it may call are known).
std::vector<PromotionCriterion> DecodeCriteria(Ctx& ctx, Fields& f, bool cluster) {
  std::vector<PromotionCriterion> out;
  std::set<std::string> names;
  f.List("promotionCriteria", [&](const Node& item, const std::string& path) {
    Fields cf(ctx, item, path);
    PromotionCriterion c;
    c.name = GateName(ctx, cf, names, "criterion");
    GateSelectors(ctx, cf, cluster, c.stage_selector, c.project_selector);
    if (const Node* v = cf.Need("expression")) {
      c.expression = ctx.Str(*v, cf.Sub("expression"));
      if (Trim(c.expression).empty()) ctx.Error(*v, cf.Sub("expression"), "must not be empty");
    }
    out.push_back(std::move(c));
  });
  return out;
}

// strake's approvalPolicies: the fields of Kargo's wait-for-approval
// config, each checked here with its place.
std::vector<ApprovalPolicy> DecodeApprovalPolicies(Ctx& ctx, Fields& f, bool cluster) {
  std::vector<ApprovalPolicy> out;
  std::set<std::string> names;
  f.List("approvalPolicies", [&](const Node& item, const std::string& path) {
    Fields pf(ctx, item, path);
    ApprovalPolicy p;
    p.name = GateName(ctx, pf, names, "approval policy");
    GateSelectors(ctx, pf, cluster, p.stage_selector, p.project_selector);
    if (const Node* v = pf.Get("minApprovals"); v && !v->IsNull())
      p.rules["minApprovals"] = ctx.Int(*v, pf.Sub("minApprovals"), 1, 100);
    if (const Node* v = pf.Get("allowSelfApproval"); v && !v->IsNull())
      p.rules["allowSelfApproval"] = ctx.Bool(*v, pf.Sub("allowSelfApproval"));
    Json approvers = Json::array();
    pf.List("approvers", [&](const Node& a, const std::string& at) {
      Fields af(ctx, a, at);
      Json rule = Json::object();
      for (const char* key : {"claim", "value", "role"})
        if (const Node* v = af.Get(key); v && !v->IsNull()) rule[key] = ctx.Str(*v, af.Sub(key));
      if (const Node* v = af.Get("required"); v && !v->IsNull())
        rule["required"] = ctx.Bool(*v, af.Sub("required"));
      if (rule.contains("role") == (rule.contains("claim") || rule.contains("value")))
        ctx.Error(a, at, "an approver is a role, or a claim with its value");
      approvers.push_back(std::move(rule));
    });
    if (!approvers.empty()) p.rules["approvers"] = std::move(approvers);
    out.push_back(std::move(p));
  });
  return out;
}

std::optional<LineStop> DecodeLineStop(Ctx& ctx, Fields& f, bool cluster) {
  const Node* node = f.Get("stopTheLine");
  if (!node || node->IsNull()) return std::nullopt;
  Fields lf(ctx, *node, f.Sub("stopTheLine"));
  LineStop stop;
  if (const Node* v = lf.Need("reason")) {
    stop.reason = ctx.Str(*v, lf.Sub("reason"));
    if (Trim(stop.reason).empty()) ctx.Error(*v, lf.Sub("reason"), "must say why the line stopped");
  }
  std::set<std::string> names;
  lf.List("exceptions", [&](const Node& item, const std::string& path) {
    Fields ef(ctx, item, path);
    LineException e;
    e.name = GateName(ctx, ef, names, "exception");
    GateSelectors(ctx, ef, cluster, e.stage_selector, e.project_selector);
    if (const Node* v = ef.Need("freight")) {
      e.freight = ctx.StrList(*v, ef.Sub("freight"));
      if (v->IsSeq() && e.freight.empty())
        ctx.Error(*v, ef.Sub("freight"),
                  "names no Freight: an exception lets named Freight through");
      for (size_t i = 0; i < e.freight.size() && v->IsSeq(); ++i)
        CheckFreightName(ctx, v->seq[i], fmt::format("{}[{}]", ef.Sub("freight"), i), e.freight[i]);
    }
    stop.exceptions.push_back(std::move(e));
  });
  return stop;
}

}  // namespace

bool DecodeProjectKind(Ctx& ctx, Fields& f, Resource& r) {
  // A Project is a namespace of the same name: a DNS-1123 label.
  if (const Node* m = f.Get("metadata"); m && m->IsMap()) {
    if (const Node* n = m->Get("name"); n && IsDnsSubdomain(r.meta.name))
      ctx.CheckName(*n, "metadata.name", r.meta.name, Ctx::NameRule::kDnsLabel);
  }
  if (const Node* spec = f.Get("spec"); spec && !spec->IsNull()) {
    ctx.Error(*spec, "spec",
              "a Project has no spec since Kargo v1.7: its promotionPolicies are a "
              "ProjectConfig's (named as the Project, in its namespace)");
  }
  r.value = Project{r.meta};
  return true;
}

bool DecodeWarehouseKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    return Warehouse{r.meta, DecodeWarehouseSpecNode(ctx, spec)};
  });
}

bool DecodeFreightKind(Ctx& ctx, Fields& f, Resource& r) {
  Freight freight;
  freight.meta = r.meta;
  DecodeFreightFields(ctx, f, freight);
  r.value = std::move(freight);
  return true;
}

bool DecodeStageKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    return Stage{r.meta, DecodeStageSpecNode(ctx, spec)};
  });
}

bool DecodePromotionKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    return Promotion{r.meta, DecodePromotionSpecNode(ctx, spec)};
  });
}

bool DecodeProjectConfigKind(Ctx& ctx, Fields& f, Resource& r) {
  // Kargo: a ProjectConfig is named as its Project (its namespace).
  if (const Node* m = f.Get("metadata");
      m && m->IsMap() && !r.meta.ns.empty() && r.meta.name != r.meta.ns) {
    const Node* n = m->Get("name");
    ctx.Error(n ? *n : *m, "metadata.name",
              fmt::format("a ProjectConfig is named as its Project: must be {}, found {}",
                          Quote(r.meta.ns), Quote(r.meta.name)));
  }
  ProjectConfig pc;
  pc.meta = r.meta;
  const Node* spec = f.Get("spec");
  if (spec && !spec->IsNull()) {
    Fields sf(ctx, *spec, "spec");
    pc.promotion_policies = DecodePolicies(ctx, sf);
    pc.promotion_windows = DecodeWindows(ctx, sf, false);
    pc.freeze_periods = DecodeFreezePeriods(ctx, sf, false);
    pc.stop_the_line = DecodeLineStop(ctx, sf, false);
    pc.promotion_criteria = DecodeCriteria(ctx, sf, false);
    pc.approval_policies = DecodeApprovalPolicies(ctx, sf, false);
    NotYet(ctx, sf, "webhookReceivers", "webhookReceivers");
    sf.Ignore({"freightLinks", "stageLinks"}, "is for Kargo's UI");
  }
  r.value = std::move(pc);
  return true;
}

bool DecodeClusterConfigKind(Ctx& ctx, Fields& f, Resource& r) {
  // Kargo reads the one named "cluster" (pkg/api ClusterConfigName).
  if (const Node* m = f.Get("metadata"); m && m->IsMap() && r.meta.name != kClusterConfigName) {
    const Node* n = m->Get("name");
    ctx.Error(n ? *n : *m, "metadata.name",
              fmt::format("the ClusterConfig is named {}, found {}", Quote(kClusterConfigName),
                          Quote(r.meta.name)));
  }
  ClusterConfig cc;
  cc.meta = r.meta;
  const Node* spec = f.Get("spec");
  if (spec && !spec->IsNull()) {
    Fields sf(ctx, *spec, "spec");
    cc.promotion_windows = DecodeWindows(ctx, sf, true);
    cc.freeze_periods = DecodeFreezePeriods(ctx, sf, true);
    cc.stop_the_line = DecodeLineStop(ctx, sf, true);
    cc.promotion_criteria = DecodeCriteria(ctx, sf, true);
    cc.approval_policies = DecodeApprovalPolicies(ctx, sf, true);
    NotYet(ctx, sf, "webhookReceivers", "webhookReceivers");
    NotYet(ctx, sf, "gitClient", "gitClient (commits are made as the Stage's git steps say)");
    sf.Ignore({"freightLinks", "stageLinks"}, "is for Kargo's UI");
  }
  r.value = std::move(cc);
  return true;
}

bool DecodePromotionTaskKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    Fields sf(ctx, spec, "spec");
    PromotionTask t;
    t.meta = r.meta;
    t.cluster = r.kind == "ClusterPromotionTask";
    t.vars = DecodeVars(ctx, sf, "vars");
    if (const Node* steps = sf.Need("steps"); steps && steps->IsSeq() && steps->seq.empty())
      ctx.Error(*steps, "spec.steps", "a task needs at least one step");
    t.steps = DecodeSteps(ctx, sf, "steps", StepsOf::kTask);
    return t;
  });
}

namespace {

// Kargo's key for each field of a commit, in Kargo's order.
constexpr std::pair<const char*, std::string FreightCommit::*> kCommitFields[] = {
    {"repoURL", &FreightCommit::repo_url},
    {"id", &FreightCommit::id},
    {"branch", &FreightCommit::branch},
    {"tag", &FreightCommit::tag},
    {"message", &FreightCommit::message},
    {"author", &FreightCommit::author},
    {"committer", &FreightCommit::committer},
    {"subscriptionName", &FreightCommit::subscription_name}};

}  // namespace

Json FreightCommitToJson(const FreightCommit& c) {
  Json j = Json::object();
  for (const auto& [key, field] : kCommitFields) {
    if (!(c.*field).empty()) j[key] = c.*field;
  }
  return j;
}

FreightCommit FreightCommitFromJson(const Json& j) {
  FreightCommit c;
  if (!j.is_object()) return c;
  for (const auto& [key, field] : kCommitFields) {
    auto v = j.find(key);
    if (v != j.end() && v->is_string()) c.*field = v->get<std::string>();
  }
  return c;
}

Json FreightImageToJson(const FreightImage& i) {
  Json j = {{"repoURL", i.repo_url}, {"tag", i.tag}, {"digest", i.digest}};
  if (!i.annotations.empty()) j["annotations"] = i.annotations;
  if (!i.subscription_name.empty()) j["subscriptionName"] = i.subscription_name;
  return j;
}

FreightImage FreightImageFromJson(const Json& j) {
  FreightImage i;
  if (!j.is_object()) return i;
  i.repo_url = j.value("repoURL", "");
  i.tag = j.value("tag", "");
  i.digest = j.value("digest", "");
  i.subscription_name = j.value("subscriptionName", "");
  if (auto a = j.find("annotations"); a != j.end() && a->is_object()) {
    for (const auto& [k, v] : a->items()) {
      if (v.is_string()) i.annotations[k] = v.get<std::string>();
    }
  }
  return i;
}

Json FreightArtifactToJson(const FreightArtifact& a) {
  Json j = {{"artifactType", a.artifact_type},
            {"subscriptionName", a.subscription_name},
            {"version", a.version}};
  if (a.metadata.is_object() && !a.metadata.empty()) j["metadata"] = a.metadata;
  return j;
}

FreightArtifact FreightArtifactFromJson(const Json& j) {
  FreightArtifact a;
  if (!j.is_object()) return a;
  a.artifact_type = j.value("artifactType", "");
  a.subscription_name = j.value("subscriptionName", "");
  a.version = j.value("version", "");
  auto m = j.find("metadata");
  if (m != j.end() && m->is_object()) a.metadata = *m;
  return a;
}

std::string NormalizeGitUrl(const std::string& url) {
  std::string repo = Sanitized(url);
  for (std::string_view scheme : {"http", "https", "ssh"}) {
    if (!StartsWith(repo, std::string(scheme) + "://")) continue;
    if (repo.find('?') != std::string::npos) return url;  // Kargo: query strings not normalised
    return NormalizeUrlForm(repo, scheme.size(), scheme != "ssh");
  }
  std::string user_host, path;
  if (!SplitScp(repo, user_host, path)) return url;
  path = TrimRepoPath(path);
  return path.empty() ? "ssh://" + user_host : "ssh://" + user_host + "/" + path;
}

}  // namespace strake::model

namespace strake::model {

bool IsReservedStepAlias(const std::string& alias) {
  for (std::string_view prefix : {"step-", "task-"}) {
    if (!StartsWith(alias, prefix) || alias.size() == prefix.size()) continue;
    if (std::all_of(alias.begin() + static_cast<std::ptrdiff_t>(prefix.size()), alias.end(),
                    [](unsigned char c) { return std::isdigit(c) != 0; })) {
      return true;
    }
  }
  return false;
}

bool SelectsStage(const StageSelector& selector, const std::string& name,
                  const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : selector.match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  const std::string& pattern = selector.name;
  if (pattern.empty()) return true;
  if (StartsWith(pattern, "glob:")) return GlobMatch(std::string_view(pattern).substr(5), name);
  for (std::string_view prefix : {"regex:", "regexp:"}) {
    if (!StartsWith(pattern, prefix)) continue;
    auto re = Regex::Compile(std::string_view(pattern).substr(prefix.size()));
    return re && re->PartialMatch(name);
  }
  return pattern == name;
}

Json ExpressionVariablesToJson(const std::vector<ExpressionVariable>& vars) {
  Json out = Json::array();
  for (const auto& v : vars) out.push_back({{"name", v.name}, {"value", v.value}});
  return out;
}

Json PromotionStepToJson(const PromotionStepSpec& s) {
  Json j = Json::object();
  if (!s.task_name.empty()) {
    j["task"] = {{"name", s.task_name}};
    if (!s.task_kind.empty() && s.task_kind != "PromotionTask") j["task"]["kind"] = s.task_kind;
  } else {
    j["uses"] = s.uses;
  }
  if (!s.as.empty()) j["as"] = s.as;
  if (!s.if_expr.empty()) j["if"] = s.if_expr;
  if (s.continue_on_error) j["continueOnError"] = true;
  if (s.error_threshold > 0 || s.timeout) {
    Json retry = Json::object();
    if (s.error_threshold > 0) retry["errorThreshold"] = s.error_threshold;
    if (s.timeout) retry["timeout"] = FormatDuration(*s.timeout);
    j["retry"] = retry;
  }
  if (!s.vars.empty()) j["vars"] = ExpressionVariablesToJson(s.vars);
  if (!s.config.is_null()) j["config"] = s.config;
  return j;
}

}  // namespace strake::model
