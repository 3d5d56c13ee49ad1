#include "router/exchange.h"

#include <gtest/gtest.h>

#include <string>

namespace strake::router {
namespace {

// Parsed heads keep views into their text: the text lives in the test.
http::Head Request(const std::string& text) {
  http::Head h;
  auto n = http::ParseRequestHead(text, h);
  EXPECT_TRUE(n && *n == text.size()) << text;
  return h;
}

http::Head Response(const std::string& text) {
  http::Head h;
  auto n = http::ParseResponseHead(text, h);
  EXPECT_TRUE(n && *n == text.size()) << text;
  return h;
}

const SteadyTime kNow = SteadyTime{} + std::chrono::seconds(7);

TEST(ExchangeTest, ABodylessRequestIsCompleteAndMayBeRetried) {
  std::string text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  RequestState req;
  req.Begin(Request(text), kNow);
  EXPECT_EQ(req.method, "GET");
  EXPECT_TRUE(req.body.done());
  EXPECT_TRUE(req.retriable);
  EXPECT_TRUE(req.keep_alive);
  EXPECT_EQ(req.start, kNow);
  EXPECT_FALSE(req.mirroring());
}

TEST(ExchangeTest, ARequestBodyTakesExactlyItsLength) {
  std::string text = "POST / HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n";
  RequestState req;
  req.Begin(Request(text), kNow);
  EXPECT_FALSE(req.retriable);
  EXPECT_FALSE(req.keep_alive);
  EXPECT_EQ(req.body.kind(), BodyFraming::Kind::kLength);
  EXPECT_EQ(*req.body.Take("abc"), 3u);
  EXPECT_FALSE(req.body.done());
  EXPECT_EQ(*req.body.Take("deGET /next"), 2u);  // the rest is the next request's
  EXPECT_TRUE(req.body.done());
}

TEST(ExchangeTest, AChunkedRequestBodyEndsAtItsLastChunkOrIsRefused) {
  std::string text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  RequestState req;
  req.Begin(Request(text), kNow);
  EXPECT_EQ(req.body.kind(), BodyFraming::Kind::kChunked);
  EXPECT_EQ(*req.body.Take("3\r\nabc\r\n"), 8u);
  EXPECT_FALSE(req.body.done());
  EXPECT_EQ(*req.body.Take("0\r\n\r\nGET"), 5u);
  EXPECT_TRUE(req.body.done());

  req.Begin(Request(text), kNow);  // a new request starts a new scan
  EXPECT_FALSE(req.body.done());
  EXPECT_FALSE(req.body.Take("zz\r\n"));
}

TEST(ExchangeTest, ResetForgetsTheRequestButKeepsItsBuffers) {
  std::string text = "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n";
  RequestState req;
  req.Begin(Request(text), kNow);
  req.mirror_backend = 1;
  req.mirror_copy = std::string(1000, 'm');
  req.Reset();
  EXPECT_FALSE(req.mirroring());
  EXPECT_TRUE(req.mirror_copy.empty());
  EXPECT_GE(req.mirror_copy.capacity(), 1000u);
  EXPECT_FALSE(req.retriable);
}

TEST(ExchangeTest, InterimHeadsPassAndTheFinalHeadSetsTheFraming) {
  std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  ResponseState resp;
  EXPECT_EQ(resp.Begin(Response(cont), "POST"), ResponseState::Head::kInterim);
  EXPECT_FALSE(resp.head_done);
  EXPECT_FALSE(resp.done());
  EXPECT_EQ(resp.Begin(Response(ok), "POST"), ResponseState::Head::kFinal);
  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.keep_alive);
  EXPECT_FALSE(resp.done());
  EXPECT_EQ(*resp.body.Take("okHTTP"), 2u);
  EXPECT_TRUE(resp.done());
}

TEST(ExchangeTest, SomeResponsesHaveNoBodyWhateverTheirHeadersSay) {
  std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
  std::string not_modified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
  ResponseState resp;
  resp.Begin(Response(ok), "HEAD");
  EXPECT_TRUE(resp.done());
  resp = ResponseState{};
  resp.Begin(Response(not_modified), "GET");
  EXPECT_TRUE(resp.done());
  resp = ResponseState{};
  resp.Begin(Response(ok), "GET");
  EXPECT_FALSE(resp.done());
}

TEST(ExchangeTest, SwitchingProtocolsMakesATunnel) {
  std::string text =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\n";
  ResponseState resp;
  EXPECT_EQ(resp.Begin(Response(text), "GET"), ResponseState::Head::kUpgrade);
  EXPECT_TRUE(resp.head_done);
  EXPECT_EQ(resp.status, 101);
}

TEST(ExchangeTest, ABodyUntilEofEndsWithTheConnectionAndALengthIsCutShort) {
  std::string until_eof = "HTTP/1.1 200 OK\r\n\r\n";
  ResponseState resp;
  resp.Begin(Response(until_eof), "GET");
  EXPECT_EQ(resp.body.kind(), BodyFraming::Kind::kUntilEof);
  EXPECT_FALSE(resp.keep_alive);  // the connection's end is the body's
  EXPECT_EQ(*resp.body.Take("all of it"), 9u);
  EXPECT_FALSE(resp.done());
  EXPECT_TRUE(resp.body.EndOfStream());
  EXPECT_TRUE(resp.done());

  std::string length = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
  resp = ResponseState{};
  resp.Begin(Response(length), "GET");
  EXPECT_EQ(*resp.body.Take("ab"), 2u);
  EXPECT_FALSE(resp.body.EndOfStream());  // truncated
  EXPECT_FALSE(resp.done());
}

TEST(ExchangeTest, ConnectionsAreKeptOnlyWhenBothSidesAgreeAndTheRequestIsWhole) {
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  std::string get_close = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
  std::string post = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
  std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  std::string ok_close = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  RequestState req;
  ResponseState resp;
  req.Begin(Request(get), kNow);
  resp.Begin(Response(ok), "GET");
  EXPECT_TRUE(KeepClient(req, resp));
  EXPECT_TRUE(KeepUpstream(req, resp));

  req.Begin(Request(get_close), kNow);
  EXPECT_FALSE(KeepClient(req, resp));
  EXPECT_TRUE(KeepUpstream(req, resp));  // the client's wish is not the upstream's

  req.Begin(Request(get), kNow);
  resp = ResponseState{};
  resp.Begin(Response(ok_close), "GET");
  EXPECT_FALSE(KeepClient(req, resp));
  EXPECT_FALSE(KeepUpstream(req, resp));

  // An early answer to a request whose body is still coming: neither
  // connection knows where the next message starts.
  req.Begin(Request(post), kNow);
  resp = ResponseState{};
  resp.Begin(Response(ok), "POST");
  EXPECT_FALSE(KeepClient(req, resp));
  EXPECT_FALSE(KeepUpstream(req, resp));
}

}  // namespace
}  // namespace strake::router
