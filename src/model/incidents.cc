#include "model/incidents.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "base/clock.h"
#include "base/strings.h"
#include "model/decoders.h"

namespace strake::model {

namespace {

constexpr std::array<std::string_view, 5> kSources = {"api", "cli", "pagerduty", "opsgenie",
                                                      "alertmanager"};

std::optional<int64_t> Time(Ctx& ctx, const Node& n, const std::string& path) {
  std::string text = ctx.Str(n, path);
  auto t = ParseRfc3339(text);
  if (!t) {
    ctx.Error(n, path,
              fmt::format("{} is not an RFC 3339 time (2026-12-07T06:00:00Z)", Quote(text)));
    return std::nullopt;
  }
  return UnixMillis(*t);
}

IncidentSpec DecodeIncidentSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  IncidentSpec s;
  if (const Node* v = f.Need("title")) {
    s.title = ctx.Str(*v, "spec.title");
    if (s.title.empty() || s.title.size() > 1024)
      ctx.Error(*v, "spec.title", "a title of 1 to 1024 characters");
  }
  if (const Node* v = f.Get("environment")) s.environment = ctx.Str(*v, "spec.environment");
  if (const Node* v = f.Get("deployment")) s.deployment = ctx.Str(*v, "spec.deployment");
  if (const Node* v = f.Get("commit")) {
    s.commit = ctx.Str(*v, "spec.commit");
    const bool hex = std::all_of(s.commit.begin(), s.commit.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    if (!hex || s.commit.size() < 4 || s.commit.size() > 64)
      ctx.Error(*v, "spec.commit", "a commit SHA: 4 to 64 lowercase hex digits");
  }
  if (s.environment.empty() && s.deployment.empty() && s.commit.empty()) {
    ctx.Error(spec, "spec",
              "an incident names what it hit: spec.environment, spec.deployment or spec.commit");
  }
  if (const Node* v = f.Get("source")) {
    s.source = ctx.Str(*v, "spec.source");
    if (std::find(kSources.begin(), kSources.end(), s.source) == kSources.end()) {
      ctx.Error(*v, "spec.source",
                fmt::format("{} is not a source: api, cli, pagerduty, opsgenie or alertmanager",
                            Quote(s.source)));
    }
  }
  if (const Node* v = f.Get("externalID")) s.external_id = ctx.Str(*v, "spec.externalID");
  if (const Node* v = f.Get("openedAt")) s.opened_ms = Time(ctx, *v, "spec.openedAt");
  if (const Node* v = f.Get("closedAt")) {
    s.closed_ms = Time(ctx, *v, "spec.closedAt");
    if (s.closed_ms && s.opened_ms && *s.closed_ms < *s.opened_ms)
      ctx.Error(*v, "spec.closedAt", "closed before it opened (spec.openedAt)");
  }
  return s;
}

}  // namespace

bool DecodeIncidentKind(Ctx& ctx, Fields& f, Resource& r) {
  const Node* spec = f.Need("spec");
  if (!spec) return false;
  (void)DecodeIncidentSpecNode(ctx, *spec);
  r.value = StoredObject{r.meta};
  return true;
}

Result<IncidentSpec> IncidentSpecFromJson(const Json& spec) {
  return FromStoredJson<IncidentSpec>(
      spec, [](Ctx& ctx, const Node& n) { return DecodeIncidentSpecNode(ctx, n); });
}

}  // namespace strake::model
