// `strake verify provenance ARTIFACT`: checks, on this machine, that what a
// pipeline built has signed provenance (insight/provenance.h): the
// Attestation of the PipelineRun that built it carries a DSSE signature
// that verifies with the public key (--key FILE, as cosign's cosign.pub;
// else the server's, GET …/provenance/publickey), and one of its subjects
// has the artifact's digest. Prints the statement's facts (builder, build
// type, source repository and commit, times); -o json prints them as JSON.
// --output-envelope FILE writes the DSSE envelope as cosign reads it:
//
//   cosign verify-blob-attestation --insecure-ignore-tlog --key KEY
//     --signature FILE --type slsaprovenance1 --check-claims=false /dev/null
//
// ARTIFACT is an Artifact's name, "<uri>@<digest>", a digest
// ("sha256:<hex>") or a file whose bytes were built (its sha256). Exit 0
// when verified; 1, with the reason, when not.
#pragma once

#include <string>

#include "cli/client.h"

namespace strake::cli {

struct VerifyProvenanceArgs {
  std::string artifact;
  std::string key_file;       // "" = the server's public key
  std::string envelope_file;  // "" = none written
};

int VerifyProvenance(const Context& ctx, const VerifyProvenanceArgs& args);

}  // namespace strake::cli
