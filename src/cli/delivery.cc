#include "cli/delivery.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/clock.h"
#include "base/duration.h"
#include "base/egress.h"
#include "base/fs.h"
#include "base/http.h"
#include "base/net.h"
#include "base/strings.h"
#include "cli/table.h"
#include "model/decode.h"
#include "server/api.h"
#include "server/router_process.h"
#include "server/serve.h"

namespace strake::cli {

using Json = nlohmann::ordered_json;

namespace {

constexpr const char* kDefaultServer = "http://127.0.0.1:7300";

struct Answer {
  int status = 0;
  Json body;
  std::string text;
};

std::string ServerOf(const ApiFlags& f);

class Client {
 public:
  explicit Client(const ApiFlags& f)
      : server_(ServerOf(f)), token_(f.token), ca_cert_(f.ca_cert), insecure_(f.insecure) {
    if (token_.empty()) {
      if (const char* t = std::getenv("STRAKE_TOKEN"); t) token_ = t;
    }
    if (ca_cert_.empty()) {
      if (const char* c = std::getenv("STRAKE_CA_CERT"); c) ca_cert_ = c;
    }
  }

  Result<Answer> Call(const std::string& method, const std::string& path,
                      const std::string& body = "",
                      const std::string& content_type = "application/json") {
    auto url = ParseHttpUrl(server_);
    if (!url) return tl::unexpected(url.error());
    if (url->tls && !tls_) {
      auto t = TlsContext::Client(ca_cert_, !insecure_);
      if (!t) return tl::unexpected(t.error());
      tls_ = std::move(*t);
    }
    http::Request req;
    req.method = method;
    req.target = (url->path == "/" ? "" : url->path) + path;
    req.body = body;
    if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
    if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
    auto resp = http::Fetch(url->host, url->port, req, std::chrono::seconds(30),
                            url->tls ? tls_.get() : nullptr);
    if (!resp) {
      return Failf(
          "cannot reach the strake server at {}: {} (start one with `strake serve`, or set "
          "--server / STRAKE_SERVER)",
          server_, resp.error().message);
    }
    Answer a;
    a.status = resp->status;
    a.text = resp->body;
    a.body = Json::parse(resp->body, nullptr, false);
    if (a.status >= 400) {
      std::string msg = a.body.is_object() ? a.body.value("message", resp->body) : resp->body;
      return Fail(msg);
    }
    return a;
  }

