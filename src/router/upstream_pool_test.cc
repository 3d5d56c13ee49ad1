#include "router/upstream_pool.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "base/fd.h"
#include "base/net.h"

namespace strake::router {
namespace {

// A connected pair: the pool holds `ours`, the test plays the upstream.
struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ours = fds[0];
    theirs = Fd(fds[1]);
  }
  int ours = -1;
  Fd theirs;
};

TEST(UpstreamPoolTest, AnIdleConnectionIsHandedOutOnceForItsPort) {
  UpstreamPool pool;
  EXPECT_EQ(pool.Take(8080), -1);
  Pair p;
  ASSERT_TRUE(pool.Put(8080, p.ours));
  EXPECT_EQ(pool.Idle(8080), 1u);
  EXPECT_EQ(pool.Take(9090), -1);  // another port's
  EXPECT_EQ(pool.Take(8080), p.ours);
  EXPECT_EQ(pool.Take(8080), -1);
  ::close(p.ours);
}

TEST(UpstreamPoolTest, AConnectionTheUpstreamClosedOrSpokeOnIsDropped) {
  UpstreamPool pool;
  Pair good, closed, chatty;
  ASSERT_TRUE(pool.Put(8080, good.ours));
  ASSERT_TRUE(pool.Put(8080, closed.ours));
  ASSERT_TRUE(pool.Put(8080, chatty.ours));
  closed.theirs = Fd();
  ASSERT_EQ(::send(chatty.theirs.get(), "x", 1, 0), 1);
  // The newest first: both bad ones are closed on the way to the good one.
  EXPECT_EQ(pool.Take(8080), good.ours);
  EXPECT_EQ(pool.Idle(8080), 0u);
  char c;
  // The pool closed its end (a reset, as our byte was left unread).
  EXPECT_LE(::recv(chatty.theirs.get(), &c, 1, 0), 0);
  ::close(good.ours);
}

TEST(UpstreamPoolTest, APortKeepsAtMostItsShare) {
  UpstreamPool pool;
  std::vector<Pair> pairs(kMaxPooledPerPort + 1);
  for (size_t i = 0; i < kMaxPooledPerPort; ++i) ASSERT_TRUE(pool.Put(1, pairs[i].ours));
  EXPECT_FALSE(pool.Put(1, pairs.back().ours));  // still the caller's to close
  ::close(pairs.back().ours);
  EXPECT_TRUE(pool.Put(2, Pair().ours));  // other ports are not affected
  EXPECT_EQ(pool.Idle(1), kMaxPooledPerPort);
}  // the pool closes what it holds

TEST(UpstreamPoolTest, ConnectLoopbackReachesAListenerOrSaysWhyNot) {
  auto l = ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(l);
  auto d = ConnectLoopback(l->port);
  ASSERT_TRUE(d) << d.error().message;
  pollfd p{d->fd, POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  int err = -1;
  socklen_t len = sizeof err;
  ::getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  EXPECT_EQ(err, 0);
  ::close(d->fd);

  uint16_t dead = l->port;
  l->fd = Fd();  // nothing listens there now
  auto refused = ConnectLoopback(dead);
  if (refused) {  // the refusal arrives with the connect's completion
    pollfd q{refused->fd, POLLOUT, 0};
    ASSERT_EQ(::poll(&q, 1, 2000), 1);
    ::getsockopt(refused->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    EXPECT_EQ(err, ECONNREFUSED);
    ::close(refused->fd);
  } else {
    EXPECT_EQ(refused.error().message, std::strerror(ECONNREFUSED));
  }
}

}  // namespace
}  // namespace strake::router
