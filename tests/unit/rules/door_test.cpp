// DoorMachine with explicit times: pulses, relock on close, forced, REX, held open with its
// pre-alarm, modes, fire release.
#include "rules/door.h"

#include <gtest/gtest.h>

namespace lintel::rules {
namespace {

std::vector<std::string> Types(const std::vector<DoorEvent>& events) {
  std::vector<std::string> out;
  for (const DoorEvent& e : events) out.push_back(std::string(DoorEventName(e.type)));
  return out;
}

using Types_ = std::vector<std::string>;

DoorSettings Settings() {
  DoorSettings s;
  s.unlock_ms = 5000;
  s.rex_unlock_ms = 3000;
  s.held_open_ms = 30'000;
  s.held_warning_ms = 10'000;
  return s;
}

TEST(DoorMachine, AGrantReleasesTheLockForUnlockMsThenRelocks) {
  DoorMachine d(Settings());
  EXPECT_FALSE(d.lock_released());
  EXPECT_TRUE(d.Grant(1000).empty());
  EXPECT_TRUE(d.lock_released());
  EXPECT_EQ(d.Deadline(), 6000);
  d.Tick(5999);
  EXPECT_TRUE(d.lock_released());
  d.Tick(6000);
  EXPECT_FALSE(d.lock_released());
  EXPECT_EQ(d.Deadline(), std::nullopt);
}

TEST(DoorMachine, TheDoorOpeningInThePulseIsNotForcedAndClosingRelocksAtOnce) {
  DoorMachine d(Settings());
  d.Grant(0);
  EXPECT_EQ(Types(d.Contact(true, 1200)), Types_{"door.opened"});
  EXPECT_TRUE(d.lock_released());
  EXPECT_EQ(Types(d.Contact(false, 2500)), Types_{"door.closed"});
  EXPECT_FALSE(d.lock_released()) << "relock on close, not at 5 s";
}

TEST(DoorMachine, WithoutRelockOnCloseThePulseRunsOut) {
  DoorSettings s = Settings();
  s.relock_on_close = false;
  DoorMachine d(s);
  d.Grant(0);
  d.Contact(true, 1000);
  d.Contact(false, 2000);
  EXPECT_TRUE(d.lock_released());
  d.Tick(5000);
  EXPECT_FALSE(d.lock_released());
}

TEST(DoorMachine, OpeningWithoutGrantOrRexIsForced) {
  DoorMachine d(Settings());
  EXPECT_EQ(Types(d.Contact(true, 100)), (Types_{"door.opened", "door.forced"}));
  EXPECT_FALSE(d.lock_released());
  // After the grant ran out, opening is forced too.
  d.Contact(false, 200);
  d.Grant(1000);
  d.Tick(6000);
  EXPECT_EQ(Types(d.Contact(true, 6001)), (Types_{"door.opened", "door.forced"}));
}

TEST(DoorMachine, RexUnlocksAndAnExitIsNotForcedEvenWithoutUnlock) {
  DoorMachine d(Settings());
  EXPECT_EQ(Types(d.Rex(0)), Types_{"door.rex"});
  EXPECT_TRUE(d.lock_released());
  EXPECT_EQ(d.Deadline(), 3000);
  EXPECT_EQ(Types(d.Contact(true, 500)), Types_{"door.opened"});
  d.Contact(false, 1500);

  DoorSettings s = Settings();
  s.unlock_on_rex = false;  // mechanical egress (a lever): REX only tells the panel
  DoorMachine lever(s);
  lever.Rex(0);
  EXPECT_FALSE(lever.lock_released());
  EXPECT_EQ(Types(lever.Contact(true, 2000)), Types_{"door.opened"});
  lever.Contact(false, 3000);
  EXPECT_EQ(Types(lever.Contact(true, 4000)), (Types_{"door.opened", "door.forced"}))
      << "one REX covers one exit";
}

TEST(DoorMachine, HeldOpenWarnsThenAlarmsOnceAndClosingSaysItWasHeld) {
  DoorMachine d(Settings());
  d.Grant(0);
  d.Contact(true, 1000);
  EXPECT_EQ(d.Deadline(), 5000) << "the pulse first";
  d.Tick(5000);
  EXPECT_EQ(d.Deadline(), 21'000) << "the pre-alarm 10 s before 30 s";
  EXPECT_TRUE(d.Tick(20'999).empty());
  EXPECT_EQ(Types(d.Tick(21'000)), Types_{"door.held_open_warning"});
  EXPECT_EQ(d.Deadline(), 31'000);
  EXPECT_EQ(Types(d.Tick(31'000)), Types_{"door.held_open"});
  EXPECT_TRUE(d.Tick(90'000).empty()) << "once per opening";
  EXPECT_EQ(d.Deadline(), std::nullopt);
  std::vector<DoorEvent> closed = d.Contact(false, 95'000);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], (DoorEvent{DoorEventType::kClosed, true}));
}

TEST(DoorMachine, ModeUnlockedHoldsTheLockOpenAndLockdownIgnoresGrants) {
  DoorMachine d(Settings());
  d.SetMode(DoorModeKind::kUnlocked, 0);
  EXPECT_TRUE(d.lock_released());
  EXPECT_EQ(Types(d.Contact(true, 10)), Types_{"door.opened"}) << "not forced";
  EXPECT_TRUE(d.Tick(3'600'000).empty()) << "no held-open while the door is meant to be open";
  d.Contact(false, 3'600'001);
  d.SetMode(DoorModeKind::kLockedDown, 3'700'000);
  EXPECT_FALSE(d.lock_released());
  d.Grant(3'700'001);
  EXPECT_FALSE(d.lock_released());
  d.Rex(3'700'002);
  EXPECT_TRUE(d.lock_released()) << "nobody is locked in";
  d.SetMode(DoorModeKind::kNormal, 3'700'003);
  EXPECT_TRUE(d.lock_released()) << "the REX pulse keeps running";
  d.Tick(3'703'002);
  EXPECT_FALSE(d.lock_released());
}

TEST(DoorMachine, LockdownEndsARunningGrant) {
  DoorMachine d(Settings());
  d.Grant(0);
  d.SetMode(DoorModeKind::kLockedDown, 100);
  EXPECT_FALSE(d.lock_released());
}

TEST(DoorMachine, FireReleaseUnlocksEgressDoorsWhileActiveEvenInLockdown) {
  DoorSettings s = Settings();
  s.fire_egress = true;
  DoorMachine egress(s);
  DoorMachine other(Settings());
  egress.SetMode(DoorModeKind::kLockedDown, 0);
  egress.Fire(true, 1000);
  other.Fire(true, 1000);
  EXPECT_TRUE(egress.lock_released());
  EXPECT_FALSE(other.lock_released()) << "only the configured egress doors";
  EXPECT_EQ(Types(egress.Contact(true, 2000)), Types_{"door.opened"});
  EXPECT_TRUE(egress.Tick(600'000).empty()) << "no held-open during the release";
  egress.Fire(false, 700'000);
  EXPECT_FALSE(egress.lock_released()) << "back to its mode (locked down)";
  EXPECT_EQ(egress.mode(), DoorModeKind::kLockedDown);
  EXPECT_EQ(Types(egress.Tick(730'000)), Types_{"door.held_open"})
      << "held-open counts from the end of the release";
}

TEST(DoorMachine, WithoutAContactThereAreNoPositionEvents) {
  DoorSettings s = Settings();
  s.has_contact = false;
  DoorMachine d(s);
  EXPECT_TRUE(d.Contact(true, 0).empty());
  EXPECT_TRUE(d.Tick(100'000).empty());
}

TEST(DoorMachine, AGrantWhileOpenExtendsThePulse) {
  DoorMachine d(Settings());
  d.Grant(0);
  d.Grant(4000);
  EXPECT_EQ(d.Deadline(), 9000);
}

// Issue 10 point 20: door event types are an enum; the journal keeps the contract's strings.
TEST(DoorMachine, EventTypesAreAnEnumWithTheContractsNames) {
  const std::pair<DoorEventType, std::string_view> expected[] = {
      {DoorEventType::kOpened, "door.opened"},
      {DoorEventType::kClosed, "door.closed"},
      {DoorEventType::kForced, "door.forced"},
      {DoorEventType::kRex, "door.rex"},
      {DoorEventType::kHeldOpenWarning, "door.held_open_warning"},
      {DoorEventType::kHeldOpen, "door.held_open"},
  };
  for (const auto& [type, name] : expected) {
    EXPECT_EQ(DoorEventName(type), name);
    EXPECT_EQ(ParseDoorEventType(name), type);
  }
  EXPECT_EQ(ParseDoorEventType("door.unlocked"), std::nullopt);
  DoorMachine d(Settings());
  EXPECT_EQ(d.Rex(0), (std::vector<DoorEvent>{{DoorEventType::kRex}}));
}

}  // namespace
}  // namespace lintel::rules
