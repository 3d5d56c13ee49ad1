// The gates a Promotion passes before it runs, read from the store: today
// the Project's promotion windows (delivery/window.h). Checked when a
// Promotion is created (the API refuses it, naming the gate and its values),
// when the Stage would promote by itself (it waits, and wakes when the gate
// opens), and again when a queued Promotion would start (it stays Pending):
// a Promotion that was admitted while open does not start in a freeze.
//
// Fail closed: a ProjectConfig or a window that cannot be read any more
// closes the schedule, and the reason says why.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "delivery/window.h"
#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

// What the Project says about one Stage at one instant.
struct ProjectGates {
  std::optional<model::ProjectConfig> config;  // none, or not readable
  WindowState windows;
  bool any_window = false;  // some window selects the Stage (or cannot be read)

  // Nullopt when a Promotion may start, else why not ("promotion window:
  // window holiday-freeze closed until 2027-01-04T09:00:00Z").
  std::optional<std::string> Denial() const;
  // When the answer next changes (ms), or 0 when not known.
  int64_t NextChangeMs() const;
};

// The gates of `stage` at `now_ms`, from its namespace's ProjectConfig.
// Only a store failure is an error.
Result<ProjectGates> ReadGates(store::Store& store, const model::Stage& stage, int64_t now_ms);

// ReadGates(...).Denial().
Result<std::optional<std::string>> CheckGates(store::Store& store, const model::Stage& stage,
                                              int64_t now_ms);

}  // namespace strake::delivery
