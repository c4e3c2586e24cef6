// MatchAutomations: event type, doors, door mode and schedule conditions.
#include "rules/automations.h"

#include <gtest/gtest.h>

#include <map>

namespace lintel::rules {
namespace {

std::vector<std::string> Ids(const std::vector<const Automation*>& matched) {
  std::vector<std::string> out;
  for (const Automation* a : matched) out.push_back(a->id);
  return out;
}

class AutomationsTest : public ::testing::Test {
 protected:
  AutomationsTest() {
    Automation sounder{.id = "sounder", .on = "door.forced"};
    sounder.actions.push_back(
        {AutomationAction::Kind::kOutputPulse, "io1.sounder", 10'000, DoorModeKind::kNormal});
    Automation front_only{.id = "front-only", .on = "door.forced", .doors = {"front"}};
    Automation normal_only{
        .id = "normal-only", .on = "door.forced", .door_mode = DoorModeKind::kNormal};
    Automation after_hours{.id = "after-hours",
                           .on = "door.held_open",
                           .schedule = "office",
                           .outside_schedule = true};
    Automation in_hours{.id = "in-hours", .on = "door.held_open", .schedule = "office"};
    Automation unknown{.id = "unknown-schedule", .on = "door.held_open", .schedule = "nope"};
    all_ = {sounder, front_only, normal_only, after_hours, in_hours, unknown};
    facts_.door_mode = [this](std::string_view door) {
      auto it = modes_.find(std::string(door));
      return it == modes_.end() ? DoorModeKind::kNormal : it->second;
    };
    facts_.schedule_open = [this](std::string_view s) -> std::optional<bool> {
      if (s == "office") return office_open_;
      return std::nullopt;
    };
  }

  std::vector<std::string> Match(std::string_view type, std::string_view door) {
    return Ids(MatchAutomations(all_, type, door, facts_));
  }

  std::vector<Automation> all_;
  AutomationFacts facts_;
  std::map<std::string, DoorModeKind> modes_;
  bool office_open_ = true;
};

TEST_F(AutomationsTest, MatchesTheEventTypeAndTheDoorsInConfigurationOrder) {
  EXPECT_EQ(Match("door.forced", "front"),
            (std::vector<std::string>{"sounder", "front-only", "normal-only"}));
  EXPECT_EQ(Match("door.forced", "garage"), (std::vector<std::string>{"sounder", "normal-only"}));
  EXPECT_TRUE(Match("door.opened", "front").empty());
}

TEST_F(AutomationsTest, ADoorModeConditionNeedsTheEventsDoorInThatMode) {
  modes_["front"] = DoorModeKind::kLockedDown;
  EXPECT_EQ(Match("door.forced", "front"), (std::vector<std::string>{"sounder", "front-only"}));
  EXPECT_EQ(Match("door.forced", ""), (std::vector<std::string>{"sounder"}))
      << "an event at no door fails a door-mode condition";
}

TEST_F(AutomationsTest, ScheduleConditionsInsideOutsideAndUnknown) {
  office_open_ = true;
  EXPECT_EQ(Match("door.held_open", "front"), (std::vector<std::string>{"in-hours"}));
  office_open_ = false;
  EXPECT_EQ(Match("door.held_open", "front"), (std::vector<std::string>{"after-hours"}))
      << "an unknown schedule never matches";
}

TEST_F(AutomationsTest, ActionsComeBackAsConfigured) {
  std::vector<const Automation*> m = MatchAutomations(all_, "door.forced", "front", facts_);
  ASSERT_FALSE(m.empty());
  ASSERT_EQ(m[0]->actions.size(), 1u);
  EXPECT_EQ(m[0]->actions[0].kind, AutomationAction::Kind::kOutputPulse);
  EXPECT_EQ(m[0]->actions[0].target, "io1.sounder");
  EXPECT_EQ(m[0]->actions[0].duration_ms, 10'000);
}

}  // namespace
}  // namespace lintel::rules
