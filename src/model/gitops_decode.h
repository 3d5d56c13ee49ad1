// Decoders of the GitOps kinds' specs from parsed nodes, for decode.cc.
// Internal to model/.
#pragma once

#include "model/fields.h"
#include "model/gitops.h"

namespace strake::model {

ApplicationSpec DecodeApplicationSpecNode(Ctx& ctx, const Node& spec);
RepositorySpec DecodeRepositorySpecNode(Ctx& ctx, const Node& spec);

}  // namespace strake::model
