#include "images/store.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/fs.h"
#include "base/sha256.h"
#include "images/test_layers.h"
#include "images/test_registry.h"

namespace strake::images {
namespace {

using test_layers::E;
using test_layers::Tar;

TEST(ImageReference, ReadsTagsAndDigestsAsKubernetes) {
  auto plain = ParseReference("busybox");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->String(), "docker.io/library/busybox:latest");
  EXPECT_EQ(plain->Target(), "latest");
  auto port = ParseReference("127.0.0.1:5000/team/app:1.2");
  ASSERT_TRUE(port);
  EXPECT_EQ(port->repo.registry, "127.0.0.1:5000");
  EXPECT_EQ(port->tag, "1.2");
  const std::string d = "sha256:" + std::string(64, 'a');
  auto pinned = ParseReference("ghcr.io/a/b:v1@" + d);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->Target(), d);
  EXPECT_EQ(pinned->String(), "ghcr.io/a/b:v1@" + d);
  EXPECT_FALSE(ParseReference("a/b@sha256:123"));
  EXPECT_FALSE(ParseReference("a/b:-bad"));
  EXPECT_FALSE(ParseReference("A/b"));
}

TEST(ImageReference, PullPoliciesDefaultAsKubernetes) {
  EXPECT_EQ(*ParsePullPolicy("", *ParseReference("app")), PullPolicy::kAlways);
  EXPECT_EQ(*ParsePullPolicy("", *ParseReference("app:latest")), PullPolicy::kAlways);
  EXPECT_EQ(*ParsePullPolicy("", *ParseReference("app:1.0")), PullPolicy::kIfNotPresent);
  EXPECT_EQ(*ParsePullPolicy("", *ParseReference("app@sha256:" + std::string(64, 'b'))),
            PullPolicy::kIfNotPresent);
  EXPECT_EQ(*ParsePullPolicy("Never", *ParseReference("app")), PullPolicy::kNever);
  auto bad = ParsePullPolicy("Sometimes", *ParseReference("app"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("want Always, IfNotPresent or Never"), std::string::npos);
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  return out;
}

class Pulls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!registry_.Start()) {
      GTEST_SKIP() << "docker-registry is not installed (scripts/setup.sh installs it)";
    }
    auto d = MakeTempDir("imagestore");
    ASSERT_TRUE(d);
    dir_ = *d;
    store_ = std::make_unique<ImageStore>(dir_ + "/images");
    ASSERT_TRUE(store_->Open());
    options_.egress = EgressPolicy::Open();
  }
  void TearDown() override {
    if (!dir_.empty()) (void)RemoveAll(dir_);
  }
  // Writes a layer file for oci_push.py's --layer.
  std::string LayerFile(const std::string& name, const std::string& tar) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(WriteFile(path, tar));
    return path;
  }
  Reference Ref(const std::string& repo_tag) {
    auto r = ParseReference(registry_.host() + "/" + repo_tag);
    EXPECT_TRUE(r);
    return *r;
  }
  std::string Blob(const std::string& digest) {
    return dir_ + "/images/blobs/sha256/" + digest.substr(7);
  }

  TestRegistry registry_;
  std::string dir_;
  std::unique_ptr<ImageStore> store_;
  PullOptions options_;
};

