// Kubernetes core v1 values shared by every kind strake reads: object
// metadata, where a decoded value came from, environment variables and
// their references, volume mounts, and the ConfigMap, Secret and
// PersistentVolumeClaim kinds. Plain values, copyable, thread-safe once
// built.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "model/node.h"

namespace strake::model {

using Millis = std::chrono::milliseconds;

// Where a value came from, for errors found after decoding.
struct Origin {
  std::string file;
  Mark mark;
  std::string path;
};

struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string ns = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

struct KeyRef {
  std::string name;
  std::string key;
  bool optional = false;
};

struct EnvVar {
  std::string name;
  std::string value;
  std::optional<KeyRef> config_map_key_ref;
  std::optional<KeyRef> secret_key_ref;
  std::string field_path;  // valueFrom.fieldRef (the downward API); "" if none
};

// envFrom: every key of a ConfigMap or Secret as a variable (prefixed).
struct EnvFromSource {
  std::string prefix;
  std::string name;
  bool secret = false;  // a secretRef (else a configMapRef)
  bool optional = false;
};

struct VolumeMount {
  std::string name;
  std::string mount_path;
  std::string sub_path;
  bool read_only = false;
};

struct ConfigMapData {
  std::map<std::string, std::string> data;  // Secret data is base64-decoded here
  bool is_secret = false;
};

struct ConfigMap {
  ObjectMeta meta;
  ConfigMapData data;
};

struct PersistentVolumeClaim {
  ObjectMeta meta;
};

// A Kubernetes probe (a container's readinessProbe, a sidecar's startupProbe, ...).
struct Probe {
  enum class Kind { kHttpGet, kTcpSocket, kExec };
  Kind kind = Kind::kHttpGet;
  std::string path = "/";
  std::string port;  // a number or a container port's name
  std::vector<std::pair<std::string, std::string>> http_headers;
  std::vector<std::string> command;
  int initial_delay_seconds = 0;
  int period_seconds = 10;
  int timeout_seconds = 1;
  int success_threshold = 1;
  int failure_threshold = 3;
};

}  // namespace strake::model
