// What the host executor knows of a few well-known images, so that a step
// written for its container runs the same on this machine (docs/pipelines.md
// "Well-known images"). Tekton gives a script without a shebang
// `#!/bin/sh`: the image's /bin/sh, which is BusyBox's ash in `alpine`,
// `busybox` and `bash` (Alpine-based) and dash in `ubuntu`, `debian` and
// `python`. A step without `command` runs its image's entrypoint with its
// `args` (or its default command). An image not in the table keeps the
// host's /bin/sh and needs a `command` or a `script`. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake::pipeline {

// The image's name without registry, tag or digest: "mirror.gcr.io/ubuntu@sha256:…"
// → "ubuntu", "docker.io/library/bash:5" → "bash", "mirror.gcr.io/alpine/git" → "alpine/git".
std::string ImageName(std::string_view image);

// The interpreter line Tekton's script preamble stands for in `image`
// ("#!/bin/sh", or BusyBox's sh where the image's /bin/sh is BusyBox and
// `busybox` is the program at `busybox_path`; the host's /bin/sh otherwise).
std::string DefaultShebang(std::string_view image, const std::string& busybox_path);

// A script's own shebang as the image would read it: where the image's
// /bin/sh is BusyBox's, `#!/bin/sh` and `#!/usr/bin/env sh` name BusyBox's
// sh (the host's would be dash). Other shebangs are returned unchanged.
std::string ImageShebang(std::string_view image, const std::string& shebang,
                         const std::string& busybox_path);

// The argv of a step with no command, as Tekton's entrypoint lookup makes
// it: the image's ENTRYPOINT (with its CMD when there are no args), or its
// CMD when it has no ENTRYPOINT, then `args`. An error for an image the
// table does not have.
Result<std::vector<std::string>> EntrypointArgv(std::string_view image,
                                                const std::vector<std::string>& args,
                                                const std::string& busybox_path);

}  // namespace strake::pipeline
