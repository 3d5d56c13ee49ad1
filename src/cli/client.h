// How the CLI's verbs reach strake's API (server/api.h).
//
// The server is --server, else $STRAKE_SERVER, else the one `strake serve`
// runs on the data directory (it records its address there while it runs:
// DATA_DIR/server.json). With none of those, a verb on a kind that
// `strake run` writes to the data directory (Tekton's) is answered from the
// data directory itself, by the API's own code in this process (LocalApi,
// which app/ wires: server::Api over the data directory's store), so that
// `-n`, `-o` and every error mean what they mean from a server; every other
// verb asks http://127.0.0.1:7300.
//
// An API error comes back as an Error whose code is the answer's status
// (404: kNotFound, 409: kConflict...), with the server's message. Not
// thread-safe; one Client per command.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "model/kinds.h"

namespace strake::cli {

using Json = nlohmann::ordered_json;

inline constexpr const char* kDefaultServer = "http://127.0.0.1:7300";

struct Answer {
  int status = 0;
  Json body;               // the body as JSON (discarded when it is not)
  std::string text;        // the body as sent
  bool unchanged = false;  // a write that changed nothing (Strake-Result: unchanged)
};

// The API answering in this process, over a data directory with no server
// on it. app/ makes it (server::Api over the directory's store); the CLI
// itself knows neither.
class LocalApi {
 public:
  virtual ~LocalApi() = default;
  // One request as the server would answer it (any status; `body` is left
  // for the Client to parse).
  virtual Result<Answer> Call(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type) = 0;
};
// Opens the API of a data directory (made if missing).
using LocalApiFactory =
    std::function<Result<std::unique_ptr<LocalApi>>(const std::string& data_dir)>;

// What every verb may be told: the data directory (strake's global
// --data-dir) and the flags of the verbs that talk to the API.
struct Context {
  std::string data_dir;
  std::string server;
  std::string ns = "default";
  std::string output = "text";
  std::string token;
  std::string ca_cert;  // an https server's CA (PEM); default $STRAKE_CA_CERT, else the system's
  bool insecure = false;
  LocalApiFactory local_api;  // null: no verb is answered in process
};

// --server, --token, --ca-cert and --insecure-skip-tls-verify on `c`.
void AddServerFlags(CLI::App* c, Context& ctx);
// Those and -n/--namespace.
void AddApiFlags(CLI::App* c, Context& ctx);

// Where a verb goes when nothing names a server and none runs on the data
// directory.
enum class NoServer {
  kDefaultAddress,  // http://127.0.0.1:7300
  kDataDirectory,   // the data directory, in process
};

class Client {
 public:
  Client(const Context& ctx, NoServer none);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request; an answer of 400 or more is an Error with its code.
  Result<Answer> Call(const std::string& method, const std::string& path,
                      const std::string& body = "",
                      const std::string& content_type = "application/json");
  // The server asked ("" when the data directory answers).
  const std::string& server() const { return server_; }

 private:
  Result<Answer> Remote(const std::string& method, const std::string& path, const std::string& body,
                        const std::string& content_type);
  Result<Answer> InProcess(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type);

  std::string server_;
  std::string data_dir_;  // when it answers
  std::string token_;
  std::string ca_cert_;
  bool insecure_ = false;
  LocalApiFactory local_api_;
  std::unique_ptr<LocalApi> api_;
};

// Where NoServer sends a verb on kind `k`: the data directory for the kinds
// `strake run` writes (Tekton's), the default address for the others.
NoServer NoServerFor(const model::KindInfo& k);

// The error code of an API answer's status (and reason, which tells
// AlreadyExists from Conflict).
ErrorCode CodeOfStatus(int status, std::string_view reason);

// The kind the API serves by this name (kind, plural or short name, any
// case), or an error with a did-you-mean.
Result<const model::KindInfo*> ServedKind(std::string_view name);
// Learns the custom kinds the server's CustomResourceDefinitions define
// (model::SetCustomKinds); false when it has none or cannot be asked.
bool LearnCustomKinds(const Context& ctx);
// The API path of a kind's collection in `ns`: /apis/GROUP/VERSION/namespaces/NS/PLURAL.
std::string Collection(const model::KindInfo& k, const std::string& ns);

// The address `strake serve` records in its data directory while it runs,
// for the CLI on the same data directory to find it; removed when it stops.
Status RecordServer(const std::string& data_dir, const std::string& url);
void ForgetServer(const std::string& data_dir);
// The recorded server's address, "" if none is recorded or its process is gone.
std::string RecordedServer(const std::string& data_dir);

}  // namespace strake::cli
