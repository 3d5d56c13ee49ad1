// LocalTarget: the embedded deploy target. Workload revisions run as
// supervised processes (runtime::Supervisor); a Service's port on its
// address (its cluster IP, in 127.0.0.0/8) is where the embedded router
// (router::Router) listens, splitting traffic between the ready replicas of
// its revisions.
//
// Mapping of Kubernetes' pod fields onto processes: the first container's
// command + args run on the host, in the sandbox (an image alone cannot
// run there: a clear error), or, after UseImages, in its image with
// Kubernetes' rules for Entrypoint and Cmd;
// env comes resolved from the controller; every containerPort, named or
// numbered, and every probe or Service targetPort that names one, is the
// replica's own port (PORT); workingDir defaults to the directory
// `strake serve` started in.
//
// It also samples the router's counters every second so the analysis
// `router` provider can read windowed rates and latency quantiles.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "base/container.h"
#include "rollout/target.h"
#include "router/router.h"
#include "runtime/supervisor.h"

namespace strake::targets {

class LocalTarget : public rollout::WorkloadTarget,
                    public rollout::TrafficRouter,
                    public rollout::RouterMetricsSource {
 public:
  // Services the router already serves (a router process that outlived the
  // last `strake serve`) are adopted: their next SetTraffic swaps the table
  // in place, with no moment of refused connections.
  LocalTarget(runtime::Supervisor& supervisor, router::RouterControl& router, std::string work_dir);
  ~LocalTarget() override;

  // From now on every replica runs in its container's image (base/
  // container.h: its own root, user, PID namespace), pulled through
  // `images` (which must outlive this); `wake` is called with a revision's
  // group key when its image's pull ends, so that its owner looks again.
  // `pins` (a file, "" none) keeps which image digest each revision is
  // pinned to across restarts: a revision whose tag moved while no server
  // ran still starts its next replica from the bytes it was pinned to.
  void UseImages(ContainerImages* images, std::function<void(const std::string&)> wake,
                 std::string pins = "");
  // The image roots revisions are pinned to (their replicas run there, or
  // will when scaled up): an image collection keeps them.
  std::set<std::string> PinnedRoots();

  Status ScaleRevision(const rollout::RevisionSpec& spec) override;
  void Prune(const std::string& ns, const std::string& workload,
             const std::set<std::string>& keep) override;
  std::map<std::string, rollout::RevisionObservation> Observe(const std::string& ns,
                                                              const std::string& workload) override;

  Status SetTraffic(const rollout::ServiceTraffic& traffic) override;
  Status ServeUnbacked(const rollout::ServiceTraffic& traffic, const std::string& why,
                       uint64_t claim) override;
  rollout::ServiceServing Serving(const std::string& ns, const std::string& service) override;
  void RemoveService(const std::string& ns, const std::string& service) override;
  // Stops routing the adopted services no SetTraffic has claimed since the
  // start (their Service was deleted while the control plane was down).
  void CollectOrphans();

  Result<rollout::RevisionWindow> Window(const std::string& ns, const std::string& service,
                                         const std::string& revision,
                                         std::chrono::milliseconds window) override;
  Result<std::vector<rollout::RevisionWindow>> Series(const std::string& ns,
                                                      const std::string& service,
                                                      const std::string& revision,
                                                      std::chrono::milliseconds ago,
                                                      std::chrono::milliseconds span,
                                                      std::chrono::milliseconds step) override;

  // "ns/workload/hash": the supervisor's group key of a revision.
  static std::string GroupKey(const std::string& ns, const std::string& workload,
                              const std::string& hash);
  // Replica log paths of a workload's revision (all revisions when hash is "").
  std::vector<rollout::ReplicaLog> Logs(const std::string& ns, const std::string& workload,
                                        const std::string& hash) const override;
  std::vector<rollout::ReplicaProcess> Replicas(const std::string& ns) const override;

 private:
  struct Sample {
    std::chrono::steady_clock::time_point at;
    router::RevisionCounters counters;
  };
  // Where a service stands, by "ns/service".
  struct Entry {
    router::Listening at;    // where it listens, or last tried to
    bool listening = false;  // the router serves it at `at`
    bool backed = false;
    int ready_endpoints = 0;
    std::optional<Error> error;
    uint64_t claim = 0;
    std::set<uint16_t> ports;  // the replica ports its installed table names
  };
  // Installs `table` for `name` at host:port, listening there first if it
  // does not yet (or moved). Called with mu_ held.
  Status Install(const std::string& name, const std::string& host, uint16_t port,
                 router::RouteTable table, bool backed);
  // Records the ports `e`'s installed table names; with mu_ held.
  void Routed(Entry& e, std::set<uint16_t> ports);
  void SampleLoop();
  // The supervisor's drain: waits (at most kMaxDrainWait) until no
  // installed table names `port`.
  void AwaitUnrouted(uint16_t port);
  // The supervisor groups of a workload's revisions, by pod-template hash.
  std::map<std::string, std::string> RevisionGroups(const std::string& ns,
                                                    const std::string& workload) const;

  // The replica template of a revision's first container: on the host, or
  // in its image (std::nullopt while the image is being pulled).
  Result<std::optional<runtime::ReplicaTemplate>> Template(const rollout::RevisionSpec& spec,
                                                           const std::string& key);
  Result<std::optional<runtime::ReplicaTemplate>> InImage(const rollout::RevisionSpec& spec,
                                                          const std::string& key,
                                                          runtime::ReplicaTemplate tmpl);

  runtime::Supervisor& supervisor_;
  router::RouterControl& router_;
  std::string work_dir_;
  ContainerImages* images_ = nullptr;
  std::function<void(const std::string&)> wake_;
  std::mutex images_mu_;
  // By group key: the image a revision's replicas run (fixed once pulled,
  // as a pod's is), and why a revision has no replicas yet.
  std::map<std::string, RunnableImage> pinned_;
  // What pins_path_ holds: group key -> "repository@digest".
  std::map<std::string, std::string> kept_pins_;
  std::string pins_path_;
  void SavePins();
  std::map<std::string, std::string> waiting_;
  std::set<std::string> woken_;  // a pull's end will wake these
  std::mutex mu_;
  std::map<std::string, Entry> services_;  // "ns/service"
  std::set<std::string> unclaimed_;        // adopted, not yet set since start
  std::chrono::steady_clock::time_point first_sample_{};
  std::map<std::string, std::deque<Sample>> samples_;  // "ns/service|revision"
  std::condition_variable cv_;
  std::condition_variable routes_cv_;  // a table was installed or removed
  bool stopping_ = false;
  std::thread sampler_;
};

}  // namespace strake::targets
