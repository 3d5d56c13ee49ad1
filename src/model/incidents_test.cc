#include "model/incidents.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::model {
namespace {

// The errors of decoding `text` ("" when it decodes).
std::string Errors(const std::string& text) {
  auto docs = ParseYaml(text, "incident.yaml");
  if (!docs) return docs.error().message;
  Diagnostics diags;
  auto out = Decode(*docs, diags);
  return diags.HasErrors() ? diags.ErrorText() : "";
}

std::string Incident(const std::string& spec) {
  return "apiVersion: strake.dev/v1\nkind: Incident\nmetadata: {name: down, namespace: shop}\n"
         "spec:\n" +
         spec;
}

TEST(IncidentDecode, ASpecNamesWhatItHitAndWhen) {
  EXPECT_EQ(Errors(Incident("  title: Checkout answers 500\n  environment: prod\n  commit: "
                            "3f2a9c1\n  openedAt: \"2026-12-07T06:00:00Z\"\n")),
            "");
  auto spec = IncidentSpecFromJson(Json{{"title", "t"},
                                        {"deployment", "Application/shop/web#3"},
                                        {"source", "pagerduty"},
                                        {"externalID", "Q1"},
                                        {"openedAt", "2026-12-07T06:00:00.250Z"},
                                        {"closedAt", "2026-12-07T09:00:00+02:00"}});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->deployment, "Application/shop/web#3");
  EXPECT_EQ(spec->source, "pagerduty");
  EXPECT_EQ(*spec->opened_ms, 1796623200250);
  EXPECT_EQ(*spec->closed_ms, 1796623200000 + 3'600'000);  // the offset honoured: 07:00Z
  EXPECT_EQ(IncidentSpecFromJson(Json{{"title", "t"}, {"environment", "prod"}})->source, "api");
}

TEST(IncidentDecode, BadSpecsSayWhereAndWhy) {
  // closedAt before openedAt (06:00:00Z vs 06:00:00.250Z above): refused.
  auto before = IncidentSpecFromJson(Json{{"title", "t"},
                                          {"environment", "prod"},
                                          {"openedAt", "2026-12-07T06:00:00.250Z"},
                                          {"closedAt", "2026-12-07T06:00:00Z"}});
  ASSERT_FALSE(before);
  EXPECT_NE(before.error().message.find("spec.closedAt: closed before it opened"),
            std::string::npos)
      << before.error().message;
  const std::string nothing = Errors(Incident("  title: t\n"));
  EXPECT_NE(nothing.find("incident.yaml:5:3: spec: an incident names what it hit"),
            std::string::npos)
      << nothing;
  EXPECT_NE(Errors(Incident("  title: t\n  commit: XYZ\n")).find("spec.commit: a commit SHA"),
            std::string::npos);
  EXPECT_NE(Errors(Incident("  title: t\n  environment: p\n  openedAt: yesterday\n"))
                .find("spec.openedAt: \"yesterday\" is not an RFC 3339 time"),
            std::string::npos);
  EXPECT_NE(Errors(Incident("  title: t\n  environment: p\n  source: nagios\n"))
                .find("spec.source: \"nagios\" is not a source"),
            std::string::npos);
  EXPECT_NE(Errors(Incident("  title: t\n  environment: p\n  severity: 1\n")).find("severity"),
            std::string::npos);
  EXPECT_NE(Errors(Incident("  environment: p\n")).find("spec.title"), std::string::npos);
}

}  // namespace
}  // namespace strake::model
