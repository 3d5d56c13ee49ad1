// Who may do what: API tokens and role-based access, deny by default.
//
// A token is "strk_<id>_<secret>": a 64-bit id and a 192-bit secret from
// OpenSSL's generator. It is shown once, when created; the server keeps
// only the secret's SHA-256 (as an ApiToken record in the store, which the
// resource API does not serve), its role, namespace, expiry and whether it
// was revoked. Requests carry it as "Authorization: Bearer <token>".
//
// Roles, each a superset of the one before:
//   viewer    read: get, list, watch, events, logs, diffs
//   deployer  and write: apply, patch, delete; and act: promote, abort,
//             retry, undo, sync, rollback
//   (approve and reject a Promotion: any role; the step's approver rules
//   decide whose response counts)
//   admin     and tokens and the audit log, and a Kargo ProjectConfig's
//             writes (its promotion windows and policies)
// A token with a namespace reaches only paths in that namespace (the event
// log is filtered to it). Public, by design: GET /healthz, GET /metrics
// (Prometheus scrapes it) and POST /webhooks/* (authenticated by their
// signatures).
//
// The Gate in front of the API authenticates, authorises, records every
// change in the audit log (its intent before it is made, refusing it if that
// cannot be written; its entry once it is made: a refused change has none),
// and serves the token and audit endpoints:
//   POST   /apis/strake.dev/v1/tokens   {"role","namespace","expires":"30d","description",
//                                         "user","claims":{"groups":["leads"]}}
//   GET    /apis/strake.dev/v1/tokens
//   DELETE /apis/strake.dev/v1/tokens/ID
//   GET    /apis/strake.dev/v1/audit?since=RFC3339|UNIX_MS&limit=N
//   GET    /apis/strake.dev/v1/audit/verify
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/duration.h"
#include "server/audit.h"
#include "server/http_server.h"
#include "store/store.h"

namespace strake::server {

enum class Role { kViewer = 0, kDeployer = 1, kAdmin = 2 };
const char* RoleName(Role r);
std::optional<Role> ParseRole(const std::string& name);

// Who a token speaks for. `user` and `claims` are set when the token is made
// ({"user": "alice", "claims": {"groups": ["platform-leads"]}}): approvals
// count users, and approver rules match claims (delivery/approval.h).
struct Principal {
  std::string token_id;
  Role role = Role::kViewer;
  std::string ns;    // "" = every namespace
  std::string user;  // "" = the token itself
  store::Json claims = store::Json::object();
  std::string Name() const;
  // The user, else "token:<id>": one identity per person who has a user.
  std::string Identity() const;
  store::Json ToJson() const;
};

// The Gate tells the API who asked in this header (one it removes from
// every request it is sent first, so a client cannot claim to be anyone).
inline constexpr const char* kPrincipalHeader = "X-Strake-Principal";
// The principal the Gate put on `req`, or nullopt (not through the Gate).
std::optional<Principal> PrincipalOf(const Request& req);

// What a request needs.
enum class Need { kPublic, kRead, kWrite, kAdmin };
Need Classify(const Request& req);
// `path` with its empty segments left out ("//a//b/" is "/a/b"), as the
// API routes it; a "." or ".." segment is an error.
Result<std::string> CanonicalPath(const std::string& path);
// The namespace a path names ("" if none).
std::string NamespaceOf(const std::string& path);
// Whether `p` may make a request that needs `need` in namespace `ns`.
bool Allows(const Principal& p, Need need, const std::string& ns, const std::string& path);

class Tokens {
 public:
  Tokens(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  struct Created {
    std::string id;
    std::string token;  // shown once
    store::Json record;
  };
  // `spec` adds to the record's spec (in the same write).
  Result<Created> Create(Role role, const std::string& ns, Millis expires,
                         const std::string& description, const std::string& by,
                         const store::Json& spec = store::Json::object());
  // The first admin token, if the store has no token that anyone was shown
  // (else nullopt). A first token never marked Shown (the server was killed
  // between making it and printing it) is revoked and replaced: the one
  // way into a new data directory is never lost.
  Result<std::optional<Created>> Bootstrap();
  // The first admin token reached its reader (printed and flushed).
  Status Shown(const std::string& id);
  Result<Principal> Authenticate(const std::string& authorization) const;
  Result<store::Json> List() const;
  Status Revoke(const std::string& id);

 private:
  // Changes a token's spec, again on a conflict.
  Status UpdateSpec(const std::string& id, const std::function<bool(store::Json&)>& change);

  store::Store& store_;
  const Clock& clock_;
};

class Gate {
 public:
  Gate(Tokens& tokens, AuditLog& audit, std::function<Response(const Request&)> api)
      : tokens_(tokens), audit_(audit), api_(std::move(api)) {}
  Response Handle(const Request& req);

 private:
  // The request of an authenticated caller: authorise, audit, answer.
  Response HandleAs(const Request& req, Need need, const Principal& principal);
  Response Dispatch(const Request& req, const Principal& who);
  Response TokenRequest(const Request& req, const Principal& p);
  Response AuditRequest(const Request& req);
  Tokens& tokens_;
  AuditLog& audit_;
  std::function<Response(const Request&)> api_;
};

}  // namespace strake::server
