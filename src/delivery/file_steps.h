// Kargo's file promotion steps (pkg/promotion/runner/builtin at
// akuity/kargo 1c764767: yaml_parser.go, yaml_updater.go, json_parser.go,
// json_updater.go, file_copier.go, file_deleter.go,
// kustomize_image_setter.go, kustomize_builder.go), with Kargo's config
// fields, defaults and outputs, on files of the Promotion's working
// directory:
//
// - yaml-parse, json-parse: path; outputs[] (name, fromExpression: an
//   expr-lang expression over the document's top-level fields, as Kargo's
//   expr.Run(program, document)). Output: each name's value.
// - yaml-update: path; updates[] (key, value; yaml_edit.h): keys that exist
//   only, the rest of the file byte for byte. json-update: the same shape,
//   as sjson (json_edit.h): missing keys are made. Output commitMessage.
// - copy: inPath, outPath (a file to a file, a directory's tree into a
//   directory, merged); ignore (gitignore lines; `.git` always). Links in
//   the source are skipped, as Kargo's.
// - delete: path or paths[]; pathsAreGlobs (`**` crosses directories);
//   strict (a path that does not exist, or a glob that matches nothing, is
//   an error). A link is deleted, never followed.
// - kustomize-set-image: path (a directory with one kustomization.yaml,
//   .yml or Kustomization); images[] (image, name, newName, tag or digest;
//   "*" keeps the entry's). Output commitMessage. An image with neither tag
//   nor digest takes the Freight's (its image artifacts, delivery/artifact.h,
//   found by repository): the tag, or with useDigest the digest; no images
//   given: every image of the Freight. fromOrigin must be the Freight's.
// - kustomize-build: path, outPath (a .yaml or .yml file: every object,
//   as documents; else a directory: a file per object, named by
//   outputFormat `kargo` (default) or `kustomize`), with strake's own
//   kustomize (gitops/kustomize.h) over the working directory. `plugin`
//   (Helm) is refused.
//
// Every path stays in the working directory: lexically, through links
// (opened beneath it; a link that leads out is refused), never in a `.git`
// directory (step_config.h). A file is replaced through a temporary file
// and a rename, so a crash leaves it old or new. Each step is safe to run
// again after a crash: an update sets the same values again, a copy or a
// build writes the same files, a strict delete remembers (in
// .strake-steps/ of the working directory) that its paths were there.
// Config errors end the step at once (terminal), naming the field; fields
// Kargo's schema does not have are refused as unknown.
//
// The runners keep no state between runs; Run may be called from several
// threads for different Promotions.
#pragma once

#include <string>
#include <vector>

#include "delivery/promotion.h"

namespace strake::delivery {

// The names AddFileSteps adds, sorted.
const std::vector<std::string>& FileStepNames();

void AddFileSteps(StepRegistry& registry);

}  // namespace strake::delivery
