#include "cli/command_table.h"

namespace strake::cli {

void CommandTable::Add(const CLI::App* command, Handler handler) {
  handlers_[command] = std::move(handler);
}

const Handler* CommandTable::Chosen(const CLI::App& root) const {
  const CLI::App* at = &root;
  // One subcommand is parsed at each level (require_subcommand(1) or none).
  for (auto parsed = at->get_subcommands(); !parsed.empty(); parsed = at->get_subcommands()) {
    at = parsed.front();
  }
  auto it = handlers_.find(at);
  return it == handlers_.end() ? nullptr : &it->second;
}

}  // namespace strake::cli
