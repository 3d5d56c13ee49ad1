// POST /apis/strake.dev/v1/namespaces/NS/dora/incidents: alerting tools
// open and close strake's Incidents (model/incidents.h) with the payloads
// they already send: PagerDuty's v3 webhooks (incident.triggered and
// .reopened open, incident.resolved closes), Opsgenie's alert webhooks
// (Create opens, Close closes) and Alertmanager's webhook receiver (each
// alert: firing opens, resolved closes). What caused an incident comes from
// the alert's labels (Alertmanager) or details (Opsgenie) named
// `environment`, `deployment` and `commit`, else from the query parameters
// of the same names (one URL per PagerDuty service, say). The request is
// authorized as any write to NS (a token with the tool's custom header).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/node.h"

namespace strake::server {

// One thing a payload says about one incident.
struct IncidentSignal {
  bool open = true;         // false: it closed
  bool reopen = false;      // it opens again after its close (PagerDuty's reopened)
  std::string source;       // pagerduty, opsgenie, alertmanager
  std::string external_id;  // the tool's id for the incident (or alert)
  std::string name;         // the Incident's name: source and id, as a DNS label
  std::string title;
  int64_t at_ms = 0;  // when it opened or closed
  std::string environment, deployment, commit;
};

// What the payload says, in order; an event the tool sends that does not
// open or close an incident (acknowledged, a note...) is left out and
// named in `ignored`. `now_ms` stands in for a time the payload lacks.
struct IncidentSignals {
  std::vector<IncidentSignal> signals;
  std::vector<std::string> ignored;
};
Result<IncidentSignals> ParseIncidentWebhook(const model::Json& body, int64_t now_ms);

}  // namespace strake::server
