#include "model/node.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strake::model {
namespace {

TEST(ParseYaml, KeepsLineAndColumn) {
  auto docs = ParseYaml("a: 1\nb:\n  c: [x, y]\n", "f.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  ASSERT_EQ(docs->size(), 1u);
  const Node* c = (*docs)[0].root.Get("b")->Get("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->seq[1].mark.line, 3);
  EXPECT_EQ(c->seq[1].mark.col, 10);
}

TEST(ParseYaml, MultipleDocumentsSkipEmptyOnes) {
  auto docs = ParseYaml("a: 1\n---\n---\nb: 2\n", "f.yaml");
  ASSERT_TRUE(docs);
  EXPECT_EQ(docs->size(), 2u);
}

TEST(ParseYaml, SyntaxErrorNamesFileLineColumn) {
  auto docs = ParseYaml("a: [1, 2\nb: 3\n", "bad.yaml");
  ASSERT_FALSE(docs);
  EXPECT_EQ(docs.error().message.rfind("bad.yaml:", 0), 0u) << docs.error().message;
}

TEST(ParseYaml, DuplicateKeyIsAnError) {
  auto docs = ParseYaml("a: 1\na: 2\n", "d.yaml");
  ASSERT_FALSE(docs);
  EXPECT_EQ(docs.error().message, "d.yaml:2:1: duplicate key \"a\" (first at line 1)");
}

TEST(ParseYaml, AliasBombFailsFastWithBoundedMemory) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = std::string(1, c);
  }
  auto docs = ParseYaml(bomb, "bomb.yaml");
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("alias bomb"), std::string::npos) << docs.error().message;
}

TEST(ParseYaml, TotalNodeLimitWithoutAliases) {
  ParseLimits limits;
  limits.max_nodes = 100;
  std::string many = "[";
  for (int i = 0; i < 200; ++i) many += "1,";
  many += "1]";
  auto docs = ParseYaml(many, "many.yaml", limits);
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("more than 100 nodes"), std::string::npos);
}

// Nested anchors with no alias at all: each anchor kept a copy of its whole
// subtree, so a document of n nodes nested d deep cost n x d (a 3.6 MB file
// took 3.9 GB at 20 levels). The copies count against the node budget.
std::string NestedAnchors(int levels, int per_level) {
  std::string doc = "x: ";
  for (int l = 0; l < levels; ++l) {
    doc += "&a" + std::to_string(l) + " [";
    for (int i = 0; i < per_level; ++i) doc += "1, ";
  }
  doc += "end";
  for (int l = 0; l < levels; ++l) doc += "]";
  return doc + "\n";
}

TEST(ParseYaml, NestedAnchorsCountTheirCopiesAndFailWithTheirPlace) {
  ParseLimits limits;
  limits.max_nodes = 100'000;
  // 20,000 nodes in the file; the anchors copy about 210,000.
  auto docs = ParseYaml(NestedAnchors(20, 1000), "anchors.yaml", limits);
  ASSERT_FALSE(docs);
  EXPECT_EQ(docs.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(docs.error().message.rfind("anchors.yaml:1:", 0), 0u) << docs.error().message;
  EXPECT_NE(docs.error().message.find("anchor &a"), std::string::npos) << docs.error().message;
  EXPECT_NE(docs.error().message.find("limit of 100000 nodes"), std::string::npos)
      << docs.error().message;
  // With the default limits: 200,000 nodes copied 2.1 million times.
  docs = ParseYaml(NestedAnchors(20, 10'000), "anchors.yaml");
  ASSERT_FALSE(docs);
  EXPECT_EQ(docs.error().code, ErrorCode::kTooLarge);
  // A few levels of anchors in a document of ordinary size are fine.
  docs = ParseYaml(NestedAnchors(5, 100), "anchors.yaml", limits);
  ASSERT_TRUE(docs) << docs.error().message;
  EXPECT_EQ(ToJson((*docs)[0].root)["x"][100][100][0], 1);
}

TEST(ParseYaml, ModestAliasUseIsFine) {
  auto docs = ParseYaml(
      "base: &b {image: alpine, env: [{name: A, value: b}]}\n"
      "steps: [*b, *b, *b]\n",
      "ok.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
}

TEST(ParseYaml, DepthLimit) {
  std::string deep;
  for (int i = 0; i < 150; ++i) deep += "[";
  for (int i = 0; i < 150; ++i) deep += "]";
  auto docs = ParseYaml(deep, "deep.yaml");
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("nesting deeper than the limit of 100"), std::string::npos);
}

TEST(ParseYaml, SizeLimit) {
  ParseLimits limits;
  limits.max_bytes = 10;
  auto docs = ParseYaml("a: 12345678901", "big.yaml", limits);
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("over the limit of 10 bytes"), std::string::npos);
}

TEST(ParseYaml, DocumentCountLimit) {
  ParseLimits limits;
  limits.max_documents = 2;
  auto docs = ParseYaml("a: 1\n---\nb: 1\n---\nc: 1\n", "many.yaml", limits);
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("more than 2 documents"), std::string::npos);
}

TEST(ParseYaml, MergeKeysAndAliases) {
  auto docs = ParseYaml("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n", "m.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  Json j = ToJson((*docs)[0].root);
  EXPECT_EQ(j["d"]["x"], 1);
  EXPECT_EQ(j["d"]["y"], 3);
}

TEST(ToJson, TypesPlainScalarsOnly) {
  auto docs = ParseYaml("a: 1\nb: \"1\"\nc: true\nd: ~\ne: 1.5\nf: hello\n", "t.yaml");
  ASSERT_TRUE(docs);
  Json j = ToJson((*docs)[0].root);
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"], "1");
  EXPECT_EQ(j["c"], true);
  EXPECT_TRUE(j["d"].is_null());
  EXPECT_EQ(j["e"], 1.5);
  EXPECT_EQ(j["f"], "hello");
  EXPECT_EQ(ToJson(FromJson(j)), j);
}

}  // namespace
}  // namespace strake::model

