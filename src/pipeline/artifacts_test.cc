#include "pipeline/artifacts.h"

#include <gtest/gtest.h>

namespace strake::pipeline {
namespace {

// Tekton's docs/artifacts.md shape.
const char* kProvenance = R"({
  "inputs": [{"name": "source", "values": [{"uri": "pkg:github/a@1", "digest": {"sha256": "b3"}}]}],
  "outputs": [{"name": "image", "buildOutput": true,
               "values": [{"uri": "pkg:oci/nginx", "digest": {"sha256": "df"}}]}]
})";

TEST(Artifacts, ReferencesPathsAndValues) {
  EXPECT_TRUE(WritesArtifacts("cat > $(step.artifacts.path) <<EOF"));
  EXPECT_TRUE(WritesArtifacts("$(artifacts.path)"));
  EXPECT_FALSE(WritesArtifacts("$(results.x.path)"));
  auto ref = ArtifactNamed("steps.producer.outputs.image", "steps");
  EXPECT_EQ(ref.of, "producer");
  EXPECT_EQ(ref.direction, "outputs");
  EXPECT_EQ(ref.name, "image");
  EXPECT_TRUE(ArtifactNamed("steps.producer.results.image", "steps").of.empty());
  EXPECT_TRUE(ArtifactNamed("tasks.t.outputs.image", "steps").of.empty());
  EXPECT_EQ(ArtifactNamed("tasks.t.outputs.image", "tasks").of, "t");
  EXPECT_EQ(StepArtifactsPath("/tekton/steps", "step-a"),
            "/tekton/steps/step-a/artifacts/provenance.json");

  Json p = Json::parse(kProvenance);
  auto v = ArtifactValues(p, "outputs", "image");
  ASSERT_TRUE(v);
  EXPECT_EQ(Json::parse(*v)[0]["uri"], "pkg:oci/nginx");
  auto missing = ArtifactValues(p, "inputs", "image");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no input artifact \"image\"");
}

TEST(Artifacts, StepsMergeByCategory) {
  Json a = Json::parse(kProvenance);
  Json b = {{"outputs", {{{"name", "image"}, {"values", {{{"uri", "pkg:oci/other"}}}}}}}};
  Json merged = MergeArtifacts({a, Json(), b});
  ASSERT_EQ(merged["outputs"].size(), 1u);
  EXPECT_EQ(merged["outputs"][0]["values"].size(), 2u);
  EXPECT_EQ(merged["inputs"][0]["name"], "source");
  EXPECT_TRUE(MergeArtifacts({Json(), Json()}).is_null());
}

}  // namespace
}  // namespace strake::pipeline
