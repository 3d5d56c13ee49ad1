#include "model/provenance.h"

#include <fmt/format.h>

#include <utility>

#include "base/sha256.h"
#include "base/strings.h"
#include "model/json_fields.h"

namespace strake::model {

namespace {

const Json& At(const Json& j, const char* key) { return model::FieldOf(j, key); }
std::string Text(const Json& j, const char* key) { return model::TextOf(j, key); }

// "algorithm:hex" of a DigestSet, sha256 first.
std::string DigestText(const Json& set) {
  if (!set.is_object()) return "";
  for (const char* alg : {"sha256", "sha512", "sha384", "sha1"}) {
    const Json& v = At(set, alg);
    if (v.is_string()) return std::string(alg) + ":" + v.get<std::string>();
  }
  for (const auto& [alg, v] : set.items())
    if (v.is_string()) return alg + ":" + v.get<std::string>();
  return "";
}

// {repo, commit, ref} of a git dependency ("git+<repo>[@<ref>]", sha1).
Json GitSource(const Json& d) {
  std::string uri = Text(d, "uri").substr(4);
  Json out = {{"repo", ""}, {"commit", ""}, {"ref", ""}};
  size_t at = uri.rfind('@');
  size_t scheme = uri.find("://");
  // "…/repo.git@refs/heads/main": a ref after the path (not a user@host).
  if (at != std::string::npos && at > uri.find('/', scheme == std::string::npos ? 0 : scheme + 3)) {
    out["ref"] = uri.substr(at + 1);
    uri.resize(at);
  }
  out["repo"] = uri;
  const Json& sha1 = At(At(d, "digest"), "sha1");
  out["commit"] = sha1.is_string() ? sha1.get<std::string>() : "";
  return out;
}

// The source the builder itself knows (annotated kSourceAnnotation) and
// the git sources the build only claimed (Chains' CHAINS-GIT_* params and
// results): definitions (pipeline, task) are neither.
std::pair<Json, Json> SourcesOf(const Json& deps) {
  Json source = {{"repo", ""}, {"commit", ""}, {"ref", ""}};
  Json claimed = Json::array();
  if (!deps.is_array()) return {source, claimed};
  for (const auto& d : deps) {
    const std::string name = Text(d, "name");
    if (!StartsWith(Text(d, "uri"), "git+") || name == "pipeline" || name == "pipelineTask" ||
        name == "task")
      continue;
    if (Text(At(d, "annotations"), kSourceAnnotation) == "push") {
      source = GitSource(d);
    } else {
      claimed.push_back(GitSource(d));
    }
  }
  return {source, claimed};
}

}  // namespace

Json EnvelopeToJson(const DsseEnvelope& e) {
  Json sigs = Json::array();
  for (const auto& s : e.signatures)
    sigs.push_back({{"keyid", s.keyid}, {"sig", Base64Encode(s.sig)}});
  return {{"payloadType", e.payload_type},
          {"payload", Base64Encode(e.payload)},
          {"signatures", std::move(sigs)}};
}

Result<DsseEnvelope> EnvelopeFromJson(const Json& j) {
  if (!j.is_object()) return Fail(ErrorCode::kInvalid, "a DSSE envelope is a JSON object");
  DsseEnvelope e;
  if (!At(j, "payloadType").is_string())
    return Fail(ErrorCode::kInvalid, "envelope: payloadType: missing");
  e.payload_type = j["payloadType"].get<std::string>();
  auto payload =
      At(j, "payload").is_string() ? Base64Decode(j["payload"].get<std::string>()) : std::nullopt;
  if (!payload) return Fail(ErrorCode::kInvalid, "envelope: payload: not base64");
  e.payload = std::move(*payload);
  const Json& sigs = At(j, "signatures");
  if (!sigs.is_array() || sigs.empty())
    return Fail(ErrorCode::kInvalid, "envelope: signatures: none");
  for (size_t i = 0; i < sigs.size(); ++i) {
    auto sig = At(sigs[i], "sig").is_string() ? Base64Decode(sigs[i]["sig"].get<std::string>())
                                              : std::nullopt;
    if (!sig) return Failf(ErrorCode::kInvalid, "envelope: signatures[{}].sig: not base64", i);
    e.signatures.push_back({Text(sigs[i], "keyid"), std::move(*sig)});
  }
  return e;
}

Result<DsseEnvelope> SignStatement(const Json& statement, const EcKey& key) {
  DsseEnvelope e;
  e.payload_type = kInTotoPayloadType;
  e.payload = statement.dump();
  STRAKE_TRY_ASSIGN(sig, key.Sign(DssePae(e.payload_type, e.payload)));
  e.signatures.push_back({key.KeyId(), std::move(sig)});
  return e;
}

Result<Json> VerifiedStatement(const DsseEnvelope& e, const EcKey& key) {
  if (e.payload_type != kInTotoPayloadType)
    return Failf(ErrorCode::kInvalid, "envelope: payloadType is {}, not {}", Quote(e.payload_type),
                 kInTotoPayloadType);
  const std::string pae = DssePae(e.payload_type, e.payload);
  bool verified = false;
  for (const auto& s : e.signatures) verified = verified || key.Verify(pae, s.sig).has_value();
  if (!verified)
    return Failf(ErrorCode::kInvalid, "no signature of the envelope verifies with key {}",
                 key.KeyId().substr(0, 16));
  Json st = Json::parse(e.payload, nullptr, false);
  if (!st.is_object()) return Fail(ErrorCode::kInvalid, "payload: not a JSON object");
  std::string type = Text(st, "_type");
  if (type != kInTotoStatementV1 && type != kInTotoStatementV01)
    return Failf(ErrorCode::kInvalid, "payload: _type is {}, not an in-toto Statement",
                 Quote(type));
  if (!At(st, "subject").is_array() || st["subject"].empty())
    return Fail(ErrorCode::kInvalid, "payload: subject: none");
  if (Text(st, "predicateType").empty())
    return Fail(ErrorCode::kInvalid, "payload: predicateType: missing");
  return st;
}

bool HasSubjectDigest(const Json& statement, const std::string& digest) {
  size_t colon = digest.find(':');
  if (colon == std::string::npos) return false;
  const std::string alg = digest.substr(0, colon);
  const std::string hex = digest.substr(colon + 1);
  const Json& subjects = At(statement, "subject");
  if (!subjects.is_array()) return false;
  for (const auto& s : subjects) {
    const Json& v = At(At(s, "digest"), alg.c_str());
    if (v.is_string() && v.get<std::string>() == hex) return true;
  }
  return false;
}

Json ProvenanceFacts(const Json& statement) {
  const Json& predicate = At(statement, "predicate");
  const Json& build = At(predicate, "buildDefinition");
  const Json& run = At(predicate, "runDetails");
  const Json& meta = At(run, "metadata");
  auto sources = SourcesOf(At(build, "resolvedDependencies"));
  Json subjects = Json::array();
  const Json& list = At(statement, "subject");
  if (list.is_array()) {
    for (const auto& s : list)
      subjects.push_back({{"name", Text(s, "name")}, {"digest", DigestText(At(s, "digest"))}});
  }
  return {{"predicateType", Text(statement, "predicateType")},
          {"buildType", Text(build, "buildType")},
          {"builder", {{"id", Text(At(run, "builder"), "id")}}},
          {"invocationId", Text(meta, "invocationId").empty() ? Text(meta, "invocationID")
                                                              : Text(meta, "invocationId")},
          {"startedOn", Text(meta, "startedOn")},
          {"finishedOn", Text(meta, "finishedOn")},
          {"source", sources.first},
          {"claimedSources", sources.second},
          {"subjects", std::move(subjects)}};
}

}  // namespace strake::model
