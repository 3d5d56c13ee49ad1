#include "delivery/step_config.h"

#include <sys/stat.h>

#include <filesystem>
#include <vector>

#include "base/fs.h"
#include "base/net.h"
#include "base/strings.h"
#include "gitops/git.h"
#include "model/gitops.h"

namespace strake::delivery {

Result<std::string> Text(const Json& config, const std::string& key, bool required,
                         const std::string& at) {
  if (!config.is_object()) return Fail("config must be an object");
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    if (required) return Failf("{}{} is required", at, key);
    return std::string();
  }
  if (!it->is_string()) return Failf("{}{} must be a string", at, key);
  return it->get<std::string>();
}

Result<std::string> WorkPath(const StepContext& ctx, const Json& config, const std::string& key) {
  STRAKE_TRY_ASSIGN(rel, Text(config, key, true));
  auto clean = gitops::CleanRepoPath(rel);
  if (!clean || *clean == ".") {
    return Failf("config.{}: {} must name a path inside the working directory", key, Quote(rel));
  }
  for (const auto& part : Split(*clean, '/')) {
    if (part == ".git") return Failf("config.{}: {} is inside a .git directory", key, Quote(rel));
  }
  size_t slash = clean->rfind('/');
  std::string parent = slash == std::string::npos ? "" : clean->substr(0, slash);
  std::string leaf = slash == std::string::npos ? *clean : clean->substr(slash + 1);
  if (!parent.empty()) {
    auto made = MakeDirsBeneath(ctx.work_dir, parent);
    if (!made) return Failf("config.{}: {}: {}", key, Quote(rel), made.error().message);
  }
  STRAKE_TRY_ASSIGN(real_parent, ResolveBeneath(ctx.work_dir, parent));
  // Not into a .git directory through a link either (a cloned `g -> .git`).
  std::error_code ec;
  const std::string root = std::filesystem::weakly_canonical(ctx.work_dir, ec).string();
  if (StartsWith(real_parent, root)) {
    for (const auto& part : Split(real_parent.substr(root.size()), '/')) {
      if (part == ".git")
        return Failf("config.{}: {} leads into a .git directory", key, Quote(rel));
    }
  }
  std::string path = PathJoin(real_parent, leaf);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
    return Failf("config.{}: {} is a symbolic link", key, Quote(rel));
  return path;
}

Result<std::string> WorkRelative(const std::string& rel, const std::string& field,
                                 bool allow_root) {
  auto clean = gitops::CleanRepoPath(rel);
  if (rel.empty() || !clean || (*clean == "." && !allow_root) ||
      rel.find('\0') != std::string::npos) {
    return Failf("{}: {} must name a path inside the working directory", field, Quote(rel));
  }
  for (const auto& part : Split(*clean, '/')) {
    if (part == ".git") return Failf("{}: {} is inside a .git directory", field, Quote(rel));
  }
  return *clean;
}

Status NotYet(const Json& config, std::initializer_list<const char*> keys, const std::string& at) {
  for (const char* k : keys) {
    if (config.is_object() && config.contains(k) && !config[k].is_null() && config[k] != false)
      return Failf("{}{}: not supported yet", at, k);
  }
  return Ok();
}

Status OnlyFields(const Json& config, std::initializer_list<const char*> known,
                  const std::string& at) {
  if (!config.is_object()) {
    std::string where = at.empty() || at.back() != '.' ? at : at.substr(0, at.size() - 1);
    return Failf("{} must be an object", where);
  }
  std::vector<std::string> names(known.begin(), known.end());
  for (const auto& [k, v] : config.items()) {
    bool found = false;
    for (const auto& n : names) found = found || n == k;
    if (!found) return Failf("{}{}: unknown field{}", at, k, DidYouMean(k, names));
  }
  return Ok();
}

Result<bool> Flag(const Json& config, const std::string& key, bool fallback,
                  const std::string& at) {
  if (!config.is_object()) return Fail("config must be an object");
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Failf("{}{} must be true or false", at, key);
  return it->get<bool>();
}

Result<Millis> DurationField(const Json& config, const char* key, Millis fallback) {
  STRAKE_TRY_ASSIGN(text, Text(config, key));
  if (text.empty()) return fallback;
  auto d = ParseDuration(text);
  if (!d) return Failf(ErrorCode::kInvalid, "config.{}: {}", key, d.error().message);
  return *d;
}

Result<std::string> RepoUrlField(const Json& config) {
  STRAKE_TRY_ASSIGN(url, Text(config, "repoURL", true));
  if (!model::SupportedRepoUrl(url) || StartsWith(url, "-")) {
    return Failf(ErrorCode::kInvalid, "config.repoURL: {} is not a repository URL strake reaches",
                 Quote(RedactUrl(url)));
  }
  return url;
}

}  // namespace strake::delivery
