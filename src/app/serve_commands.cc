#include "app/serve_commands.h"

#include <fmt/format.h>

#include <cstdio>

#include "app/router_process.h"
#include "app/serve.h"
#include "base/duration.h"
#include "base/egress.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strings.h"
#include "cli/table.h"

namespace strake::app {

ServeCommands::ServeCommands(CLI::App& app, cli::Context& ctx, cli::CommandTable& table)
    : ctx_(ctx) {
  auto* serve =
      app.add_subcommand("serve", "run the control plane: API, controllers, runtime and router");
  serve->add_option("--listen", listen_, "API address (default 127.0.0.1:7300)");
  serve->add_option("--tls-cert", tls_cert_, "serve HTTPS with this certificate chain (PEM)");
  serve->add_option("--tls-key", tls_key_, "the certificate's private key (PEM)");
  serve->add_flag("--stop-workloads", stop_workloads_,
                  "stop the workloads on exit (default: keep them running)");
  serve->add_option("--work-dir", work_dir_,
                    "where workload, Job and analysis job commands run, and the one host "
                    "directory they may write (default: the current directory)");
  serve->add_flag("--no-sandbox", no_sandbox_,
                  "run workloads, Jobs, analysis jobs and pipeline steps directly on the "
                  "host with its programs, not in bubblewrap nor in their images");
  serve
      ->add_option("--run-on-host", host_images_,
                   "pipeline steps, workloads, Jobs and analysis jobs whose image matches "
                   "this glob (\"alpine\", \"docker.io/library/*\", \"**\" for all) run "
                   "with this machine's programs instead of in their images (repeatable, "
                   "or comma-separated in STRAKE_RUN_ON_HOST)")
      ->envname("STRAKE_RUN_ON_HOST")
      ->delimiter(',');
  serve->add_option("--image-store-max-size", image_store_max_size_,
                    "collect the image store to stay under SIZE (10G, 512M): "
                    "what no reference names, then the least recently used images that no "
                    "revision, run or container uses");
  serve->add_option("--image-gc-interval", image_gc_interval_,
                    "how often the image store is collected (default 5m)");
  serve->add_option("--insecure-registry", insecure_registries_,
                    "HOST[:PORT] of a registry reached over HTTPS without checking its "
                    "certificate, else plain HTTP (Docker's insecure-registries; repeatable)");
  serve
      ->add_option("--egress-allow", egress_allow_,
                   "where metric providers and git remotes may connect besides public "
                   "addresses: a comma-separated list of loopback, private, link-local, file "
                   "(file:// repositories), all, or CIDRs (default: none)")
      ->envname("STRAKE_EGRESS_ALLOW");
  table.Add(serve, [this] { return Serve(); });

  auto* router = app.add_subcommand(
      "router", "run the embedded router as its own process (strake serve starts it)");
  router->add_option("--socket", router_socket_, "control socket (default DATA_DIR/router.sock)");
  router->add_option("--workers", router_workers_, "worker threads (default 2)");
  table.Add(router, [this] { return Router(); });
}

int ServeCommands::Serve() {
  ServeOptions o;
  o.data_dir = ctx_.data_dir;
  o.listen = listen_;
  o.tls_cert = tls_cert_;
  o.tls_key = tls_key_;
  o.stop_workloads = stop_workloads_;
  o.sandbox = !no_sandbox_;
  o.host_images = host_images_;
  o.insecure_registries = insecure_registries_;
  if (!image_store_max_size_.empty()) {
    auto size = ParseByteSize(image_store_max_size_);
    if (!size || *size <= 0)
      return cli::Die(fmt::format("--image-store-max-size {}: want a size such as 10G or 512M",
                                  Quote(image_store_max_size_)));
    if (no_sandbox_) return cli::Die("--image-store-max-size: --no-sandbox uses no images");
    o.image_store_max_bytes = *size;
  }
  if (!image_gc_interval_.empty()) {
    auto every = ParseDuration(image_gc_interval_);
    if (!every || every->count() < 1000)
      return cli::Die(fmt::format("--image-gc-interval {}: want a duration of a second or more",
                                  Quote(image_gc_interval_)));
    o.image_gc_interval = *every;
  }
  o.work_dir = work_dir_.empty() ? "" : RealPath(work_dir_);
  auto egress = EgressPolicy::Parse(egress_allow_);
  if (!egress) return cli::Die("--egress-allow: " + egress.error().message);
  o.egress = *egress;
  o.on_admin_token = [](const std::string& token) {
    fmt::print(
        "strake: the first admin token, shown this once (keep it; `export STRAKE_TOKEN=...`):\n"
        "  {}\n",
        token);
    std::fflush(stdout);
  };
  o.on_ready = [this](const std::string& address) {
    // For `strake get` and the rest on this data directory to find.
    if (auto recorded = cli::RecordServer(ctx_.data_dir, address); !recorded)
      Log(LogLevel::kWarn, "serve: {}", recorded.error().message);
    fmt::print("strake: serving on {} (data in {})\n", address, ctx_.data_dir);
    std::fflush(stdout);
  };
  auto st = app::Serve(o);
  cli::ForgetServer(ctx_.data_dir);
  if (!st) return cli::Die(st.error().message);
  return 0;
}

int ServeCommands::Router() {
  RouterProcessOptions o;
  o.socket_path = router_socket_.empty() ? ctx_.data_dir + "/router.sock" : router_socket_;
  o.workers = router_workers_;
  auto st = RunRouterProcess(o);
  if (!st) return cli::Die(st.error().message);
  return 0;
}

}  // namespace strake::app