TEST_F(Pulls, PullsUnpacksAndReusesAnImage) {
  std::string base = LayerFile("base.tar.gz", Tar({{'f', "bin/hello", "hi\n", 0755},
                                                   {'f', "etc/old", "old"},
                                                   {'l', "bin/sh", "/bin/hello"}},
                                                  "gzip"));
  std::string top =
      LayerFile("top.tar.zst", Tar({{'f', "etc/.wh.old", ""}, {'f', "etc/new", "new"}}, "zstd"));
  std::string digest = registry_.Push(
      "team/tool", "v1",
      "--layer " + base + " --layer " + top +
          " --config '{\"Entrypoint\":[\"/bin/hello\"],\"Cmd\":[\"world\"],\"Env\":[\"A=1\"],"
          "\"WorkingDir\":\"/work\",\"User\":\"1000:1000\"}'");
  auto img = store_->Pull(Ref("team/tool:v1"), options_);
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->digest, digest);
  EXPECT_TRUE(img->fetched);
  EXPECT_GT(img->downloaded, 0);
  EXPECT_EQ(*ReadFile(img->root + "/bin/hello"), "hi\n");
  EXPECT_FALSE(PathExists(img->root + "/etc/old"));
  EXPECT_EQ(*ReadFile(img->root + "/etc/new"), "new");
  EXPECT_EQ(img->config.entrypoint, std::vector<std::string>{"/bin/hello"});
  EXPECT_EQ(img->config.cmd, std::vector<std::string>{"world"});
  EXPECT_EQ(img->config.env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(img->config.working_dir, "/work");
  EXPECT_EQ(img->config.user, "1000:1000");

  // IfNotPresent: no registry asked.
  auto again = store_->Pull(Ref("team/tool:v1"), options_);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->fetched);
  EXPECT_EQ(again->root, img->root);
  // Always: the registry is asked, the layers and root are kept.
  options_.policy = PullPolicy::kAlways;
  auto always = store_->Pull(Ref("team/tool:v1"), options_);
  ASSERT_TRUE(always);
  EXPECT_TRUE(always->fetched);
  EXPECT_EQ(always->downloaded, 0);
  EXPECT_EQ(always->root, img->root);
  // By digest, found here with no registry asked (whichever reference
  // pulled those bytes): the same root; an unknown digest is not here.
  auto here = store_->Find(Ref("other/name@" + digest));
  ASSERT_TRUE(here && *here) << (here ? "not found" : here.error().message);
  EXPECT_EQ((*here)->root, img->root);
  auto absent = store_->Find(Ref("team/tool@sha256:" + std::string(64, '0')));
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
  // Pulled by digest: the same root.
  auto pinned = store_->Pull(Ref("team/tool@" + digest), options_);
  ASSERT_TRUE(pinned) << pinned.error().message;
  EXPECT_EQ(pinned->root, img->root);
  auto found = store_->Find(Ref("team/tool:v1"));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->digest, digest);
}

TEST_F(Pulls, PicksThisMachinesImageFromAnIndex) {
  std::string index = registry_.Push("team/multi", "v1", "--platforms linux/arm64,linux/amd64");
  auto img = store_->Pull(Ref("team/multi:v1"), options_);
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->index_digest, index);
  EXPECT_EQ(*ReadFile(img->root + "/content.txt"), "hello linux/amd64");
  options_.platform = Platform{"linux", "s390x", ""};
  auto none = store_->Pull(Ref("team/multi:v1"), options_);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_NE(none.error().message.find("no image for linux/s390x (the index has linux/arm64, "
                                      "linux/amd64)"),
            std::string::npos)
      << none.error().message;
}

// An index whose entries name no platform: each config says, as
// containerd reads them.
TEST_F(Pulls, PicksFromAnIndexWhoseEntriesNameNoPlatform) {
  std::string index =
      registry_.Push("team/bare", "v1", "--platforms linux/arm64,linux/amd64 --unlabelled");
  auto img = store_->Pull(Ref("team/bare:v1"), options_);
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->index_digest, index);
  EXPECT_EQ(*ReadFile(img->root + "/content.txt"), "hello linux/amd64");
  options_.platform = Platform{"linux", "s390x", ""};
  auto none = store_->Pull(Ref("team/bare:v1"), options_);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no image for linux/s390x (the index has linux/arm64, "
                                      "linux/amd64)"),
            std::string::npos)
      << none.error().message;
}

