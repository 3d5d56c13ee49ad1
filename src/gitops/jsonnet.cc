#include "gitops/jsonnet.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include <libjsonnet.h>
}

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "gitops/git.h"

namespace strake::gitops {

namespace {

using nlohmann::json;

json VarsJson(const std::vector<model::JsonnetVar>& vars) {
  json out = json::array();
  for (const auto& v : vars)
    out.push_back({{"name", v.name}, {"value", v.value}, {"code", v.code}});
  return out;
}

std::vector<model::JsonnetVar> VarsFrom(const json& j) {
  std::vector<model::JsonnetVar> out;
  for (const auto& v : j) {
    out.push_back({v.at("name").get<std::string>(), v.at("value").get<std::string>(),
                   v.at("code").get<bool>()});
  }
  return out;
}

struct Request {
  JsonnetRequest req;
  size_t max_output = 0;
  size_t max_file_bytes = 0;
};

std::string RequestText(const JsonnetRequest& r, const JsonnetLimits& limits) {
  json j{{"git_dir", r.git_dir},
         {"sha", r.sha},
         {"file", r.file},
         {"jpaths", r.jpaths},
         {"ext_vars", VarsJson(r.ext_vars)},
         {"tlas", VarsJson(r.tlas)},
         {"max_output", limits.max_output},
         {"max_file_bytes", limits.max_file_bytes}};
  return j.dump();
}

Result<Request> ParseRequest(const std::string& text) {
  try {
    json j = json::parse(text);
    Request out;
    out.req.git_dir = j.at("git_dir").get<std::string>();
    out.req.sha = j.at("sha").get<std::string>();
    out.req.file = j.at("file").get<std::string>();
    out.req.jpaths = j.at("jpaths").get<std::vector<std::string>>();
    out.req.ext_vars = VarsFrom(j.at("ext_vars"));
    out.req.tlas = VarsFrom(j.at("tlas"));
    out.max_output = j.at("max_output").get<size_t>();
    out.max_file_bytes = j.at("max_file_bytes").get<size_t>();
    return out;
  } catch (const json::exception& e) {
    return Failf("jsonnet request: {}", e.what());
  }
}

// libjsonnet owns what it is handed back: copies in its allocator.
char* VmCopy(JsonnetVm* vm, std::string_view s) {
  char* out = jsonnet_realloc(vm, nullptr, s.size() + 1);
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

struct Importer {
  JsonnetVm* vm;
  const RepoReader& read;
  const std::vector<std::string>& jpaths;
};

// The directories an import is looked for in: the importing file's, then
// the libraries', the last given first.
std::vector<std::string> SearchDirs(const std::string& base, const std::vector<std::string>& libs) {
  std::vector<std::string> dirs{base};
  for (auto it = libs.rbegin(); it != libs.rend(); ++it) dirs.push_back(*it + "/");
  return dirs;
}

Result<std::pair<std::string, std::string>> FindImport(const Importer& im, const std::string& base,
                                                       const std::string& rel) {
  if (!rel.empty() && rel[0] == '/') {
    return Failf("import \"{}\": imports are read from the repository, not by absolute path", rel);
  }
  std::vector<std::string> tried;
  std::string outside;  // why a search directory was passed over
  for (const std::string& dir : SearchDirs(base, im.jpaths)) {
    auto clean = CleanRepoPath(dir + rel);
    if (!clean) {  // from here it leaves the repository: the next directory may have it
      outside = fmt::format(" ({} from {})", clean.error().message, dir.empty() ? "." : dir);
      continue;
    }
    STRAKE_TRY_ASSIGN(content, im.read(*clean));
    if (content) return std::make_pair(*clean, std::move(*content));
    tried.push_back(*clean);
  }
  return Failf("import \"{}\": no such file in the repository (looked for {}){}", rel,
               tried.empty() ? "nothing" : Join(tried, ", "), outside);
}

char* ImportCallback(void* ctx, const char* base, const char* rel, char** found_here,
                     int* success) {
  const auto& im = *static_cast<const Importer*>(ctx);
  auto found = FindImport(im, base, rel);
  if (!found) {
    *success = 0;
    return VmCopy(im.vm, found.error().message);
  }
  *found_here = VmCopy(im.vm, found->first);
  *success = 1;
  return VmCopy(im.vm, found->second);
}

class Vm {
 public:
  Vm() : vm_(jsonnet_make()) {}
  ~Vm() { jsonnet_destroy(vm_); }
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;
  JsonnetVm* get() const { return vm_; }

 private:
  JsonnetVm* vm_;
};

// Reads all of `fd` from its start.
Result<std::string> ReadFromStart(int fd, const std::string& name, size_t max_bytes) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return Failf("{}: {}", name, std::strerror(errno));
  return ReadFd(fd, name, max_bytes);
}

Result<Fd> Memfd(const std::string& name) {
  Fd fd(::memfd_create(name.c_str(), MFD_CLOEXEC));
  if (!fd) return Failf("memfd {}: {}", name, std::strerror(errno));
  return fd;
}

size_t FdSize(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

// The last `max_bytes` of `fd` (traces come before an error).
Result<std::string> ReadTail(int fd, const std::string& name, size_t max_bytes) {
  size_t size = FdSize(fd);
  off_t from = static_cast<off_t>(size > max_bytes ? size - max_bytes : 0);
  if (::lseek(fd, from, SEEK_SET) != from) return Failf("{}: {}", name, std::strerror(errno));
  return ReadFd(fd, name, max_bytes);
}

constexpr size_t kMaxErrorBytes = size_t{1} << 20;  // std.trace's output and the error

// Waits for the child, killing it past the deadline, the memory limit, or
// what it may write (its output and error are memory too, not its own).
Status Supervise(Process& p, const JsonnetLimits& limits, int out_fd, int err_fd, int& exit_code) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + limits.timeout;
  if (limits.deadline != Clock::time_point{}) deadline = std::min(deadline, limits.deadline);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto w = WaitProcess(
        p, std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(10)));
    if (!w) {
      KillAndReap(p);
      return Fail(w.error().message);
    }
    if (w->outcome == WaitOutcome::kExited) {
      exit_code = w->exit_code;
      return Ok();
    }
    if (FdSize(out_fd) > limits.max_output || FdSize(err_fd) > kMaxErrorBytes) {
      KillAndReap(p);
      return Failf("stopped: it wrote more than its output's limit ({} MiB) or {} MiB of traces",
                   limits.max_output >> 20, kMaxErrorBytes >> 20);
    }
    if (ResidentBytes(p.pid()) > limits.max_memory) {
      KillAndReap(p);
      return Failf("stopped: it used more than the limit of {} MiB of memory",
                   limits.max_memory >> 20);
    }
    if (Clock::now() >= deadline) {
      KillAndReap(p);
      return Failf("stopped: it ran longer than the limit of {}", FormatDuration(limits.timeout));
    }
  }
}

}  // namespace

