#include "router/wire.h"

#include <fmt/format.h>

namespace strake::router {

using nlohmann::json;

namespace {

const char* KindName(StringMatch::Kind k) {
  switch (k) {
    case StringMatch::Kind::kExact:
      return "exact";
    case StringMatch::Kind::kPrefix:
      return "prefix";
    case StringMatch::Kind::kRegex:
      return "regex";
  }
  return "exact";
}

json MatchToJson(const StringMatch& m) { return json{{KindName(m.kind), m.value}}; }

json HeadersToJson(const std::vector<std::pair<std::string, StringMatch>>& headers) {
  json out = json::array();
  for (const auto& [name, m] : headers)
    out.push_back(json{{"name", name}, {"match", MatchToJson(m)}});
  return out;
}

// A decoding error names the JSON path of the field it is about.
struct Reader {
  std::string path;

  Result<const json*> Field(const json& obj, const char* key, json::value_t type,
                            bool required = true) const {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (!required) return nullptr;
      return Failf("{}.{}: missing", path, key);
    }
    bool ok = it->type() == type ||
              (type == json::value_t::number_unsigned && it->is_number_unsigned()) ||
              (type == json::value_t::number_float && it->is_number());
    if (!ok) return Failf("{}.{}: expected {}", path, key, json(type).type_name());
    return &*it;
  }
  Reader At(const std::string& sub) const { return Reader{path + sub}; }
};

Result<StringMatch> MatchFromJson(const json& j, const Reader& r) {
  if (!j.is_object() || j.size() != 1)
    return Failf("{}: expected one of exact, prefix, regex", r.path);
  auto first = j.begin();
  const std::string& key = first.key();
  const json& value = first.value();
  if (!value.is_string()) return Failf("{}.{}: expected string", r.path, key);
  StringMatch::Kind kind;
  if (key == "exact") {
    kind = StringMatch::Kind::kExact;
  } else if (key == "prefix") {
    kind = StringMatch::Kind::kPrefix;
  } else if (key == "regex") {
    kind = StringMatch::Kind::kRegex;
  } else {
    return Failf("{}: unknown match {}", r.path, key);
  }
  auto m = StringMatch::Make(kind, value.get<std::string>());
  if (!m) return Failf("{}: {}", r.path, m.error().message);
  return m;
}

Result<std::vector<std::pair<std::string, StringMatch>>> HeadersFromJson(const json& j,
                                                                         const Reader& r) {
  if (!j.is_array()) return Failf("{}: expected array", r.path);
  std::vector<std::pair<std::string, StringMatch>> out;
  for (size_t i = 0; i < j.size(); ++i) {
    Reader at = r.At(fmt::format("[{}]", i));
    if (!j[i].is_object()) return Failf("{}: expected object", at.path);
    STRAKE_TRY_ASSIGN(name, at.Field(j[i], "name", json::value_t::string));
    STRAKE_TRY_ASSIGN(match, at.Field(j[i], "match", json::value_t::object));
    STRAKE_TRY_ASSIGN(m, MatchFromJson(*match, at.At(".match")));
    out.emplace_back(name->get<std::string>(), std::move(m));
  }
  return out;
}

}  // namespace

json TableToJson(const RouteTable& t) {
  json backends = json::array();
  for (const auto& b : t.backends) {
    backends.push_back(json{{"revision", b.revision}, {"weight", b.weight}, {"ports", b.ports}});
  }
  json headers = json::array();
  for (const auto& h : t.header_routes) {
    headers.push_back(
        json{{"name", h.name}, {"headers", HeadersToJson(h.headers)}, {"backend", h.backend}});
  }
  json mirrors = json::array();
  for (const auto& m : t.mirror_routes) {
    json o{{"name", m.name},
           {"headers", HeadersToJson(m.headers)},
           {"percentage", m.percentage},
           {"backend", m.backend}};
    if (m.method) o["method"] = MatchToJson(*m.method);
    if (m.path) o["path"] = MatchToJson(*m.path);
    mirrors.push_back(std::move(o));
  }
  json out{{"backends", std::move(backends)},
           {"headerRoutes", std::move(headers)},
           {"mirrorRoutes", std::move(mirrors)}};
  if (!t.unavailable.empty()) out["unavailable"] = t.unavailable;
  return out;
}