TEST_F(Pulls, WhatDoesNotMatchItsManifestIsRefusedAndNothingIsKept) {
  std::string layer = LayerFile("l.tar", Tar({{'f', "a", "aaaa"}}));
  registry_.Push("team/liar", "v1", "--layer " + layer + " --size-lie 7");
  auto lie = store_->Pull(Ref("team/liar:v1"), options_);
  ASSERT_FALSE(lie);
  EXPECT_NE(lie.error().message.find("bytes, the manifest says"), std::string::npos)
      << lie.error().message;
  EXPECT_TRUE(Names(dir_ + "/images/blobs/sha256").empty());
  EXPECT_TRUE(Names(dir_ + "/images/roots").empty());

  auto missing = store_->Pull(Ref("team/liar:v2"), options_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  options_.policy = PullPolicy::kNever;
  auto never = store_->Pull(Ref("team/liar:v1"), options_);
  ASSERT_FALSE(never);
  EXPECT_NE(never.error().message.find("imagePullPolicy is Never"), std::string::npos);
}

TEST_F(Pulls, AHostileLayerLeavesNoRootBehind) {
  std::string layer =
      LayerFile("evil.tar.gz", Tar({{'f', "ok.txt", "fine"}, {'f', "../../x", "x"}}, "gzip"));
  registry_.Push("team/evil", "v1", "--layer " + layer);
  auto img = store_->Pull(Ref("team/evil:v1"), options_);
  ASSERT_FALSE(img);
  EXPECT_NE(img.error().message.find("leaves the root"), std::string::npos);
  EXPECT_TRUE(Names(dir_ + "/images/roots").empty());
  EXPECT_FALSE(store_->Find(Ref("team/evil:v1")).value().has_value());
}

TEST_F(Pulls, OpenRemovesWhatACrashLeftHalfDone) {
  ASSERT_TRUE(MakeDirs(dir_ + "/images/roots/.tmp-0123/etc"));
  ASSERT_TRUE(WriteFile(dir_ + "/images/blobs/sha256/.tmp-4567", "half a layer"));
  // Not while another user has the store open: its leftovers may be a pull.
  {
    ImageStore second(dir_ + "/images");
    ASSERT_TRUE(second.Open());
    EXPECT_EQ(Names(dir_ + "/images/roots").size(), 1u);
  }
  store_.reset();
  ImageStore reopened(dir_ + "/images");
  ASSERT_TRUE(reopened.Open());
  EXPECT_TRUE(Names(dir_ + "/images/roots").empty());
  EXPECT_TRUE(Names(dir_ + "/images/blobs/sha256").empty());
}

TEST(ImageReference, InsecureRegistriesMatchAsDockers) {
  const std::vector<std::string> list = {"registry.lan:5000", "build.lan"};
  EXPECT_TRUE(IsInsecureRegistry("registry.lan:5000", list));
  EXPECT_FALSE(IsInsecureRegistry("registry.lan", list));
  EXPECT_FALSE(IsInsecureRegistry("registry.lan:5001", list));
  EXPECT_TRUE(IsInsecureRegistry("build.lan", list));
  EXPECT_TRUE(IsInsecureRegistry("build.lan:8443", list));
  EXPECT_FALSE(IsInsecureRegistry("other.lan", list));
  EXPECT_FALSE(IsInsecureRegistry("build.lan", {}));
}

// An insecure registry (Docker's insecure-registries): HTTPS whose
// certificate is not checked, else plain HTTP. Without the setting a
// registry's self-signed certificate is refused (on loopback strake speaks
// plain HTTP to it, which an HTTPS-only registry refuses too).
TEST(InsecureRegistries, AreReachedOverUncheckedHttpsOrPlainHttp) {
  TestRegistry tls;
  if (!tls.Start("", "", true)) GTEST_SKIP() << "docker-registry is not installed";
  tls.Push("team/app", "1", "--content tls");
  auto d = MakeTempDir("insecure");
  ASSERT_TRUE(d);
  ImageStore store(*d + "/images");
  ASSERT_TRUE(store.Open());
  PullOptions options;
  options.egress = EgressPolicy::Open();
  auto ref = ParseReference(tls.host() + "/team/app:1");
  ASSERT_TRUE(ref);
  EXPECT_FALSE(store.Pull(*ref, options));
  options.insecure_registry = true;
  auto pulled = store.Pull(*ref, options);
  EXPECT_TRUE(pulled) << pulled.error().message;
  TestRegistry plain;
  ASSERT_TRUE(plain.Start());
  plain.Push("team/app", "2", "--content plain");
  auto plain_ref = ParseReference(plain.host() + "/team/app:2");
  ASSERT_TRUE(plain_ref);
  pulled = store.Pull(*plain_ref, options);
  EXPECT_TRUE(pulled) << pulled.error().message;
  (void)RemoveAll(*d);
}

// An OCI image layout on disk (what `skopeo copy … oci:DIR:TAG` or a
// pipeline's image build writes) is pulled as a registry's image is.
TEST(Layouts, AnOciLayoutIsPulledLikeARegistrysImage) {
  auto d = MakeTempDir("layout");
  ASSERT_TRUE(d);
  const std::string dir = *d + "/blobs/app";  // a "/blobs/" of its own in the path
  ASSERT_TRUE(MakeDirs(dir + "/blobs/sha256"));
  auto blob = [&](const std::string& bytes) {
    std::string hex = Sha256Hex(bytes);
    EXPECT_TRUE(WriteFile(dir + "/blobs/sha256/" + hex, bytes));
    return "sha256:" + hex;
  };
  std::string plain_layer = Tar({{'f', "etc/built", "by a pipeline\n"}});
  std::string layer = Tar({{'f', "etc/built", "by a pipeline\n"}}, "gzip");
  std::string config =
      R"({"architecture":")" + HostPlatform().arch +
      R"(","os":"linux","config":{"Cmd":["/bin/app"]},"rootfs":{"type":"layers","diff_ids":["sha256:)" +
      Sha256Hex(plain_layer) + R"("]}})";
  std::string config_digest = blob(config);
  std::string layer_digest = blob(layer);
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
      config_digest + R"(","size":)" + std::to_string(config.size()) +
      R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
      layer_digest + R"(","size":)" + std::to_string(layer.size()) + "}]}";
  std::string manifest_digest = blob(manifest);
  ASSERT_TRUE(WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  ASSERT_TRUE(WriteFile(
      dir + "/index.json",
      R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
          manifest_digest + R"(","size":)" + std::to_string(manifest.size()) +
          R"(,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]})"));

  ImageStore store(*d + "/images");
  ASSERT_TRUE(store.Open());
  PullOptions options;
  options.egress = EgressPolicy::Open();
  auto ref = ParseReference("oci:" + dir + ":v1");
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ(ref->String(), "oci:" + dir + ":v1");
  EXPECT_EQ(*ParsePullPolicy("", *ref), PullPolicy::kAlways);
  auto img = store.Pull(*ref, options);
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->digest, manifest_digest);
  EXPECT_EQ(*ReadFile(img->root + "/etc/built"), "by a pipeline\n");
  EXPECT_EQ(img->config.cmd, std::vector<std::string>{"/bin/app"});
  // A tag the index does not name; "latest" is not the only image's here
  // (it has a name of its own) — as skopeo reads a layout.
  auto missing = store.Pull(*ParseReference("oci:" + dir + ":v2"), options);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << missing.error().message;
  // Read from disk only where the egress policy allows files.
  PullOptions closed;
  auto refused = store.Pull(*ParseReference("oci:" + dir + "@" + manifest_digest), closed);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kForbidden) << refused.error().message;
  for (const char* bad : {"oci:relative/dir", "oci:/a/../b:v1"})
    EXPECT_FALSE(ParseReference(bad)) << bad;
  // Only regular files are read: an index.json that is a link to an
  // endless device, or a FIFO, is an error at once, never a hang.
  ASSERT_TRUE(MakeDirs(*d + "/zero"));
  ASSERT_EQ(::symlink("/dev/zero", (*d + "/zero/index.json").c_str()), 0);
  ASSERT_TRUE(MakeDirs(*d + "/fifo"));
  ASSERT_EQ(::mkfifo((*d + "/fifo/index.json").c_str(), 0600), 0);
  for (const char* name : {"zero", "fifo"}) {
    auto hostile = store.Pull(*ParseReference("oci:" + *d + "/" + name), options);
    ASSERT_FALSE(hostile) << name;
    EXPECT_NE(hostile.error().message.find("index.json"), std::string::npos)
        << hostile.error().message;
  }
  (void)RemoveAll(*d);
}

