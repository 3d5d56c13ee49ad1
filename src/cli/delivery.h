// The CLI verbs that talk to a strake server over its HTTP API:
// serve, apply, get/describe/delete of the delivery kinds, logs of a
// rollout, and `rollout status|promote|abort|retry|undo`. The server is
// --server, else $STRAKE_SERVER, else http://127.0.0.1:7300.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace strake::cli {

struct ApiFlags {
  std::string server;
  std::string ns = "default";
  std::string output = "text";
  std::string token;
  std::string ca_cert;  // an https server's CA (PEM); default $STRAKE_CA_CERT, else the system's
  bool insecure = false;
};

// Adds the subcommands to `app`; Dispatch runs the one that was parsed and
// returns its exit status, or -1 if none of them was.
class DeliveryCommands {
 public:
  explicit DeliveryCommands(CLI::App& app, const std::string& data_dir);
  int Dispatch();
  // --server and --namespace on a subcommand that may talk to the API.
  void AddApiFlags(CLI::App* c);
  // --server and --token only.
  void AddServerFlags(CLI::App* c);
  // True if `kind` is served by the API rather than the local pipeline store.
  static bool IsApiKind(const std::string& kind);
  int Get(const std::string& kind, const std::string& name, const std::string& output,
          const std::string& selector = "");
  int Describe(const std::string& kind, const std::string& name);
  int Logs(const std::string& target, const std::string& revision);

 private:
  const std::string& data_dir_;
  ApiFlags flags_;
  CLI::App* serve_ = nullptr;
  CLI::App* router_ = nullptr;
  std::string router_socket_;
  int router_workers_ = 2;
  CLI::App* apply_ = nullptr;
  CLI::App* delete_ = nullptr;
  CLI::App* patch_ = nullptr;
  CLI::App* app_ = nullptr;
  CLI::App* token_ = nullptr;
  CLI::App* token_create_ = nullptr;
  CLI::App* token_list_ = nullptr;
  CLI::App* token_revoke_ = nullptr;
  std::string token_role_, token_ns_, token_expires_, token_description_;
  CLI::App* audit_ = nullptr;
  CLI::App* audit_log_ = nullptr;
  CLI::App* audit_verify_ = nullptr;
  std::string audit_since_;
  int audit_limit_ = 100;
  CLI::App* app_list_ = nullptr;
  CLI::App* app_get_ = nullptr;
  CLI::App* app_diff_ = nullptr;
  CLI::App* app_sync_ = nullptr;
  CLI::App* app_history_ = nullptr;
  CLI::App* app_rollback_ = nullptr;
  bool prune_ = false, dry_run_ = false, async_ = false;
  std::string revision_;
  int64_t history_id_ = 0;
  int AppCommand();
  std::string patch_body_, patch_type_ = "merge";
  CLI::App* rollout_ = nullptr;
  CLI::App* status_ = nullptr;
  CLI::App* promote_ = nullptr;
  CLI::App* abort_ = nullptr;
  CLI::App* retry_ = nullptr;
  CLI::App* undo_ = nullptr;
  std::string listen_ = "127.0.0.1:7300";
  std::string tls_cert_, tls_key_;
  bool stop_workloads_ = false;
  bool no_sandbox_ = false;
  std::string work_dir_;
  std::string egress_allow_;
  std::vector<std::string> files_;
  std::string kind_, name_;
  bool full_ = false;
  bool watch_ = false;
  int to_revision_ = 0;
  std::string timeout_ = "10m";
};

}  // namespace strake::cli
