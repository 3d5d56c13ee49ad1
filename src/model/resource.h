// Resource: one decoded document of any kind strake reads.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "model/core.h"
#include "model/gitops.h"
#include "model/kargo.h"
#include "model/rollouts.h"
#include "model/tekton.h"
#include "model/workloads.h"

namespace strake::model {

// One decoded document.
struct Resource {
  std::string api_version;
  std::string kind;
  ObjectMeta meta;
  Origin origin;
  Json raw;  // the document as JSON, as written
  // The document as read, with its marks: set by LoadFiles (so that the
  // server's errors about a field can name its line), null otherwise.
  std::shared_ptr<const Node> document;
  std::variant<Task, Pipeline, PipelineRun, TaskRun, StepAction, ConfigMap, PersistentVolumeClaim,
               Deployment, Job, Pod, CronJob, Service, Rollout, AnalysisTemplate, AnalysisRun,
               Experiment, Application, Repository, Warehouse, Freight, Project, ProjectConfig,
               ClusterConfig, Stage, Promotion, PromotionTask, StoredObject>
      value;
};

}  // namespace strake::model
