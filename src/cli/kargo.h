// Kargo's verbs, in Kargo's words: `strake refresh warehouse NAME [-n NS]
// [--wait]` asks a Warehouse to discover now, as `kargo refresh warehouse`
// does (the annotation kargo.akuity.io/refresh set to a new token); with
// --wait it returns once the Warehouse has handled it
// (status.lastHandledRefresh) and prints its Ready condition.
// `strake promote --stage S --freight F|--freight-alias A|--warehouse W
// [--wait]` asks for
// a Promotion (`kargo promote`): the server names it and gives it the
// Stage's steps; with --wait it follows it to its end and fails unless it
// Succeeded; --warehouse takes that Warehouse's newest Freight (by
// discovery). `strake approve --freight F|--freight-alias A --stage S`
// approves Freight for a Stage (`kargo approve`): it becomes available there
// whatever the upstream Stages say. `strake verify stage NAME [--abort]` runs the verification of
// the Stage's current Freight again, or stops it (`kargo verify stage`: the annotation
// kargo.akuity.io/reverify or abort naming the last verification's id).
// `strake verify provenance ARTIFACT` checks its signed provenance
// (cli/provenance.h).
// `strake abort promotion NAME` ends a
// Promotion that is not finished (`kargo abort promotion`: the annotation
// kargo.akuity.io/abort set to Kargo's terminate request). `strake pr
// list|merge N|close N` review strake's own pull requests
// (delivery/pull_request.h), as a forge's web page would.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client.h"
#include "cli/command_table.h"
#include "cli/provenance.h"

namespace strake::cli {

class KargoCommands {
 public:
  KargoCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Refresh();
  int Promote();
  int Approve();
  // approve|reject promotion NAME: a response to its wait-for-approval step.
  int Respond(const std::string& action);
  int Abort();
  // verify stage NAME [--abort]: Kargo's reverify and abort requests.
  int Verify();
  // pr merge|close N, pr list [--all]: strake's own pull requests.
  int PullRequest(const std::string& action);
  int ListPullRequests();
  // --freight, the Freight whose alias is --freight-alias, or the newest
  // Freight of --warehouse.
  Result<std::string> FreightName(Client& c);

  Context& ctx_;
  std::string kind_;
  std::string name_;
  std::string stage_;
  std::string freight_;
  std::string freight_alias_;
  std::string warehouse_;
  std::string message_;
  std::string method_;               // pr merge --method
  bool all_ = false;                 // pr list --all
  bool abort_ = false;               // verify --abort
  VerifyProvenanceArgs provenance_;  // verify provenance
  bool wait_ = false;
  int timeout_s_ = 60;
};

}  // namespace strake::cli
