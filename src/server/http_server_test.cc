#include "server/http_server.h"

#include <gtest/gtest.h>

namespace strake::server {
namespace {

TEST(ErrorResponse, EachCodeHasOneHttpStatus) {
  EXPECT_EQ(HttpStatusOf(ErrorCode::kInvalid), 400);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kForbidden), 403);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kConflict), 409);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kTooLarge), 413);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnknown), 500);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnknown, 409), 409);
}

TEST(ErrorResponse, TheBodyIsAKubernetesStatusWithTheCodesReason) {
  Response r = ErrorResponse(Error{"rollout \"web\" not found", ErrorCode::kNotFound});
  EXPECT_EQ(r.status, 404);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["reason"], "NotFound");
  EXPECT_EQ(j["message"], "rollout \"web\" not found");
  EXPECT_EQ(ErrorResponse(Error{"moved"}, 409).status, 409);
}

}  // namespace
}  // namespace strake::server
