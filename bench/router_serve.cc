// Runs the embedded router alone for load tests against HAProxy and nginx:
//   router_serve LISTEN_PORT STABLE_PORT STABLE_WEIGHT CANARY_PORT CANARY_WEIGHT [WORKERS]
// Routes 127.0.0.1:LISTEN_PORT by exact weights to two backends and serves
// until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "router/router.h"

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: router_serve LISTEN STABLE_PORT WS CANARY_PORT WC [WORKERS]\n");
    return 2;
  }
  auto num = [&](int i) { return static_cast<uint32_t>(std::strtoul(argv[i], nullptr, 10)); };
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  strake::router::RouterOptions opt;
  if (argc > 6) opt.workers = static_cast<int>(num(6));
  strake::router::Router router(opt);
  if (auto st = router.Start(); !st) {
    std::fprintf(stderr, "%s\n", st.error().message.c_str());
    return 1;
  }
  strake::router::RouteTable t;
  t.backends.push_back({"stable", num(3), {static_cast<uint16_t>(num(2))}});
  t.backends.push_back({"canary", num(5), {static_cast<uint16_t>(num(4))}});
  auto port = router.AddService("bench", "127.0.0.1", static_cast<uint16_t>(num(1)), t);
  if (!port) {
    std::fprintf(stderr, "%s\n", port.error().message.c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", *port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  std::string text = router.PrometheusText();
  std::fputs(text.c_str(), stderr);
  return 0;
}
