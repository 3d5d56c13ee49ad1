#include "model/merge.h"

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
