// Signed provenance as it travels: a DSSE envelope (github.com/secure-
// systems-lab/dsse, envelope.md) around an in-toto Statement
// (in-toto.io/Statement/v1) whose predicate is SLSA's build provenance
// (slsa.dev/provenance/v1), as Tekton Chains writes them and cosign's
// `verify-blob-attestation` reads them:
//
//   {"payloadType": "application/vnd.in-toto+json",
//    "payload": base64(statement),
//    "signatures": [{"keyid": "…", "sig": base64(DER ECDSA)}]}
//
// Reading is pure and strict: an envelope that is not one, a payload that
// is not a Statement, or no signature that verifies with the key is an
// error (ErrorCode::kInvalid) saying which; the Statement is trusted only
// after a signature verifies. Thread-safe (values only).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "base/signing.h"
#include "model/core.h"

namespace strake::model {

inline constexpr const char* kInTotoPayloadType = "application/vnd.in-toto+json";
inline constexpr const char* kInTotoStatementV1 = "https://in-toto.io/Statement/v1";
inline constexpr const char* kInTotoStatementV01 = "https://in-toto.io/Statement/v0.1";
inline constexpr const char* kSlsaProvenanceV1 = "https://slsa.dev/provenance/v1";
// On the resolvedDependency that is the source the builder itself saw (for
// strake, the push that started the run), "push"; every other git input is
// only what the build claimed (Chains' CHAINS-GIT_URL/CHAINS-GIT_COMMIT
// params and results, which whoever writes the run chooses).
inline constexpr const char* kSourceAnnotation = "strake.dev/source";

struct DsseSignature {
  std::string keyid;
  std::string sig;  // raw DER bytes
};

struct DsseEnvelope {
  std::string payload_type;
  std::string payload;  // raw bytes (the Statement's JSON)
  std::vector<DsseSignature> signatures;
};

// The envelope as JSON (payload and signatures in standard base64).
Json EnvelopeToJson(const DsseEnvelope& e);
// An envelope from its JSON; the error names the field.
Result<DsseEnvelope> EnvelopeFromJson(const Json& j);

// `statement` serialized and signed with `key` (its KeyId() as keyid).
Result<DsseEnvelope> SignStatement(const Json& statement, const EcKey& key);

// The Statement inside `e` once a signature of it verifies with `key`:
// the payload type is in-toto's, the payload a Statement (v1 or v0.1) with
// subjects and a predicate type.
Result<Json> VerifiedStatement(const DsseEnvelope& e, const EcKey& key);

// Whether a subject of `statement` has `digest` ("sha256:<hex>", as
// Artifacts and OCI write it).
bool HasSubjectDigest(const Json& statement, const std::string& digest);

// What a gate and `strake verify provenance` read of a SLSA v1 Statement:
// {predicateType, buildType, builder: {id}, invocationId, startedOn,
// finishedOn, source: {repo, commit, ref} (the git dependency annotated
// kSourceAnnotation: its uri without "git+" and "@ref", its sha1 digest),
// claimedSources: [{repo, commit, ref}] (the other git inputs), subjects:
// [{name, digest}] (digests as "algorithm:hex")}. Missing parts are "".
Json ProvenanceFacts(const Json& statement);

}  // namespace strake::model
