// Services on a deploy target: each has an address of its own (its
// cluster IP, in 127.0.0.0/8 on the local target), kept in its status so a
// restart keeps it, and a condition that says whether it can serve.
//
// Pure core: AllocateClusterIp (which address a Service gets), ServingProblem
// (what a failure to listen means, with its fix) and JudgeService (the
// Service's Ready condition from what the target reports). Driver:
// ServiceReconciler, which allocates, serves a Service no workload selects
// (503 with the reason), and writes the status with an event on every change.
// The workloads' reconcilers route the Services that select their pods.
//
// Allocation: 127.0.0.1 first, as Services were always served there, then
// 127.1.0.1, 127.1.0.2, … (never an address ending in .0 or .255): the first
// where none of the Service's ports is another Service's. Services on
// different ports share 127.0.0.1; a second Service on port 80 gets an
// address of its own. Run allocation on one thread (the reconciler's queue
// has one worker): two rounds at once could pick the same address.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "controller/controller.h"
#include "model/workloads.h"
#include "rollout/target.h"
#include "store/store.h"

namespace strake::rollout {

// Another Service's address and ports, as allocation sees them.
struct AddressInUse {
  std::string service;  // "ns/name"
  std::string address;
  std::vector<int> ports;
};

// The address of a Service with `ports`: `requested` (spec.clusterIP) when
// set, an error naming the other Service if one of the ports is its there;
// else `current` (status.clusterIP) while none of the ports is another's
// there; else the first free one in the order above. An error when none is
// left.
Result<std::string> AllocateClusterIp(const std::string& requested, const std::string& current,
                                      const std::vector<int>& ports,
                                      const std::vector<AddressInUse>& others);

// Why a Service cannot listen at address:port, with what fixes it: the port
// taken by another process (`error` kConflict), a port below 1024 that this
// process may not bind (kForbidden), or the error as it is.
std::string ServingProblem(const Error& error, const std::string& address, int port);

// What a Service's condition is decided from.
struct ServiceFacts {
  std::string address;                 // allocated; "" with address_error
  std::string address_error;           // why it has none
  std::vector<std::string> workloads;  // what routes it ("rollout web"); none: it selects nothing
  ServiceServing serving;              // the target's report
};

// The Service's Ready condition.
struct ServiceCondition {
  bool ready = false;
  std::string reason;  // Serving, Pending, SelectsNothing, NoReadyReplica, PortTaken,
                       // PortPrivileged, ListenFailed, AddressConflict, InvalidSpec
  std::string message;
};

ServiceCondition JudgeService(const model::Service& service, const ServiceFacts& facts);

// Whether a Service's selector picks pods with these labels (every pair
// present; an empty selector picks every pod: callers say what that means).
bool Selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels);

// "app=web,tier=front".
std::string SelectorText(const std::map<std::string, std::string>& selector);

// Reconciles Services ("ns/name"): the address, the serving of one that no
// workload selects, and the status `{clusterIP, conditions: [{type: Ready,
// status, reason, message}]}`. Thread-safe as a Reconciler; allocation
// wants one worker (above).
class ServiceReconciler : public controller::Reconciler {
 public:
  ServiceReconciler(store::Store& store, TrafficRouter& router);
  Result<controller::ReconcileResult> Reconcile(const std::string& key) override;

 private:
  // The Rollouts and Deployments of `ns` that route `service`.
  Result<std::vector<std::string>> Workloads(const std::string& ns, const model::Service& service);
  // Every other Service's address, in every namespace.
  Result<std::vector<AddressInUse>> OthersInUse(const store::Key& self);
  Result<controller::ReconcileResult> Write(const store::Resource& svc, const Json& next,
                                            const ServiceCondition& cond);

  store::Store& store_;
  TrafficRouter& router_;
};

}  // namespace strake::rollout