Result<RouteTable> TableFromJson(const json& j) {
  Reader r{"table"};
  if (!j.is_object()) return Failf("{}: expected object", r.path);
  RouteTable t;
  STRAKE_TRY_ASSIGN(backends, r.Field(j, "backends", json::value_t::array));
  for (size_t i = 0; i < backends->size(); ++i) {
    Reader at = r.At(fmt::format(".backends[{}]", i));
    const json& b = (*backends)[i];
    if (!b.is_object()) return Failf("{}: expected object", at.path);
    Backend out;
    STRAKE_TRY_ASSIGN(rev, at.Field(b, "revision", json::value_t::string));
    STRAKE_TRY_ASSIGN(weight, at.Field(b, "weight", json::value_t::number_unsigned));
    STRAKE_TRY_ASSIGN(ports, at.Field(b, "ports", json::value_t::array));
    out.revision = rev->get<std::string>();
    if (weight->get<uint64_t>() > 1'000'000) return Failf("{}.weight: too large", at.path);
    out.weight = weight->get<uint32_t>();
    for (const auto& p : *ports) {
      if (!p.is_number_unsigned() || p.get<uint64_t>() == 0 || p.get<uint64_t>() > 65535) {
        return Failf("{}.ports: {} is not a port", at.path, p.dump());
      }
      out.ports.push_back(p.get<uint16_t>());
    }
    t.backends.push_back(std::move(out));
  }
  STRAKE_TRY_ASSIGN(headers, r.Field(j, "headerRoutes", json::value_t::array, false));
  for (size_t i = 0; headers && i < headers->size(); ++i) {
    Reader at = r.At(fmt::format(".headerRoutes[{}]", i));
    const json& h = (*headers)[i];
    if (!h.is_object()) return Failf("{}: expected object", at.path);
    HeaderRoute out;
    STRAKE_TRY_ASSIGN(name, at.Field(h, "name", json::value_t::string));
    STRAKE_TRY_ASSIGN(hs, at.Field(h, "headers", json::value_t::array));
    STRAKE_TRY_ASSIGN(backend, at.Field(h, "backend", json::value_t::number_unsigned));
    out.name = name->get<std::string>();
    STRAKE_TRY_ASSIGN(decoded, HeadersFromJson(*hs, at.At(".headers")));
    out.headers = std::move(decoded);
    out.backend = backend->get<size_t>();
    t.header_routes.push_back(std::move(out));
  }
  STRAKE_TRY_ASSIGN(mirrors, r.Field(j, "mirrorRoutes", json::value_t::array, false));
  for (size_t i = 0; mirrors && i < mirrors->size(); ++i) {
    Reader at = r.At(fmt::format(".mirrorRoutes[{}]", i));
    const json& m = (*mirrors)[i];
    if (!m.is_object()) return Failf("{}: expected object", at.path);
    MirrorRoute out;
    STRAKE_TRY_ASSIGN(name, at.Field(m, "name", json::value_t::string));
    STRAKE_TRY_ASSIGN(hs, at.Field(m, "headers", json::value_t::array));
    STRAKE_TRY_ASSIGN(pct, at.Field(m, "percentage", json::value_t::number_unsigned));
    STRAKE_TRY_ASSIGN(backend, at.Field(m, "backend", json::value_t::number_unsigned));
    STRAKE_TRY_ASSIGN(method, at.Field(m, "method", json::value_t::object, false));
    STRAKE_TRY_ASSIGN(path, at.Field(m, "path", json::value_t::object, false));
    out.name = name->get<std::string>();
    STRAKE_TRY_ASSIGN(decoded, HeadersFromJson(*hs, at.At(".headers")));
    out.headers = std::move(decoded);
    if (pct->get<uint64_t>() > 100) return Failf("{}.percentage: over 100", at.path);
    out.percentage = pct->get<uint32_t>();
    out.backend = backend->get<size_t>();
    if (method) {
      STRAKE_TRY_ASSIGN(mm, MatchFromJson(*method, at.At(".method")));
      out.method = std::move(mm);
    }
    if (path) {
      STRAKE_TRY_ASSIGN(pm, MatchFromJson(*path, at.At(".path")));
      out.path = std::move(pm);
    }
    t.mirror_routes.push_back(std::move(out));
  }
  STRAKE_TRY_ASSIGN(why, r.Field(j, "unavailable", json::value_t::string, false));
  if (why) t.unavailable = why->get<std::string>();
  STRAKE_TRY(t.Validate().map_error([](const Error& e) { return e.Wrap("table"); }));
  return t;
}

json CountersToJson(const std::vector<ServiceCounters>& snapshot) {
  json out = json::array();
  for (const auto& s : snapshot) {
    json revs = json::array();
    for (const auto& r : s.revisions) {
      revs.push_back(json{{"revision", r.revision},
                          {"requests", r.requests},
                          {"byClass", r.by_class},
                          {"upstreamErrors", r.upstream_errors},
                          {"mirrored", r.mirrored},
                          {"buckets", r.buckets},
                          {"latencySumSeconds", r.latency_sum_seconds}});
    }
    out.push_back(json{{"service", s.service},
                       {"port", s.port},
                       {"noBackend", s.no_backend},
                       {"revisions", std::move(revs)}});
  }
  return out;
}

Result<std::vector<ServiceCounters>> CountersFromJson(const json& j) {
  // Written by our own router process: a shape error is a version mismatch,
  // reported as such rather than field by field.
  try {
    std::vector<ServiceCounters> out;
    for (const auto& s : j.at("services")) {
      ServiceCounters sc;
      sc.service = s.at("service").get<std::string>();
      sc.port = s.at("port").get<uint16_t>();
      sc.no_backend = s.at("noBackend").get<uint64_t>();
      for (const auto& r : s.at("revisions")) {
        RevisionCounters rc;
        rc.revision = r.at("revision").get<std::string>();
        rc.requests = r.at("requests").get<uint64_t>();
        rc.by_class = r.at("byClass").get<decltype(rc.by_class)>();
        rc.upstream_errors = r.at("upstreamErrors").get<uint64_t>();
        rc.mirrored = r.at("mirrored").get<uint64_t>();
        rc.buckets = r.at("buckets").get<decltype(rc.buckets)>();
        rc.latency_sum_seconds = r.at("latencySumSeconds").get<double>();
        sc.revisions.push_back(std::move(rc));
      }
      out.push_back(std::move(sc));
    }
    return out;
  } catch (const json::exception& e) {
    return Failf("router counters: unexpected shape: {}", e.what());
  }
}

}  // namespace strake::router
