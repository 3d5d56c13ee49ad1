// Image archives on this machine's disk, as skopeo's transports name them:
// `docker-archive:/file.tar[:name:tag]` (what `docker save`, kaniko's
// --tar-path or `skopeo copy … docker-archive:` write: a manifest.json
// whose entries name a config and layer files) and
// `oci-archive:/file.tar[:tag]` (an OCI image layout in a tar). Each is
// unpacked into a scratch OCI layout that the registry client then reads
// as it reads any layout (registry.h kLayoutRegistry), with every check.
#pragma once

#include <string>

#include "base/result.h"
#include "images/registry.h"

namespace strake::images {

inline constexpr char kDockerArchive[] = "docker-archive:";
inline constexpr char kOciArchive[] = "oci-archive:";

// Whether `repo` is one of the archives above.
bool IsArchive(const RepositoryRef& repo);

// The most an archive may hold, its files and their bytes.
inline constexpr size_t kMaxArchiveFiles = 100'000;
inline constexpr int64_t kMaxArchiveBytes = int64_t{64} << 30;

// `ref`'s archive as an OCI layout written under `dir` (made here; the
// caller removes it): the layout's directory and the tag that names the
// image in it. Only regular files (and, in a docker archive, links between
// its files) with relative names that stay inside are taken; anything
// else in the archive is an error. A docker archive of several images
// needs the reference to name one of its RepoTags.
struct ArchiveLayout {
  std::string dir;
  std::string tag;
};
Result<ArchiveLayout> ArchiveAsLayout(const Reference& ref, const std::string& dir);

}  // namespace strake::images
