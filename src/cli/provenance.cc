#include "cli/provenance.h"

#include <fmt/format.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "base/signing.h"
#include "base/strings.h"
#include "cli/table.h"
#include "model/provenance.h"
#include "model/type_hints.h"

namespace strake::cli {

namespace {

bool IsDigest(const std::string& s) {
  size_t colon = s.find(':');
  return colon != std::string::npos && colon > 0 && s.find('/') == std::string::npos &&
         s.find('@') == std::string::npos;
}

// The recorded Artifact ARTIFACT names.
Result<Json> FindArtifact(Client& c, const std::string& collection, const std::string& arg) {
  std::string digest;
  if (PathExists(arg)) {
    STRAKE_TRY_ASSIGN(hex, Sha256File(arg));
    digest = "sha256:" + hex;
  } else if (IsDigest(arg)) {
    digest = arg;
  }
  if (digest.empty()) {
    size_t at = arg.rfind('@');
    std::string name =
        at == std::string::npos ? arg : model::ArtifactName(arg.substr(0, at), arg.substr(at + 1));
    STRAKE_TRY_ASSIGN(got, c.Call("GET", collection + "/" + name));
    return got.body;
  }
  // By digest: the newest Artifact with it.
  STRAKE_TRY_ASSIGN(list, c.Call("GET", collection));
  Json found;
  for (const auto& a : list.body.value("items", Json::array())) {
    const Json spec = a.value("spec", Json::object());
    if (spec.value("digest", "") != digest) continue;
    const std::string at = spec.value("builtBy", Json::object()).value("finishedAt", "");
    if (found.is_null() ||
        at > found["spec"].value("builtBy", Json::object()).value("finishedAt", ""))
      found = a;
  }
  if (found.is_null()) return Failf(ErrorCode::kNotFound, "no Artifact has digest {}", digest);
  return found;
}

Result<EcKey> VerifyingKey(Client& c, const Context& ctx, const std::string& file) {
  if (!file.empty()) {
    STRAKE_TRY_ASSIGN(pem, ReadFile(file, 64 * 1024));
    return EcKey::FromPem(pem, file);
  }
  STRAKE_TRY_ASSIGN(
      got, c.Call("GET", "/apis/strake.dev/v1/namespaces/" + ctx.ns + "/provenance/publickey"));
  return EcKey::FromPem(got.text, "the server's public key");
}

}  // namespace

int VerifyProvenance(const Context& ctx, const VerifyProvenanceArgs& args) {
  auto artifacts = ServedKind("artifacts");
  auto attestations = ServedKind("attestations");
  if (!artifacts || !attestations) return Die("this strake serves no artifacts");
  Client c(ctx, NoServer::kDefaultAddress);
  auto artifact = FindArtifact(c, Collection(**artifacts, ctx.ns), args.artifact);
  if (!artifact) return Die(artifact.error().message);
  const Json spec = artifact->value("spec", Json::object());
  const Json by = spec.value("builtBy", Json::object());
  const std::string what = spec.value("uri", "") + "@" + spec.value("digest", "");
  std::string uid = by.value("uid", "");
  if (uid.empty()) {
    auto pr = ServedKind("pipelineruns");
    auto run = pr ? c.Call("GET", Collection(**pr, ctx.ns) + "/" + by.value("pipelineRun", ""))
                  : Result<Answer>(tl::unexpected(pr.error()));
    if (!run) return Die(fmt::format("{}: its PipelineRun: {}", what, run.error().message));
    uid = run->body.value("metadata", Json::object()).value("uid", "");
  }
  auto att = c.Call("GET", Collection(**attestations, ctx.ns) + "/pipelinerun-" + uid);
  if (!att) return Die(fmt::format("{}: no attestation: {}", what, att.error().message));
  const Json envelope_json = att->body.value("spec", Json::object()).value("envelope", Json());
  if (!args.envelope_file.empty()) {
    auto written = WriteFile(args.envelope_file, envelope_json.dump());
    if (!written) return Die(written.error().message);
  }
  auto key = VerifyingKey(c, ctx, args.key_file);
  if (!key) return Die(key.error().message);
  auto envelope = model::EnvelopeFromJson(envelope_json);
  if (!envelope) return Die(fmt::format("{}: {}", what, envelope.error().message));
  auto statement = model::VerifiedStatement(*envelope, *key);
  if (!statement) return Die(fmt::format("{}: NOT verified: {}", what, statement.error().message));
  if (!model::HasSubjectDigest(*statement, spec.value("digest", "")))
    return Die(
        fmt::format("{}: NOT verified: the signed statement has no subject with its digest", what));
  Json facts = model::ProvenanceFacts(*statement);
  if (ctx.output == "json") {
    facts["verified"] = true;
    facts["artifact"] = artifact->value("metadata", Json::object()).value("name", "");
    facts["keyID"] = key->KeyId();
    fmt::print("{}\n", facts.dump(2));
    return 0;
  }
  const Json source = facts["source"];
  fmt::print("Verified: {}\n", what);
  fmt::print("  key        {}{}\n", key->KeyId().substr(0, 16),
             args.key_file.empty() ? " (the server's: pass --key to pin it)" : "");
  fmt::print("  run        PipelineRun {} ({})\n", by.value("pipelineRun", ""), uid);
  fmt::print("  builder    {}\n", facts["builder"].value("id", ""));
  fmt::print("  buildType  {}\n", facts.value("buildType", ""));
  if (!source.value("repo", "").empty()) {
    std::string ref = source.value("ref", "");
    fmt::print("  source     {} @ {}{}\n", source.value("repo", ""), source.value("commit", ""),
               ref.empty() ? "" : " (" + ref + ")");
  }
  fmt::print("  built      {} .. {}\n", facts.value("startedOn", ""),
             facts.value("finishedOn", ""));
  for (const auto& s : facts["subjects"])
    fmt::print("  subject    {} {}\n", s.value("name", ""), s.value("digest", ""));
  return 0;
}

}  // namespace strake::cli