// A docker archive built here (docker save's shape: manifest.json, a
// config, a layer linked from a second name) is pulled; archives that
// reach outside themselves, or hold other things than files, are refused.
TEST(Layouts, ADockerArchiveIsReadAndAHostileOneRefused) {
  auto d = MakeTempDir("archive");
  ASSERT_TRUE(d);
  std::string layer = Tar({{'f', "etc/saved", "saved\n"}});
  std::string config =
      R"({"architecture":")" + HostPlatform().arch +
      R"(","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:)" +
      Sha256Hex(layer) + R"("]}})";
  auto archive = [&](const std::string& name, std::vector<E> extra,
                     const std::string& layer_name = "link/layer.tar") {
    std::vector<E> files = {
        {'f', "manifest.json",
         R"([{"Config":"config.json","RepoTags":["app:v1"],"Layers":[")" + layer_name + R"("]}])"},
        {'f', "config.json", config},
        {'f', "abc/layer.tar", layer},
        {'l', "link/layer.tar", "../abc/layer.tar"}};
    files.insert(files.end(), extra.begin(), extra.end());
    std::string path = *d + "/" + name;
    EXPECT_TRUE(WriteFile(path, Tar(files)));
    return path;
  };
  ImageStore store(*d + "/images");
  ASSERT_TRUE(store.Open());
  PullOptions options;
  options.egress = EgressPolicy::Open();
  const std::string good = archive("good.tar", {});
  for (const std::string& ref : {"docker-archive:" + good, "docker-archive:" + good + ":app:v1",
                                 "docker-archive:" + good + ":docker.io/library/app:v1"}) {
    auto parsed = ParseReference(ref);
    ASSERT_TRUE(parsed) << ref;
    auto img = store.Pull(*parsed, options);
    ASSERT_TRUE(img) << ref << ": " << img.error().message;
    EXPECT_EQ(*ReadFile(img->root + "/etc/saved"), "saved\n");
  }
  auto other = store.Pull(*ParseReference("docker-archive:" + good + ":app:v2"), options);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("no image tagged app:v2"), std::string::npos)
      << other.error().message;
  for (const auto& [name, extra] : std::vector<std::pair<std::string, std::vector<E>>>{
           {"escape.tar", {{'f', "../outside", "x"}}},
           {"device.tar", {{'c', "dev/null", ""}}},
           {"link-out.tar", {{'l', "out", "/etc/passwd"}}},
           {"link-up.tar", {{'l', "out", "../../outside"}}}}) {
    const std::string path =
        archive(name, extra, name.starts_with("link") ? "out" : "link/layer.tar");
    auto refused = store.Pull(*ParseReference("docker-archive:" + path), options);
    EXPECT_FALSE(refused) << name;
  }
  EXPECT_FALSE(PathExists(*d + "/outside"));
  EXPECT_FALSE(ParseReference("docker-archive:relative.tar"));
  PullOptions closed;
  closed.policy = PullPolicy::kAlways;
  auto forbidden = store.Pull(*ParseReference("docker-archive:" + good), closed);
  ASSERT_FALSE(forbidden);
  EXPECT_EQ(forbidden.error().code, ErrorCode::kForbidden);
  (void)RemoveAll(*d);
}

