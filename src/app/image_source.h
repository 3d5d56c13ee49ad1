// The steps' (and workloads') images from the data directory's image store (images/store.h):
// pulled under the egress policy with Kubernetes' default pull policy, and
// pinned per PipelineRun, so every step of a run that names a tag gets the
// bytes the first one got, however the tag moves meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/egress.h"
#include "images/store.h"
#include "pipeline/executor.h"
#include "targets/local.h"

namespace strake::app {

//
// The workloads' images too (ContainerImages): each pull runs on a
// thread of its own, one at a time per reference, its waiters told when it
// ends; a failed pull is tried again after Kubernetes' ImagePullBackOff
// (10 s doubling to 5 minutes).
class StoreImageSource final : public pipeline::ImageSource, public ContainerImages {
 public:
  // `dir`: the store's directory (<data>/images). `insecure`: Docker's
  // insecure-registries (images/registry.h IsInsecureRegistry).
  // `host`: the globs of images marked to run on the host (OnHost).
  StoreImageSource(std::string dir, EgressPolicy egress, std::vector<std::string> insecure = {},
                   std::vector<std::string> host = {});
  ~StoreImageSource() override;  // waits for the pulls under way
  Status Open() { return store_.Open(); }
  Result<pipeline::StepImage> Get(const std::string& image, const std::string& pull_policy,
                                  const pipeline::TaskRunJob& job) override;
  Result<std::optional<RunnableImage>> Get(const std::string& image, const std::string& pull_policy,
                                           bool local_ok,
                                           const std::vector<std::string>& pull_secrets,
                                           std::function<void()> done) override;
  // Of both interfaces: no image, or one matching `host` (RunsOnHost).
  bool OnHost(const std::string& image) const override { return RunsOnHost(image, host_); }
  // No waiter is called from now on (those being called have returned):
  // what they would wake is about to go.
  void DropWaiters();
  // Collects the store (images::ImageStore::Collect), keeping besides what
  // it keeps by itself `in_use` and the images pinned for runs and served
  // by the last pulls.
  Result<images::ImageStore::Collected> Collect(int64_t max_bytes, std::set<std::string> in_use);

 private:
  // A workload image's pull, by reference.
  struct Pull {
    bool running = false;
    std::vector<std::function<void()>> waiters;
    std::optional<images::Image> image;  // the last pull's, served for a while
    std::chrono::steady_clock::time_point ended{};
    std::string error;
    std::chrono::milliseconds backoff{0};
  };
  void PullInBackground(const std::string& key, const images::Reference& ref,
                        const images::PullOptions& options);

  static constexpr size_t kMaxPinned = 4096;
  images::PullOptions OptionsFor(const images::Reference& ref) const;

  images::ImageStore store_;
  EgressPolicy egress_;
  std::vector<std::string> insecure_;
  std::vector<std::string> host_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, images::Image> pinned_;  // (run uid, reference)
  std::map<std::string, Pull> pulls_;  // by reference and credentials
  std::vector<std::thread> threads_;
  std::set<std::thread::id> finished_;  // of threads_: returning, to be joined
  bool dropped_ = false;                // DropWaiters was called
  int calling_ = 0;                     // threads calling waiters
  std::condition_variable called_;
};

// The image store of a data directory.
std::string ImagesDir(const std::string& data_dir);
// Where `strake serve` keeps what each revision's replicas run on
// (targets/local.h UseImages), and those references ("repo@digest").
std::string ImagePinsPath(const std::string& data_dir);
std::vector<std::string> PinnedImages(const std::string& data_dir);

// The image source of `strake run` and `strake serve`, opened; null when
// nothing runs in its image (`wanted` false: no sandbox). `host_images`:
// --run-on-host.
Result<std::unique_ptr<StoreImageSource>> OpenImageSource(
    bool wanted, const std::string& data_dir, EgressPolicy egress,
    std::vector<std::string> insecure_registries = {}, std::vector<std::string> host_images = {});

}  // namespace strake::app
