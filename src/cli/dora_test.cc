#include "cli/dora.h"

#include <gtest/gtest.h>

namespace strake::cli {
namespace {

TEST(DoraBands, AreThoseOfDoras2023Report) {
  EXPECT_EQ(DoraBand("deployment_frequency", 2.0), "elite");
  EXPECT_EQ(DoraBand("deployment_frequency", 1.0), "elite");
  EXPECT_EQ(DoraBand("deployment_frequency", 0.2), "high");     // about weekly or more
  EXPECT_EQ(DoraBand("deployment_frequency", 0.05), "medium");  // monthly or more
  EXPECT_EQ(DoraBand("deployment_frequency", 0.01), "low");
  EXPECT_EQ(DoraBand("lead_time_for_changes", 3600), "elite");
  EXPECT_EQ(DoraBand("lead_time_for_changes", 2 * 86400), "high");
  EXPECT_EQ(DoraBand("lead_time_for_changes", 10 * 86400), "medium");
  EXPECT_EQ(DoraBand("lead_time_for_changes", 40 * 86400), "low");
  EXPECT_EQ(DoraBand("change_failure_rate", 0.05), "elite");
  EXPECT_EQ(DoraBand("change_failure_rate", 0.08), "high");
  EXPECT_EQ(DoraBand("change_failure_rate", 0.15), "medium");
  EXPECT_EQ(DoraBand("change_failure_rate", 0.5), "low");
  EXPECT_EQ(DoraBand("time_to_restore_service", 1800), "elite");
  EXPECT_EQ(DoraBand("failed_deployment_recovery_time", 7200), "high");
  EXPECT_EQ(DoraBand("time_to_restore_service", 3 * 86400), "medium");
  EXPECT_EQ(DoraBand("time_to_restore_service", 8 * 86400), "low");
  EXPECT_EQ(DoraBand("deployment_rework_rate", 0.1), "");  // no published bands
  EXPECT_EQ(DoraBand("lead_time_for_changes", std::nullopt), "");
}

TEST(DoraBands, ValuesReadAsPeopleWriteThem) {
  EXPECT_EQ(DoraValue("deployment_frequency", 1.4285), "1.43/day");
  EXPECT_EQ(DoraValue("change_failure_rate", 0.125), "12.5%");
  EXPECT_EQ(DoraValue("lead_time_for_changes", 12000), "3h 20m");
  EXPECT_EQ(DoraValue("lead_time_for_changes", 2 * 86400 + 3 * 3600), "2d 3h");
  EXPECT_EQ(DoraValue("time_to_restore_service", 42), "42s");
  EXPECT_EQ(DoraValue("time_to_restore_service", 600), "10m");
  EXPECT_EQ(DoraValue("lead_time_for_changes", std::nullopt), "-");
}

}  // namespace
}  // namespace strake::cli
