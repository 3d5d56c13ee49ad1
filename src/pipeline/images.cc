#include "pipeline/images.h"

#include <array>

#include "base/strings.h"

namespace strake::pipeline {

namespace {

enum class Shell { kHost, kBusybox };

// An image's ENTRYPOINT and CMD as its Dockerfile sets them, for the host.
// Tekton's entrypoint lookup runs ENTRYPOINT (with CMD when there are no
// args), or CMD when there is no ENTRYPOINT, then the step's args.
struct KnownImage {
  std::string_view name;
  Shell shell;
  enum class Entry { kNone, kBashEntrypoint, kGit, kNop } entry;
  std::string_view default_cmd;  // CMD, run when there are no args ("" = busybox sh)
};

constexpr std::array kKnown = {
    KnownImage{"bash", Shell::kBusybox, KnownImage::Entry::kBashEntrypoint, "bash"},
    KnownImage{"ubuntu", Shell::kHost, KnownImage::Entry::kNone, "bash"},
    KnownImage{"debian", Shell::kHost, KnownImage::Entry::kNone, "bash"},
    KnownImage{"python", Shell::kHost, KnownImage::Entry::kNone, "python3"},
    KnownImage{"alpine", Shell::kBusybox, KnownImage::Entry::kNone, ""},
    KnownImage{"busybox", Shell::kBusybox, KnownImage::Entry::kNone, ""},
    KnownImage{"chainguard/busybox", Shell::kBusybox, KnownImage::Entry::kNone, ""},
    KnownImage{"alpine/git", Shell::kBusybox, KnownImage::Entry::kGit, ""},
};

const KnownImage* Find(std::string_view image) {
  std::string name = ImageName(image);
  // Tekton's own nop image (…/tektoncd/pipeline/cmd/nop, …/tektoncd/pipeline/nop-<hash>).
  static constexpr KnownImage kNop{"nop", Shell::kHost, KnownImage::Entry::kNop, ""};
  if (image.find("tektoncd/pipeline/") != std::string_view::npos &&
      (EndsWith(name, "/nop") || name.find("/nop-") != std::string::npos)) {
    return &kNop;
  }
  for (const auto& k : kKnown) {
    if (name == k.name || name == "library/" + std::string(k.name)) return &k;
  }
  return nullptr;
}

std::vector<std::string> BusyboxSh(const std::string& busybox_path) {
  if (busybox_path.empty()) return {"/bin/sh"};
  return {busybox_path, "sh"};
}

}  // namespace

std::string ImageName(std::string_view image) {
  std::string_view s = image.substr(0, image.find('@'));
  size_t slash = s.rfind('/');
  size_t colon = s.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
    s = s.substr(0, colon);
  // A first component with a dot, a colon or "localhost" is a registry.
  size_t first = s.find('/');
  if (first != std::string_view::npos) {
    std::string_view host = s.substr(0, first);
    if (host.find('.') != std::string_view::npos || host.find(':') != std::string_view::npos ||
        host == "localhost") {
      s = s.substr(first + 1);
    }
  }
  return std::string(s);
}

std::string DefaultShebang(std::string_view image, const std::string& busybox_path) {
  const KnownImage* k = Find(image);
  if (k && k->shell == Shell::kBusybox && !busybox_path.empty()) return "#!" + busybox_path + " sh";
  return "#!/bin/sh";
}

std::string ImageShebang(std::string_view image, const std::string& shebang,
                         const std::string& busybox_path) {
  const KnownImage* k = Find(image);
  if (!k || k->shell != Shell::kBusybox || busybox_path.empty()) return shebang;
  // Alpine's and BusyBox's ash is BusyBox's sh.
  for (std::string_view sh :
       {"#!/bin/sh", "#!/usr/bin/env sh", "#!/bin/ash", "#!/usr/bin/env ash"}) {
    if (!StartsWith(shebang, sh)) continue;
    std::string_view rest = std::string_view(shebang).substr(sh.size());
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') continue;  // e.g. #!/bin/shx
    return "#!" + busybox_path + " sh" + std::string(rest);
  }
  return shebang;
}

Result<std::vector<std::string>> EntrypointArgv(std::string_view image,
                                                const std::vector<std::string>& args,
                                                const std::string& busybox_path) {
  const KnownImage* k = Find(image);
  if (!k) {
    return Fail(image.empty()
                    ? std::string("no image and no command: give command or script")
                    : "image \"" + std::string(image) +
                          "\" is not one whose entrypoint strake knows (docs/pipelines.md "
                          "\"Well-known images\"): give command or script");
  }
  auto default_cmd = [&]() -> std::vector<std::string> {
    if (k->default_cmd.empty()) return BusyboxSh(busybox_path);
    return {std::string(k->default_cmd)};
  };
  std::vector<std::string> argv;
  switch (k->entry) {
    case KnownImage::Entry::kNop:
      // Tekton's nop exits 0, or waits for a signal when told to.
      if (!args.empty() && args[0] == "tekton_run_indefinitely") return {{"sleep", "infinity"}};
      return {{"true"}};
    case KnownImage::Entry::kGit:
      argv = {"git"};
      if (args.empty()) argv.emplace_back("--help");
      break;
    case KnownImage::Entry::kBashEntrypoint:
      // docker-entrypoint.sh: no args or an option first → bash "$@"; else exec "$@".
      if (args.empty() || StartsWith(args[0], "-")) argv = {"bash"};
      break;
    case KnownImage::Entry::kNone:
      // No ENTRYPOINT: Tekton runs CMD with the args after it (so ubuntu's
      // `args: [-c, echo hello]` is `bash -c 'echo hello'`).
      argv = default_cmd();
      break;
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace strake::pipeline
