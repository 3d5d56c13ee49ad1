#include "pipeline/images.h"

#include <gtest/gtest.h>

namespace strake::pipeline {
namespace {

using Argv = std::vector<std::string>;
const std::string kBusybox = "/usr/bin/busybox";

TEST(Images, ANameLosesItsRegistryTagAndDigest) {
  EXPECT_EQ(ImageName("mirror.gcr.io/ubuntu"), "ubuntu");
  EXPECT_EQ(ImageName("mirror.gcr.io/bash@sha256:e320b40b14abc61f"), "bash");
  EXPECT_EQ(ImageName("docker.io/library/alpine:3.20"), "library/alpine");
  EXPECT_EQ(ImageName("localhost:5000/busybox:1.36@sha256:00"), "busybox");
  EXPECT_EQ(ImageName("mirror.gcr.io/alpine/git:v2"), "alpine/git");
  EXPECT_EQ(ImageName("ubuntu:24.04"), "ubuntu");
}

// Tekton's preamble is #!/bin/sh: BusyBox's ash where the image's /bin/sh
// is BusyBox (so `[[` works there as it does in the container), the host's
// otherwise (dash, as in ubuntu's and debian's own /bin/sh).
TEST(Images, AScriptWithoutShebangGetsTheImagesOwnShell) {
  EXPECT_EQ(DefaultShebang("mirror.gcr.io/alpine", kBusybox), "#!/usr/bin/busybox sh");
  EXPECT_EQ(DefaultShebang("mirror.gcr.io/bash", kBusybox), "#!/usr/bin/busybox sh");
  EXPECT_EQ(DefaultShebang("cgr.dev/chainguard/busybox", kBusybox), "#!/usr/bin/busybox sh");
  EXPECT_EQ(DefaultShebang("library/busybox", kBusybox), "#!/usr/bin/busybox sh");
  EXPECT_EQ(DefaultShebang("mirror.gcr.io/ubuntu", kBusybox), "#!/bin/sh");
  EXPECT_EQ(DefaultShebang("registry.example/team/app", kBusybox), "#!/bin/sh");
  EXPECT_EQ(DefaultShebang("mirror.gcr.io/alpine", ""), "#!/bin/sh");  // no BusyBox here
}

TEST(Images, AShebangNamingShIsTheImagesSh) {
  EXPECT_EQ(ImageShebang("mirror.gcr.io/alpine", "#!/usr/bin/env sh", kBusybox),
            "#!/usr/bin/busybox sh");
  EXPECT_EQ(ImageShebang("mirror.gcr.io/busybox", "#!/bin/sh -e", kBusybox),
            "#!/usr/bin/busybox sh -e");
  EXPECT_EQ(ImageShebang("mirror.gcr.io/alpine", "#!/usr/bin/env ash", kBusybox),
            "#!/usr/bin/busybox sh");
  EXPECT_EQ(ImageShebang("mirror.gcr.io/alpine", "#!/bin/bash", kBusybox), "#!/bin/bash");
  EXPECT_EQ(ImageShebang("mirror.gcr.io/alpine", "#!/bin/shell", kBusybox), "#!/bin/shell");
  EXPECT_EQ(ImageShebang("mirror.gcr.io/ubuntu", "#!/bin/sh", kBusybox), "#!/bin/sh");
}

TEST(Images, AStepWithoutCommandRunsItsImagesEntrypoint) {
  // ubuntu: no ENTRYPOINT, CMD bash: Tekton runs CMD, then the args
  // (its examples/v1/taskruns/entrypoint-resolution.yaml).
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/ubuntu", {"-c", "echo", "hello"}, kBusybox),
            (Argv{"bash", "-c", "echo", "hello"}));
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/ubuntu", {}, kBusybox), (Argv{"bash"}));
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/python", {"-c", "print(1)"}, kBusybox),
            (Argv{"python3", "-c", "print(1)"}));
  // bash: docker-entrypoint.sh runs a command, or bash for options.
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/bash", {"echo", "--url=x"}, kBusybox),
            (Argv{"echo", "--url=x"}));
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/bash", {"-c", "echo hi"}, kBusybox),
            (Argv{"bash", "-c", "echo hi"}));
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/alpine", {}, kBusybox),
            (Argv{"/usr/bin/busybox", "sh"}));
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/busybox", {"-c", "echo hi"}, kBusybox),
            (Argv{"/usr/bin/busybox", "sh", "-c", "echo hi"}));
  EXPECT_EQ(*EntrypointArgv("mirror.gcr.io/alpine/git", {"version"}, kBusybox),
            (Argv{"git", "version"}));
  // Tekton's nop exits 0, or waits when told to.
  EXPECT_EQ(
      *EntrypointArgv("gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/nop", {}, kBusybox),
      (Argv{"true"}));
  EXPECT_EQ(*EntrypointArgv("ghcr.io/tektoncd/pipeline/nop-8eac7c133edad5df719dc37b36b62482",
                            {"tekton_run_indefinitely"}, kBusybox),
            (Argv{"sleep", "infinity"}));
  auto unknown = EntrypointArgv("gcr.io/kaniko-project/executor", {"--destination=x"}, kBusybox);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("give command or script"), std::string::npos);
}

}  // namespace
}  // namespace strake::pipeline
