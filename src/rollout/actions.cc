#include "rollout/actions.h"

#include <algorithm>

namespace strake::rollout {

Status ApplyAction(const std::string& action, bool full, const model::RolloutSpec& spec,
                   RolloutStatus& st, TimePoint now) {
  bool updating = !st.current_pod_hash.empty() && st.current_pod_hash != st.stable_rs;
  if (action == "promote") {
    if (st.abort) return Fail("the rollout is aborted: use retry to start it over");
    if (!updating) return Fail("nothing to promote: no update is in progress");
    st.pause_conditions.clear();
    if (full || spec.blue_green) {
      st.promote_full = true;
    } else {
      int n = static_cast<int>(spec.canary->steps.size());
      st.current_step_index = std::min(n, st.current_step_index + 1);
      st.step_analysis_run.clear();
    }
    st.progressed_at_ms = UnixMillis(now);
    return Ok();
  }
  if (action == "abort") {
    if (!updating) return Fail("nothing to abort: no update is in progress");
    if (st.abort) return Ok();
    st.abort = true;
    st.aborted_at_ms = UnixMillis(now);
    st.message = "RolloutAborted: aborted by the user";
    return Ok();
  }
  if (action == "retry") {
    if (!st.abort) return Fail("the rollout is not aborted");
    st.abort = false;
    st.aborted_at_ms = 0;
    st.current_step_index = 0;
    ++st.attempt;  // new AnalysisRuns: the failed ones must not decide this attempt
    st.pause_conditions.clear();
    st.step_analysis_run.clear();
    st.background_analysis_run.clear();
    st.pre_promotion_run.clear();
    st.post_promotion_run.clear();
    st.preview_ready_at_ms = 0;
    st.step_plugin_statuses.clear();
    st.progressed_at_ms = UnixMillis(now);
    st.message = "";
    return Ok();
  }
  return Failf("unknown action {} (promote, abort, retry)", action);
}

}  // namespace strake::rollout