 private:
  std::string server_;
  std::string token_;
  std::string ca_cert_;
  bool insecure_ = false;
  std::shared_ptr<TlsContext> tls_;
};

std::string ServerOf(const ApiFlags& f) {
  if (!f.server.empty()) return f.server;
  if (const char* s = std::getenv("STRAKE_SERVER"); s && *s) return s;
  return kDefaultServer;
}

std::string Collection(const server::KindInfo& k, const std::string& ns) {
  std::string base = k.api_version == "v1" ? "/api/v1" : "/apis/" + k.api_version;
  if (!k.namespaced) return fmt::format("{}/{}", base, k.plural);
  return fmt::format("{}/namespaces/{}/{}", base, ns, k.plural);
}

std::string Age(const Json& obj) {
  std::string created = obj["metadata"].value("creationTimestamp", "");
  return created;
}

std::vector<std::string> Row(const server::KindInfo& k, const Json& obj) {
  const Json& st = obj.value("status", Json::object());
  std::string name = obj["metadata"].value("name", "");
  if (k.kind == "Rollout") {
    std::string step =
        st.contains("currentStepIndex") ? std::to_string(st.value("currentStepIndex", 0)) : "-";
    int weight = st.contains("canary") ? st["canary"].value("weight", 0) : 0;
    return {name,
            st.value("phase", "Pending"),
            st.value("stableRS", ""),
            st.value("currentPodHash", ""),
            step,
            fmt::format("{}", weight),
            fmt::format("{}/{}", st.value("readyReplicas", 0), obj["spec"].value("replicas", 1))};
  }
  if (k.kind == "AnalysisRun") {
    return {name, st.value("phase", "Pending"), st.value("message", ""), Age(obj)};
  }
  if (k.kind == "Deployment") {
    return {name, st.value("phase", "Pending"),
            fmt::format("{}/{}", st.value("readyReplicas", 0), obj["spec"].value("replicas", 1)),
            fmt::format("{}", st.value("updatedReplicas", 0)), st.value("currentHash", "")};
  }
  if (k.kind == "Service") {
    std::string ports;
    for (const auto& p : obj["spec"].value("ports", Json::array())) {
      ports += (ports.empty() ? "" : ",") + fmt::format("{}", p.value("port", 0));
    }
    return {name, "127.0.0.1", ports, Age(obj)};
  }
  if (k.kind == "Application") {
    const Json src = obj["spec"].value("source", Json::object());
    const Json sync = st.value("sync", Json::object());
    const Json op = st.value("operationState", Json::object());
    std::string sync_status = sync.value("status", "Unknown");
    if (op.value("phase", "") == "Running") sync_status += " (syncing)";
    bool automated = obj["spec"].value("syncPolicy", Json::object()).contains("automated");
    return {name,
            sync_status,
            st.value("health", Json::object()).value("status", "Unknown"),
            sync.value("revision", "").substr(0, 12),
            automated ? "Auto" : "Manual",
            src.value("repoURL", ""),
            src.value("path", "."),
            src.value("targetRevision", "HEAD")};
  }
  if (k.kind == "Repository") {
    return {name, obj["spec"].value("url", ""), st.value("phase", "Pending"),
            fmt::format("{}", st.value("branches", Json::object()).size()),
            st.value("lastFetchTime", "")};
  }
  return {name, Age(obj)};
}

std::vector<std::string> Header(const server::KindInfo& k) {
  if (k.kind == "Rollout")
    return {"NAME", "STATUS", "STABLE", "CURRENT", "STEP", "CANARY-WEIGHT", "READY"};
  if (k.kind == "AnalysisRun") return {"NAME", "PHASE", "MESSAGE", "CREATED"};
  if (k.kind == "Deployment") return {"NAME", "STATUS", "READY", "UP-TO-DATE", "REVISION"};
  if (k.kind == "Service") return {"NAME", "ADDRESS", "PORTS", "CREATED"};
  if (k.kind == "Application")
    return {"NAME", "SYNC", "HEALTH", "REVISION", "SYNCPOLICY", "REPO", "PATH", "TARGET"};
  if (k.kind == "Repository") return {"NAME", "URL", "STATUS", "BRANCHES", "LAST-FETCH"};
  return {"NAME", "CREATED"};
}

// One screen of `rollout status`.
std::string StatusText(const Json& ro) {
  const Json& st = ro.value("status", Json::object());
  const Json& spec = ro["spec"];
  bool canary = spec["strategy"].contains("canary");
  std::string out;
  out += fmt::format("Name:            {}\n", ro["metadata"].value("name", ""));
  out += fmt::format("Status:          {}\n", st.value("phase", "Pending"));
  if (!st.value("message", "").empty())
    out += fmt::format("Message:         {}\n", st.value("message", ""));
  out += fmt::format("Strategy:        {}\n", canary ? "Canary" : "BlueGreen");
  if (canary) {
    size_t steps = spec["strategy"]["canary"].value("steps", Json::array()).size();
    int index = st.value("currentStepIndex", 0);
    out += fmt::format("  Step:          {}/{}\n",
                       std::min<size_t>(static_cast<size_t>(index), steps), steps);
    int w = st.contains("canary") ? st["canary"].value("weight", 0) : 0;
    out += fmt::format("  Weights:       stable {}  canary {}\n", 100 - w, w);
  } else if (st.contains("blueGreen")) {
    out += fmt::format("  Active:        {}\n", st["blueGreen"].value("activeSelector", ""));
    out += fmt::format("  Preview:       {}\n", st["blueGreen"].value("previewSelector", ""));
  }
  out += fmt::format("Revisions:       stable {}  current {}\n", st.value("stableRS", "-"),
                     st.value("currentPodHash", "-"));
  out += fmt::format("Replicas:        desired {}  current {}  updated {}  ready {}\n",
                     spec.value("replicas", 1), st.value("replicas", 0),
                     st.value("updatedReplicas", 0), st.value("readyReplicas", 0));
  if (st.contains("canary")) {
    for (const char* key : {"currentStepAnalysisRun", "currentBackgroundAnalysisRun"}) {
      std::string run = st["canary"].value(key, "");
      if (!run.empty()) out += fmt::format("Analysis:        {}\n", run);
    }
  }
  for (const auto& p : st.value("pauseConditions", Json::array())) {
    out += fmt::format("Paused:          {} since {}\n", p.value("reason", ""),
                       p.value("startTime", ""));
  }
  return out;
}

}  // namespace

bool DeliveryCommands::IsApiKind(const std::string& kind) {
  const server::KindInfo* k = server::KindByName(kind);
  if (!k) return false;
  static const std::set<std::string> local = {"PipelineRun", "TaskRun", "Pipeline", "Task"};
  return !local.count(k->kind);
}

void DeliveryCommands::AddServerFlags(CLI::App* c) {
  c->add_option(
      "--server", flags_.server,
      "strake server URL (default $STRAKE_SERVER or " + std::string(kDefaultServer) + ")");
  c->add_option("--token", flags_.token, "API token (default $STRAKE_TOKEN)");
  c->add_option("--ca-cert", flags_.ca_cert,
                "CA certificate (PEM) of an https server (default $STRAKE_CA_CERT, else the "
                "system's)");
  c->add_flag("--insecure-skip-tls-verify", flags_.insecure,
              "accept any certificate from an https server (testing only)");
}

void DeliveryCommands::AddApiFlags(CLI::App* c) {
  AddServerFlags(c);
  c->add_option("-n,--namespace", flags_.ns, "namespace (default: default)");
}

DeliveryCommands::DeliveryCommands(CLI::App& app, const std::string& data_dir)
    : data_dir_(data_dir) {
  auto api_flags = [this](CLI::App* c) { AddApiFlags(c); };
  serve_ =
      app.add_subcommand("serve", "run the control plane: API, controllers, runtime and router");
  serve_->add_option("--listen", listen_, "API address (default 127.0.0.1:7300)");
  serve_->add_option("--tls-cert", tls_cert_, "serve HTTPS with this certificate chain (PEM)");
  serve_->add_option("--tls-key", tls_key_, "the certificate's private key (PEM)");
  serve_->add_flag("--stop-workloads", stop_workloads_,
                   "stop the workloads on exit (default: keep them running)");
  serve_->add_option("--work-dir", work_dir_,
                     "where workload, Job and analysis job commands run, and the one host "
                     "directory they may write (default: the current directory)");
  serve_->add_flag("--no-sandbox", no_sandbox_,
                   "run workloads, Jobs, analysis jobs and pipeline steps directly on the host, "
                   "not in bubblewrap");
  serve_
      ->add_option("--egress-allow", egress_allow_,
                   "where metric providers and git remotes may connect besides public "
                   "addresses: a comma-separated list of loopback, private, link-local, file "
                   "(file:// repositories), all, or CIDRs (default: none)")
      ->envname("STRAKE_EGRESS_ALLOW");

  router_ = app.add_subcommand(
      "router", "run the embedded router as its own process (strake serve starts it)");
  router_->add_option("--socket", router_socket_, "control socket (default DATA_DIR/router.sock)");
  router_->add_option("--workers", router_workers_, "worker threads (default 2)");

  apply_ = app.add_subcommand(
      "apply",
      "create or update resources from files (merged on the server: fields set by others are "
      "kept, fields the last apply set and these files no longer do are removed)");
  apply_->add_option("-f,--filename", files_, "YAML or JSON files")->required()->type_name("FILE");
  api_flags(apply_);

  delete_ = app.add_subcommand("delete", "delete a resource");
  delete_->add_option("kind", kind_)->required();
  delete_->add_option("name", name_)->required();
  api_flags(delete_);

  patch_ = app.add_subcommand("patch", "change some fields of a resource");
  patch_->add_option("kind", kind_)->required();
  patch_->add_option("name", name_)->required();
  patch_->add_option("-p,--patch", patch_body_, "the patch, as JSON")->required();
  patch_->add_option("--type", patch_type_, "merge (RFC 7386, default) or json (RFC 6902)")
      ->check(CLI::IsMember({"merge", "json"}));
  api_flags(patch_);

  app_ = app.add_subcommand("app", "Argo CD Applications: keep resources equal to git");
  app_->require_subcommand(1);
  app_list_ = app_->add_subcommand("list", "every Application with its sync and health status");
  api_flags(app_list_);
  app_get_ = app_->add_subcommand("get", "an Application: source, status, and its resources");
  app_get_->add_option("name", name_)->required();
  api_flags(app_get_);
  app_diff_ = app_->add_subcommand(
      "diff", "what a sync would change, per resource (exit 1 when out of sync)");
  app_diff_->add_option("name", name_)->required();
  api_flags(app_diff_);
  app_sync_ = app_->add_subcommand("sync", "apply the source's resources now, and wait");
  app_sync_->add_option("name", name_)->required();
  app_sync_->add_flag("--prune", prune_, "delete resources the source no longer declares");
  app_sync_->add_flag("--dry-run", dry_run_, "say what would change, change nothing");
  app_sync_->add_option("--revision", revision_, "branch, tag or commit (default: the target)");
  app_sync_->add_flag("--async", async_, "do not wait for the sync to finish");
  app_sync_->add_option("--timeout", timeout_, "give up waiting after this long (default 10m)");
  api_flags(app_sync_);
  app_history_ = app_->add_subcommand("history", "the revisions synced, newest last");
  app_history_->add_option("name", name_)->required();
  api_flags(app_history_);
  app_rollback_ = app_->add_subcommand(
      "rollback", "sync to a history entry again (turns automated sync off, as Argo CD does)");
  app_rollback_->add_option("name", name_)->required();
  app_rollback_->add_option("id", history_id_, "history id (strake app history NAME)")->required();
  app_rollback_->add_flag("--prune", prune_, "delete resources that entry does not declare");
  app_rollback_->add_option("--timeout", timeout_, "give up waiting after this long (default 10m)");
  api_flags(app_rollback_);

  token_ = app.add_subcommand("token", "API tokens: create, list, revoke (admin)");
  token_->require_subcommand(1);
  token_create_ = token_->add_subcommand("create", "make a token; it is shown this once");
  token_create_->add_option("--role", token_role_, "admin, deployer or viewer")
      ->required()
      ->check(CLI::IsMember({"admin", "deployer", "viewer"}));
  token_create_->add_option("--namespace", token_ns_, "limit the token to one namespace");
  token_create_->add_option("--expires", token_expires_, "e.g. 30d, 12h (default: never)");
  token_create_->add_option("--description", token_description_, "what it is for");
  AddServerFlags(token_create_);
  token_list_ = token_->add_subcommand("list", "every token (never their secrets)");
  AddServerFlags(token_list_);
  token_revoke_ = token_->add_subcommand("revoke", "revoke a token at once");
  token_revoke_->add_option("id", name_)->required();
  AddServerFlags(token_revoke_);

  audit_ = app.add_subcommand("audit", "the audit log: who changed what (admin)");
  audit_->require_subcommand(1);
  audit_log_ = audit_->add_subcommand("log", "entries, oldest first");
  audit_log_->add_option("--since", audit_since_, "RFC 3339 time (2026-11-22T10:00:00Z)");
  audit_log_->add_option("--limit", audit_limit_, "the newest N entries (default 100)");
  audit_log_->add_option("-o,--output", flags_.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  AddServerFlags(audit_log_);
  audit_verify_ = audit_->add_subcommand(
      "verify", "check the hash chain: finds an edited, removed or reordered entry");
  AddServerFlags(audit_verify_);

  rollout_ = app.add_subcommand("rollout", "watch and steer Argo Rollouts");
  rollout_->require_subcommand(1);
  status_ =
      rollout_->add_subcommand("status", "show a rollout's step, weights, replicas and analysis");
  status_->add_option("name", name_)->required();
  status_->add_flag("-w,--watch", watch_, "follow until the rollout is Healthy or Degraded");
  status_->add_option("--timeout", timeout_, "with --watch: give up after this long (default 10m)");
  api_flags(status_);
  promote_ = rollout_->add_subcommand("promote", "go past the current pause or step");
  promote_->add_option("name", name_)->required();
  promote_->add_flag("--full", full_, "skip every remaining step and analysis");
  api_flags(promote_);
  abort_ = rollout_->add_subcommand("abort", "send all traffic back to stable and stop the update");
  abort_->add_option("name", name_)->required();
  api_flags(abort_);
  retry_ = rollout_->add_subcommand("retry", "start an aborted update over");
  retry_->add_option("name", name_)->required();
  api_flags(retry_);
  undo_ = rollout_->add_subcommand("undo", "roll back to an earlier revision (as a new update)");
  undo_->add_option("name", name_)->required();
  undo_->add_option("--to-revision", to_revision_, "revision number (default: the previous one)");
  api_flags(undo_);
}

int DeliveryCommands::Get(const std::string& kind, const std::string& name,
                          const std::string& output, const std::string& selector) {
  const server::KindInfo* k = server::KindByName(kind);
  if (!k) return Die(fmt::format("unknown kind {}", Quote(kind)));
  Client c(flags_);
  std::string path = Collection(*k, flags_.ns) + (name.empty() ? "" : "/" + name);
  if (!selector.empty()) {
    if (!name.empty()) return Die("a label selector lists: give a kind without a name");
    path += "?labelSelector=" + http::UrlEncode(selector);
  }
  auto a = c.Call("GET", path);
  if (!a) return Die(a.error().message);
  if (output == "json") {
    fmt::print("{}\n", a->body.dump(2));
    return 0;
  }
  if (output == "yaml") {
    fmt::print("{}", model::ToYaml(a->body));
    return 0;
  }
  std::vector<std::vector<std::string>> rows{Header(*k)};
  if (name.empty()) {
    for (const auto& item : a->body["items"]) rows.push_back(Row(*k, item));
    if (rows.size() == 1) {
      fmt::print("No {} found in namespace {}\n", k->plural, flags_.ns);
      return 0;
    }
  } else {
    rows.push_back(Row(*k, a->body));
  }
  PrintTable(rows);
  return 0;
}

int DeliveryCommands::Describe(const std::string& kind, const std::string& name) {
  const server::KindInfo* k = server::KindByName(kind);
  if (!k) return Die(fmt::format("unknown kind {}", Quote(kind)));
  Client c(flags_);
  auto a = c.Call("GET", Collection(*k, flags_.ns) + "/" + name);
  if (!a) return Die(a.error().message);
  if (k->kind == "Rollout") {
    fmt::print("{}", StatusText(a->body));
  } else {
    fmt::print("{}", model::ToYaml(a->body));
  }
  auto ev = c.Call("GET", fmt::format("/apis/strake.dev/v1/events?kind={}&name={}", k->kind, name));
  if (ev) {
    fmt::print("Events:\n");
    for (const auto& e : ev->body["items"]) {
      if (e.value("namespace", "") != (k->namespaced ? flags_.ns : "")) continue;
      std::string reason = e.value("reason", "");
      if (reason == "Reconciled" || reason == "Measured") continue;  // status bookkeeping
      fmt::print("  {}  {:<20} {}\n", e.value("time", ""), e.value("reason", ""),
                 e.value("message", ""));
    }
  }
  return 0;
}

namespace {

std::string AppText(const Json& a) {
  const Json spec = a.value("spec", Json::object());
  const Json src = spec.value("source", Json::object());
  const Json st = a.value("status", Json::object());
  const Json sync = st.value("sync", Json::object());
  const Json health = st.value("health", Json::object());
  const Json op = st.value("operationState", Json::object());
  std::string out;
  auto line = [&](const char* label, const std::string& value) {
    out += fmt::format("{:<16} {}\n", label, value);
  };
  line("Name:", a["metadata"].value("namespace", "") + "/" + a["metadata"].value("name", ""));
  line("Project:", spec.value("project", "default"));
  line("Destination:", "local");
  line("Repo:", src.value("repoURL", ""));
  line("Target:", src.value("targetRevision", "HEAD"));
  line("Path:", src.value("path", "."));
  bool automated = spec.value("syncPolicy", Json::object()).contains("automated");
  line("Sync Policy:", automated ? "Automated" : "Manual");
  std::string rev = sync.value("revision", "");
  line("Sync Status:", fmt::format("{}{}", sync.value("status", "Unknown"),
                                   rev.empty() ? "" : " to " + rev.substr(0, 12)));
  line("Health Status:",
       health.value("status", "Unknown") +
           (health.value("message", "").empty() ? "" : " (" + health.value("message", "") + ")"));
  for (const auto& c : st.value("conditions", Json::array())) {
    line("Condition:", c.value("type", "") + ": " + c.value("message", ""));
  }
  if (!op.empty()) {
    line("Operation:",
         fmt::format("Sync {} {}", op.value("phase", ""),
                     op.value("message", "").empty() ? "" : "(" + op.value("message", "") + ")"));
  }
  std::vector<std::vector<std::string>> rows{
      {"GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"}};
  for (const auto& r : st.value("resources", Json::array())) {
    const Json h = r.value("health", Json::object());
    std::string status = r.value("status", "");
    if (r.value("requiresPruning", false)) status += " (requires pruning)";
    rows.push_back({r.value("group", ""), r.value("kind", ""), r.value("namespace", ""),
                    r.value("name", ""), status, h.value("status", ""), h.value("message", "")});
  }
  out += "\n";
  out += TableText(rows);
  return out;
}

}  // namespace

int DeliveryCommands::AppCommand() {
  Client c(flags_);
  const server::KindInfo& k = *server::KindByPlural("applications");
  std::string path = Collection(k, flags_.ns) + "/" + name_;
  if (*app_list_) return Get("applications", "", "text");
  if (*app_get_) {
    auto a = c.Call("GET", path);
    if (!a) return Die(a.error().message);
    fmt::print("{}", AppText(a->body));
    return 0;
  }
  if (*app_diff_) {
    auto a = c.Call("GET", path + "/diff");
    if (!a) return Die(a.error().message);
    bool differs = false;
    for (const auto& d : a->body["items"]) {
      if (d.value("status", "") == "Synced") continue;
      differs = true;
      fmt::print("===== {} {}/{} ======\n{}", d.value("kind", ""), d.value("namespace", ""),
                 d.value("name", ""), d.value("diff", ""));
    }
    return differs ? 1 : 0;
  }
  if (*app_history_) {
    auto a = c.Call("GET", path);
    if (!a) return Die(a.error().message);
    std::vector<std::vector<std::string>> rows{{"ID", "DATE", "REVISION"}};
    for (const auto& h : a->body.value("status", Json::object()).value("history", Json::array())) {
      rows.push_back(
          {fmt::format("{}", h.value("id", 0)), h.value("deployedAt", ""),
           fmt::format("{} ({})", h.value("source", Json::object()).value("targetRevision", ""),
                       h.value("revision", "").substr(0, 12))});
    }
    if (rows.size() == 1) {
      fmt::print("application {} has not been synced yet\n", name_);
      return 0;
    }
    PrintTable(rows);
    return 0;
  }
  Result<Answer> started;
  if (*app_rollback_) {
    started =
        c.Call("POST", path + "/rollback", Json{{"id", history_id_}, {"prune", prune_}}.dump());
  } else {
    started = c.Call("POST", path + "/sync",
                     Json{{"revision", revision_}, {"prune", prune_}, {"dryRun", dry_run_}}.dump());
  }
  if (!started) return Die(started.error().message);
  if (dry_run_) {
    std::vector<std::vector<std::string>> rows{{"KIND", "NAMESPACE", "NAME", "ACTION"}};
    for (const auto& r : started->body["resources"]) {
      rows.push_back({r.value("kind", ""), r.value("namespace", ""), r.value("name", ""),
                      r.value("action", "")});
    }
    fmt::print("dry run at {}:\n", started->body.value("revision", "").substr(0, 12));
    PrintTable(rows);
    return 0;
  }
  if (async_) {
    fmt::print("application {}: sync started\n", name_);
    return 0;
  }
  auto limit = ParseDuration(timeout_);
  if (!limit) return Die("--timeout: " + limit.error().message);
  auto end = std::chrono::steady_clock::now() + *limit;
  std::string last;
  while (true) {
    auto a = c.Call("GET", path);
    if (!a) return Die(a.error().message);
    const Json op = a->body.value("status", Json::object()).value("operationState", Json::object());
    std::string phase = op.value("phase", "");
    std::string msg = op.value("message", "");
    if (phase == "Running" && msg != last && !msg.empty()) {
      fmt::print(stderr, "  {}\n", msg);
      last = msg;
    }
    if (phase == "Succeeded" || phase == "Failed" || phase == "Error") {
      std::vector<std::vector<std::string>> rows{
          {"KIND", "NAMESPACE", "NAME", "RESULT", "MESSAGE"}};
      for (const auto& r :
           op.value("syncResult", Json::object()).value("resources", Json::array())) {
        rows.push_back({r.value("kind", ""), r.value("namespace", ""), r.value("name", ""),
                        r.value("status", ""), r.value("message", "")});
      }
      PrintTable(rows);
      fmt::print("{}: {}\n", phase, msg);
      return phase == "Succeeded" ? 0 : 1;
    }
    if (std::chrono::steady_clock::now() > end) return Die("timed out waiting for the sync");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int DeliveryCommands::Logs(const std::string& target, const std::string& revision) {
  auto slash = target.find('/');
  std::string kind = target.substr(0, slash), name = target.substr(slash + 1);
  const server::KindInfo* k = server::KindByName(kind);
  if (!k || k->kind != "Rollout")
    return Die(fmt::format("logs of {}: only rollout/NAME is supported", target));
  Client c(flags_);
  std::string q = revision.empty() ? "" : "?revision=" + revision;
  auto a = c.Call("GET", Collection(*k, flags_.ns) + "/" + name + "/logs" + q);
  if (!a) return Die(a.error().message);
  fmt::print("{}", a->text);
  return 0;
}

int DeliveryCommands::Dispatch() {
  if (*serve_) {
    server::ServeOptions o;
    o.data_dir = data_dir_;
    o.listen = listen_;
    o.tls_cert = tls_cert_;
    o.tls_key = tls_key_;
    o.stop_workloads = stop_workloads_;
    o.sandbox = !no_sandbox_;
    o.work_dir = work_dir_.empty() ? "" : RealPath(work_dir_);
    auto egress = EgressPolicy::Parse(egress_allow_);
    if (!egress) return Die("--egress-allow: " + egress.error().message);
    o.egress = *egress;
    o.on_admin_token = [](const std::string& token) {
      fmt::print(
          "strake: the first admin token, shown this once (keep it; `export STRAKE_TOKEN=...`):\n"
          "  {}\n",
          token);
      std::fflush(stdout);
    };
    o.on_ready = [this](const std::string& address) {
      fmt::print("strake: serving on {} (data in {})\n", address, data_dir_);
      std::fflush(stdout);
    };
    auto st = server::Serve(o);
    if (!st) return Die(st.error().message);
    return 0;
  }
  if (*router_) {
    server::RouterProcessOptions o;
    o.socket_path = router_socket_.empty() ? data_dir_ + "/router.sock" : router_socket_;
    o.workers = router_workers_;
    auto st = server::RunRouterProcess(o);
    if (!st) return Die(st.error().message);
    return 0;
  }
  if (*apply_) {
    auto loaded = model::LoadFiles(files_);
    if (!loaded) return Die("invalid input:\n" + loaded.error().message);
    for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
    Client c(flags_);
    // Everything was validated above: a write is only refused now for a
    // reason the files cannot show (the server is gone, a conflict).
    for (const auto& r : loaded->resources) {
      const server::KindInfo* k = server::KindByName(r.kind);
      if (!k)
        return Die(fmt::format("{}: {} cannot be applied to a server", r.origin.file, r.kind));
      Json body = r.raw;
      std::string ns = r.meta.ns.empty() ? flags_.ns : r.meta.ns;
      if (!r.raw["metadata"].contains("namespace")) ns = flags_.ns;
      auto a = c.Call("PATCH", Collection(*k, ns) + "/" + r.meta.name, body.dump(),
                      "application/apply-patch+yaml");
      if (!a) return Die(fmt::format("{} {}: {}", ToLower(r.kind), r.meta.name, a.error().message));
      fmt::print("{}/{} {}\n", ToLower(r.kind), r.meta.name,
                 a->status == 201 ? "created" : "configured");
    }
    return 0;
  }
  if (*patch_) {
    const server::KindInfo* k = server::KindByName(kind_);
    if (!k) return Die(fmt::format("unknown kind {}", Quote(kind_)));
    if (Json::parse(patch_body_, nullptr, false).is_discarded())
      return Die("--patch: not valid JSON");
    Client c(flags_);
    auto a = c.Call(
        "PATCH", Collection(*k, flags_.ns) + "/" + name_, patch_body_,
        patch_type_ == "json" ? "application/json-patch+json" : "application/merge-patch+json");
    if (!a) return Die(a.error().message);
    fmt::print("{}/{} patched\n", ToLower(k->kind), name_);
    return 0;
  }
  if (*delete_) {
    const server::KindInfo* k = server::KindByName(kind_);
    if (!k) return Die(fmt::format("unknown kind {}", Quote(kind_)));
    Client c(flags_);
    auto a = c.Call("DELETE", Collection(*k, flags_.ns) + "/" + name_);
    if (!a) return Die(a.error().message);
    fmt::print("{}/{} deleted\n", ToLower(k->kind), name_);
    return 0;
  }
  if (*app_) return AppCommand();
  if (*token_) {
    Client c(flags_);
    if (*token_create_) {
      Json body = {{"role", token_role_},
                   {"namespace", token_ns_},
                   {"expires", token_expires_},
                   {"description", token_description_}};
      auto a = c.Call("POST", "/apis/strake.dev/v1/tokens", body.dump());
      if (!a) return Die(a.error().message);
      fmt::print("token {} ({}{}), shown this once:\n  {}\n", a->body.value("id", ""), token_role_,
                 token_ns_.empty() ? "" : " in " + token_ns_, a->body.value("token", ""));
      return 0;
    }
    if (*token_list_) {
      auto a = c.Call("GET", "/apis/strake.dev/v1/tokens");
      if (!a) return Die(a.error().message);
      std::vector<std::vector<std::string>> rows{
          {"ID", "ROLE", "NAMESPACE", "CREATED", "EXPIRES", "REVOKED", "DESCRIPTION"}};
      auto when = [](int64_t ms) { return ms ? FormatRfc3339(FromUnixMillis(ms)) : "never"; };
      for (const auto& t : a->body["items"]) {
        rows.push_back({t.value("id", ""), t.value("role", ""), t.value("namespace", ""),
                        when(t.value("createdAtMs", int64_t{0})),
                        when(t.value("expiresAtMs", int64_t{0})),
                        t.value("revoked", false) ? "yes" : "", t.value("description", "")});
      }
      PrintTable(rows);
      return 0;
    }
    auto a = c.Call("DELETE", "/apis/strake.dev/v1/tokens/" + name_);
    if (!a) return Die(a.error().message);
    fmt::print("token {} revoked\n", name_);
    return 0;
  }
  if (*audit_) {
    Client c(flags_);
    if (*audit_verify_) {
      auto a = c.Call("GET", "/apis/strake.dev/v1/audit/verify");
      if (!a) return Die(a.error().message);
      if (a->body.value("ok", false)) {
        fmt::print("audit log intact: {} entries, each chained to the one before\n",
                   a->body.value("entries", 0));
        return 0;
      }
      fmt::print("audit log BROKEN: {}\n", a->body.value("problem", ""));
      return 1;
    }
    std::string q = fmt::format("?limit={}", audit_limit_);
    if (!audit_since_.empty()) q += "&since=" + http::UrlEncode(audit_since_);
    auto a = c.Call("GET", "/apis/strake.dev/v1/audit" + q);
    if (!a) return Die(a.error().message);
    if (flags_.output == "json") {
      fmt::print("{}\n", a->body.dump(2));
      return 0;
    }
    std::vector<std::vector<std::string>> rows{
        {"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"}};
    for (const auto& e : a->body["items"]) {
      rows.push_back({fmt::format("{}", e.value("seq", 0)), e.value("time", ""),
                      e.value("actor", ""), e.value("action", ""), e.value("target", ""),
                      e.value("detail", "")});
    }
    PrintTable(rows);
    return 0;
  }
  if (*rollout_) {
    Client c(flags_);
    std::string path = Collection(*server::KindByPlural("rollouts"), flags_.ns) + "/" + name_;
    if (*status_) {
      auto limit = ParseDuration(timeout_);
      if (!limit) return Die("--timeout: " + limit.error().message);
      auto end = std::chrono::steady_clock::now() + *limit;
      bool tty = ::isatty(1);
      std::string last;
      while (true) {
        auto a = c.Call("GET", path);
        if (!a) return Die(a.error().message);
        std::string text = StatusText(a->body);
        std::string phase = a->body.value("status", Json::object()).value("phase", "");
        if (!watch_) {
          fmt::print("{}", text);
          return phase == "Degraded" ? 1 : 0;
        }
        if (text != last) {
          fmt::print("{}{}", tty ? "\x1b[H\x1b[2J" : (last.empty() ? "" : "---\n"), text);
          std::fflush(stdout);
          last = text;
        }
        const Json& st = a->body.value("status", Json::object());
        bool settled =
            st.value("currentPodHash", "") == st.value("stableRS", "x") && phase == "Healthy";
        if (settled) return 0;
        if (phase == "Degraded") return 1;
        if (std::chrono::steady_clock::now() > end) return Die("timed out waiting for the rollout");
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
    }
    std::string action = *promote_ ? "promote" : *abort_ ? "abort" : *retry_ ? "retry" : "undo";
    Json body = {{"full", full_}, {"toRevision", to_revision_}};
    auto a = c.Call("POST", path + "/" + action, body.dump());
    if (!a) return Die(a.error().message);
    fmt::print("rollout {} {}\n", name_,
               action == "promote" ? (full_ ? "fully promoted" : "promoted")
               : action == "abort" ? "aborted"
               : action == "retry" ? "retried"
                                   : "rolled back");
    return 0;
  }
  return -1;
}

}  // namespace strake::cli
