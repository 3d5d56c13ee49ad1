// gitops/kustomize: a kustomization and the files it reads, built from
// memory (no repository, no files written). The input is a small archive
// in the txtar layout of Go's tools: the text before the first marker is
// ./kustomization.yaml, and each "-- path --" line starts another file:
//
//   resources: [base, svc.yaml]
//   -- base/kustomization.yaml --
//   resources: [deploy.yaml]
//   -- base/deploy.yaml --
//   ...
//
// Properties beyond memory safety: every object built is a JSON object; an
// error message is valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "check.h"
#include "gitops/git.h"
#include "gitops/kustomize.h"

namespace {

using strake::Result;
using strake::fuzz::Check;
using strake::fuzz::JsonSafe;

// Files by clean repository path, with directories implied by the paths.
class MemoryTree : public strake::gitops::RepoTree {
 public:
  explicit MemoryTree(std::string_view archive) {
    std::string path = "kustomization.yaml";
    std::string data;
    while (!archive.empty()) {
      size_t eol = archive.find('\n');
      std::string_view line = archive.substr(0, eol);
      archive.remove_prefix(eol == std::string_view::npos ? archive.size() : eol + 1);
      if (line.size() > 6 && line.substr(0, 3) == "-- " && line.substr(line.size() - 3) == " --") {
        Add(path, std::move(data));
        path = std::string(line.substr(3, line.size() - 6));
        data.clear();
        continue;
      }
      data.append(line);
      if (eol != std::string_view::npos) data.push_back('\n');
    }
    Add(path, std::move(data));
  }

  Result<std::optional<std::string>> ReadFile(
      const std::string& path, const strake::gitops::ReadLimits& limits) const override {
    auto it = files_.find(path);
    if (it == files_.end()) {
      if (path != "." && IsDirectory(path))
        return strake::Failf("{} is a directory, not a file", path);
      return std::nullopt;
    }
    if (it->second.size() > limits.max_file_bytes) return strake::Failf("{}: too large", path);
    return it->second;
  }
  Result<bool> IsDir(const std::string& path) const override { return IsDirectory(path); }
  std::string Revision() const override { return "memory"; }

 private:
  // As in a git tree, a path is a file or a directory, not both: the first wins.
  void Add(const std::string& path, std::string data) {
    auto clean = strake::gitops::CleanRepoPath(path);
    if (!clean || *clean == "." || IsDirectory(*clean)) return;
    for (size_t slash = clean->find('/'); slash != std::string::npos;
         slash = clean->find('/', slash + 1)) {
      if (files_.count(clean->substr(0, slash))) return;
    }
    files_.emplace(*clean, std::move(data));
  }
  bool IsDirectory(const std::string& path) const {
    if (path == ".") return true;
    auto it = files_.lower_bound(path + "/");
    return it != files_.end() && it->first.compare(0, path.size() + 1, path + "/") == 0;
  }

  std::map<std::string, std::string> files_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryTree tree(strake::fuzz::AsText(data, size));
  auto built = strake::gitops::Kustomize(tree, ".");
  if (!built) {
    Check(JsonSafe(built.error().message), "a kustomize error is valid UTF-8");
    return 0;
  }
  for (const auto& o : *built) Check(o.object.is_object(), "every object built is an object");
  return 0;
}
