#include "model/merge.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace strake::model {
namespace {

Json J(const char* text) { return Json::parse(text); }

TEST(MergeTest, MergePatchFollowsRfc7386) {
  // The RFC's own example (section 3).
  Json target = J(R"({"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},
                      "tags":["example","sample"],"content":"This will be unchanged"})");
  Json patch = J(R"({"title":"Hello!","phoneNumber":"+01-123-456-7890",
                     "author":{"familyName":null},"tags":["example"]})");
  Json want = J(R"({"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
                    "content":"This will be unchanged","phoneNumber":"+01-123-456-7890"})");
  EXPECT_EQ(MergePatch(target, patch), want);
}

TEST(MergeTest, JsonPatchAppliesEveryOperationOrNamesTheOneThatFailed) {
  Json target = J(R"({"spec":{"replicas":1,"ports":[{"port":80}]}})");
  auto ok = JsonPatch(target, J(R"([{"op":"replace","path":"/spec/replicas","value":3},
                                    {"op":"add","path":"/spec/ports/-","value":{"port":81}},
                                    {"op":"test","path":"/spec/replicas","value":3}])"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, J(R"({"spec":{"replicas":3,"ports":[{"port":80},{"port":81}]}})"));

  auto bad = JsonPatch(target, J(R"([{"op":"replace","path":"/spec/replicas","value":3},
                                     {"op":"remove","path":"/spec/missing"}])"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("[1] remove /spec/missing"), std::string::npos)
      << bad.error().message;
  auto failed_test = JsonPatch(target, J(R"([{"op":"test","path":"/spec/replicas","value":2}])"));
  EXPECT_FALSE(failed_test);
  EXPECT_FALSE(JsonPatch(target, J(R"({"op":"add"})")));
  EXPECT_FALSE(JsonPatch(target, J(R"([{"path":"/a"}])")));
}

// Found by fuzz/fuzz_kustomize: an "add" or "copy" under a string tripped
// an assertion in nlohmann (a release build silently did nothing). RFC
// 6902 makes it an error, named with its operation.
TEST(MergeTest, JsonPatchThatAddsUnderAScalarIsAnError) {
  Json target = J(R"({"data":"text","list":[1]})");
  for (const char* op : {R"([{"op":"add","path":"/data/k","value":1}])",
                         R"([{"op":"copy","from":"/list","path":"/data/k"}])",
                         R"([{"op":"move","from":"/list","path":"/data/k"}])",
                         R"([{"op":"add","path":"/list/0/k","value":1}])"}) {
    auto got = JsonPatch(target, J(op));
    ASSERT_FALSE(got) << op;
    EXPECT_EQ(got.error().code, ErrorCode::kInvalid);
    EXPECT_NE(got.error().message.find("its parent is not an object or an array"),
              std::string::npos)
        << got.error().message;
  }
  auto whole = JsonPatch(target, J(R"([{"op":"add","path":"","value":"x"}])"));
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_EQ(*whole, "x");
}

// Kubernetes' CVE-2019-1002100: each "copy" of the object into itself
// doubles it; 40 of them (2 KB of patch) asked for 6 GB. The limit is found
// before the copy that would pass it, so memory stays bounded.
TEST(MergeTest, JsonPatchThatDoublesTheObjectIsRefusedBeforeItGrows) {
  Json target = {{"d", {{"x", std::string(1000, 'x')}}}};
  Json patch = Json::array();
  for (int i = 0; i < 40; ++i) {
    patch.push_back({{"op", "copy"}, {"from", "/d"}, {"path", fmt::format("/d/k{}", i)}});
  }
  EXPECT_LT(patch.dump().size(), 2500u);
  auto got = JsonPatch(target, patch);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(got.error().message.find("copy /d/k"), std::string::npos) << got.error().message;
  EXPECT_NE(got.error().message.find(fmt::format("over the limit of {} bytes", kMaxObjectBytes)),
            std::string::npos)
      << got.error().message;
  // Adding a large value repeatedly is found the same way.
  Json adds = Json::array();
  for (int i = 0; i < 8; ++i) {
    adds.push_back({{"op", "add"},
                    {"path", fmt::format("/a{}", i)},
                    {"value", std::string(kMaxObjectBytes / 4, 'v')}});
  }
  auto added = JsonPatch(Json::object(), adds);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(added.error().message.find("[3] add /a3"), std::string::npos) << added.error().message;
}

