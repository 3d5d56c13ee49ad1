#include "delivery/gates.h"

#include "model/decode.h"

namespace strake::delivery {

std::optional<std::string> ProjectGates::Denial() const {
  if (!windows.closed) return std::nullopt;
  return "promotion window: " + windows.reason;
}

int64_t ProjectGates::NextChangeMs() const {
  auto next = windows.closed ? windows.next_open : windows.next_close;
  return next ? *next * 1000 : 0;
}

Result<ProjectGates> ReadGates(store::Store& store, const model::Stage& stage, int64_t now_ms) {
  const std::string& ns = stage.meta.ns;
  ProjectGates out;
  STRAKE_TRY_ASSIGN(stored, store.Get({"ProjectConfig", ns, ns}));
  if (!stored) return out;
  auto closed = [&](const std::string& why) {
    out.any_window = true;
    out.windows.closed = true;
    out.windows.reason = why;
    return out;
  };
  auto decoded = model::DecodeObject(stored->object, "projectconfig " + ns);
  if (!decoded)
    return closed("ProjectConfig " + ns + " cannot be read: " + decoded.error().message);
  out.config = std::get<model::ProjectConfig>(decoded->value);
  auto windows = WindowsFor(*out.config, stage.meta.name, stage.meta.labels);
  if (!windows) return closed(windows.error().message);
  out.any_window = !windows->empty();
  out.windows = EvaluateWindows(*windows, now_ms / 1000);
  return out;
}

Result<std::optional<std::string>> CheckGates(store::Store& store, const model::Stage& stage,
                                              int64_t now_ms) {
  STRAKE_TRY_ASSIGN(gates, ReadGates(store, stage, now_ms));
  return gates.Denial();
}

}  // namespace strake::delivery
