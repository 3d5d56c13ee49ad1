// Pipelines on push: the server's side of Pipelines-as-Code. For a push the
// Repository controller reports, it reads the PipelineRuns the commit's
// .tekton/ asks for (gitops/pipelines_as_code.h), refuses the push if any
// of them is invalid or would paste an untrusted value into a script
// (pipeline/untrusted.h), checks the pushed commit out into each run's
// source workspace, and hands the runs to the server's pipeline engine.
//
// Every run is stored (Submit) before it starts and is named after the push,
// so a push handled twice starts once; runs a killed server left unfinished
// are resumed at start (ResumeInterrupted).
#pragma once

#include <string>

#include "gitops/repository.h"
#include "pipeline/engine.h"
#include "store/store.h"

namespace strake::server {

class PipelinesOnPush {
 public:
  PipelinesOnPush(store::Store& store, pipeline::Engine& engine, std::string data_dir)
      : store_(store), engine_(engine), data_dir_(std::move(data_dir)) {}

  Result<gitops::PushResult> OnPush(const gitops::Mirror& mirror, const gitops::PushEvent& push);
  // Starts again every Pipelines-as-Code run that was still running.
  Status ResumeInterrupted();

 private:
  store::Store& store_;
  pipeline::Engine& engine_;
  std::string data_dir_;
};

}  // namespace strake::server
