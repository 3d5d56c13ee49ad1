#include "app/image_source.h"

#include "base/fs.h"

namespace strake::app {

StoreImageSource::StoreImageSource(std::string dir, EgressPolicy egress)
    : store_(std::move(dir)), egress_(std::move(egress)) {}

Result<pipeline::StepImage> StoreImageSource::Get(const std::string& image,
                                                  const std::string& pull_policy,
                                                  const pipeline::TaskRunJob& job) {
  STRAKE_TRY_ASSIGN(ref, images::ParseReference(image));
  const std::string run = job.pipeline_run_uid.empty() ? job.uid : job.pipeline_run_uid;
  const auto key = std::make_pair(run, ref.String());
  images::Image img;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = pinned_.find(key); it != pinned_.end()) img = it->second;
  }
  if (img.root.empty()) {
    images::PullOptions options;
    options.egress = egress_;
    STRAKE_TRY_ASSIGN(policy, images::ParsePullPolicy(pull_policy, ref));
    options.policy = policy;
    STRAKE_TRY_ASSIGN(pulled, store_.Pull(ref, options));
    std::lock_guard<std::mutex> lock(mu_);
    if (pinned_.size() >= kMaxPinned) pinned_.erase(pinned_.begin());
    // Two steps that pulled at once: both take the first one's image.
    img = pinned_.emplace(key, std::move(pulled)).first->second;
  }
  pipeline::StepImage out;
  out.root = img.root;
  out.digest = img.digest;
  out.entrypoint = img.config.entrypoint;
  out.cmd = img.config.cmd;
  out.env = img.config.env;
  out.working_dir = img.config.working_dir;
  out.user = img.config.user;
  return out;
}

std::string ImagesDir(const std::string& data_dir) { return PathJoin(data_dir, "images"); }

Result<std::unique_ptr<StoreImageSource>> OpenImageSource(bool wanted, const std::string& data_dir,
                                                          EgressPolicy egress) {
  if (!wanted) return std::unique_ptr<StoreImageSource>();
  auto source = std::make_unique<StoreImageSource>(ImagesDir(data_dir), std::move(egress));
  STRAKE_TRY(source->Open());
  return source;
}

}  // namespace strake::app
