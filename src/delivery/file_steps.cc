#include "delivery/file_steps.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "base/fs.h"
#include "base/strings.h"
#include "delivery/artifact.h"
#include "delivery/json_edit.h"
#include "delivery/step_config.h"
#include "delivery/yaml_edit.h"
#include "gitops/kustomize.h"
#include "model/kinds.h"
#include "rollout/expr.h"

namespace strake::delivery {

namespace {

constexpr size_t kMaxFileBytes = 8u << 20;
constexpr size_t kMaxEntries = 100'000;  // files and directories one copy or delete walks
constexpr int kMaxWalkDepth = 100;
constexpr const char* kJournalDir = ".strake-steps";

// The outcome of a step whose work failed: `terminal` when the config is
// at fault (trying again cannot mend it).
StepOutcome Errored(const Error& e, bool terminal = false) {
  return ErroredStep(e.message, terminal);
}

std::pair<std::string, std::string> SplitLeaf(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// A file of the working directory, opened beneath it.
Result<std::string> ReadWork(const StepContext& ctx, const std::string& rel,
                             const std::string& field) {
  auto data = ReadFileBeneath(ctx.work_dir, rel, kMaxFileBytes);
  if (data) return data;
  if (data.error().Is(ErrorCode::kNotFound))
    return Failf("{}: {} does not exist", field, Quote(rel));
  if (data.error().Is(ErrorCode::kInvalid))
    return Failf("{}: {} leads out of the working directory (through a link)", field, Quote(rel));
  return Failf("{}: {}", field, data.error().message);
}

Status WriteAll(int fd, std::string_view data, const std::string& rel) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Failf("{}: {}", rel, std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Ok();
}

// Writes `data` to `rel` beneath the working directory through a temporary
// file beside it and a rename: a crash leaves the old file or the new one.
// Parents are made; `rel` may not be a link. A file replaced keeps its mode.
// Whether the directory open as `fd` is a .git directory of the working
// directory or inside one (reached through a cloned link such as
// `g -> .git`): no file step writes there (a clone's config names the
// commands git runs). Unknown: yes.
bool InGitDir(const StepContext& ctx, int fd) {
  char buf[4096];
  ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), buf, sizeof buf - 1);
  if (n <= 0) return true;
  const std::string real(buf, static_cast<size_t>(n));
  std::error_code ec;
  const std::string root = std::filesystem::weakly_canonical(ctx.work_dir, ec).string();
  if (!StartsWith(real, root)) return true;
  for (const auto& part : Split(real.substr(root.size()), '/')) {
    if (part == ".git") return true;
  }
  return false;
}

// MakeDirsBeneath for a file step that writes: not into a .git directory.
Result<Fd> WritableDir(const StepContext& ctx, const std::string& parent) {
  STRAKE_TRY_ASSIGN(dir, MakeDirsBeneath(ctx.work_dir, parent));
  if (InGitDir(ctx, dir.get())) return Failf("{} leads into a .git directory", Quote(parent));
  return dir;
}

Status WriteWork(const StepContext& ctx, const std::string& rel, std::string_view data,
                 const std::string& field, int mode = 0600) {
  auto [parent, leaf] = SplitLeaf(rel);
  auto dir = WritableDir(ctx, parent);
  if (!dir) return Failf("{}: {}: {}", field, Quote(rel), dir.error().message);
  struct stat st {};
  if (::fstatat(dir->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) return Failf("{}: {} is a symbolic link", field, Quote(rel));
    if (!S_ISREG(st.st_mode)) return Failf("{}: {} is not a regular file", field, Quote(rel));
    mode = static_cast<int>(st.st_mode & 0777);
  }
  const std::string tmp = "." + leaf + ".strake-tmp";
  Fd fd(::openat(dir->get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                 mode));
  if (!fd) return Failf("{}: {}: {}", field, Quote(rel), std::strerror(errno));
  Status wrote = ::fchmod(fd.get(), static_cast<mode_t>(mode)) == 0
                     ? WriteAll(fd.get(), data, rel)
                     : Failf("{}: {}", rel, std::strerror(errno));
  if (wrote && ::renameat(dir->get(), tmp.c_str(), dir->get(), leaf.c_str()) != 0)
    wrote = Failf("{}: {}", rel, std::strerror(errno));
  if (!wrote) {
    ::unlinkat(dir->get(), tmp.c_str(), 0);
    return Failf("{}: {}", field, wrote.error().message);
  }
  return Ok();
}

// The `updates` or `outputs` list of a config: an array of objects, at
// least one.
Result<const Json*> ListOf(const Json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || !it->is_array() || it->empty())
    return Failf("config.{}: at least one is required", key);
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_object()) return Failf("config.{}[{}] must be an object", key, i);
  }
  return &*it;
}

// --- yaml-parse, json-parse ----------------------------------------------------

struct ParseConfig {
  std::string path;
  std::vector<std::pair<std::string, rollout::Expr>> outputs;
};

