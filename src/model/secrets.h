// Reading a stored Secret object (JSON as the API holds it): its values and
// the registry credentials it carries. One reading for everything that
// needs a value (env references, pull secrets, log masking), so that all
// agree on which of `data` (base64) and `stringData` (plain) wins.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/node.h"

namespace strake::model {

// The value of `key`: stringData's when it has the key (it is merged over
// data on write, in Kubernetes), else data's decoded from base64 (none when
// it is not base64 or not a string).
std::optional<std::string> SecretValue(const Json& secret, const std::string& key);

// Every value the Secret holds, decoded (what a log is masked with).
std::vector<std::string> SecretValues(const Json& secret);

// The key that holds the registry configuration of a Secret of `type`:
// ".dockerconfigjson" for kubernetes.io/dockerconfigjson, ".dockercfg" for
// kubernetes.io/dockercfg, none for any other type.
std::optional<std::string> DockerConfigKey(const std::string& type);

}  // namespace strake::model
