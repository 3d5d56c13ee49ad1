// A bare repository and a work tree that pushes to it, driven by the git
// binary as a user would: the fixture of the gitops tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/fs.h"
#include "base/strings.h"
#include "gitops/git.h"

namespace strake::gitops {

class GitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("git");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = *dir;
    bare_ = dir_ + "/origin.git";
    work_ = dir_ + "/work";
    Sh("git init -q --bare -b main " + bare_);
    Sh("git init -q -b main " + work_);
    Sh("git -C " + work_ + " config user.email t@example.com");
    Sh("git -C " + work_ + " config user.name Tester");
    Sh("git -C " + work_ + " remote add origin " + bare_);
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  void Sh(const std::string& cmd) {
    ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
  }
  void Write(const std::string& rel, const std::string& text) {
    auto slash = rel.rfind('/');
    if (slash != std::string::npos) {
      ASSERT_TRUE(MakeDirs(work_ + "/" + rel.substr(0, slash)));
    }
    ASSERT_TRUE(WriteFile(work_ + "/" + rel, text));
  }
  void Remove(const std::string& rel) { ASSERT_TRUE(RemoveAll(work_ + "/" + rel)); }
  std::string Commit(const std::string& msg, const std::string& branch = "main") {
    Sh("git -C " + work_ + " add -A");
    Sh("git -C " + work_ + " commit -q -m '" + msg + "'");
    Sh("git -C " + work_ + " push -q origin HEAD:" + branch);
    return Head();
  }
  std::string Head() { return FirstLine("git -C " + work_ + " rev-parse HEAD"); }
  // The commit `ref` names in the bare repository ("" if none).
  std::string RemoteRef(const std::string& ref) {
    return FirstLine("git -C " + bare_ + " rev-parse --verify -q " + ref);
  }
  // The first line `cmd` prints, trimmed.
  static std::string FirstLine(const std::string& cmd) {
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[256] = {};
    std::string out = fgets(buf, sizeof buf, p) ? buf : "";
    ::pclose(p);
    return std::string(Trim(out));
  }
  std::unique_ptr<Mirror> Fetched() {
    auto m = Mirror::Open(dir_ + "/mirrors", "file://" + bare_, EgressPolicy::Open());
    EXPECT_TRUE(m) << m.error().message;
    auto st = (*m)->Fetch({}, std::chrono::seconds(30));
    EXPECT_TRUE(st) << st.error().message;
    return std::move(*m);
  }

  std::string dir_, bare_, work_;
};

}  // namespace strake::gitops
