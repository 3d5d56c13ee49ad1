#include "cli/jsonpath.h"

#include <gtest/gtest.h>

namespace strake::cli {
namespace {

using Json = JsonPath::Json;

// The example document of kubernetes.io/docs/reference/kubectl/jsonpath/.
const Json kDoc = Json::parse(R"({
  "kind": "List",
  "items": [
    {"kind": "None", "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
     "status": {"capacity": {"cpu": "4"},
                "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}]}},
    {"kind": "None", "metadata": {"name": "127.0.0.2"},
     "status": {"capacity": {"cpu": "8"},
                "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.2"},
                              {"type": "another", "address": "127.0.0.3"}]}}
  ],
  "users": [{"name": "myself", "user": {}},
            {"name": "e2e", "user": {"username": "admin", "password": "secret"}}]
})");

std::string Eval(const std::string& tmpl, const Json& doc = kDoc) {
  auto p = JsonPath::Parse(tmpl);
  if (!p) return "ERROR " + p.error().message;
  return p->Execute(doc);
}

// Every row of the table in Kubernetes' jsonpath reference.
TEST(JsonPathTest, TheReferenceTableOfKubectlsDocs) {
  EXPECT_EQ(Eval("{.kind}"), "List");
  EXPECT_EQ(Eval("{$.kind}"), "List");
  EXPECT_EQ(Eval("{.items[0].metadata.name}"), "127.0.0.1");
  EXPECT_EQ(Eval("{.items[*].metadata.name}"), "127.0.0.1 127.0.0.2");
  EXPECT_EQ(Eval("{..name}"), "127.0.0.1 127.0.0.2 myself e2e");
  EXPECT_EQ(Eval("{.items[-1:].metadata.name}"), "127.0.0.2");
  EXPECT_EQ(Eval("{.users[0].name}{.users[1].name}"), "myselfe2e");
  EXPECT_EQ(Eval("{.users[?(@.name==\"e2e\")].user.password}"), "secret");
  EXPECT_EQ(Eval("{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}"),
            "[127.0.0.1, {\"cpu\":\"4\"}] [127.0.0.2, {\"cpu\":\"8\"}] ");
  EXPECT_EQ(Eval("{.items[0].metadata.labels.kubernetes\\.io/hostname}"), "127.0.0.1");
  EXPECT_EQ(Eval("{.items[0].metadata.labels['kubernetes.io/hostname']}"), "127.0.0.1");
  EXPECT_EQ(Eval("{range .items[*]}{.metadata.name}{\"\\t\"}{end}"), "127.0.0.1\t127.0.0.2\t");
}

TEST(JsonPathTest, SlicesUnionsFiltersAndWildcards) {
  Json doc = Json::parse(R"({"a": [0, 1, 2, 3, 4], "o": {"x": 1, "y": "two"},
    "c": [{"type": "Ready", "status": "True", "n": 3}, {"type": "Synced", "status": "False", "n": 5}]})");
  EXPECT_EQ(Eval("{.a[1:3]}", doc), "1 2");
  EXPECT_EQ(Eval("{.a[::2]}", doc), "0 2 4");
  EXPECT_EQ(Eval("{.a[1::9223372036854775807]}", doc), "1");
  EXPECT_EQ(Eval("{.a[0,4]}", doc), "0 4");
  EXPECT_EQ(Eval("{.a[-2]}", doc), "3");
  EXPECT_EQ(Eval("{.a[9]}", doc), "");
  EXPECT_EQ(Eval("{.o.*}", doc), "1 two");
  EXPECT_EQ(Eval("{.o['x','y']}", doc), "1 two");
  EXPECT_EQ(Eval("{.c[?(@.n > 4)].type}", doc), "Synced");
  EXPECT_EQ(Eval("{.c[?(@.status != 'True')].type}", doc), "Synced");
  EXPECT_EQ(Eval("{.c[?(@.n)].type}", doc), "Ready Synced");
  EXPECT_EQ(Eval("{.c[?(@.missing)].type}", doc), "");
  EXPECT_EQ(Eval("{.o}", doc), R"({"x":1,"y":"two"})");
  EXPECT_EQ(Eval("{metadata.name}", Json::parse(R"({"metadata":{"name":"web"}})")), "web");
  EXPECT_EQ(Eval("name: {.metadata.name}\n", Json::parse(R"({"metadata":{"name":"web"}})")),
            "name: web\n");
  EXPECT_EQ(Eval("{.missing.deeper}", doc), "") << "a missing key prints nothing, as kubectl";
}

TEST(JsonPathTest, MistakesAreRefusedWithWhatIsWrong) {
  EXPECT_EQ(Eval("{.a"), "ERROR jsonpath \"{.a\": { at column 1 without }");
  EXPECT_EQ(Eval("{range .items[*]}{.x}"),
            "ERROR jsonpath \"{range .items[*]}{.x}\": {range} without {end}");
  EXPECT_EQ(Eval("{end}"), "ERROR jsonpath \"{end}\": {end} without {range}");
  EXPECT_NE(Eval("{.a[x]}").find("\"x\" is not an index"), std::string::npos) << Eval("{.a[x]}");
  EXPECT_NE(Eval("{.a[1:2:0]}").find("step must be positive"), std::string::npos);
  EXPECT_NE(Eval("{.a[?(.x==1)]}").find("a filter starts at @"), std::string::npos);
  EXPECT_NE(Eval("{.a[?(@.x=1)]}").find("unknown operator ="), std::string::npos);
  EXPECT_NE(Eval("{.a[0}").find("[ without ]"), std::string::npos);
  EXPECT_NE(Eval("{.a..}").find(".. needs a name"), std::string::npos);
}

}  // namespace
}  // namespace strake::cli
