// Jsonnet, as Argo CD renders a directory source's *.jsonnet files: each
// file evaluated (Debian's libjsonnet) with the source's extVars and TLAs,
// its output one object or an array of objects.
//
// Jsonnet is a programming language and a repository is untrusted input: an
// evaluation runs in a child process of its own (this binary run as
// `strake __jsonnet`, JsonnetMain), killed past a wall-clock deadline or a
// resident-memory limit, with an empty environment. Every file it reads,
// the evaluated file and each `import`/`importstr`, comes from the
// repository at the commit being rendered, through libgit2: a path is
// resolved against the importing file's directory, then the library
// directories (the last given first, as go-jsonnet's -J), never against the
// host's file system; an absolute path or one that leaves the repository
// is refused.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/process.h"
#include "base/result.h"
#include "model/gitops.h"

namespace strake::gitops {

struct JsonnetLimits {
  std::chrono::milliseconds timeout{60'000};  // a render's jsonnet files together, wall clock
  size_t max_memory = size_t{1} << 30;        // the evaluating process's resident memory
  size_t max_output = size_t{64} << 20;       // the JSON one file produces
  size_t max_file_bytes = size_t{8} << 20;    // each file read from the repository
  // Not zero: the evaluation also ends here (one render's files share
  // `timeout`).
  std::chrono::steady_clock::time_point deadline{};
};

// How a file is evaluated: `exe __jsonnet` under `limits`.
struct JsonnetEvaluator {
  std::string exe = SelfExe();
  JsonnetLimits limits;
};

struct JsonnetRequest {
  std::string git_dir;  // the mirror (Mirror::path)
  std::string sha;
  std::string file;                 // relative to the repository's root
  std::vector<std::string> jpaths;  // library directories, relative to the root
  std::vector<model::JsonnetVar> ext_vars;
  std::vector<model::JsonnetVar> tlas;
};

// The file's JSON, or jsonnet's error (file:line:col and a stack trace),
// or why the evaluation was stopped.
Result<std::string> EvaluateJsonnet(const JsonnetEvaluator& ev, const JsonnetRequest& req);

// A file of the repository (a path relative to its root) to its content;
// nullopt if it does not exist.
using RepoReader = std::function<Result<std::optional<std::string>>(const std::string& path)>;

// The evaluation itself, in this process: what the child runs.
Result<std::string> EvaluateJsonnetWith(const JsonnetRequest& req, const RepoReader& read,
                                        size_t max_output);

// `strake __jsonnet`: a request (JSON) on stdin, the output on stdout, an
// error on stderr with exit code 1.
int JsonnetMain();

// Argo CD's expansion of extVars' and TLAs' values (Go's os.Expand): $NAME
// and ${NAME} from `env`, unknown names empty, $$ a '$'.
std::string ArgoEnvsubst(std::string_view s, const std::map<std::string, std::string>& env);

}  // namespace strake::gitops
