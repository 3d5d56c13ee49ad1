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

// The digest ARTIFACT itself gives (a file's, a digest, uri@digest's), or
// "" for an Artifact's name: what a signed subject must have, whatever the
// server answers.
Result<std::string> AskedDigest(const std::string& arg) {
  if (PathExists(arg)) {
    STRAKE_TRY_ASSIGN(hex, Sha256File(arg));
    return "sha256:" + hex;
  }
  if (IsDigest(arg)) return arg;
  size_t at = arg.rfind('@');
  return at == std::string::npos ? std::string() : arg.substr(at + 1);
}

// The recorded Artifact ARTIFACT names: by name (or uri@digest's), else
// the newest with the digest asked.
Result<Json> FindArtifact(Client& c, const std::string& collection, const std::string& arg,
                          const std::string& digest) {
  if (digest.empty() || arg.find('@') != std::string::npos) {
    size_t at = arg.rfind('@');
    std::string name =
        at == std::string::npos ? arg : model::ArtifactName(arg.substr(0, at), arg.substr(at + 1));
    STRAKE_TRY_ASSIGN(got, c.Call("GET", collection + "/" + name));
    return got.body;
  }
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
    STRAKE_TRY_ASSIGN(pem, ReadFile(file, size_t{64} * 1024));
    return EcKey::FromPem(pem, file);
  }
  STRAKE_TRY_ASSIGN(
      got, c.Call("GET", "/apis/strake.dev/v1/namespaces/" + ctx.ns + "/provenance/publickey"));
  return EcKey::FromPem(got.text, "the server's public key");
}

// The uid of the PipelineRun that built the Artifact: recorded with it, or
// (an Artifact recorded before uids were kept) the run of that name if it
// finished when the Artifact says.
Result<std::string> BuilderUid(Client& c, const Context& ctx, const Json& by) {
  if (!by.value("uid", "").empty()) return by.value("uid", "");
  STRAKE_TRY_ASSIGN(pr, ServedKind("pipelineruns"));
  const std::string name = by.value("pipelineRun", "");
  STRAKE_TRY_ASSIGN(run, c.Call("GET", Collection(*pr, ctx.ns) + "/" + name));
  const Json status = run.body.value("status", Json::object());
  if (status.value("completionTime", "") != by.value("finishedAt", ""))
    return Failf(ErrorCode::kNotFound, "PipelineRun {} that built it is gone", name);
  return run.body.value("metadata", Json::object()).value("uid", "");
}

// The facts of a statement whose signature verifies with `key`, that is
// about run `uid` and has a subject with `digest`; else why not.
Result<Json> VerifiedFacts(const Json& envelope_json, const EcKey& key, const std::string& uid,
                           const std::string& digest) {
  STRAKE_TRY_ASSIGN(envelope, model::EnvelopeFromJson(envelope_json));
  STRAKE_TRY_ASSIGN(statement, model::VerifiedStatement(envelope, key));
  Json facts = model::ProvenanceFacts(statement);
  if (facts.value("invocationId", "") != uid)
    return Failf(ErrorCode::kInvalid, "the signed statement is about run {}, not {}",
                 facts.value("invocationId", ""), uid);
  if (!model::HasSubjectDigest(statement, digest))
    return Fail(ErrorCode::kInvalid, "the signed statement has no subject with digest " + digest);
  return facts;
}

void PrintFacts(const Json& facts, const std::string& what, const std::string& run,
                const std::string& key_note) {
  const Json& source = facts["source"];
  fmt::print("Verified: {}\n", what);
  fmt::print("  key        {}{}\n", facts.value("keyID", "").substr(0, 16), key_note);
  fmt::print("  run        PipelineRun {} ({})\n", run, facts.value("invocationId", ""));
  fmt::print("  builder    {}\n", facts["builder"].value("id", ""));
  fmt::print("  buildType  {}\n", facts.value("buildType", ""));
  if (!source.value("repo", "").empty()) {
    std::string ref = source.value("ref", "");
    fmt::print("  source     {} @ {}{}\n", source.value("repo", ""), source.value("commit", ""),
               ref.empty() ? "" : " (" + ref + ")");
  }
  for (const auto& claimed : facts["claimedSources"])
    fmt::print("  claimed    {} @ {} (said by the run, not seen by the server)\n",
               claimed.value("repo", ""), claimed.value("commit", ""));
  fmt::print("  built      {} .. {}\n", facts.value("startedOn", ""),
             facts.value("finishedOn", ""));
  for (const auto& s : facts["subjects"])
    fmt::print("  subject    {} {}\n", s.value("name", ""), s.value("digest", ""));
}

}  // namespace

int VerifyProvenance(const Context& ctx, const VerifyProvenanceArgs& args) {
  auto artifacts = ServedKind("artifacts");
  auto attestations = ServedKind("attestations");
  if (!artifacts || !attestations) return Die("this strake serves no artifacts");
  Client c(ctx, NoServer::kDefaultAddress);
  auto asked = AskedDigest(args.artifact);
  if (!asked) return Die(asked.error().message);
  auto artifact = FindArtifact(c, Collection(**artifacts, ctx.ns), args.artifact, *asked);
  if (!artifact) return Die(artifact.error().message);
  const Json spec = artifact->value("spec", Json::object());
  const Json by = spec.value("builtBy", Json::object());
  const std::string what = spec.value("uri", "") + "@" + spec.value("digest", "");
  auto uid = BuilderUid(c, ctx, by);
  if (!uid) return Die(fmt::format("{}: NOT verified: {}", what, uid.error().message));
  auto att = c.Call("GET", Collection(**attestations, ctx.ns) + "/pipelinerun-" + *uid);
  if (!att)
    return Die(fmt::format("{}: NOT verified: no attestation: {}", what, att.error().message));
  const Json envelope = att->body.value("spec", Json::object()).value("envelope", Json());
  if (!args.envelope_file.empty()) {
    auto written = WriteFile(args.envelope_file, envelope.dump());
    if (!written) return Die(written.error().message);
  }
  auto key = VerifyingKey(c, ctx, args.key_file);
  if (!key) return Die(key.error().message);
  // The digest asked about, else the Artifact's (its name was given).
  auto facts =
      VerifiedFacts(envelope, *key, *uid, asked->empty() ? spec.value("digest", "") : *asked);
  if (!facts) return Die(fmt::format("{}: NOT verified: {}", what, facts.error().message));
  (*facts)["verified"] = true;
  (*facts)["artifact"] = artifact->value("metadata", Json::object()).value("name", "");
  (*facts)["keyID"] = key->KeyId();
  if (ctx.output == "json") {
    fmt::print("{}\n", facts->dump(2));
    return 0;
  }
  PrintFacts(*facts, what, by.value("pipelineRun", ""),
             args.key_file.empty() ? " (the server's: pass --key to pin it)" : "");
  return 0;
}

}  // namespace strake::cli
