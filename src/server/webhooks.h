// Webhooks: POST /webhooks/{github,gitlab,gitea,generic}, a push tells
// strake to fetch the repository now instead of at its next poll.
//
// A delivery is matched to Repositories by the clone URLs in its payload,
// then verified against each one's webhook Secret (key "secret"):
//   github   X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body)
//   gitea    X-Gitea-Signature: HMAC-SHA256(secret, body) in hex
//   gitlab   X-Gitlab-Token: the secret itself
//   generic  X-Strake-Signature-256: sha256=HMAC-SHA256(secret, body);
//            body {"repository": {"url": ...}, "ref": ..., "after": ...}
// Comparisons take constant time. A Repository without a webhook secret
// accepts no delivery. A delivery id seen before (X-GitHub-Delivery,
// X-Gitea-Delivery, X-Gitlab-Event-UUID, X-Strake-Delivery) within the
// replay window is answered 200 and ignored: the ids are kept in the store
// (Store::MarkOnce), so a restart forgets none. The window covers a forge's
// own redeliveries (GitHub redelivers up to 3 days back); a replay after it
// costs a fetch. A delivery that cannot be recorded is forgotten again, so
// the forge's retry is not taken for a replay. A verified push is answered
// 202 at once; the fetch and the syncs it starts run on the controllers.
// Nothing of the payload reaches a command line or a script: git is asked
// what changed.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "server/http_server.h"
#include "store/store.h"

namespace strake::server {

struct WebhookDelivery {
  std::string forge;
  std::string event;
  std::string delivery_id;
  std::vector<store::Key> repositories;  // the ones it was verified for
  int status = 0;
  std::string message;
};

class Webhooks {
 public:
  // `push(repo)` queues a fetch of a Repository; `record(delivery)` is told
  // of every delivery (for the audit log) before it is answered.
  Webhooks(store::Store& store, const Clock& clock, std::function<void(const store::Key&)> push,
           std::function<Status(const WebhookDelivery&)> record = nullptr);

  Response Handle(const Request& req);

  static constexpr std::chrono::hours kReplayWindow{24 * 7};

  // Repository URLs compare without scheme case, credentials, trailing
  // slash or ".git".
  static std::string NormalizeUrl(const std::string& url);

  // The repository URLs a payload of `forge` names, normalised: github,
  // gitea and generic repository.{clone_url,ssh_url,html_url,git_url,url};
  // gitlab project.{git_http_url,git_ssh_url,web_url,http_url,ssh_url} and
  // repository.{git_http_url,git_ssh_url,homepage,url}. An error when the
  // body is not a JSON object or nests deeper than 64. Pure; the part of a
  // delivery that reads the payload before anything is verified.
  static Result<std::vector<std::string>> PayloadUrls(const std::string& forge,
                                                      const std::string& body);

 private:
  Response Answer(WebhookDelivery& d, int status, const std::string& message);
  // A verified delivery, from its duplicate check on.
  Response Act(WebhookDelivery& d);

  store::Store& store_;
  const Clock& clock_;
  std::function<void(const store::Key&)> push_;
  std::function<Status(const WebhookDelivery&)> record_;
};

}  // namespace strake::server
