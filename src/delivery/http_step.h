// Kargo's `http` promotion step (pkg/promotion/runner/builtin/
// http_requester.go at akuity/kargo 1c764767): one request, bounded, and
// its response judged by expressions.
//
//   config: method (GET), url, headers[{name, value}], queryParams[{name,
//   value}] (URL-encoded), body or bodyFromFile (a file of the working
//   directory), insecureSkipTLSVerify, timeout (10s, at most 1m: it holds
//   one of the server's Promotion workers),
//   pollInterval (30s, at least 10s), responseContentType,
//   successExpression, failureExpression, errorExpression,
//   outputs[{name, fromExpression}].
//
// The expressions (expr-lang, rollout/expr.h; written without ${{ }}) see
// `response`: {status, headers (name -> [values]), body (JSON or YAML
// parsed, text as a string, else JSON if it parses, else {})} and
// header(name). Outcome as Kargo's: failureExpression true fails for good
// (with errorExpression's string, if any, in the message); successExpression
// true succeeds; neither given: 2xx succeeds, anything else fails and is
// tried again; otherwise the step keeps Running and asks again after
// pollInterval. Outputs are evaluated on success only.
//
// Bounded as strake's outgoing calls are (base/curl.h): the server's egress
// policy, a response of at most 2 MiB, redirects followed only on the same
// host (and never for a method other than GET or HEAD). `proxy` is refused:
// requests go direct or through the server's own HTTPS_PROXY.
#pragma once

#include <string>
#include <vector>

#include "base/egress.h"
#include "delivery/promotion.h"

namespace strake::delivery {

inline constexpr const char* kHttpStep = "http";

void AddHttpStep(StepRegistry& registry, EgressPolicy egress);

}  // namespace strake::delivery
