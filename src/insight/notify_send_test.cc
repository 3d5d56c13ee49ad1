#include "insight/notify_send.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "base/canned_server.h"
#include "base/net.h"
#include "base/sha256.h"

namespace strake::insight {
namespace {

using strake::testing::CannedServer;

const char* kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

Delivery Of(Json notification, const std::string& recipient = "") {
  Delivery d;
  d.id = "0123456789abcdef0123456789abcdef";
  d.trigger = "on-sync-succeeded";
  d.to = {"svc", recipient};
  d.notification = std::move(notification);
  return d;
}

EgressPolicy Loopback() { return EgressPolicy::Open(); }

TEST(NotificationSend, AWebhookGetsTheBodyItsTemplateGaveSignedWithItsDeliveryId) {
  CannedServer server([](const std::string&) { return kOk; });
  NotificationService s{"webhook",
                        "github",
                        {{"url", server.url("/api/")},
                         {"headers", Json::array({{{"name", "X-Team"}, {"value", "web"}}})},
                         {"basicAuth", {{"username", "u"}, {"password", "p"}}},
                         {"signingSecret", "k3y"}}};
  auto sender = MakeNotificationSender(Loopback());
  const std::string body = R"({"state": "success"})";
  Status st = sender->Send(
      s,
      Of({{"message", "m"},
          {"webhook", {{"method", "POST"}, {"path", "/repos/a/statuses/abc"}, {"body", body}}}}));
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(server.heads.size(), 1u);
  const std::string& req = server.heads[0];
  EXPECT_EQ(req.rfind("POST /api/repos/a/statuses/abc HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("X-Team: web\r\n"), std::string::npos);
  EXPECT_NE(req.find("Authorization: Basic dTpw\r\n"), std::string::npos);
  EXPECT_NE(req.find("X-Strake-Delivery: 0123456789abcdef0123456789abcdef\r\n"), std::string::npos);
  EXPECT_NE(req.find("X-Strake-Signature-256: sha256=" + HmacSha256Hex("k3y", body)),
            std::string::npos);
  EXPECT_TRUE(req.ends_with(body)) << req;
  // Without a webhook block: GET, the message as the body (Argo's default).
  ASSERT_TRUE(sender->Send(s, Of({{"message", "plain"}})));
  EXPECT_EQ(server.heads[1].rfind("GET /api/ HTTP/1.1", 0), 0u);
  EXPECT_TRUE(server.heads[1].ends_with("plain"));
}

TEST(NotificationSend, AnAnswerThatIsNot2xxFailsWithoutTheUrl) {
  CannedServer server([](const std::string&) {
    return "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  });
  NotificationService s{
      "webhook", "slack_webhook", {{"url", server.url("/services/T0/B0/SECRET")}}};
  Status st = MakeNotificationSender(Loopback())->Send(s, Of({{"message", "m"}}));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "webhook slack_webhook: the server answered 500");
  NotificationService down{"webhook", "down", {{"url", "http://127.0.0.1:1/services/SECRET"}}};
  Status refused = MakeNotificationSender(Loopback())->Send(down, Of({{"message", "m"}}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message.find("SECRET"), std::string::npos) << refused.error().message;
}

TEST(NotificationSend, SlackIsAFormPostOfChatPostMessage) {
  CannedServer server([](const std::string&) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
           "Connection: close\r\n\r\n{\"ok\":true}";
  });
  NotificationService s{
      "slack",
      "slack",
      {{"token", "xoxb-1"}, {"apiURL", server.url("/api/")}, {"icon", ":rocket:"}}};
  Status st = MakeNotificationSender(Loopback())
                  ->Send(s, Of({{"message", "Application guestbook synced & healthy"},
                                {"slack", {{"attachments", R"([{"title":"guestbook"}])"}}}},
                               "deploys"));
  ASSERT_TRUE(st) << st.error().message;
  const std::string& req = server.heads[0];
  EXPECT_EQ(req.rfind("POST /api/chat.postMessage HTTP/1.1", 0), 0u) << req;
  EXPECT_NE(req.find("Content-Type: application/x-www-form-urlencoded"), std::string::npos);
  EXPECT_NE(req.find("token=xoxb-1&channel=deploys&text=Application%20guestbook%20synced%20%26%20"
                     "healthy&attachments=%5B%7B%22title%22%3A%22guestbook%22%7D%5D&icon_emoji=%3A"
                     "rocket%3A"),
            std::string::npos)
      << req;
  CannedServer refusing([](const std::string&) {
    return "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nConnection: close\r\n\r\n"
           "{\"ok\":false,\"error\":\"channel_not_found\"}  ";
  });
  s.options["apiURL"] = refusing.url("/api/");
  Status no = MakeNotificationSender(Loopback())->Send(s, Of({{"message", "m"}}, "nope"));
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().message, "slack slack: chat.postMessage: channel_not_found");
}

TEST(NotificationSend, MattermostPostsJsonWithItsToken) {
  CannedServer server([](const std::string&) { return kOk; });
  NotificationService s{
      "mattermost", "mattermost", {{"apiURL", server.url("")}, {"token", "mm-token"}}};
  Status st =
      MakeNotificationSender(Loopback())
          ->Send(s, Of({{"message", "hi"}, {"mattermost", {{"attachments", "[{\"a\":1}]"}}}},
                       "chan-id"));
  ASSERT_TRUE(st) << st.error().message;
  const std::string& req = server.heads[0];
  EXPECT_EQ(req.rfind("POST /api/v4/posts HTTP/1.1", 0), 0u) << req;
  EXPECT_NE(req.find("Authorization: Bearer mm-token"), std::string::npos);
  const Json body = Json::parse(req.substr(req.find("\r\n\r\n") + 4));
  EXPECT_EQ(body, Json({{"channel_id", "chan-id"},
                        {"message", "hi"},
                        {"props", {{"attachments", Json::array({{{"a", 1}}})}}}}));
}

// An SMTP server of the test's own: one mail, its envelope and text kept.
class SmtpServer {
 public:
  SmtpServer() {
    auto l = ListenTcp("127.0.0.1", 0);
    EXPECT_TRUE(l) << l.error().message;
    port = l->port;
    thread_ = std::thread([this, l = std::move(*l)]() mutable { Serve(l.fd.get()); });
  }
  ~SmtpServer() { thread_.join(); }
  uint16_t port = 0;
  std::string transcript;  // what the client said

 private:
  void Serve(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    auto say = [&](const std::string& line) { (void)!::write(c, line.data(), line.size()); };
    say("220 test ESMTP\r\n");
    std::string in;
    char buf[4096];
    bool data = false;
    while (true) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      size_t end;
      while ((end = in.find(data ? "\r\n.\r\n" : "\r\n")) != std::string::npos) {
        std::string line = in.substr(0, end + (data ? 5 : 2));
        in.erase(0, line.size());
        transcript += line;
        if (data) {
          data = false;
          say("250 queued\r\n");
        } else if (line.starts_with("EHLO")) {
          say("250-test\r\n250 8BITMIME\r\n");
        } else if (line.starts_with("DATA")) {
          data = true;
          say("354 go on\r\n");
        } else if (line.starts_with("QUIT")) {
          say("221 bye\r\n");
          ::close(c);
          return;
        } else {
          say("250 ok\r\n");
        }
      }
    }
    ::close(c);
  }
  std::thread thread_;
};

TEST(NotificationSend, AnEmailGoesOverSmtpWithItsDeliveryIdAsMessageId) {
  SmtpServer smtp;
  NotificationService s{
      "email", "email", {{"host", "127.0.0.1"}, {"port", smtp.port}, {"from", "cd@example.com"}}};
  Status st =
      MakeNotificationSender(Loopback())
          ->Send(s, Of({{"message", "ignored"},
                        {"email", {{"subject", "Synced ✓"}, {"body", "line 1\n.line 2\n"}}}},
                       "a@example.com, b@example.com"));
  ASSERT_TRUE(st) << st.error().message;
  const std::string& t = smtp.transcript;
  EXPECT_NE(t.find("MAIL FROM:<cd@example.com>"), std::string::npos) << t;
  EXPECT_NE(t.find("RCPT TO:<a@example.com>"), std::string::npos);
  EXPECT_NE(t.find("RCPT TO:<b@example.com>"), std::string::npos);
  EXPECT_NE(t.find("Message-ID: <0123456789abcdef0123456789abcdef@strake>\r\n"), std::string::npos);
  EXPECT_NE(t.find("To: a@example.com, b@example.com\r\n"), std::string::npos);
  EXPECT_NE(t.find("Subject: =?UTF-8?B?" + Base64Encode("Synced ✓") + "?=\r\n"), std::string::npos);
  // The body in base64: no line too long, none that starts with a dot.
  EXPECT_NE(t.find("Content-Transfer-Encoding: base64\r\n\r\n" + Base64Encode("line 1\n.line 2\n") +
                   "\r\n"),
            std::string::npos)
      << t;
  // A recipient that would add an SMTP parameter is refused.
  Status bad =
      MakeNotificationSender(Loopback())->Send(s, Of({{"message", "m"}}, "a@x> NOTIFY=NEVER"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("is not an address"), std::string::npos);
}

}  // namespace
}  // namespace strake::insight
