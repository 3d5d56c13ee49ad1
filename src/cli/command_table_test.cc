#include "cli/command_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strake::cli {
namespace {

// An app shaped like strake's: verbs, and a group whose verbs are nested.
class CommandTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_.require_subcommand(1);
    auto* get = app_.add_subcommand("get");
    get->add_option("kind", kind_);
    table_.Add(get, [] { return 10; });
    auto* rollout = app_.add_subcommand("rollout");
    rollout->require_subcommand(1);
    int code = 20;
    for (const char* verb : {"promote", "abort"}) {
      auto* c = rollout->add_subcommand(verb);
      c->add_option("name", name_);
      table_.Add(c, [code] { return code; });
      ++code;
    }
    app_.add_subcommand("untabled");
  }

  // The exit status of the verb `args` choose; -1 when none is chosen.
  int Run(std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    app_.parse(args);
    const Handler* h = table_.Chosen(app_);
    return h ? (*h)() : -1;
  }

  CLI::App app_;
  CommandTable table_;
  std::string kind_, name_;
};

TEST_F(CommandTableTest, ATopLevelVerbRunsItsHandler) {
  EXPECT_EQ(Run({"get", "rollouts"}), 10);
  EXPECT_EQ(kind_, "rollouts");
}

TEST_F(CommandTableTest, ANestedVerbRunsItsOwnHandler) {
  EXPECT_EQ(Run({"rollout", "abort", "web"}), 21);
  EXPECT_EQ(name_, "web");
  app_.clear();
  EXPECT_EQ(Run({"rollout", "promote", "web"}), 20);
}

TEST_F(CommandTableTest, AVerbWithNoHandlerChoosesNothing) {
  EXPECT_EQ(Run({"untabled"}), -1);
  CLI::App empty;
  EXPECT_EQ(table_.Chosen(empty), nullptr) << "nothing parsed";
}

}  // namespace
}  // namespace strake::cli