Result<ParseConfig> ReadParseConfig(const Json& c) {
  STRAKE_TRY(OnlyFields(c, {"path", "outputs"}, "config."));
  ParseConfig cfg;
  STRAKE_TRY_ASSIGN(path, Text(c, "path", true));
  STRAKE_TRY_ASSIGN(rel, WorkRelative(path, "config.path"));
  cfg.path = rel;
  STRAKE_TRY_ASSIGN(outputs, ListOf(c, "outputs"));
  for (size_t i = 0; i < outputs->size(); ++i) {
    const Json& o = (*outputs)[i];
    const std::string at = fmt::format("config.outputs[{}].", i);
    STRAKE_TRY(OnlyFields(o, {"name", "fromExpression"}, at));
    STRAKE_TRY_ASSIGN(name, Text(o, "name", true, at));
    STRAKE_TRY_ASSIGN(source, Text(o, "fromExpression", true, at));
    if (name.empty()) return Failf("{}name may not be empty", at);
    auto expr = rollout::Expr::Compile(source);
    if (!expr) return Failf("{}fromExpression: {}", at, expr.error().message);
    cfg.outputs.emplace_back(name, std::move(*expr));
  }
  return cfg;
}

// The document of a yaml-parse or json-parse: its first YAML document, or
// the JSON value.
Result<Json> ReadDocument(const StepContext& ctx, const std::string& rel, bool yaml) {
  STRAKE_TRY_ASSIGN(text, ReadWork(ctx, rel, "config.path"));
  if (yaml) {
    auto docs = model::ParseYaml(text, rel);
    if (!docs) return Failf("config.path: {}", docs.error().message);
    if (docs->empty()) return Failf("config.path: {} holds no YAML document", Quote(rel));
    return model::ToJson(docs->front().root);
  }
  if (!JsonDepthWithin(text, 100))
    return Failf("config.path: {} nests deeper than 100 levels", Quote(rel));
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Failf("config.path: {} is not valid JSON", Quote(rel));
  return doc;
}

class DocumentParse : public StepRunner {
 public:
  explicit DocumentParse(bool yaml) : yaml_(yaml) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto cfg = ReadParseConfig(ctx.config);
    if (!cfg) return Errored(cfg.error(), true);
    auto doc = ReadDocument(ctx, cfg->path, yaml_);
    if (!doc) return Errored(doc.error());
    if (!doc->is_object()) {
      return ErroredStep(
          fmt::format("config.path: {} is not a mapping: the expressions read the "
                      "document's top-level fields",
                      Quote(cfg->path)));
    }
    std::map<std::string, rollout::Value> vars;
    for (const auto& [k, v] : doc->items()) vars[k] = rollout::Value(v);
    StepOutcome out;
    for (size_t i = 0; i < cfg->outputs.size(); ++i) {
      const auto& [name, expr] = cfg->outputs[i];
      auto value = expr.Eval(vars);
      if (!value) {
        return ErroredStep(fmt::format("config.outputs[{}].fromExpression: {}: {}", i,
                                       Quote(expr.source()), value.error().message));
      }
      out.output[name] = Json(*value);
    }
    return out;
  }

 private:
  bool yaml_;
};

// --- yaml-update, json-update ----------------------------------------------------

struct Update {
  std::string key;
  std::vector<KeyPart> path;
  Json value;
};

struct UpdateConfig {
  std::string path;  // as written, for the commit message
  std::string rel;
  std::vector<Update> updates;
};

Result<UpdateConfig> ReadUpdateConfig(const Json& c, bool yaml) {
  STRAKE_TRY(OnlyFields(c, {"path", "updates"}, "config."));
  UpdateConfig cfg;
  STRAKE_TRY_ASSIGN(path, Text(c, "path", true));
  STRAKE_TRY_ASSIGN(rel, WorkRelative(path, "config.path"));
  cfg.path = path;
  cfg.rel = rel;
  STRAKE_TRY_ASSIGN(updates, ListOf(c, "updates"));
  for (size_t i = 0; i < updates->size(); ++i) {
    const Json& u = (*updates)[i];
    const std::string at = fmt::format("config.updates[{}].", i);
    STRAKE_TRY(OnlyFields(u, {"key", "value"}, at));
    STRAKE_TRY_ASSIGN(key, Text(u, "key", true, at));
    auto parts = SplitKey(key);
    if (!parts) return Failf("{}key: {}", at, parts.error().message);
    if (!u.contains("value")) return Failf("{}value is required", at);
    const Json& v = u["value"];
    if (v.is_structured() || (!yaml && v.is_null())) {
      return Failf("{}value must be a string, a number{} or a boolean: {} sets scalars", at,
                   yaml ? ", null" : "", yaml ? "yaml-update" : "json-update");
    }
    cfg.updates.push_back(Update{key, std::move(*parts), v});
  }
  return cfg;
}

// Go's strconv.ParseFloat and ParseBool, for Kargo's QuoteIfNecessary.
bool GoParses(const std::string& s) {
  static const std::set<std::string> kBools = {"1", "t", "T", "TRUE",  "true",  "True",
                                               "0", "f", "F", "FALSE", "false", "False"};
  if (kBools.count(s)) return true;
  char* end = nullptr;
  errno = 0;
  (void)std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() &&
         !std::isspace(static_cast<unsigned char>(s[0]));
}

