// DoorIo: the doors that have I/O (doors[].io), their modules, the site inputs (io:) and the
// automations, on the core loop.
//
//   module input -> DoorMachine (rules/door.h: contact, REX, fire release) -> lock output and door
//   events -> journal + automations (rules/automations.h) -> outputs, alarm events, door modes.
//
// Each door with I/O gets the core's lock actuator (core::Gateway::SetReportingActuator): a grant
// or a cloud `unlock` becomes DoorMachine::Unlock, and the machine decides when the lock relocks.
// The actuator fails (the journal then says "lock": "failed") while the lock's module is offline.
// Otherwise the grant's "lock" says what the hardware did: "pulsed" once the lock point reads back
// released (or, for a pulse too short to be read back, the module acknowledged the write), else
// "unlock_failed" when the pulse ends (or the module goes offline) without that.
// The module re-asserts a refused or mismatching output itself (drivers/modbus); after its
// `fault_after` failures DoorIo journals device.fault (and device.fault_cleared when the read-back
// matches again). Status shows each lock as read back ("lock"), next to what is wanted ("wanted").
// Door modes come from the engine (the state's door_modes, a cloud `set_door_mode`) and from
// automations (Engine::SetLocalDoorMode, which the engine also denies by); the cloud's next change
// of a door's mode ends a local one.
//
// Events journaled: door.opened, door.closed (with was_held), door.forced, door.rex,
// door.held_open_warning, door.held_open, device.online / device.offline (with the module id and
// the reason), device.fault / device.fault_cleared (an output that does not read back as wanted),
// tamper (active true/false: changes only; the first reading after start is the baseline, journaled
// only when active, and a reconnect that reads the same value journals nothing), fire.release /
// fire.cleared, alarm and door.mode (from automations).
//
// Threads: the core loop's thread only. Ownership: the loop, clock and gateway outlive DoorIo.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/core/gateway.h"
#include "gateway/devices/io.h"
#include "rules/automations.h"
#include "rules/door.h"

namespace lintel::devices {

// The journal event types DoorIo writes besides the door machine's (rules::DoorEventType).
enum class IoEventType : uint8_t {
  kDeviceOnline,        // "device.online"
  kDeviceOffline,       // "device.offline"
  kDeviceFault,         // "device.fault"
  kDeviceFaultCleared,  // "device.fault_cleared"
  kTamper,              // "tamper"
  kFireRelease,         // "fire.release"
  kFireCleared,         // "fire.cleared"
  kAlarm,               // "alarm"
  kDoorMode,            // "door.mode"
};
std::string_view IoEventName(IoEventType type);

class DoorIo {
 public:
  // Makes a module; null: the factory table (IoModuleTypes). Tests pass fakes.
  using MakeModule =
      std::function<std::unique_ptr<IoModule>(const config::IoModuleConfig&, IoEvents)>;

  DoorIo(EventLoop& loop, const Clock& clock, core::Gateway& gateway, MakeModule make = nullptr);
  ~DoorIo();  // removes its actuators, stops the modules
  DoorIo(const DoorIo&) = delete;
  DoorIo& operator=(const DoorIo&) = delete;

  // Builds the modules, doors, routes and automations of `config` (at start and on SIGHUP). When
  // nothing about I/O changed, nothing restarts; otherwise every lock is set to its locked state
  // and everything is rebuilt.
  void Apply(const config::Config& config);

  // modules (online, counters), doors (lock, wanted, open, rex, mode, held), fire_release.
  // "rex" is the exit button as last read (null before the first reading or without a REX input).
  nlohmann::json Status() const;

  // `lintelctl door test DOOR` (control command door.test): pulses the door's lock once for its
  // unlock_ms through core::Gateway::Unlock with source "lintelctl" (journaled door.unlocked like
  // a cloud unlock). Returns {"door", "ms"}. Errors: NotFound when `door` has no door I/O;
  // FailedPrecondition while the door is locked down or the site's fire release is active (a test
  // then proves nothing and must not change what an emergency mode holds); the actuator's error
  // (Unavailable while the module is offline).
  lintel::Result<nlohmann::json> TestUnlock(std::string_view door);

 private:
  struct Door {
    std::string id;
    config::DoorIoConfig io;
    rules::DoorMachine machine;
    std::optional<bool> lock_output;                // what was last sent to the lock point
    std::optional<rules::DoorModeKind> cloud_mode;  // the engine's last seen mode for the door
    std::optional<bool> lock_read_back;             // the lock point as the module reads it
    bool lock_fault = false;                        // device.fault on the lock point
    std::optional<bool> rex;                        // the REX input as last read
    // Grants waiting to learn what the lock did (core::Gateway::LockReport).
    std::vector<core::Gateway::LockReport> unlock_reports;
    bool unlock_acked = false;         // the module acknowledged a release write since
    bool read_back_after_ack = false;  // and a read-back came after that write
  };
  struct Route {
    enum class Kind { kContact, kRex, kFire, kTamper } kind;
    std::string door;
  };

  int64_t NowMs() const;
  void Stop();
  void OnInput(const std::string& module, std::string_view point, bool active);
  void OnOnline(const std::string& module, bool online, const std::string& reason);
  void OnOutput(const std::string& module, std::string_view point, const OutputEvent& event);
  // Answers the door's waiting grants: "pulsed" when there is evidence the lock released.
  void ResolveUnlocks(Door& door, bool released_seen);
  // Sends the door's lock output if it changed, journals `events`, runs automations, re-arms.
  void After(Door& door, const std::vector<rules::DoorEvent>& events);
  void Emit(nlohmann::json event);  // journal + automations
  static nlohmann::json Event(IoEventType type);
  void RunAutomations(const std::string& type, const std::string& door);
  void SetOutput(const std::string& ref, bool active);
  void RefreshModes();
  void ArmTimer();
  void OnTimer();

  EventLoop& loop_;
  const Clock& clock_;
  core::Gateway& gateway_;
  MakeModule make_;
  std::vector<config::IoModuleConfig> module_configs_;
  std::vector<config::DoorConfig> door_configs_;
  config::SiteIoConfig site_io_;
  std::vector<rules::Automation> automations_;
  std::map<std::string, std::unique_ptr<IoModule>, std::less<>> modules_;
  std::map<std::string, Door, std::less<>> doors_;
  std::map<std::string, std::vector<Route>, std::less<>> routes_;  // "module.point" -> routes
  bool fire_ = false;
  std::map<std::string, bool, std::less<>> tamper_;  // "module.point" -> last journaled value
  std::map<std::string, std::string, std::less<>> lock_points_;  // "module.point" -> door id
  std::optional<EventLoop::TimerId> timer_;
  std::optional<EventLoop::TimerId> modes_timer_;
  std::map<uint64_t, EventLoop::TimerId> pulse_timers_;  // automation output pulses running
  uint64_t pulse_seq_ = 0;
  uint64_t events_ = 0;
  uint64_t automation_runs_ = 0;
};

}  // namespace lintel::devices
