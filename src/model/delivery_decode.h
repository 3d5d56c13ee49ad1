// Decoders of the delivery kinds' specs from parsed nodes, for decode.cc.
// Internal to model/.
#pragma once

#include "model/delivery.h"
#include "model/fields.h"

namespace strake::model {

Deployment DecodeDeploymentNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec);
Job DecodeJobNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec);
Service DecodeServiceNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec);
RolloutSpec DecodeRolloutSpecNode(Ctx& ctx, const Node& spec);
AnalysisTemplateSpec DecodeAnalysisSpecNode(Ctx& ctx, const Node& spec);

}  // namespace strake::model