// A value as Kargo's commit messages print it: yaml-update's
// QuoteIfNecessary (a string that would read as a number, a boolean or
// JSON is quoted), json-update's %q for strings.
std::string MessageValue(const Json& v, bool yaml) {
  if (v.is_null()) return "null";
  if (!v.is_string()) return v.dump();
  const auto& s = v.get_ref<const std::string&>();
  if (!yaml || GoParses(s) || Json::accept(s)) return Quote(s);
  return s;
}

std::string UpdateMessage(const UpdateConfig& cfg, bool yaml) {
  std::string msg = fmt::format("Updated {}\n", cfg.path);
  for (const auto& u : cfg.updates)
    msg += fmt::format("\n- {}: {}", u.key, MessageValue(u.value, yaml));
  return msg;
}

class DocumentUpdate : public StepRunner {
 public:
  explicit DocumentUpdate(bool yaml) : yaml_(yaml) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto cfg = ReadUpdateConfig(ctx.config, yaml_);
    if (!cfg) return Errored(cfg.error(), true);
    auto text = ReadWork(ctx, cfg->rel, "config.path");
    if (!text) return Errored(text.error());
    std::string edited = *text;
    for (size_t i = 0; i < cfg->updates.size(); ++i) {
      const Update& u = cfg->updates[i];
      auto next =
          yaml_ ? SetYamlValue(edited, u.path, u.value) : SetJsonValue(edited, u.path, u.value);
      if (!next) {
        return ErroredStep(fmt::format("config.updates[{}].key: {}: {} in {}", i, Quote(u.key),
                                       next.error().message, Quote(cfg->path)));
      }
      edited = std::move(*next);
    }
    // A run again after a crash finds the values set: nothing to write.
    if (edited != *text) {
      if (auto wrote = WriteWork(ctx, cfg->rel, edited, "config.path"); !wrote)
        return Errored(wrote.error());
    }
    StepOutcome out;
    out.output = {{"commitMessage", UpdateMessage(*cfg, yaml_)}};
    return out;
  }

 private:
  bool yaml_;
};

// --- copy ------------------------------------------------------------------------

// A line of `ignore`, as .gitignore reads it (go-git's gitignore, which
// Kargo uses).
struct IgnoreRule {
  std::string pattern;
  bool negate = false;
  bool dir_only = false;
  bool anchored = false;  // has a slash: matched from the copied directory
};

std::vector<IgnoreRule> IgnoreRules(const std::string& text) {
  std::vector<IgnoreRule> rules = {{".git"}};
  for (std::string line : Split(text, '\n')) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    IgnoreRule r;
    if (line[0] == '!') {
      r.negate = true;
      line.erase(0, 1);
    } else if (line[0] == '\\') {
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      r.dir_only = true;
      line.pop_back();
    }
    r.anchored = line.find('/') != std::string::npos;
    if (!line.empty() && line[0] == '/') line.erase(0, 1);
    if (line.empty()) continue;
    r.pattern = line;
    rules.push_back(std::move(r));
  }
  return rules;
}

bool Ignored(const std::vector<IgnoreRule>& rules, const std::string& rel, bool dir) {
  const std::string base = rel.substr(rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/') + 1);
  bool ignored = false;
  for (const auto& r : rules) {
    if (r.dir_only && !dir) continue;
    if (GlobMatch(r.pattern, r.anchored ? rel : base)) ignored = !r.negate;
  }
  return ignored;
}

// The names in a directory opened beneath the working directory, sorted.
Result<std::vector<std::string>> Names(int dirfd, const std::string& rel) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Failf("{}: {}", rel, std::strerror(errno));
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(dup), ::closedir);
  if (!dir) {
    ::close(dup);
    return Failf("{}: {}", rel, std::strerror(errno));
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir.get())) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Under(const std::string& dir, const std::string& name) {
  return dir.empty() || dir == "." ? name : dir + "/" + name;
}

// Copies the regular file `name` of `from_dir` to `to` (beneath the
// working directory), with its permissions (group and other write aside).
Status CopyFile(const StepContext& ctx, int from_dir, const std::string& name,
                const std::string& from, const std::string& to) {
  Fd in(::openat(from_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!in || ::fstat(in.get(), &st) != 0) return Failf("{}: {}", from, std::strerror(errno));
  auto [parent, leaf] = SplitLeaf(to);
  auto dir = WritableDir(ctx, parent);
  if (!dir) return tl::unexpected(dir.error());
  const auto mode = static_cast<mode_t>(st.st_mode & 0755);
  Fd out(::openat(dir->get(), leaf.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  mode));
  if (!out) {
    return Failf("{}: {}", to,
                 errno == ELOOP ? "a symbolic link is not written through" : std::strerror(errno));
  }
  if (::fchmod(out.get(), mode) != 0) return Failf("{}: {}", to, std::strerror(errno));
  char buf[64 * 1024];
  while (true) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Failf("{}: {}", from, std::strerror(errno));
    if (n == 0) return Ok();
    STRAKE_TRY(WriteAll(out.get(), std::string_view(buf, static_cast<size_t>(n)), to));
  }
}