TEST(Collection, ReadsContainersImageRootsFromMountinfo) {
  const std::string text =
      "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
      "36 35 0:30 / /merged rw,relatime - overlay overlay "
      "rw,lowerdir=/data/images/roots/abc:/x\\040y:/a\\,b,upperdir=/s/upper,workdir=/s/work\n"
      "37 35 0:31 / /other rw - overlay overlay rw,upperdir=/u,workdir=/w\n";
  EXPECT_EQ(OverlayLowerDirs(text),
            (std::vector<std::string>{"/data/images/roots/abc", "/x y", "/a,b"}));
}

// Collection: a moved tag's old image goes; under a size limit the least
// recently used reference goes, unless its root is in use; never while
// another process has the store open.
TEST_F(Pulls, CollectionKeepsWhatIsNamedUsedOrRecent) {
  std::string base = LayerFile("base.tar.gz", Tar({{'f', "bin/tool", std::string(4096, 'x')}}));
  auto push = [&](const std::string& repo, const std::string& tag, const std::string& text) {
    std::string top = LayerFile(std::to_string(text.size()) + repo.substr(5) + ".tar.gz",
                                Tar({{'f', "etc/v", text}}));
    return registry_.Push(repo, tag, "--layer " + base + " --layer " + top);
  };
  options_.policy = PullPolicy::kAlways;
  push("team/a", "1", "a1");
  auto a1 = store_->Pull(Ref("team/a:1"), options_);
  ASSERT_TRUE(a1) << a1.error().message;
  push("team/a", "1", "a1 moved");  // the tag moves: a1's image is named by nothing
  auto a2 = store_->Pull(Ref("team/a:1"), options_);
  ASSERT_TRUE(a2);
  ASSERT_NE(a2->root, a1->root);
  push("team/b", "1", "b1");
  auto b1 = store_->Pull(Ref("team/b:1"), options_);
  ASSERT_TRUE(b1);
  ASSERT_TRUE(store_->Find(Ref("team/a:1")));  // a is used last
  // Collected by a process that gave none of them out (the CLI's): an
  // image this store gave in the last minutes is a container's to start.
  store_.reset();
  ImageStore gc(dir_ + "/images");
  ASSERT_TRUE(gc.Open());

  // No limit: only what nothing names.
  auto c = gc.Collect(0, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->references, 0);
  EXPECT_EQ(c->manifests, 1);
  EXPECT_EQ(c->roots, 1);
  EXPECT_EQ(c->layers, 1);  // a1's top layer; the shared base stays
  EXPECT_FALSE(PathExists(a1->root));
  EXPECT_TRUE(PathExists(a2->root) && PathExists(b1->root));
  EXPECT_GT(c->bytes_before, c->bytes_after);

  // A limit below both: b (used least recently) goes, a stays while its
  // root is in use even though the store is still over the limit.
  c = gc.Collect(1, {a2->root});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->references, 1);
  EXPECT_FALSE(PathExists(b1->root));
  EXPECT_TRUE(PathExists(a2->root));
  auto b_found = gc.Find(Ref("team/b:1"));
  ASSERT_TRUE(b_found);
  EXPECT_FALSE(*b_found);
  EXPECT_GT(c->bytes_after, 1);
  // Not in use any more: a goes too, and nothing is left.
  c = gc.Collect(1, {});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->bytes_after, 0);
  EXPECT_TRUE(Names(dir_ + "/images/roots").empty());
  EXPECT_TRUE(Names(dir_ + "/images/blobs/sha256").empty());
  EXPECT_TRUE(Names(dir_ + "/images/refs").empty());
  // Pulled again when asked for.
  auto back = gc.Pull(Ref("team/b:1"), options_);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*ReadFile(back->root + "/etc/v"), "b1");
  c = gc.Collect(1, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(PathExists(back->root)) << "given out just now";

  ImageStore other(dir_ + "/images");
  ASSERT_TRUE(other.Open());
  auto refused = gc.Collect(0, {});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("another strake process"), std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace strake::images
