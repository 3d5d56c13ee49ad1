// Tekton's credential initialisation (docs/auth.md): the Secrets of a run's
// ServiceAccount that carry a `tekton.dev/git-N` or `tekton.dev/docker-N`
// annotation (and any dockerconfigjson or dockercfg Secret it lists) become
// files in each step's HOME before the steps start: ~/.ssh/id_<secret>,
// ~/.ssh/config and ~/.ssh/known_hosts for ssh-auth; ~/.gitconfig and
// ~/.git-credentials for basic-auth to git; ~/.docker/config.json for
// registries.
//
// A run keeps which Secrets of which type for which URL (no values); the
// values come from the Secrets the run carries, when each TaskRun starts.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/core.h"

namespace strake::pipeline {

using Json = nlohmann::ordered_json;

struct Credential {
  std::string secret;
  std::string type;  // kubernetes.io/ssh-auth, basic-auth, dockerconfigjson, dockercfg
  std::string kind;  // "git" or "docker" (from the annotation); dockerconfig types: "docker"
  std::string url;   // the annotation's value ("" for the dockerconfig types)
};

// The credentials a ServiceAccount gives: `service_account` is its object
// (null: none), `secrets` the namespace's Secret objects by name. Sorted as
// Tekton sorts them (by Secret, then annotation).
std::vector<Credential> CredentialsOf(const Json& service_account,
                                      const std::map<std::string, Json>& secrets);

Json ToJson(const std::vector<Credential>& creds);
std::vector<Credential> CredentialsFromJson(const Json& j);

// The files to write beneath HOME (path relative to it -> content, mode),
// with `home` the path steps see it at (for ~/.ssh/config's IdentityFile).
// A credential whose Secret or key is missing is an error naming it.
struct CredentialFile {
  std::string content;
  int mode = 0600;
};
Result<std::map<std::string, CredentialFile>> CredentialFiles(
    const std::vector<Credential>& creds,
    const std::map<std::string, model::ConfigMapData>& secrets, const std::string& home);

}  // namespace strake::pipeline
