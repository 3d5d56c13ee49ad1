// cli::Main with kubectl's habits (issue 13 §3): global options anywhere,
// --version, and a mistyped command named with the closest one.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "cli/command_table.h"
#include "cli/commands.h"

namespace strake::cli {
namespace {

struct Outcome {
  int rc = 0;
  std::string out;
  std::string err;
  std::string data_dir;  // as the `probe` verb saw it
};

Outcome Call(std::vector<std::string> args) {
  Outcome o;
  Wiring w;
  w.commands = [&o](CLI::App& app, Context& ctx, CommandTable& table) -> std::shared_ptr<void> {
    table.Add(app.add_subcommand("probe", "test: records the data directory"), [&o, &ctx] {
      o.data_dir = ctx.data_dir;
      return 0;
    });
    return nullptr;
  };
  args.insert(args.begin(), "strake");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  o.rc = Main(static_cast<int>(argv.size()), argv.data(), w);
  o.out = testing::internal::GetCapturedStdout();
  o.err = testing::internal::GetCapturedStderr();
  return o;
}

TEST(MainTest, GlobalOptionsGoBeforeOrAfterTheCommand) {
  Outcome before = Call({"--data-dir", "/tmp/strake-a", "probe"});
  EXPECT_EQ(before.rc, 0) << before.err;
  EXPECT_EQ(before.data_dir, "/tmp/strake-a");
  Outcome after = Call({"probe", "--data-dir", "/tmp/strake-b"});
  EXPECT_EQ(after.rc, 0) << after.err;
  EXPECT_EQ(after.data_dir, "/tmp/strake-b");
}

TEST(MainTest, VersionIsAFlagToo) {
  Outcome o = Call({"--version"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out.rfind("strake ", 0), 0u) << o.out;
}

TEST(MainTest, AMistypedCommandIsNamedWithTheClosestOne) {
  Outcome o = Call({"aplly", "-f", "x.yaml"});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("unknown command \"aplly\" (did you mean \"apply\"?)"), std::string::npos)
      << o.err;
  Outcome after_option = Call({"--data-dir", "/tmp/strake-a", "porbe"});
  EXPECT_EQ(after_option.rc, 2);
  EXPECT_NE(after_option.err.find("unknown command \"porbe\" (did you mean \"probe\"?)"),
            std::string::npos)
      << after_option.err;
  EXPECT_TRUE(after_option.data_dir.empty()) << "nothing ran";
  Outcome none = Call({});
  EXPECT_EQ(none.rc, 106) << none.err;  // CLI11's "A subcommand is required", as before
}

}  // namespace
}  // namespace strake::cli
