// model/go_template: Go's text/template as Argo CD Notifications' templates
// write it, parsed from a ConfigMap anyone who may write one in a namespace
// applies (admission parses it), and executed over an object whenever a
// trigger fires. The engine's own limits (text, output, steps, depth) bound
// each run.
//
// Properties beyond memory safety: an execution's output is within
// kMaxOutput; an error of a valid UTF-8 template is valid UTF-8 (the API
// answers it in a JSON body); executing twice gives the same answer (the
// parsed template is immutable).
#include <cstddef>
#include <cstdint>
#include <string>

#include "check.h"
#include "model/go_template.h"

namespace {

using strake::fuzz::Check;
using strake::fuzz::JsonSafe;
using strake::model::GoTemplate;
using strake::model::Json;

const Json& Data() {
  static const auto* data = new Json{
      {"app",
       {{"metadata", {{"name", "guestbook"}, {"labels", {{"team", "web"}}}}},
        {"status",
         {{"sync", {{"status", "Synced"}, {"revision", "abc123"}}},
          {"health", {{"status", "Healthy"}}},
          {"operationState", {{"phase", "Succeeded"}, {"finishedAt", "2026-12-07T10:00:00Z"}}},
          {"conditions",
           Json::array({{{"type", "Warning"}, {"message", "x"}}, {{"type", "Error"}}})}}}}},
      {"context", {{"argocdUrl", "https://cd.example.com"}, {"notificationType", "slack"}}},
      {"serviceType", "slack"},
      {"recipient", "deploys"},
      {"n", 3},
      {"f", 78.3},
      {"list", Json::array({1, "two", nullptr, true, Json::array({3})})},
      {"nothing", nullptr}};
  return *data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(strake::fuzz::AsText(data, size));
  auto t = GoTemplate::Parse(text, "fuzz");
  if (!t) {
    if (JsonSafe(text)) Check(JsonSafe(t.error().message), "a parse error is valid UTF-8");
    return 0;
  }
  auto out = t->Execute(Data());
  if (out) {
    Check(out->size() <= GoTemplate::kMaxOutput, "the output is within kMaxOutput");
  } else if (JsonSafe(text)) {
    Check(JsonSafe(out.error().message), "an execution error is valid UTF-8");
  }
  auto again = t->Execute(Data());
  Check(again.has_value() == out.has_value() && (!out || *again == *out),
        "executing twice gives the same answer");
  return 0;
}
