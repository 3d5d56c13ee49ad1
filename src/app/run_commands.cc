#include "app/run_commands.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "app/image_source.h"
#include "app/limits.h"
#include "app/pick_run.h"
#include "app/progress.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "cli/columns.h"
#include "cli/pipelines.h"
#include "cli/table.h"
#include "gitops/resolvers.h"
#include "model/decode.h"
#include "pipeline/engine.h"
#include "pipeline/step_runner.h"
#include "pipeline/validate.h"
#include "server/api.h"
#include "store/sqlite_store.h"

namespace strake::app {

using model::Json;

namespace {

// Params given as NAME=VALUE; a value that is JSON array/object keeps its type.
Result<std::vector<model::Param>> ParseParams(const std::vector<std::string>& given) {
  std::vector<model::Param> out;
  for (const auto& g : given) {
    size_t eq = g.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Failf("--param {}: expected NAME=VALUE", g);
    }
    std::string value = g.substr(eq + 1);
    model::ParamValue v = model::ParamValue::String(value);
    if (!value.empty() && (value[0] == '[' || value[0] == '{')) {
      auto j = cli::Json::parse(value, nullptr, false);
      if (!j.is_discarded()) v = model::ParamValue::FromJson(j);
    }
    out.push_back({g.substr(0, eq), v, {}});
  }
  return out;
}

bool UsesImages(const std::vector<model::Resource>& resources) {
  auto in_task = [](const model::TaskSpec& t) {
    return std::any_of(t.steps.begin(), t.steps.end(),
                       [](const auto& st) { return !st.image.empty(); });
  };
  std::function<bool(const model::PipelineSpec&)> in_pipeline = [&](const model::PipelineSpec& p) {
    for (const auto* list : {&p.tasks, &p.finally}) {
      for (const auto& t : *list) {
        if (t.task_spec && in_task(*t.task_spec)) return true;
        if (t.pipeline_spec && in_pipeline(*t.pipeline_spec)) return true;
      }
    }
    return false;
  };
  for (const auto& r : resources) {
    if (auto* t = std::get_if<model::Task>(&r.value); t && in_task(t->spec)) return true;
    if (auto* p = std::get_if<model::Pipeline>(&r.value); p && in_pipeline(p->spec)) return true;
    if (auto* pr = std::get_if<model::PipelineRun>(&r.value);
        pr && pr->spec.pipeline_spec && in_pipeline(*pr->spec.pipeline_spec)) {
      return true;
    }
    if (auto* tr = std::get_if<model::TaskRun>(&r.value);
        tr && tr->spec.task_spec && in_task(*tr->spec.task_spec)) {
      return true;
    }
  }
  return false;
}

std::atomic<int> g_interrupts{0};
void OnInterrupt(int) { g_interrupts.fetch_add(1); }

// Interrupts cancel the run (Tekton's Cancelled). Installed before anything
// starts.
void CatchInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Until `finished`: the first interrupt cancels the runs, which kills their
// processes at once; another only says so. strake never leaves before the
// runs are recorded Cancelled: leaving earlier left them Running with no
// process to end them (kill -9 still can; `strake run --resume` then ends it).
// `finished` is set, and `cv` notified, under `mu` once every run has ended:
// the watcher leaves at once rather than at its next 50 ms look.
struct Finished {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

template <typename Runs>
void WatchInterrupts(pipeline::Engine& engine, const Runs& runs, Finished& finished) {
  int seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(finished.mu);
      if (finished.cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return finished.done; }))
        return;
    }
    int n = g_interrupts.load();
    if (n <= seen) continue;
    for (const auto& r : runs) {
      if (seen == 0) {
        fmt::print(stderr, "strake: cancelling {}\n", r.name);
        (void)engine.Cancel(r.ns, r.name, "Cancelled");
      } else {
        fmt::print(stderr, "strake: still cancelling {}: it ends once its processes are gone\n",
                   r.name);
      }
    }
    seen = n;
  }
}

}  // namespace