// A copy of a tree: Kargo's copy.Copy with links skipped and ignore rules.
class TreeCopy {
 public:
  TreeCopy(const StepContext& ctx, std::vector<IgnoreRule> rules)
      : ctx_(ctx), rules_(std::move(rules)) {}

  // The directory `from` into `to`; `rel` is `from` seen from the copied root.
  Status Dir(const std::string& from, const std::string& to, const std::string& rel, int depth) {
    if (depth > kMaxWalkDepth) return Failf("{}: nested deeper than {} directories", from, depth);
    STRAKE_TRY_ASSIGN(dir, OpenBeneath(ctx_.work_dir, from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    STRAKE_TRY(WritableDir(ctx_, to));
    STRAKE_TRY_ASSIGN(names, Names(dir.get(), from));
    for (const auto& name : names) {
      if (++entries_ > kMaxEntries) return Failf("{}: more than {} entries", from, kMaxEntries);
      struct stat st {};
      if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const bool is_dir = S_ISDIR(st.st_mode);
      if ((!is_dir && !S_ISREG(st.st_mode)) || Ignored(rules_, Under(rel, name), is_dir)) continue;
      if (is_dir) {
        STRAKE_TRY(Dir(Under(from, name), Under(to, name), Under(rel, name), depth + 1));
      } else {
        STRAKE_TRY(CopyFile(ctx_, dir.get(), name, Under(from, name), Under(to, name)));
      }
    }
    return Ok();
  }

 private:
  const StepContext& ctx_;
  std::vector<IgnoreRule> rules_;
  size_t entries_ = 0;
};

struct CopyConfig {
  std::string in, out, ignore;
};

Result<CopyConfig> ReadCopyConfig(const Json& c) {
  STRAKE_TRY(OnlyFields(c, {"inPath", "outPath", "ignore"}, "config."));
  CopyConfig cfg;
  STRAKE_TRY_ASSIGN(in, Text(c, "inPath", true));
  STRAKE_TRY_ASSIGN(out, Text(c, "outPath", true));
  STRAKE_TRY_ASSIGN(ignore, Text(c, "ignore"));
  STRAKE_TRY_ASSIGN(in_rel, WorkRelative(in, "config.inPath"));
  STRAKE_TRY_ASSIGN(out_rel, WorkRelative(out, "config.outPath"));
  if (out_rel == in_rel || StartsWith(out_rel, in_rel + "/"))
    return Failf("config.outPath: {} is inside config.inPath {}", Quote(out), Quote(in));
  return CopyConfig{in_rel, out_rel, ignore};
}

class Copy : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto cfg = ReadCopyConfig(ctx.config);
    if (!cfg) return Errored(cfg.error(), true);
    if (auto done = Do(ctx, *cfg); !done) {
      return ErroredStep(
          fmt::format("copy {} to {}: {}", Quote(cfg->in), Quote(cfg->out), done.error().message));
    }
    return StepOutcome{};
  }

 private:
  static Status Do(const StepContext& ctx, const CopyConfig& cfg) {
    auto [parent, leaf] = SplitLeaf(cfg.in);
    const std::string missing = fmt::format("config.inPath: {} does not exist", Quote(cfg.in));
    auto dir = OpenBeneath(ctx.work_dir, parent, O_RDONLY | O_DIRECTORY);
    if (!dir) {
      if (dir.error().Is(ErrorCode::kNotFound)) return Fail(missing);
      return Failf("config.inPath: {}", dir.error().message);
    }
    struct stat st {};
    if (::fstatat(dir->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Fail(missing);
      return Failf("{}: {}", cfg.in, std::strerror(errno));
    }
    if (S_ISLNK(st.st_mode)) return Failf("config.inPath: {} is a symbolic link", Quote(cfg.in));
    if (S_ISDIR(st.st_mode))
      return TreeCopy(ctx, IgnoreRules(cfg.ignore)).Dir(cfg.in, cfg.out, "", 0);
    if (!S_ISREG(st.st_mode))
      return Failf("config.inPath: {} is not a regular file", Quote(cfg.in));
    return CopyFile(ctx, dir->get(), leaf, cfg.in, cfg.out);
  }
};

// --- delete ----------------------------------------------------------------------

struct DeleteConfig {
  std::vector<std::pair<std::string, std::string>> paths;  // field, path (or pattern)
  bool globs = false;
  bool strict = false;
};

Result<DeleteConfig> ReadDeleteConfig(const Json& c) {
  STRAKE_TRY(OnlyFields(c, {"path", "paths", "pathsAreGlobs", "strict"}, "config."));
  DeleteConfig cfg;
  STRAKE_TRY_ASSIGN(globs, Flag(c, "pathsAreGlobs", false));
  STRAKE_TRY_ASSIGN(strict, Flag(c, "strict", false));
  cfg.globs = globs;
  cfg.strict = strict;
  STRAKE_TRY_ASSIGN(path, Text(c, "path"));
  const Json paths = c.value("paths", Json::array());
  if (!paths.is_array()) return Fail("config.paths must be a list");
  if (path.empty() == paths.empty())
    return Fail("config: exactly one of path and paths is required");
  if (!path.empty()) cfg.paths.emplace_back("config.path", path);
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string field = fmt::format("config.paths[{}]", i);
    if (!paths[i].is_string()) return Failf("{} must be a string", field);
    cfg.paths.emplace_back(field, paths[i].get<std::string>());
  }
  for (auto& [field, p] : cfg.paths) {
    if (globs && StartsWith(p, "./")) p.erase(0, 2);
    STRAKE_TRY_ASSIGN(clean, WorkRelative(p, field));
    if (!globs) p = clean;
    if (globs && (clean != p || p.find('\\') != std::string::npos))
      return Failf("{}: {}: name the pattern relative to the working directory", field, Quote(p));
  }
  return cfg;
}

