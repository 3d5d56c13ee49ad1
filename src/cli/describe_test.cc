#include "cli/describe.h"

#include <gtest/gtest.h>

namespace strake::cli {
namespace {

TEST(DescribeObjectTest, AKindWithoutAScreenReadsAsKubectlsGenericDescriber) {
  Json cm = Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
    "metadata":{"name":"settings","namespace":"default","labels":{"app":"web","tier":"front"},
                "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"},
                "resourceVersion":"7"},
    "data":{"mode":"fast","app.properties":"a=1\nb=2\n"}})");
  EXPECT_EQ(DescribeObject(cm),
            "Name:               settings\n"
            "Namespace:          default\n"
            "Labels:             app=web\n"
            "                    tier=front\n"
            "Annotations:        <none>\n"
            "API Version:        v1\n"
            "Kind:               ConfigMap\n"
            "Resource Version:   7\n"
            "Data:\n"
            "  mode:  fast\n"
            "  app.properties:\n"
            "    a=1\n"
            "    b=2\n");
  Json job = Json::parse(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"migrate"},
    "spec":{"backoffLimit":2,"template":{"spec":{"restartPolicy":"Never",
      "containers":[{"name":"m","image":"busybox","command":["sh","-c","true"]}]}}},
    "status":{"succeeded":1,"conditions":[]}})");
  EXPECT_EQ(DescribeObject(job),
            "Name:               migrate\n"
            "Labels:             <none>\n"
            "Annotations:        <none>\n"
            "API Version:        batch/v1\n"
            "Kind:               Job\n"
            "Spec:\n"
            "  Backoff Limit:  2\n"
            "  Template:\n"
            "    Spec:\n"
            "      Restart Policy:  Never\n"
            "      Containers:\n"
            "        -\n"
            "          Name:  m\n"
            "          Image:  busybox\n"
            "          Command:\n"
            "            - sh\n"
            "            - -c\n"
            "            - true\n"
            "Status:\n"
            "  Succeeded:  1\n"
            "  Conditions:  <none>\n");
}

}  // namespace
}  // namespace strake::cli
