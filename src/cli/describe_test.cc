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

TEST(DescribeStageGatesTest, EachGateAndWhatHoldsEachCandidate) {
  Json report = Json::parse(R"({"stage": "prod", "freight": ["f0"],
    "promotionWindowStatus": {"closed": true, "reason": "window freeze closed until X",
                              "nextOpen": "2027-01-04T09:00:00Z"},
    "stopTheLine": [{"source": "ProjectConfig demo", "reason": "INC-42", "exceptions": ["fix"]}],
    "criteria": [{"name": "coverage", "source": "ProjectConfig demo",
                  "expression": "evidence('test').coverage >= 80"}],
    "approvals": [{"name": "leads", "source": "ClusterConfig", "minApprovals": 2,
                   "allowSelfApproval": false}],
    "candidates": [
      {"name": "0123456789abcdef", "alias": "new-one", "current": false, "available": false,
       "why": "not verified in one of staging", "gate": null},
      {"name": "fedcba9876543210", "alias": "", "current": false, "available": true,
       "gate": "criteria coverage: 78.3 < 80"},
      {"name": "f0", "alias": "old", "current": true, "available": true, "gate": null}]})");
  EXPECT_EQ(DescribeStageGates(report),
            "Gates:\n"
            "  Freight Here:       f0\n"
            "  Promotion Window:   closed: window freeze closed until X; opens "
            "2027-01-04T09:00:00Z\n"
            "  Stopped Line:       ProjectConfig demo: INC-42 (exceptions: fix)\n"
            "  Criterion:          coverage (ProjectConfig demo): evidence('test').coverage >= 80\n"
            "  Approval Policy:    leads (ClusterConfig): 2 approval(s), not by its creator\n"
            "  Candidates (newest first):\n"
            "    0123456789ab (new-one)  not available: not verified in one of staging\n"
            "    fedcba987654  held: criteria coverage: 78.3 < 80\n"
            "    f0 (old)  here now\n");
}

}  // namespace
}  // namespace strake::cli