// Whether `rel` is there (a link counts, as itself); an error for a path
// whose parents lead out of the working directory.
Result<bool> Exists(const StepContext& ctx, const std::string& rel) {
  auto [parent, leaf] = SplitLeaf(rel);
  auto dir = OpenBeneath(ctx.work_dir, parent, O_RDONLY | O_DIRECTORY);
  if (!dir) {
    if (dir.error().Is(ErrorCode::kInvalid)) return tl::unexpected(dir.error());
    return false;  // a parent is missing, or is not a directory
  }
  struct stat st {};
  return ::fstatat(dir->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// Deletes `rel` (a directory with all it holds; a link as a link).
Status Remove(const StepContext& ctx, const std::string& rel) {
  auto [parent, leaf] = SplitLeaf(rel);
  auto real = ResolveBeneath(ctx.work_dir, parent);
  if (!real)
    return real.error().Is(ErrorCode::kNotFound) ? Ok() : Status(tl::unexpected(real.error()));
  if (auto dir = OpenBeneath(ctx.work_dir, parent, O_RDONLY | O_DIRECTORY);
      dir && InGitDir(ctx, dir->get())) {
    return Failf("{} leads into a .git directory", Quote(rel));
  }
  std::error_code ec;
  std::filesystem::remove_all(PathJoin(*real, leaf), ec);  // never follows a link
  if (ec) return Failf("{}: {}", rel, ec.message());
  return Ok();
}

// The paths beneath the working directory a glob matches: a directory
// matched is not walked into; links are not followed; .git directories and
// strake's journal are left alone.
Result<std::vector<std::string>> Glob(const StepContext& ctx, const std::string& pattern) {
  std::vector<std::string> out;
  std::error_code ec;
  const std::filesystem::path root(RealPath(ctx.work_dir));
  size_t seen = 0;
  auto it = std::filesystem::recursive_directory_iterator(root, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (++seen > kMaxEntries) return Failf("more than {} entries to look through", kMaxEntries);
    const std::string name = it->path().filename().string();
    const std::string rel = it->path().lexically_relative(root).string();
    std::error_code entry_ec;
    const bool dir = std::filesystem::is_directory(it->symlink_status(entry_ec));
    if (name == ".git" || (rel == kJournalDir && it.depth() == 0)) {
      if (dir) it.disable_recursion_pending();
      continue;
    }
    if (GlobMatch(pattern, rel)) {
      out.push_back(rel);
      if (dir) it.disable_recursion_pending();
    }
  }
  if (ec) return Failf("{}: {}", ctx.work_dir, ec.message());
  return out;
}

std::string JournalName(const std::string& alias) {
  std::string name;
  for (char c : alias) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return std::string(kJournalDir) + "/" + (name.empty() ? "step" : name) + ".delete";
}

class Delete : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto cfg = ReadDeleteConfig(ctx.config);
    if (!cfg) return Errored(cfg.error(), true);
    auto targets = Targets(ctx, *cfg);
    if (!targets) return Errored(targets.error());
    for (const auto& rel : *targets) {
      if (auto gone = Remove(ctx, rel); !gone)
        return ErroredStep(fmt::format("delete {}: {}", Quote(rel), gone.error().message));
    }
    return StepOutcome{};
  }

 private:
  // What to delete; strict: an error when a path is not there, unless a
  // run before this one (that crashed) found them all and said so.
  static Result<std::vector<std::string>> Targets(const StepContext& ctx, const DeleteConfig& cfg) {
    std::vector<std::string> out;
    std::string missing;
    for (const auto& [field, p] : cfg.paths) {
      std::vector<std::string> found;
      if (cfg.globs) {
        STRAKE_TRY_ASSIGN(matched, Glob(ctx, p));
        found = std::move(matched);
      } else {
        auto there = Exists(ctx, p);
        if (!there) return Failf("{}: {}", field, there.error().message);
        if (*there) found.push_back(p);
      }
      if (found.empty() && missing.empty()) {
        missing = fmt::format("{}: {} {}", field, Quote(p),
                              cfg.globs ? "matches nothing" : "does not exist");
      }
      for (auto& f : found) {
        if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(std::move(f));
      }
    }
    if (!cfg.strict) return out;
    const std::string journal = JournalName(ctx.alias);
    const std::string said = ctx.config.dump();
    if (!missing.empty()) {
      auto before = ReadFileBeneath(ctx.work_dir, journal, kMaxFileBytes);
      if (before && *before == said) return out;  // a run before found them: done or half done
      return Failf("{} (strict)", missing);
    }
    STRAKE_TRY(WriteWork(ctx, journal, said, "journal"));
    return out;
  }
};

