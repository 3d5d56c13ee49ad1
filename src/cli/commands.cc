#include "cli/commands.h"

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "cli/apps.h"
#include "cli/audit.h"
#include "cli/client.h"
#include "cli/command_table.h"
#include "cli/pipelines.h"
#include "cli/resources.h"
#include "cli/rollouts.h"
#include "cli/tokens.h"

#ifndef STRAKE_VERSION
#define STRAKE_VERSION "0.0.0"
#endif

namespace strake::cli {

namespace {

std::string DefaultDataDir() {
  if (const char* d = std::getenv("STRAKE_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/strake";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/strake";
  return ".strake";
}

int Version() {
  fmt::print("strake {}\n", STRAKE_VERSION);
  return 0;
}

// The command a mistyped line names: its first word that is neither an
// option nor the value of --data-dir ("" when there is none).
std::string FirstWord(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--data-dir") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] != '-') return std::string(a);
  }
  return "";
}

// kubectl's answer to a mistyped command, instead of CLI11's "A subcommand
// is required": which word, and the closest command.
std::optional<int> UnknownCommand(const CLI::App& app, int argc, char** argv) {
  std::string word = FirstWord(argc, argv);
  if (word.empty()) return std::nullopt;
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->check_name(word)) return std::nullopt;
    names.push_back(sub->get_name());
  }
  fmt::print(stderr, "strake: unknown command \"{}\"{}\nRun 'strake --help' for the commands.\n",
             word, DidYouMean(word, names));
  return 2;
}

}  // namespace

int Main(int argc, char** argv, const Wiring& wiring) {
  // Two malloc arenas are plenty for strake's few threads and keep freed
  // memory from being spread over one arena per thread (peak RSS).
  ::mallopt(M_ARENA_MAX, 2);
  CLI::App app{"strake: continuous delivery in one binary"};
  app.require_subcommand(1);
  // Global options anywhere, as kubectl takes them: a subcommand hands what
  // it does not know to its parent (`strake run --data-dir X -f p.yaml`).
  app.fallthrough();
  app.set_version_flag("--version", std::string("strake ") + STRAKE_VERSION);
  Context ctx;
  ctx.data_dir = DefaultDataDir();
  ctx.local_api = wiring.local_api;
  app.add_option("--data-dir", ctx.data_dir,
                 "data directory (default $STRAKE_DATA_DIR or ~/.local/share/strake)");

  // Each group adds its verbs to the table; the order is the order of --help.
  CommandTable table;
  std::shared_ptr<void> wired = wiring.commands ? wiring.commands(app, ctx, table) : nullptr;
  ResourceCommands resources(app, ctx, table);
  PipelineCommands pipelines(app, ctx, table);
  AppCommands apps(app, ctx, table);
  TokenCommands tokens(app, ctx, table);
  AuditCommands audit(app, ctx, table);
  RolloutCommands rollouts(app, ctx, table);
  table.Add(app.add_subcommand("version", "print the version"), Version);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (app.get_subcommands().empty()) {
      if (auto unknown = UnknownCommand(app, argc, argv)) return *unknown;
    }
    return app.exit(e);
  }
  // Absolute: steps run in other directories, and the sandbox hides it by path.
  ctx.data_dir = std::filesystem::absolute(ctx.data_dir).lexically_normal().string();
  const Handler* chosen = table.Chosen(app);
  return chosen ? (*chosen)() : 2;
}

}  // namespace strake::cli
