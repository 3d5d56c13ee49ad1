// The steps' images from the data directory's image store (images/store.h):
// pulled under the egress policy with Kubernetes' default pull policy, and
// pinned per PipelineRun, so every step of a run that names a tag gets the
// bytes the first one got, however the tag moves meanwhile.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "base/egress.h"
#include "images/store.h"
#include "pipeline/executor.h"

namespace strake::app {

class StoreImageSource final : public pipeline::ImageSource {
 public:
  // `dir`: the store's directory (<data>/images).
  StoreImageSource(std::string dir, EgressPolicy egress);
  Status Open() { return store_.Open(); }
  Result<pipeline::StepImage> Get(const std::string& image, const std::string& pull_policy,
                                  const pipeline::TaskRunJob& job) override;

 private:
  static constexpr size_t kMaxPinned = 4096;
  images::ImageStore store_;
  EgressPolicy egress_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, images::Image> pinned_;  // (run uid, reference)
};

// The image store of a data directory.
std::string ImagesDir(const std::string& data_dir);

// The steps' image source of `strake run` and `strake serve`, opened; null
// when steps do not run in their images (`wanted` false).
Result<std::unique_ptr<StoreImageSource>> OpenImageSource(bool wanted, const std::string& data_dir,
                                                          EgressPolicy egress);

}  // namespace strake::app