RunCommands::RunCommands(CLI::App& app, cli::Context& ctx, cli::CommandTable& table)
    : ctx_(ctx), parallel_(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {
  auto* run = app.add_subcommand(
      "run", "run a PipelineRun (or a lone Pipeline, Task or TaskRun) to completion");
  run->add_option("-f,--filename", files_, "YAML or JSON files, directories, or - (stdin)")
      ->type_name("FILE");
  run->add_flag("-R,--recursive", recursive_, "-f DIR: its subdirectories' files too");
  run->add_option("-p,--param", params_, "NAME=VALUE (JSON for arrays and objects)");
  run->add_option("--parallel", parallel_, "TaskRuns at once (default: cores)");
  run->add_flag("--no-cache", no_cache_, "do not use or fill the task cache");
  run->add_flag("--no-sandbox", no_sandbox_,
                "run steps directly on the host with its programs, not in bubblewrap nor "
                "in their images");
  run->add_option("--run-on-host", host_images_,
                  "steps whose image matches this glob (\"alpine\", \"docker.io/library/*\", "
                  "\"**\" for all) run with this machine's programs in the sandbox instead of "
                  "in their images (repeatable, or comma-separated in STRAKE_RUN_ON_HOST)")
      ->envname("STRAKE_RUN_ON_HOST")
      ->delimiter(',');
  run->add_option("--insecure-registry", insecure_registries_,
                  "HOST[:PORT] of a registry reached over HTTPS without checking its "
                  "certificate, else plain HTTP (Docker's insecure-registries; repeatable)");
  run->add_option("--resume", resume_, "continue an interrupted PipelineRun");
  run->add_option("-n,--namespace", ns_, "the namespace of the run to --resume (default: default)");
  run->add_option("-o,--output", ctx.output, "text, json or yaml: the finished PipelineRun")
      ->check(CLI::IsMember({"text", "json", "yaml"}));
  table.Add(run, [this] { return Run(); });

  auto* validate = app.add_subcommand("validate", "check files without running them");
  validate->add_option("-f,--filename", files_, "YAML or JSON files, directories, or - (stdin)")
      ->required();
  validate->add_flag("-R,--recursive", recursive_, "-f DIR: its subdirectories' files too");
  table.Add(validate, [this] { return Validate(); });

  auto* image = app.add_subcommand("image", "OCI images in the data directory");
  image->require_subcommand(1);
  auto* pull = image->add_subcommand("pull", "pull and unpack an image, as a step's would be");
  pull->add_option("reference", image_ref_, "[registry/]repository[:tag][@digest]")->required();
  pull->add_option("--platform", image_platform_, "os/arch[/variant] (default: this machine's)");
  pull->add_option("--insecure-registry", insecure_registries_,
                   "HOST[:PORT] reached over unchecked HTTPS, else plain HTTP (repeatable)");
  table.Add(pull, [this] { return PullImage(); });
  auto* gc = image->add_subcommand(
      "gc",
      "remove what no image reference names, and, over --max-size, the images used least "
      "recently (not while a server or run has the store open)");
  gc->add_option("--max-size", image_max_size_, "keep the store under SIZE (10G, 512M, …)");
  table.Add(gc, [this] { return CollectImages(); });
}

int RunCommands::CollectImages() {
  int64_t max = 0;
  if (!image_max_size_.empty()) {
    auto parsed = ParseByteSize(image_max_size_);
    if (!parsed || *parsed <= 0)
      return cli::Die(
          fmt::format("--max-size {}: want a size such as 10G or 512M", Quote(image_max_size_)));
    max = *parsed;
  }
  images::ImageStore store(ImagesDir(ctx_.data_dir));
  if (auto opened = store.Open(); !opened) return cli::Die(opened.error().message);
  // What `strake serve` pinned its revisions to stays, though no replica
  // runs on it now (a server stopped with its workloads starts them again
  // on the same bytes).
  std::set<std::string> pinned;
  for (const auto& ref : PinnedImages(ctx_.data_dir)) {
    auto parsed = images::ParseReference(ref);
    auto found = parsed ? store.Find(*parsed) : Result<std::optional<images::Image>>();
    if (found && *found) pinned.insert((*found)->root);
  }
  auto c = store.Collect(max, pinned);
  if (!c) return cli::Die(c.error().message);
  fmt::print(
      "removed {} references, {} manifests, {} roots, {} layers\nsize: {} bytes, was {} bytes\n",
      c->references, c->manifests, c->roots, c->layers, c->bytes_after, c->bytes_before);
  return 0;
}

int RunCommands::PullImage() {
  auto ref = images::ParseReference(image_ref_);
  if (!ref) return cli::Die(ref.error().message);
  images::PullOptions options;
  options.egress = EgressPolicy::Open();
  options.policy = images::PullPolicy::kAlways;
  options.insecure_registry = images::IsInsecureRegistry(ref->repo.registry, insecure_registries_);
  if (!image_platform_.empty()) {
    auto platform = images::ParsePlatform(image_platform_);
    if (!platform) return cli::Die(platform.error().message);
    options.platform = *platform;
  }
  images::ImageStore store(ImagesDir(ctx_.data_dir));
  if (auto opened = store.Open(); !opened) return cli::Die(opened.error().message);
  auto img = store.Pull(*ref, options);
  if (!img) return cli::Die(img.error().message);
  fmt::print("{}\ndigest: {}\nroot: {}\ndownloaded: {} bytes\n", img->reference, img->digest,
             img->root, img->downloaded);
  return 0;
}

namespace {

// Tekton's git and cluster resolvers: each reference resolved to a Task or
// Pipeline that joins the files' resources (gitops/resolvers.h). A git
// repository is fetched into the data directory; the cluster resolver
// looks in the files, then in the store when there is one.
Status ResolveRefs(model::Loaded& loaded, const std::string& data_dir, store::Store* store) {
  if (!gitops::HasResolverRefs(loaded.resources)) return Ok();
  gitops::ResolverContext ctx;
  ctx.mirror_root = PathJoin(data_dir, "resolver");
  STRAKE_TRY(MakeDirs(ctx.mirror_root, 0700));
  ctx.egress = EgressPolicy::Open();  // the user's own command, as git itself would
  if (store) {
    ctx.stored = [store](const std::string& kind, const std::string& ns,
                         const std::string& name) -> Result<std::optional<model::Resource>> {
      STRAKE_TRY_ASSIGN(got, store->Get({kind, ns, name}));
      if (!got) return std::optional<model::Resource>();
      STRAKE_TRY_ASSIGN(r, model::DecodeObject(got->object, "stored " + kind + " " + name));
      return std::optional<model::Resource>(std::move(r));
    };
  }
  return gitops::ResolveRemoteRefs(loaded.resources, ctx);
}

}  // namespace

int RunCommands::Validate() {
  auto files = model::ExpandFileArgs(files_, recursive_);
  if (!files) return cli::Die(files.error().message);
  auto loaded = model::LoadFiles(*files);
  if (!loaded) return cli::Die("invalid input:\n" + loaded.error().message);
  if (auto resolved = ResolveRefs(*loaded, ctx_.data_dir, nullptr); !resolved)
    return cli::Die("invalid input:\n" + resolved.error().message);
  for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
  model::Diagnostics diags;
  pipeline::ValidateResources(loaded->resources, diags);
  if (diags.HasErrors()) return cli::Die("invalid input:\n" + diags.ErrorText());
  fmt::print("{} resources valid\n", loaded->resources.size());
  return 0;
}

int RunCommands::LockRun(const std::string& ns, const std::string& name) {
  if (auto made = MakeDirs(PathJoin(ctx_.data_dir, "locks"), 0700); !made)
    return cli::Die(made.error().message);
  auto lock = TryLockFile(cli::RunLockPath(ctx_.data_dir, ns, name));
  if (!lock && lock.error().Is(ErrorCode::kConflict)) {
    return cli::Die(fmt::format(
        "pipelinerun {} is being run by another strake process (`strake cancel {}` stops it)", name,
        name));
  }
  if (!lock) return cli::Die(lock.error().message);
  run_locks_.push_back(std::move(*lock));
  return 0;
}

int RunCommands::Start(pipeline::Engine& engine, store::Store& store) {
  if (!resume_.empty()) {
    if (int rc = LockRun(ns_, resume_); rc != 0) return rc;
    auto r = engine.Resume(ns_, resume_);
    if (!r) return cli::Die(r.error().message);
    runs_.push_back({ns_, resume_});
    return 0;
  }
  if (files_.empty()) return cli::Die("run: give -f FILE (or --resume NAME)");
  auto files = model::ExpandFileArgs(files_, recursive_);
  if (!files) return cli::Die(files.error().message);
  auto loaded = model::LoadFiles(*files);
  if (!loaded) return cli::Die("invalid input:\n" + loaded.error().message);
  if (auto resolved = ResolveRefs(*loaded, ctx_.data_dir, &store); !resolved)
    return cli::Die("invalid input:\n" + resolved.error().message);
  model::Diagnostics diags;
  pipeline::ValidateResources(loaded->resources, diags);
  if (diags.HasErrors()) return cli::Die("invalid input:\n" + diags.ErrorText());
  for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
  auto picked = PickRuns(loaded->resources);
  if (!picked) return cli::Die(picked.error().message);
  auto params = ParseParams(params_);
  if (!params) return cli::Die(params.error().message);
  // On the host, say once that images are not used.
  if (UsesImages(loaded->resources) && no_sandbox_) {
    fmt::print(stderr,
               "strake: note: step images are ignored: --no-sandbox runs steps with this "
               "machine's programs\n");
  }
  // Every run is stored before any starts, and none when a name is taken
  // (in the store or twice in the files): nothing is left half-submitted.
  std::set<std::string> names;
  for (size_t i : *picked) {
    const model::Resource& run = loaded->resources[i];
    if (run.meta.name.empty()) continue;  // generateName
    if (!names.insert(run.meta.ns + "/" + run.meta.name).second)
      return cli::Die(fmt::format("pipelinerun {} is given twice", run.meta.name));
    auto existing = store.Get({"PipelineRun", run.meta.ns, run.meta.name});
    if (!existing) return cli::Die(existing.error().message);
    if (*existing)
      return cli::Die(fmt::format("pipelinerun {}: PipelineRun {} already exists", run.meta.name,
                                  run.meta.name));
  }
  if (progress_) progress_->ExpectRuns(picked->size());
  // The first stores the resources they share.
  for (size_t i : *picked) {
    const model::Resource& run = loaded->resources[i];
    // --param names are checked when there is one run; with several, each
    // takes what it declares (a check per run would store the first and
    // refuse the second).
    auto submitted =
        engine.Submit(run, loaded->resources, *params, runs_.empty(), picked->size() == 1);
    if (!submitted) return cli::Die(submitted.error().message);
    runs_.push_back({run.meta.ns, *submitted});
    if (int rc = LockRun(run.meta.ns, *submitted); rc != 0) return rc;
  }
  *loaded = model::Loaded{};  // Freed before the runs are built from the store.
  ::malloc_trim(0);
  for (const auto& r : runs_) {
    auto started = engine.Resume(r.ns, r.name);
    if (!started) return cli::Die(started.error().message);
  }
  return 0;
}

namespace {

// A resumed run keeps how it was started (Engine::Submit records it):
// --no-sandbox and --no-cache given then still hold, and given now they
// apply too.
Status KeepRecordedExecutor(store::Store& store, const std::string& ns, const std::string& name,
                            pipeline::ExecutorOptions& options, bool& on_host,
                            std::vector<std::string>& run_on_host) {
  STRAKE_TRY_ASSIGN(stored, store.Get({"PipelineRun", ns, name}));
  if (!stored) return Failf("pipelinerun {} not found", name);
  const model::Json& status = stored->status;
  auto strake = status.is_object() ? status.find("strake") : status.end();
  if (strake == status.end() || !strake->is_object()) return Ok();
  auto recorded = strake->find("executor");
  if (recorded == strake->end() || !recorded->is_object()) return Ok();
  auto off = [&](const char* key) {
    auto v = recorded->find(key);
    return v != recorded->end() && v->is_boolean() && !v->get<bool>();
  };
  if (off("sandbox")) options.sandbox = false;
  if (off("cache")) options.no_cache = true;
  // Started with its steps on the host (or before images were the default:
  // no record of them), or with some marked to run there.
  if (off("images") || !recorded->contains("images")) on_host = true;
  auto marks = recorded->find("runOnHost");
  if (run_on_host.empty() && marks != recorded->end() && marks->is_array()) {
    for (const auto& m : *marks) {
      if (m.is_string()) run_on_host.push_back(m.get<std::string>());
    }
  }
  return Ok();
}

}  // namespace

int RunCommands::Run() {
  if (parallel_ < 1) return cli::Die("--parallel must be at least 1");
  if (auto made = MakeDirs(ctx_.data_dir, 0700); !made) return cli::Die(made.error().message);
  auto store = store::OpenSqliteStore(PathJoin(ctx_.data_dir, "strake.db"));
  if (!store) return cli::Die(store.error().message);
  pipeline::EngineOptions opts;
  opts.parallel = parallel_;
  opts.executor.data_dir = ctx_.data_dir;
  opts.executor.sandbox = !no_sandbox_;
  opts.executor.no_cache = no_cache_;
  opts.executor.self_exe = SelfExe();
  bool on_host = false;
  if (!resume_.empty()) {
    if (auto kept =
            KeepRecordedExecutor(**store, ns_, resume_, opts.executor, on_host, host_images_);
        !kept)
      return cli::Die(kept.error().message);
  }
  // Steps in their images: pulled into the data directory, from any
  // registry (a local run is the user's own, as a docker pull is).
  auto images = OpenImageSource(opts.executor.sandbox && !on_host, ctx_.data_dir,
                                EgressPolicy::Open(), insecure_registries_, host_images_);
  if (!images) return cli::Die(images.error().message);
  opts.executor.images = images->get();
  opts.executor.run_on_host = host_images_;
  const ResourceLimits limits = OpenResourceLimits(ctx_.data_dir);
  opts.executor.cgroups = limits.cgroups.get();
  opts.executor.cgroups_unavailable = limits.unavailable;
  SystemClock clock;
  bool text = ctx_.output == "text";
  bool live = text && ::isatty(STDERR_FILENO) && std::getenv("CI") == nullptr;
  Progress progress(stderr, live);
  CatchInterrupts();
  auto engine = std::make_unique<pipeline::Engine>(**store, opts, clock);
  if (text) engine->SetObserver([&](const pipeline::ProgressEvent& e) { progress.OnEvent(e); });
  progress_ = &progress;
  if (int rc = Start(*engine, **store); rc != 0) return rc;
  ::malloc_trim(0);  // What building the run freed goes back to the system.
  Finished finished;
  std::thread watcher([&] { WatchInterrupts(*engine, runs_, finished); });
  std::vector<Result<store::Resource>> results;
  for (const auto& r : runs_) results.push_back(engine->Wait(r.ns, r.name));
  {
    std::lock_guard<std::mutex> lock(finished.mu);
    finished.done = true;
  }
  finished.cv.notify_all();
  watcher.join();
  progress.Stop();
  engine.reset();
  // As `strake get pipelinerun NAME -o ...` shows it; several as kubectl's List.
  model::Json shown = model::Json::array();
  bool all_succeeded = true;
  for (const auto& result : results) {
    if (!result) return cli::Die(result.error().message);
    shown.push_back(server::Api::Present(*result));
    all_succeeded = all_succeeded && cli::RunConditionStatus(result->status) == "True";
  }
  if (shown.size() == 1) {
    shown = std::move(shown[0]);
  } else {
    shown = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", std::move(shown)}};
  }
  if (ctx_.output == "json") fmt::print("{}\n", shown.dump(2));
  if (ctx_.output == "yaml") fmt::print("{}", model::ToYaml(shown));
  return all_succeeded ? 0 : 1;
}

}  // namespace strake::app
