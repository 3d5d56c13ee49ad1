// Reading a promotion step's config (StepContext::config, already
// evaluated), shared by the step kinds strake runs (git_steps, file_steps).
//
// Every error names the field as the user wrote it ("config.path: ...",
// "config.updates[1].key: ..."); none of these functions touches anything but
// the working directory, and WorkPath only to make the parents of a path.
//
// Paths of the config are relative to the Promotion's working directory and
// may not leave it: not lexically (no absolute path, no ".." above it), not
// into a `.git` directory, and, where a file is opened, not through a
// symbolic link (base/fs.h's *Beneath functions: a link is followed only
// while it stays inside).
//
// Pure but for WorkPath; thread-safe.
#pragma once

#include <initializer_list>
#include <string>

#include "base/duration.h"
#include "base/result.h"
#include "delivery/promotion.h"

namespace strake::delivery {

// A string field of the config ("" when absent); a value of another type
// is an error naming the field (`at` + key: "config.path").
Result<std::string> Text(const Json& config, const std::string& key, bool required = false,
                         const std::string& at = "config.");

// `path` of the config, inside the working directory: lexically, and as
// the file system resolves it (a clone may hold symbolic links: its parent
// directories are followed only while they stay beneath the working
// directory, and the path itself may not be a link). Parents are made.
// The absolute path.
Result<std::string> WorkPath(const StepContext& ctx, const Json& config, const std::string& key);

// `rel`, a path of the config named `field`, cleaned and checked lexically:
// relative, inside the working directory ("." only when `allow_root`), and
// not in a `.git` directory. Links are for the *Beneath functions to refuse.
Result<std::string> WorkRelative(const std::string& rel, const std::string& field,
                                 bool allow_root = false);

// Refuses fields strake does not act on yet, naming them ("config.tag: not
// supported yet"); a field that is null or false is as good as absent.
Status NotYet(const Json& config, std::initializer_list<const char*> keys, const std::string& at);

// Refuses fields that are not `known` (as Kargo's config schemas do, with
// additionalProperties false): "config.updates[0].vaule: unknown field (did
// you mean "value"?)". A config that is not an object is an error too.
Status OnlyFields(const Json& config, std::initializer_list<const char*> known,
                  const std::string& at);

// Kargo's lower bound on a step's pollInterval.
inline constexpr Millis kMinPollInterval{10'000};

// A duration field of the config in Go's syntax ("30s", "2m"), `fallback`
// when absent; one that does not parse is kInvalid.
Result<Millis> DurationField(const Json& config, const char* key, Millis fallback);

// config.repoURL (required): a repository URL strake reaches (model's
// SupportedRepoUrl), never one git could read as an option; kInvalid else.
Result<std::string> RepoUrlField(const Json& config);

// A boolean field (`fallback` when absent or null).
Result<bool> Flag(const Json& config, const std::string& key, bool fallback,
                  const std::string& at = "config.");

}  // namespace strake::delivery
