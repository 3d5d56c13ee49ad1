// strake's strake.dev/v1 Incident: an outage a team declares (through the
// API, `strake incident open`, or an alerting tool's webhook) so that DORA
// counts it. It names what caused it, as exactly as is known: a
// deployment (its record's id, as `strake dora --explain` lists it), a
// commit, or only the environment it hit (then the deployment running
// there when it opened is taken). Closing it (spec.closedAt) restores
// service: insight/ledger.h counts the failed deployment's recovery up to
// then, and every deployment of the environment while it was open as
// rework (docs/dora.md).
//
//   apiVersion: strake.dev/v1
//   kind: Incident
//   metadata: {name: checkout-500s, namespace: shop}
//   spec:
//     title: Checkout answers 500
//     environment: prod
//     commit: 3f2a9c1
//     openedAt: "2026-12-07T06:00:00Z"    # default: when it was created
//     closedAt: "2026-12-07T06:40:00Z"    # set by `strake incident close`
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "model/node.h"

namespace strake::model {

struct IncidentSpec {
  std::string title;
  std::string environment;
  std::string deployment;  // a deployment record's id
  std::string commit;      // a commit SHA (4 to 64 hex digits)
  // Who declared it: api (the default), cli, pagerduty, opsgenie, alertmanager.
  std::string source = "api";
  std::string external_id;  // the alerting tool's id for it
  std::optional<int64_t> opened_ms;
  std::optional<int64_t> closed_ms;
};

// The spec as the store holds it (validated when it was written).
Result<IncidentSpec> IncidentSpecFromJson(const Json& spec);

}  // namespace strake::model