// --- kustomize-set-image ---------------------------------------------------------

struct SetImageConfig {
  std::string path;  // as written
  std::string dir;
  std::vector<KustomizeImage> images;
};

// The Freight's images, as Kargo's kustomize-set-image finds them (by
// repository): what its image subscriptions found, and its image artifacts
// (delivery/artifact.h), whose uri names repository and tag.
struct FreightImage {
  std::string repo;
  std::string tag;
  std::string digest;
};
struct FreightImages {
  std::vector<FreightImage> images;
  std::string origin;  // the Freight's Warehouse
};

FreightImages ImagesOf(const StepContext& ctx) {
  FreightImages out;
  if (!ctx.freight || !ctx.freight->object.is_object()) return out;
  const Json& f = ctx.freight->object;
  for (const auto& i : f.value("images", Json::array())) {
    if (!i.is_object()) continue;
    out.images.push_back({i.value("repoURL", ""), i.value("tag", ""), i.value("digest", "")});
  }
  for (const auto& a : f.value("artifacts", Json::array())) {
    if (!a.is_object() || a.value("artifactType", "") != "image") continue;
    auto [repo, tag] = ImageRepoAndTag(a.value("metadata", Json::object()).value("uri", ""));
    out.images.push_back({repo, tag, a.value("version", "")});
  }
  out.origin = f.value("origin", Json::object()).value("name", "");
  return out;
}

// The tag (or, with useDigest or when the image has no tag, the digest;
// with `both`, as Kargo sets the images of a Freight when none are listed,
// tag and digest) of the Freight's image of repository `image`.
Result<KustomizeImage> FromFreight(const FreightImages& freight, const std::string& image,
                                   bool use_digest, const std::string& at, bool both = false) {
  for (const auto& i : freight.images) {
    if (i.repo != image) continue;
    KustomizeImage out;
    out.name = image;
    if (both || use_digest || i.tag.empty()) out.digest = i.digest;
    if (both || (!use_digest && !i.tag.empty())) out.new_tag = i.tag;
    return out;
  }
  return Failf("{}image: the Freight has no image of {}", at, Quote(image));
}

Result<KustomizeImage> ReadImage(const Json& img, size_t i, const FreightImages& freight) {
  const std::string at = fmt::format("config.images[{}].", i);
  STRAKE_TRY(OnlyFields(
      img, {"image", "name", "newName", "tag", "digest", "useDigest", "fromOrigin"}, at));
  STRAKE_TRY_ASSIGN(image, Text(img, "image", true, at));
  STRAKE_TRY_ASSIGN(name, Text(img, "name", false, at));
  STRAKE_TRY_ASSIGN(new_name, Text(img, "newName", false, at));
  STRAKE_TRY_ASSIGN(tag, Text(img, "tag", false, at));
  STRAKE_TRY_ASSIGN(digest, Text(img, "digest", false, at));
  STRAKE_TRY_ASSIGN(use_digest, Flag(img, "useDigest", false, at));
  if (image.empty()) return Failf("{}image may not be empty", at);
  if (!tag.empty() && !digest.empty()) return Failf("{}tag and digest are mutually exclusive", at);
  KustomizeImage out;
  if (tag.empty() && digest.empty()) {
    // Kargo: from the Freight (of `fromOrigin`; a Promotion has one Freight).
    const Json origin = img.value("fromOrigin", Json());
    if (origin.is_object() && origin.value("name", "") != freight.origin) {
      return Failf("{}fromOrigin: the Promotion's Freight comes from Warehouse {}, not {}", at,
                   Quote(freight.origin), Quote(origin.value("name", "")));
    }
    STRAKE_TRY_ASSIGN(found, FromFreight(freight, image, use_digest, at));
    out = std::move(found);
  } else if (!digest.empty()) {
    out.digest = digest;
  } else {
    out.new_tag = tag;
  }
  out.name = name.empty() ? image : name;
  out.new_name = new_name;
  return out;
}

