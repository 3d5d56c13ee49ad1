#include "app/local_api.h"

#include "base/fs.h"
#include "server/api.h"
#include "store/sqlite_store.h"

namespace strake::app {

namespace {

class StoreApi : public cli::LocalApi {
 public:
  explicit StoreApi(std::unique_ptr<store::Store> store)
      : store_(std::move(store)), api_(*store_) {}

  Result<cli::Answer> Call(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type) override {
    server::Request req = server::MakeRequest(method, path);
    req.body = body;
    if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
    server::Response resp = api_.Handle(req);
    if (resp.stream) return Failf("{} {}: a stream needs a server", method, path);
    cli::Answer answer;
    answer.status = resp.status;
    answer.text = std::move(resp.body);
    for (const auto& [name, value] : resp.headers)
      answer.unchanged = answer.unchanged || (name == "Strake-Result" && value == "unchanged");
    return answer;
  }

 private:
  std::unique_ptr<store::Store> store_;
  server::Api api_;
};

}  // namespace

Result<std::unique_ptr<cli::LocalApi>> OpenLocalApi(const std::string& data_dir) {
  STRAKE_TRY(MakeDirs(data_dir, 0700));
  STRAKE_TRY_ASSIGN(store, store::OpenSqliteStore(PathJoin(data_dir, "strake.db")));
  return std::unique_ptr<cli::LocalApi>(std::make_unique<StoreApi>(std::move(store)));
}

}  // namespace strake::app
