// Debian's docker-registry on a free loopback port, in a temporary
// directory, with images pushed by tests/oci_push.py over the distribution
// API (no Docker): the registry of the images and delivery tests.
// Start() returns false (and the test should skip) when docker-registry is
// not installed; scripts/setup.sh installs it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "base/fs.h"
#include "base/net.h"

namespace strake::images {

class TestRegistry {
 public:
  TestRegistry() = default;
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;
  ~TestRegistry() {
    Stop();
    if (!dir_.empty()) (void)RemoveAll(dir_);
  }

  // The registry is gone from here on (its port refuses).
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  // With `user` and `password`: the registry asks for them (basic auth
  // from an htpasswd file), and Push gives them. With `tls`: it speaks
  // HTTPS only, with a self-signed certificate made here.
  bool Start(const std::string& user = "", const std::string& password = "", bool tls = false) {
    if (!PathExists("/usr/bin/docker-registry")) return false;
    user_ = user;
    password_ = password;
    tls_ = tls;
    auto dir = MakeTempDir("registry");
    EXPECT_TRUE(dir);
    dir_ = *dir;
    if (tls) {
      std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
          "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
          "-keyout " +
          dir_ + "/key.pem -out " + dir_ + "/cert.pem 2>/dev/null";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    auto l = ListenTcp("127.0.0.1", 0);
    EXPECT_TRUE(l);
    port_ = l->port;
    l->fd = Fd();  // the port is the registry's now
    std::ofstream(dir_ + "/config.yml")
        << "version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: " << dir_
        << "/data}\n  delete: {enabled: true}\nhttp: {addr: 127.0.0.1:" << port_
        << (tls ? ", tls: {certificate: " + dir_ + "/cert.pem, key: " + dir_ + "/key.pem}" : "")
        << "}\n"
        << (user.empty()
                ? ""
                : "auth:\n  htpasswd: {realm: strake-test, path: " + dir_ + "/htpasswd}\n");
    if (!user.empty()) {
      // bcrypt, as the registry wants it, from Python's crypt module.
      std::string cmd =
          "python3 -W ignore -c \"import crypt,sys; print(sys.argv[1] + ':' + "
          "crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))\" '" +
          user + "' '" + password + "' > " + dir_ + "/htpasswd";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    std::string config = dir_ + "/config.yml";
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl("/usr/bin/docker-registry", "docker-registry", "serve", config.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (ConnectTcp("127.0.0.1", port_, std::chrono::milliseconds(100))) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "docker-registry did not start";
    return true;
  }

  // "127.0.0.1:PORT".
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

  // Pushes an image as tests/oci_push.py's arguments say; its digest.
  std::string Push(const std::string& repo, const std::string& tag,
                   const std::string& args = "") const {
    std::string cmd = "python3 " STRAKE_SOURCE_DIR "/tests/oci_push.py " + host() + " " + repo +
                      " " + tag + " " + args;
    if (!user_.empty()) cmd += " --user '" + user_ + ":" + password_ + "'";
    if (tls_) cmd += " --tls";
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[256] = {};
    std::string out = p && fgets(buf, sizeof buf, p) ? std::string(buf) : "";
    EXPECT_EQ(p ? ::pclose(p) : -1, 0) << cmd;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

 private:
  std::string dir_;
  std::string user_, password_;
  bool tls_ = false;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace strake::images