Result<SetImageConfig> ReadSetImageConfig(const Json& c, const FreightImages& freight) {
  STRAKE_TRY(OnlyFields(c, {"path", "images"}, "config."));
  SetImageConfig cfg;
  STRAKE_TRY_ASSIGN(path, Text(c, "path", true));
  STRAKE_TRY_ASSIGN(dir, WorkRelative(path, "config.path", true));
  cfg.path = path;
  cfg.dir = dir;
  Json images = c.value("images", Json());
  if (images.is_null() || (images.is_array() && images.empty())) {
    // Kargo: every image of the Freight, by tag and digest.
    for (const auto& i : freight.images) {
      STRAKE_TRY_ASSIGN(img, FromFreight(freight, i.repo, false, "config.images: ", true));
      cfg.images.push_back(std::move(img));
    }
    if (cfg.images.empty()) return Fail("config.images: none given, and the Freight has no images");
    return cfg;
  }
  if (!images.is_array()) return Fail("config.images must be a list");
  for (size_t i = 0; i < images.size(); ++i) {
    STRAKE_TRY_ASSIGN(img, ReadImage(images[i], i, freight));
    cfg.images.push_back(std::move(img));
  }
  return cfg;
}

// The kustomization file of `dir`: exactly one of kustomize's names, a
// regular file (not a link), as Kargo's findKustomization.
Result<std::string> FindKustomization(const StepContext& ctx, const std::string& dir,
                                      const std::string& written) {
  std::vector<std::string> found;
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    const std::string rel = Under(dir, name);
    auto fd = OpenBeneath(ctx.work_dir, rel, O_PATH | O_NOFOLLOW);
    struct stat st {};
    if (fd && ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode)) found.push_back(rel);
    if (!fd && fd.error().Is(ErrorCode::kInvalid))
      return Failf("config.path: {}: {}", Quote(written), fd.error().message);
  }
  if (found.empty()) {
    return Failf("config.path: no kustomization.yaml, kustomization.yml or Kustomization in {}",
                 Quote(written));
  }
  if (found.size() > 1)
    return Failf("config.path: more than one kustomization in {}: {}", Quote(written),
                 Join(found, ", "));
  return found.front();
}

// Kargo's generateCommitMessage: every image of the kustomization now.
std::string ImagesMessage(const std::string& path, const std::vector<KustomizeImage>& images) {
  std::string msg =
      fmt::format("Updated {} to use new image{}\n", path, images.size() > 1 ? "s" : "");
  for (const auto& i : images) {
    std::string ref = i.new_name.empty() ? i.name : i.new_name;
    if (!i.new_tag.empty()) ref += ":" + i.new_tag;
    if (!i.digest.empty()) ref += "@" + i.digest;
    msg += "\n- " + ref;
  }
  return msg;
}

class KustomizeSetImage : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto cfg = ReadSetImageConfig(ctx.config, ImagesOf(ctx));
    if (!cfg) return Errored(cfg.error(), true);
    auto file = FindKustomization(ctx, cfg->dir, cfg->path);
    if (!file) return Errored(file.error());
    auto text = ReadWork(ctx, *file, "config.path");
    if (!text) return Errored(text.error());
    auto edit = SetKustomizeImages(*text, cfg->images);
    if (!edit) return ErroredStep(fmt::format("config.path: {}: {}", *file, edit.error().message));
    if (edit->text != *text) {
      if (auto wrote = WriteWork(ctx, *file, edit->text, "config.path"); !wrote)
        return Errored(wrote.error());
    }
    StepOutcome out;
    out.output = {{"commitMessage", ImagesMessage(cfg->path, edit->images)}};
    return out;
  }
};

// --- kustomize-build -------------------------------------------------------------

// The working directory as a tree for strake's kustomize: files read
// beneath it (a link that leads out is an error), none in a .git directory.
class WorkTree : public gitops::RepoTree {
 public:
  explicit WorkTree(const std::string& root) : root_(root) {}

  Result<std::optional<std::string>> ReadFile(const std::string& path,
                                              const gitops::ReadLimits& limits) const override {
    if (InGit(path)) return std::optional<std::string>();
    auto data = ReadFileBeneath(root_, path, limits.max_file_bytes);
    if (data) return std::optional<std::string>(std::move(*data));
    if (data.error().Is(ErrorCode::kNotFound)) return std::optional<std::string>();
    return tl::unexpected(data.error());
  }