Result<std::string> EvaluateJsonnetWith(const JsonnetRequest& req, const RepoReader& read,
                                        size_t max_output) {
  STRAKE_TRY_ASSIGN(main, read(req.file));
  if (!main) return Failf("{}: no such file in the repository", req.file);
  Vm vm;
  for (const auto& v : req.ext_vars) {
    (v.code ? jsonnet_ext_code : jsonnet_ext_var)(vm.get(), v.name.c_str(), v.value.c_str());
  }
  for (const auto& v : req.tlas) {
    (v.code ? jsonnet_tla_code : jsonnet_tla_var)(vm.get(), v.name.c_str(), v.value.c_str());
  }
  Importer im{vm.get(), read, req.jpaths};
  jsonnet_import_callback(vm.get(), ImportCallback, &im);
  int error = 0;
  char* out = jsonnet_evaluate_snippet(vm.get(), req.file.c_str(), main->c_str(), &error);
  std::string text = out ? out : "";
  jsonnet_realloc(vm.get(), out, 0);
  if (error) return Failf("{}: {}", req.file, Trim(text));
  if (text.size() > max_output) {
    return Failf("{}: its output is larger than the limit of {} bytes", req.file, max_output);
  }
  return text;
}

int JsonnetMain() {
  auto text = ReadFd(0, "stdin", size_t{256} << 20);
  if (!text) {
    std::fprintf(stderr, "%s\n", text.error().message.c_str());
    return 1;
  }
  auto parsed = ParseRequest(*text);
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error().message.c_str());
    return 1;
  }
  const JsonnetRequest& req = parsed->req;
  auto mirror = Mirror::OpenLocal(req.git_dir);
  ReadLimits limits;
  limits.max_file_bytes = parsed->max_file_bytes;
  RepoReader read = [&](const std::string& path) {
    return mirror->ReadFileAt(req.sha, path, limits);
  };
  auto out = EvaluateJsonnetWith(req, read, parsed->max_output);
  if (!out) {
    std::fprintf(stderr, "%s\n", out.error().message.c_str());
    return 1;
  }
  if (std::fwrite(out->data(), 1, out->size(), stdout) != out->size() || std::fflush(stdout) != 0)
    return 1;
  return 0;
}

