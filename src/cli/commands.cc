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
#include "cli/dora.h"
#include "cli/incidents.h"
#include "cli/kargo.h"
#include "cli/pipelines.h"
#include "cli/resources.h"
#include "cli/rollouts.h"
#include "cli/table.h"
#include "cli/tokens.h"
#include "model/kinds.h"

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

// The subcommand `path` names under `app` ("rollout promote"), or an error
// with a did-you-mean.
Result<const CLI::App*> CommandAt(const CLI::App& app, const std::vector<std::string>& path) {
  const CLI::App* at = &app;
  for (const auto& word : path) {
    std::vector<std::string> names;
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->check_name(word)) next = sub;
      names.push_back(sub->get_name());
    }
    if (!next) return Failf("unknown command {}{}", Quote(word), DidYouMean(word, names));
    at = next;
  }
  return at;
}

// `strake help [COMMAND...]`: that command's --help.
int Help(const CLI::App& app, const std::vector<std::string>& path) {
  auto at = CommandAt(app, path);
  if (!at) return Die(at.error().message);
  fmt::print("{}", (*at)->help());
  return 0;
}

// The words completing each command: its subcommands and options, and the
// kinds for the verbs that take one.
std::string Words(const CLI::App& c, bool kinds) {
  std::vector<std::string> words;
  for (const CLI::App* sub : c.get_subcommands([](const CLI::App*) { return true; }))
    words.push_back(sub->get_name());
  for (const CLI::Option* o : c.get_options()) {
    for (const auto& l : o->get_lnames()) words.push_back("--" + l);
    for (const auto& sn : o->get_snames()) words.push_back("-" + sn);
  }
  if (kinds) {
    for (const auto& k : model::Kinds()) {
      if (k.served) words.push_back(k.plural);
    }
  }
  return Join(words, " ");
}

// `strake completion bash|zsh`: a script that completes commands, their
// options and the kinds of get/describe/delete/patch (zsh through its bash
// compatibility, as many tools do).
int Completion(const CLI::App& app, const std::string& shell) {
  std::string cases;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string& n = sub->get_name();
    bool kinds = n == "get" || n == "describe" || n == "delete" || n == "patch";
    cases += fmt::format("    {}) words=\"{}\" ;;\n", n, Words(*sub, kinds));
  }
  std::string script =
      fmt::format(R"(# strake completion ({0}): source it, e.g. source <(strake completion {0})
_strake() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} cmd="" words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${{COMP_WORDS[i]}}" in
      --data-dir) ((i++)) ;;
      -*) ;;
      *) cmd=${{COMP_WORDS[i]}}; break ;;
    esac
  done
  case "$cmd" in
    "") words="{1}" ;;
{2}    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
)",
                  shell, Words(app, false), cases);
  if (shell == "zsh") script += "autoload -U +X bashcompinit && bashcompinit\n";
  script += "complete -o default -F _strake strake\n";
  fmt::print("{}", script);
  return 0;
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
  KargoCommands kargo(app, ctx, table);
  DoraCommands dora(app, ctx, table);
  IncidentCommands incidents(app, ctx, table);
  table.Add(app.add_subcommand("version", "print the version"), Version);
  std::vector<std::string> help_path;
  auto* help = app.add_subcommand("help", "help about a command: strake help get");
  help->add_option("command", help_path, "COMMAND [SUBCOMMAND]");
  table.Add(help, [&] { return Help(app, help_path); });
  std::string shell;
  auto* completion = app.add_subcommand(
      "completion", "a shell completion script: source <(strake completion bash)");
  completion->add_option("shell", shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  table.Add(completion, [&] { return Completion(app, shell); });

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
