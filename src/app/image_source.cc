#include "app/image_source.h"

#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/sha256.h"

namespace strake::app {

namespace {

RunnableImage Runnable(const images::Image& img) {
  RunnableImage out;
  out.root = img.root;
  out.digest = img.digest;
  if (auto ref = images::ParseReference(img.reference)) {
    out.name = ref->repo.Name();
  }
  out.entrypoint = img.config.entrypoint;
  out.cmd = img.config.cmd;
  out.env = img.config.env;
  out.working_dir = img.config.working_dir;
  out.user = img.config.user;
  return out;
}

// How long a workload image's pull serves the revisions that waited for it
// (an Always image is not pulled again for each of them).
constexpr auto kPullServes = std::chrono::seconds(60);
constexpr auto kFirstBackoff = std::chrono::milliseconds(10'000);
constexpr auto kMaxBackoff = std::chrono::milliseconds(300'000);

// The first of the registry configurations `texts` (.dockerconfigjson or
// .dockercfg) that has credentials for `ref`'s registry, as the kubelet
// takes them; none: anonymous.
images::Credentials FirstCredentials(const std::vector<std::string>& texts,
                                     const images::Reference& ref) {
  for (const auto& text : texts) {
    auto creds = images::DockerConfigCredentials(text, ref.repo);
    if (creds && !creds->empty()) return std::move(*creds);
  }
  return {};
}

// The registry configurations of a TaskRun's pull secrets, from the
// Secrets its run carries (one that is not there, or holds none, gives
// none, as the kubelet pulls without it).
std::vector<std::string> PullSecretTexts(const pipeline::TaskRunJob& job) {
  std::vector<std::string> out;
  if (!job.secrets) return out;
  for (const auto& name : job.pull_secrets) {
    auto it = job.secrets->find(name);
    if (it == job.secrets->end()) continue;
    for (const char* key : {".dockerconfigjson", ".dockercfg"}) {
      if (auto k = it->second.data.find(key); k != it->second.data.end()) {
        out.push_back(k->second);
        break;
      }
    }
  }
  return out;
}

}  // namespace

StoreImageSource::StoreImageSource(std::string dir, EgressPolicy egress,
                                   std::vector<std::string> insecure, std::vector<std::string> host)
    : store_(std::move(dir)),
      egress_(std::move(egress)),
      insecure_(std::move(insecure)),
      host_(std::move(host)) {}

images::PullOptions StoreImageSource::OptionsFor(const images::Reference& ref) const {
  images::PullOptions options;
  options.egress = egress_;
  options.insecure_registry = images::IsInsecureRegistry(ref.repo.registry, insecure_);
  return options;
}

StoreImageSource::~StoreImageSource() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

Result<std::optional<RunnableImage>> StoreImageSource::Get(
    const std::string& image, const std::string& pull_policy, bool local_ok,
    const std::vector<std::string>& pull_secrets, std::function<void()> done) {
  STRAKE_TRY_ASSIGN(ref, images::ParseReference(image));
  STRAKE_TRY_ASSIGN(policy, images::ParsePullPolicy(pull_policy, ref));
  if (policy != images::PullPolicy::kAlways || local_ok) {
    STRAKE_TRY_ASSIGN(found, store_.Find(ref, images::HostPlatform()));
    if (found) return std::optional<RunnableImage>(Runnable(*found));
  }
  if (policy == images::PullPolicy::kNever) {
    return Failf("ErrImageNeverPull: {} is not on this machine and its imagePullPolicy is Never",
                 ref.String());
  }
  const auto now = std::chrono::steady_clock::now();
  struct Joiner {  // the pulls that ended, joined once mu_ is released
    std::vector<std::thread> threads;
    ~Joiner() {
      for (auto& t : threads) t.join();
    }
  } ended;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (finished_.erase(it->get_id())) {
      ended.threads.push_back(std::move(*it));
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  // A pull long over is forgotten, its back-off too, as the kubelet
  // forgets one after twice the longest back-off.
  std::erase_if(pulls_, [&](const auto& entry) {
    const Pull& p = entry.second;
    return !p.running && p.waiters.empty() && now - p.ended > 2 * kMaxBackoff;
  });
  images::Credentials credentials = FirstCredentials(pull_secrets, ref);
  // One pull per reference and credentials: what one pod's pull got is no
  // other's that does not have them.
  const std::string key =
      ref.String() + "\n" + Sha256Hex(credentials.username + ":" + credentials.password);
  Pull& p = pulls_[key];
  if (!p.running) {
    if (p.image && now - p.ended < kPullServes)
      return std::optional<RunnableImage>(Runnable(*p.image));
    if (!p.error.empty() && now - p.ended < p.backoff) {
      // The same words until the next try: a status that says it is
      // written once.
      return Failf("{} (ImagePullBackOff: tried again after {} s)", p.error,
                   std::chrono::duration_cast<std::chrono::seconds>(p.backoff).count());
    }
    images::PullOptions options = OptionsFor(ref);
    options.policy = images::PullPolicy::kAlways;  // decided above
    options.credentials = std::move(credentials);
    p.running = true;
    threads_.emplace_back([this, key, ref, options] { PullInBackground(key, ref, options); });
  }
  if (done && !dropped_) p.waiters.push_back(std::move(done));
  return std::optional<RunnableImage>();
}

void StoreImageSource::DropWaiters() {
  std::unique_lock<std::mutex> lock(mu_);
  dropped_ = true;
  for (auto& [ref, p] : pulls_) p.waiters.clear();
  called_.wait(lock, [this] { return calling_ == 0; });
}

void StoreImageSource::PullInBackground(const std::string& key, const images::Reference& ref,
                                        const images::PullOptions& options) {
  auto pulled = store_.Pull(ref, options);
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Pull& p = pulls_[key];
    p.running = false;
    p.ended = std::chrono::steady_clock::now();
    if (pulled) {
      p.image = std::move(*pulled);
      p.error.clear();
      p.backoff = std::chrono::milliseconds(0);
    } else {
      p.image.reset();
      p.error = pulled.error().message;
      p.backoff = p.backoff.count() == 0 ? kFirstBackoff : std::min(p.backoff * 2, kMaxBackoff);
    }
    waiters.swap(p.waiters);
    ++calling_;
  }
  for (auto& w : waiters) w();
  std::lock_guard<std::mutex> lock(mu_);
  --calling_;
  called_.notify_all();
  finished_.insert(std::this_thread::get_id());
}

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
    images::PullOptions options = OptionsFor(ref);
    STRAKE_TRY_ASSIGN(policy, images::ParsePullPolicy(pull_policy, ref));
    options.policy = policy;
    options.credentials = FirstCredentials(PullSecretTexts(job), ref);
    STRAKE_TRY_ASSIGN(pulled, store_.Pull(ref, options));
    std::lock_guard<std::mutex> lock(mu_);
    if (pinned_.size() >= kMaxPinned) pinned_.erase(pinned_.begin());
    // Two steps that pulled at once: both take the first one's image.
    img = pinned_.emplace(key, std::move(pulled)).first->second;
  }
  return Runnable(img);
}

Result<images::ImageStore::Collected> StoreImageSource::Collect(int64_t max_bytes,
                                                                std::set<std::string> in_use) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, img] : pinned_) in_use.insert(img.root);
    for (const auto& [key, p] : pulls_) {
      if (p.image) in_use.insert(p.image->root);
    }
  }
  return store_.Collect(max_bytes, in_use);
}

std::string ImagesDir(const std::string& data_dir) { return PathJoin(data_dir, "images"); }

std::string ImagePinsPath(const std::string& data_dir) {
  return PathJoin(data_dir, "runtime/image-pins.json");
}

std::vector<std::string> PinnedImages(const std::string& data_dir) {
  std::vector<std::string> out;
  auto text = ReadFile(ImagePinsPath(data_dir), 16 << 20);
  if (!text) return out;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return out;
  for (const auto& [key, ref] : j.items()) {
    if (ref.is_string()) out.push_back(ref.get<std::string>());
  }
  return out;
}

Result<std::unique_ptr<StoreImageSource>> OpenImageSource(
    bool wanted, const std::string& data_dir, EgressPolicy egress,
    std::vector<std::string> insecure_registries, std::vector<std::string> host_images) {
  if (!wanted) return std::unique_ptr<StoreImageSource>();
  auto source =
      std::make_unique<StoreImageSource>(ImagesDir(data_dir), std::move(egress),
                                         std::move(insecure_registries), std::move(host_images));
  STRAKE_TRY(source->Open());
  return source;
}

}  // namespace strake::app