TEST(MergeTest, JsonPatchHasAnOperationLimitAndTenThousandStayFast) {
  Json target = {{"spec", {{"replicas", 1}, {"big", std::string(1 << 20, 'b')}}}};
  Json patch = Json::array();
  for (size_t i = 0; i < kMaxPatchOperations; ++i) {
    patch.push_back({{"op", "replace"}, {"path", "/spec/replicas"}, {"value", i}});
  }
  // In place and with the size tracked per operation: 10,000 operations on
  // a 1 MiB object do not copy or serialize it 10,000 times.
  auto ok = JsonPatch(target, patch);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ((*ok)["spec"]["replicas"], kMaxPatchOperations - 1);
  // Replacing the same key over and over is not counted as growth.
  Json same = Json::array();
  for (int i = 0; i < 100; ++i) {
    same.push_back({{"op", "add"}, {"path", "/spec/big"}, {"value", std::string(1 << 20, 'c')}});
  }
  auto replaced = JsonPatch(target, same);
  EXPECT_TRUE(replaced) << replaced.error().message;
  patch.push_back({{"op", "test"}, {"path", "/spec/replicas"}, {"value", 0}});
  auto over = JsonPatch(target, patch);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(over.error().message, "10001 operations, over the limit of 10000");
}

TEST(MergeTest, ObjectSizeIsEstimatedCloseToItsSerializedLength) {
  Json j =
      J(R"({"a":[1,-20,3.5,true,false,null,"str"],"b":{"c":{}},"d":[],"e":18446744073709551615})");
  size_t want = j.dump().size();
  EXPECT_LE(ApproxJsonSize(j), want + 24);
  EXPECT_GE(ApproxJsonSize(j), want);
  EXPECT_TRUE(CheckObjectSize(j, "x"));
  Json big = {{"data", std::string(kMaxObjectBytes, 'z')}};
  auto refused = CheckObjectSize(big, "configmap c");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(refused.error().message.rfind("configmap c is about ", 0), 0u);
}

TEST(MergeTest, ApplyKeepsWhatOthersSetAndDropsWhatItNoLongerSets) {
  Json last = J(R"({"metadata":{"labels":{"app":"web","tier":"front"}},
                    "spec":{"replicas":2,"template":{"image":"v1"}}})");
  // Someone else added an annotation and a field since.
  Json live = J(R"({"metadata":{"labels":{"app":"web","tier":"front"},"annotations":{"x":"y"}},
                    "spec":{"replicas":2,"template":{"image":"v1"},"paused":true}})");
  Json applied = J(R"({"metadata":{"labels":{"app":"web"}},
                       "spec":{"template":{"image":"v2"}}})");
  Json got = ThreeWayApply(live, last, applied);
  EXPECT_EQ(got, J(R"({"metadata":{"labels":{"app":"web"},"annotations":{"x":"y"}},
                       "spec":{"template":{"image":"v2"},"paused":true}})"))
      << got.dump();
}

TEST(MergeTest, ApplyWithNoHistoryMergesAndListsReplace) {
  Json live = J(R"({"spec":{"ports":[{"port":80},{"port":81}],"keep":1}})");
  Json applied = J(R"({"spec":{"ports":[{"port":90}]}})");
  EXPECT_EQ(ThreeWayApply(live, nullptr, applied),
            J(R"({"spec":{"ports":[{"port":90}],"keep":1}})"));
  // A field applied before as an object and now as a scalar is replaced.
  EXPECT_EQ(ThreeWayApply(J(R"({"a":{"b":1}})"), J(R"({"a":{"b":1}})"), J(R"({"a":2})")),
            J(R"({"a":2})"));
  EXPECT_EQ(ThreeWayApply(nullptr, nullptr, J(R"({"a":1})")), J(R"({"a":1})"));
}

TEST(MergeTest, LastAppliedIsReadFromTheAnnotation) {
  Json obj = {{"metadata", {{"annotations", {{kLastApplied, R"({"spec":{"a":1}})"}}}}}};
  EXPECT_EQ(LastApplied(obj), J(R"({"spec":{"a":1}})"));
  EXPECT_TRUE(LastApplied(J(R"({"metadata":{}})")).is_null());
  Json garbled = {{"metadata", {{"annotations", {{kLastApplied, "{not json"}}}}}};
  EXPECT_TRUE(LastApplied(garbled).is_null());
}

}  // namespace
}  // namespace strake::model