namespace strake::model {
namespace {

TEST(ToJson, NumbersAreTypedWithoutBacktracking) {
  auto docs =
      ParseYaml("[.5, 1., 1e5, +1.5E-3, -7, 1e, ., -, 1.2.3, e5, 0x1F, 1_000, '3']", "n.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  Json j = ToJson((*docs)[0].root);
  EXPECT_EQ(j, Json::parse(R"([0.5, 1.0, 100000.0, 0.0015, -7, "1e", ".", "-", "1.2.3", "e5",
                              "0x1F", "1_000", "3"])"))
      << j.dump();
  // A long plain scalar: std::regex recursed per character and overflowed
  // the stack.
  std::string digits(1 << 20, '7');
  docs = ParseYaml("a: " + digits + "\nb: " + digits + ".5x\n", "long.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  j = ToJson((*docs)[0].root);
  EXPECT_EQ(j["a"], digits);  // too large for an integer: kept as text
  EXPECT_TRUE(j["b"].is_string());
}

TEST(ToYamlTest, ReadsBackAsTheSameValue) {
  Json j = Json::parse(R"({"metadata":{"name":"web","annotations":{"a/b: c":"x: y","n":"123"}},
    "spec":{"replicas":2,"on":true,"list":[{"name":"a","v":[1,2]},"true","",null,"- x"],
    "empty":{},"none":[],"text":"line1\nline2","f":1.5}})");
  std::string yaml = ToYaml(j);
  auto docs = ParseYaml(yaml, "y");
  ASSERT_TRUE(docs) << docs.error().message << "\n" << yaml;
  EXPECT_EQ(ToJson((*docs)[0].root), j) << yaml;
}

// `get -o yaml | apply` keeps strings that look like other types strings.
TEST(ToYamlTest, StringsThatReadAsOtherTypesAreQuoted) {
  Json j = Json::object();
  for (const char* s : {"True", "FALSE", "~", "null", "Null", ".5", "+1", "-2", "1e3", "0x1F",
                        "yes", "off", ".inf", "-.Inf", ".NaN", "0o17"}) {
    j[s] = s;
  }
  std::string yaml = ToYaml(j);
  auto docs = ParseYaml(yaml, "y");
  ASSERT_TRUE(docs) << docs.error().message << "\n" << yaml;
  EXPECT_EQ(ToJson((*docs)[0].root), j) << yaml;
}

// Found by fuzz/fuzz_yaml: a string with a control character ("\0" in a
// double-quoted YAML string, "\u0000" in JSON) was written plain and the
// output did not parse ("control characters are not allowed"). Every
// string reads back as itself: what YAML may not hold raw is escaped, in
// keys and in lists inside lists too.
TEST(ToYamlTest, ControlCharactersAndLineSeparatorsAreEscaped) {
  Json j = Json::object();
  const std::vector<std::string> strings = {std::string("a\0b", 3),
                                            "\x01\x1f\x7f",
                                            "tab\there",
                                            "cr\rlf",
                                            "nel\xC2\x85",
                                            "c1\xC2\x9F",
                                            "ls\xE2\x80\xA8ps\xE2\x80\xA9",
                                            "\xEF\xBB\xBF"
                                            "bom",
                                            "...",
                                            "?x",
                                            "caf\xC3\xA9"};
  for (const auto& s : strings) j[s] = s;
  j["<<"] = Json{{"merge", "key"}};
  j["nested"] = Json::array({Json::array({strings[0], strings[6], Json{{strings[1], 1}}})});
  std::string yaml = ToYaml(j);
  auto docs = ParseYaml(yaml, "y");
  ASSERT_TRUE(docs) << docs.error().message << "\n" << yaml;
  EXPECT_EQ(ToJson((*docs)[0].root), j) << yaml;
  EXPECT_NE(yaml.find("caf\xC3\xA9: caf\xC3\xA9"), std::string::npos) << yaml;  // still plain
}

}  // namespace
}  // namespace strake::model