  Result<bool> IsDir(const std::string& path) const override {
    if (InGit(path)) return false;
    auto fd = OpenBeneath(root_, path == "." ? "" : path, O_PATH);
    if (!fd) {
      if (fd.error().Is(ErrorCode::kNotFound)) return false;
      return tl::unexpected(fd.error());
    }
    struct stat st {};
    return ::fstat(fd->get(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  std::string Revision() const override { return "the working directory"; }

 private:
  static bool InGit(const std::string& path) {
    for (const auto& part : Split(path, '/')) {
      if (part == ".git") return true;
    }
    return false;
  }

  std::string root_;
};

struct BuildConfig {
  std::string dir, out;
  bool kustomize_names = false;
};

Result<BuildConfig> ReadBuildConfig(const Json& c) {
  if (c.is_object() && c.contains("plugin") && !c["plugin"].is_null())
    return Fail(
        "config.plugin: not supported yet: strake's kustomize does not inflate Helm charts");
  STRAKE_TRY(OnlyFields(c, {"path", "outPath", "outputFormat", "plugin"}, "config."));
  BuildConfig cfg;
  STRAKE_TRY_ASSIGN(path, Text(c, "path", true));
  STRAKE_TRY_ASSIGN(out, Text(c, "outPath", true));
  STRAKE_TRY_ASSIGN(format, Text(c, "outputFormat"));
  STRAKE_TRY_ASSIGN(dir, WorkRelative(path, "config.path", true));
  STRAKE_TRY_ASSIGN(out_rel, WorkRelative(out, "config.outPath"));
  if (!format.empty() && format != "kargo" && format != "kustomize")
    return Failf("config.outputFormat: {}: kargo or kustomize", Quote(format));
  return BuildConfig{dir, out_rel, format == "kustomize"};
}

std::string StringAt(const Json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

// A field of an object's metadata, "" when it has none.
std::string Meta(const Json& o, const char* key) {
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? StringAt(*it, key) : "";
}

bool ClusterScoped(const Json& o) {
  const model::KindInfo* k = model::KindOf(o.value("apiVersion", ""), StringAt(o, "kind"));
  return k != nullptr && !k->namespaced;
}

// Kargo's file names: [namespace-]kind-name.yaml, or kustomize's
// [namespace_]group_version_kind_name.yaml (the namespace only when the
// objects are in more than one).
std::string FileName(const Json& o, bool kustomize, bool many_namespaces) {
  const std::string ns = Meta(o, "namespace");
  if (!kustomize) {
    return ToLower(ns.empty()
                       ? fmt::format("{}-{}.yaml", StringAt(o, "kind"), Meta(o, "name"))
                       : fmt::format("{}-{}-{}.yaml", ns, StringAt(o, "kind"), Meta(o, "name")));
  }
  std::vector<std::string> gvk;
  for (const auto& part : Split(o.value("apiVersion", ""), '/')) {
    if (!part.empty()) gvk.push_back(part);
  }
  gvk.push_back(StringAt(o, "kind"));
  std::string name = ToLower(Join(gvk, "_") + "_" + Meta(o, "name") + ".yaml");
  if (many_namespaces && !ns.empty() && !ClusterScoped(o)) name = ToLower(ns) + "_" + name;
  return name;
}

Status WriteObjects(const StepContext& ctx, const BuildConfig& cfg,
                    const std::vector<gitops::KustomizedObject>& objects) {
  if (EndsWith(cfg.out, ".yaml") || EndsWith(cfg.out, ".yml")) {
    std::vector<std::string> docs;
    docs.reserve(objects.size());
    for (const auto& o : objects) docs.push_back(model::ToYaml(o.object));
    return WriteWork(ctx, cfg.out, Join(docs, "---\n"), "config.outPath");
  }
  std::set<std::string> namespaces;
  for (const auto& o : objects) {
    if (!ClusterScoped(o.object)) {
      std::string ns = Meta(o.object, "namespace");
      namespaces.insert(ns.empty() ? "default" : ns);
    }
  }
  STRAKE_TRY(WritableDir(ctx, cfg.out));
  for (const auto& o : objects) {
    const std::string name = FileName(o.object, cfg.kustomize_names, namespaces.size() > 1);
    if (name.find_first_of("/\\") != std::string::npos || name == "." || name == ".." ||
        StartsWith(name, ".")) {
      return Failf("config.outPath: {} ({}): not a safe file name", Quote(name), o.origin);
    }
    STRAKE_TRY(WriteWork(ctx, Under(cfg.out, name), model::ToYaml(o.object), "config.outPath"));
  }
  return Ok();
}

class KustomizeBuild : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto cfg = ReadBuildConfig(ctx.config);
    if (!cfg) return Errored(cfg.error(), true);
    WorkTree tree(ctx.work_dir);
    auto objects = gitops::Kustomize(tree, cfg->dir);
    if (!objects) return ErroredStep("config.path: " + objects.error().message);
    if (auto wrote = WriteObjects(ctx, *cfg, *objects); !wrote) return Errored(wrote.error());
    return StepOutcome{};
  }
};

}  // namespace

const std::vector<std::string>& FileStepNames() {
  static const std::vector<std::string> kNames = {
      "copy",        "delete",          "json-parse",
      "json-update", "kustomize-build", "kustomize-set-image",
      "yaml-parse",  "yaml-update"};
  return kNames;
}

void AddFileSteps(StepRegistry& registry) {
  registry.Add("yaml-parse", std::make_unique<DocumentParse>(true));
  registry.Add("json-parse", std::make_unique<DocumentParse>(false));
  registry.Add("yaml-update", std::make_unique<DocumentUpdate>(true));
  registry.Add("json-update", std::make_unique<DocumentUpdate>(false));
  registry.Add("copy", std::make_unique<Copy>());
  registry.Add("delete", std::make_unique<Delete>());
  registry.Add("kustomize-set-image", std::make_unique<KustomizeSetImage>());
  registry.Add("kustomize-build", std::make_unique<KustomizeBuild>());
}

}  // namespace strake::delivery