Result<std::string> EvaluateJsonnet(const JsonnetEvaluator& ev, const JsonnetRequest& req) {
  STRAKE_TRY_ASSIGN(in, SealedMemfd("jsonnet-request", RequestText(req, ev.limits)));
  if (::lseek(in.get(), 0, SEEK_SET) != 0)
    return Failf("jsonnet request: {}", std::strerror(errno));
  STRAKE_TRY_ASSIGN(out, Memfd("jsonnet-output"));
  STRAKE_TRY_ASSIGN(err, Memfd("jsonnet-error"));
  SpawnOptions o;
  o.argv = {ev.exe, "__jsonnet"};
  // Nothing of the server's environment (its secrets) reaches the
  // evaluator; sanitizer settings do, for the tests' builds.
  for (const std::string& kv : CurrentEnv()) {
    if (StartsWith(kv, "ASAN_OPTIONS=") || StartsWith(kv, "UBSAN_OPTIONS=") ||
        StartsWith(kv, "LSAN_OPTIONS=")) {
      o.env.push_back(kv);
    }
  }
  o.stdin_fd = in.get();
  o.stdout_fd = out.get();
  o.stderr_fd = err.get();
  auto proc = Spawn(o);
  if (!proc) return Failf("{}: running the jsonnet evaluator: {}", req.file, proc.error().message);
  int code = 0;
  if (auto s = Supervise(*proc, ev.limits, out.get(), err.get(), code); !s) {
    return Failf("{}: jsonnet {}", req.file, s.error().message);
  }
  if (code != 0) {
    auto msg = ReadTail(err.get(), "jsonnet's error", size_t{64} << 10);
    std::string text = msg ? std::string(Trim(*msg)) : std::string();
    if (text.empty())
      text = fmt::format("{}: the jsonnet evaluator exited with code {}", req.file, code);
    return Fail(text);
  }
  return ReadFromStart(out.get(), req.file, ev.limits.max_output);
}

std::string ArgoEnvsubst(std::string_view s, const std::map<std::string, std::string>& env) {
  auto special = [](char c) { return std::strchr("*#$@!?-0123456789", c) != nullptr && c != '\0'; };
  auto alnum = [](char c) { return c == '_' || std::isalnum(static_cast<unsigned char>(c)) != 0; };
  auto lookup = [&](std::string_view name) -> std::string {
    if (name == "$") return "$";  // Argo CD's escape
    auto it = env.find(std::string(name));
    return it == env.end() ? "" : it->second;
  };
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '$' || i + 1 == s.size()) {
      out += s[i++];
      continue;
    }
    std::string_view rest = s.substr(i + 1);
    if (rest[0] == '{') {
      if (rest.size() > 2 && special(rest[1]) && rest[2] == '}') {
        out += lookup(rest.substr(1, 1));
        i += 4;
        continue;
      }
      size_t close = rest.find('}');
      if (close == std::string_view::npos) {
        i += 2;  // bad syntax: "${" is dropped, as Go drops it
      } else {
        if (close > 1) out += lookup(rest.substr(1, close - 1));
        i += close + 2;  // "${}" is dropped too
      }
      continue;
    }
    if (special(rest[0])) {
      out += lookup(rest.substr(0, 1));
      i += 2;
      continue;
    }
    size_t n = 0;
    while (n < rest.size() && alnum(rest[n])) ++n;
    if (n == 0) {
      out += '$';  // not followed by a name: kept
      ++i;
      continue;
    }
    out += lookup(rest.substr(0, n));
    i += n + 1;
  }
  return out;
}

}  // namespace strake::gitops
