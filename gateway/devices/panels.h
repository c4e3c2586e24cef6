// Panels: the daemon's IP intercom panels (config `panels:` and `intercom:`, issue 12): each panel
// is a reader (its keypad and card reader) and the actuator (its switch or relay) of one door,
// decided by the gateway's engine; calls, door and tamper events are journaled.
//
//   driver threads (drivers/intercom)                  core loop (this class)
//   TwoNPanel: event thread (log pull) ----+
//   AkuvoxPanel: health thread             +--- EventLoop::Post --> per-panel handling:
//   ActionUrlListener workers (Akuvox) ----+    (dropped once the panel was stopped or replaced,
//   command threads: switch / relay result -+     or Panels is gone)
//                                                 code / card -> rules::Presented -> Gateway::Admit
//   grant / cloud unlock -> ReportingActuator ---> TriggerSwitch / TriggerRelay (queued, at once)
//
// The blocking HTTP calls run on the drivers' threads only; nothing here blocks the loop.
//
// One driver per `panels[]` entry, from the factory table keyed by `type` ("2n": TwoNPanel,
// "akuvox": AkuvoxPanel + its registration with the ActionUrlListener, of which there is one, on
// `intercom.listen`, while any Akuvox panel runs).
//
// Decisions: a CodeEntered (2N) / `code` Action URL (Akuvox) becomes rules::PinPresented(code), a
// CardEntered (`uid` or `card`) / `card` (card_sn) rules::UidPresented(uid), presented at the
// panel's door with reader id = the panel id (so the keypad lockout counts per panel, as for any
// keypad) through Gateway::Admit, source "panel". The panel's own verdict (`valid`) is ignored.
// With `keypad: false` codes are not presented (counted as `codes_ignored`).
//
// Actuator (Gateway::SetReportingActuator on the panel's door): a grant or the cloud's `unlock`
// queues a trigger of the panel's switch (2N, with `unlock_seconds` as the trigger's timeout) or
// relay (Akuvox, with it as the delay). The journaled "lock" word:
//   "pulsed"         the panel acknowledged the command;
//   "unlock_failed"  the panel refused it (2N error 14: the switch is locked; an Akuvox retcode <
//                    0; HTTP 401/403; a garbled reply), also journaled as `panel.unlock_failed`
//                    {panel, door, output, error};
//   "failed"         the panel is offline or not running (the actuator returns the error at
//                    once), or did not answer the command twice (a command that got no answer,
//                    usually a kept-alive connection the panel closed when it restarted, is sent
//                    again once, at once).
//
// Events journaled (besides decisions), each with `door`, `panel` and `source: "panel"`:
//   CallStateChanged           intercom.call {state, direction}
//   KeyPressed (call buttons)  intercom.call {state: "button", button}; digit, * and # keys are
//                              parts of PINs: counted (`keys`), never journaled or logged
//   DoorStateChanged           door.opened / door.closed
//   UnauthorizedDoorOpen       door.forced
//   DoorOpenTooLong            door.held_open
//   TamperSwitchActivated / Akuvox tamper   tamper {device: panel, active: true}
//   InputChanged               panel.input {port, state, active}
//   online / offline           device.online / device.offline {device: panel, door, fault, reason}
// SwitchStateChanged / relay Action URLs, DeviceState startup and unknown events are counted and
// shown in Status(), not journaled.
//
// Secrets: the password (password_file) and the Action URL secret (action_url.secret_file) are
// read with config::ReadPanelSecretFile when a panel starts (Apply) and handed to its driver only;
// codes go to the engine only. Neither is logged, journaled or put in Status().
//
// Threads: the core loop's only (construct, Apply, Status, ListenerStatus, destroy). Ownership:
// the loop, the clocks and the gateway outlive Panels.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/core/gateway.h"

namespace lintel::devices {

struct PanelsOptions {
  // The clock the drivers' threads read (backoff, health checks); null: the loop's clock. Tests on
  // a FakeClock loop pass a SystemClock here when they do not drive the drivers' timing.
  const Clock* driver_clock = nullptr;
  // The ActionUrlListener's port when intercom.listen says 0 (tests: 0 picks a free port, see
  // ListenerPort()); -1: take intercom.listen as it is.
  int listener_port_override = -1;
};

class Panels {
 public:
  Panels(EventLoop& loop, const Clock& clock, core::Gateway& gateway, PanelsOptions options = {});
  ~Panels();  // removes the actuators, stops the drivers and the listener; posted work is dropped
  Panels(const Panels&) = delete;
  Panels& operator=(const Panels&) = delete;

  // Makes the running panels match `config` (at start and on SIGHUP). A panel whose settings and
  // secret files are unchanged keeps running (its channel, counters and online state); a changed
  // one, or one that could not start (a secret file refused), is stopped and started again, so a
  // corrected password file takes effect on SIGHUP. Removed ones are stopped. Stops come before
  // starts. Waiting unlocks of a stopped panel are reported "failed". The listener is restarted
  // when intercom.listen changed.
  void Apply(const config::Config& config);

  // The `panels` section of lintelctl status: {"<panel id>": {type, door, url, auth, state
  // ("running" | "failed"), error (why it is not running), online, fault, reason, last_error,
  // info, counters ...}}. Never a password, secret or code.
  nlohmann::json Status() const;
  // The `intercom` section: the Action URL listener ({"listen", "state", "error", "accepted",
  // "refused": {reason: count}}), or null when there is none.
  nlohmann::json ListenerStatus() const;
  // The bound port of the listener (0 when none runs).
  int ListenerPort() const;

  size_t size() const { return panels_.size(); }

 private:
  struct Panel;
  struct Listener;
  struct Secrets {
    std::string password;
    std::string action_secret;
    friend bool operator==(const Secrets&, const Secrets&) = default;
  };

  void StopPanel(Panel& panel);
  void StartPanel(Panel& panel);
  void ApplyListener(const config::Config& config);
  Panel* Find(std::string_view id);

  lintel::Status Actuate(const std::string& id, core::Gateway::LockReport report);

  EventLoop& loop_;
  const Clock& clock_;
  core::Gateway& gateway_;
  PanelsOptions options_;
  std::map<std::string, std::unique_ptr<Panel>, std::less<>> panels_;
  std::unique_ptr<Listener> listener_;
  uint64_t next_generation_ = 1;
  // Posted callbacks hold a weak_ptr to this: they do nothing once Panels is gone.
  std::shared_ptr<Panels*> self_ = std::make_shared<Panels*>(this);
};

}  // namespace lintel::devices
