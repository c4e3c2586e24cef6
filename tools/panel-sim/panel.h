// Panel: the simulated IP intercom panel behind panel-sim's HTTP server, either family:
//  - 2N: /api/system/info, /api/switch/{caps,status,ctrl}, /api/log/{caps,subscribe,pull,
//    unsubscribe}; replies {"success":true,"result":{..}}, errors with HTTP 200 and a 2N code.
//    Switches (monostable pulses, on/off, hold/release, lock/unlock), the event log with its
//    channels (long-poll pulls, expiry when not pulled within `duration`), a door contact, inputs,
//    calls, tamper, reboots (DeviceState startup, event ids and upTime from zero).
//  - Akuvox: /api/system/info, /api/relay/status, POST /api/relay/trig, the legacy
//    /fcgi/do?action=OpenDoor behind a flag; replies {"retcode":..,"message":..,"data":{..}};
//    Action URLs (an HTTP GET with $variables substituted) on code, card, relay and tamper events.
// Both: Basic / Digest authentication (http_auth.h), injected faults (garbage or huge replies,
// slow replies, offline), scripted input from the control socket (Execute). The exact API, command
// and output formats are in tools/README.md (## panel-sim).
//
// Threads: everything here runs on the program's loop thread: Handle() is posted there by the HTTP
// server's worker threads, Execute() is called by the control socket, timers are the loop's. The
// Responder given to Handle() is called exactly once, on the loop thread, possibly much later
// (long polls, slow replies); it must be safe to call from there (the HTTP side hands the reply to
// the waiting worker thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"
#include "tools/panel-sim/http_auth.h"

namespace lintel::panelsim {

using json = nlohmann::ordered_json;

enum class Family { k2N, kAkuvox };

// One HTTP request as the server received it (copied off the worker thread).
struct HttpRequest {
  std::string method;
  std::string path;    // decoded path, no query
  std::string target;  // the request target as sent (path?query), what Digest's uri must match
  std::string body;
  std::string authorization;                       // the Authorization header, "" when absent
  std::string peer;                                // "127.0.0.1:51234"
  std::multimap<std::string, std::string> params;  // query (and form body) parameters
  uint64_t generation = 0;  // which listening run of the server took it (see PanelHost)
};

// The reply, or a cut connection.
struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Drop the connection instead: the status line and headers go out, the body never does (the
  // client sees a read error), and the connection is closed.
  bool cut = false;
};
using Responder = std::function<void(HttpReply)>;

// What the panel needs from the program around it. Called on the loop thread.
class PanelHost {
 public:
  virtual ~PanelHost() = default;
  // Milliseconds since the program started on the program's clock ("t_ms").
  virtual int64_t NowMs() const = 0;
  // Prints one output line: "t_ms" first, then the fields of `body`.
  virtual void Emit(const json& body) = 0;
  // false: stop listening (new connections are refused); true: listen again on the same port,
  // which starts a new generation. Errors: Unavailable when the port cannot be bound again.
  virtual Status SetListening(bool on) = 0;
  // The generation of the server now listening; requests of older generations are cut (their
  // connections belong to a panel that went away).
  virtual uint64_t generation() const = 0;
  // Queues an HTTP GET of `url` (an Action URL) on the sender thread; the program reports it.
  virtual void SendActionUrl(const std::string& event, const std::string& url) = 0;
};

struct PanelOptions {
  Family family = Family::k2N;
  int switches = 2;               // 2N switches / Akuvox relays, numbered from 1
  int switch_on_duration_s = 5;   // 2N monostable pulse; Akuvox relay open time in mode 0
  int door_open_too_long_s = 30;  // 2N: DoorOpenTooLong after the door stayed open this long
  std::set<std::string> valid_codes;
  std::set<std::string> valid_cards;
  std::string card_field = "uid";  // 2N CardEntered: "uid" or "card" (some firmware)
  std::multimap<std::string, std::string> action_urls;  // Akuvox: event -> URL template
  bool fcgi = false;                                    // Akuvox: the legacy /fcgi/do
  std::string user;                                     // Akuvox fcgi credentials (--user and
  std::string password;                                 //  --password-file)
  std::string address;                                  // $ip
  std::string mac = "0C1105000001";
  std::string model;     // default per family
  std::string firmware;  // default per family
  std::string serial = "54-0000-0001";
  std::string device_name = "panel-sim";
  int64_t wall_start_unix = 0;  // utcTime at t_ms 0
  bool verbose = false;         // a line per request answered
};

// The names Action URLs may be configured for.
inline const std::set<std::string>& ActionUrlEvents() {
  static const std::set<std::string> kEvents = {
      "code", "invalid-code", "card", "invalid-card", "relay-triggered", "relay-closed", "tamper"};
  return kEvents;
}

// Replaces $code, $card_sn, $relay1status, $mac, $ip, $model, $firmware in `url` by the values
// in `vars` (percent-encoded); a known variable missing from `vars` becomes "", anything else
// starting with '$' is left as it is.
std::string SubstituteActionUrl(const std::string& url,
                                const std::map<std::string, std::string>& vars);

class Panel {
 public:
  static constexpr size_t kMaxEventsPerPull = 128;
  static constexpr size_t kMaxLog = 1000;            // events kept since boot (include=all)
  static constexpr size_t kMaxChannelQueue = 10000;  // oldest dropped beyond this
  static constexpr size_t kMaxChannels = 32;
  static constexpr size_t kHugeBytes = 4u << 20;  // fault huge: a 4 MiB reply

  // `loop`, `host` and `auth` must outlive the panel.
  Panel(EventLoop& loop, PanelHost& host, HttpAuthenticator& auth, PanelOptions options);
  ~Panel();
  Panel(const Panel&) = delete;
  Panel& operator=(const Panel&) = delete;

  // The first boot: DeviceState startup (2N).
  void Boot();

  // Answers one request through `respond` (once; maybe later).
  void Handle(HttpRequest request, Responder respond);

  // One control command (the words of the line; `advance`, `state` and `quit` are the program's).
  // Returns {"ok":true,"command":..} or {"ok":false,"error":".."}.
  json Execute(const std::vector<std::string>& words);

  // The panel's part of `state`.
  json State() const;

  // An Action URL the sender finished: `status` the HTTP status (0 when none), `error` "" or why.
  void OnActionUrlDone(const std::string& event, const std::string& url, int status,
                       const std::string& error);

  // Cuts every request still waiting (at exit).
  void CutAll();

 private:
  struct Switch {
    bool active = false;
    bool locked = false;
    bool held = false;
    std::optional<EventLoop::TimerId> off_timer;    // pulse / on-timeout end
    std::optional<EventLoop::TimerId> delay_timer;  // Akuvox: trig with a delay
  };
  struct Channel {
    uint64_t id = 0;
    int duration_s = 90;
    std::set<std::string> filter;  // empty: every event
    std::deque<json> queue;
    uint64_t dropped = 0;
    std::optional<EventLoop::TimerId> expiry;
    std::optional<uint64_t> pull;  // the in-flight request of the pending pull
    std::optional<EventLoop::TimerId> pull_timer;
    bool answer_posted = false;
  };
  struct InFlight {
    Responder respond;
    std::string method;
    std::string path;
    std::string peer;
  };
  enum class FaultKind { kNone, kGarbage, kHuge, kSlow, kOffline };

  // requests
  void Route(uint64_t id, const HttpRequest& r);
  void Route2N(uint64_t id, const HttpRequest& r);
  void RouteAkuvox(uint64_t id, const HttpRequest& r);
  void Finish(uint64_t id, HttpReply reply);
  HttpReply FaultReply(FaultKind kind) const;
  void CutInFlight();

  // 2N
  HttpReply SwitchCtrl(const HttpRequest& r);
  HttpReply Subscribe(const HttpRequest& r);
  void Pull(uint64_t id, const HttpRequest& r);
  HttpReply Unsubscribe(const HttpRequest& r);
  void AnswerPull(Channel& c);
  void ArmExpiry(Channel& c);
  void CloseChannel(uint64_t id, const char* reason);
  json AddEvent(const std::string& name, json params);
  json SwitchAction(int n, const std::string& action, std::optional<int> timeout_s,
                    const std::string& via);
  void SetSwitch(int n, bool active);
  bool AnySwitchActive() const;

  // Akuvox
  HttpReply RelayTrig(const HttpRequest& r);
  HttpReply Fcgi(const HttpRequest& r);
  void TrigRelay(int n, int mode, int level, int delay_s);
  void SetRelay(int n, bool open);
  void AkuvoxEvent(const std::string& name, json params, std::map<std::string, std::string> vars);

  // commands
  json CodeEntered(const std::string& code);
  json CardEntered(const std::string& card, const std::string& field);
  void Door(bool open);
  void Reboot(int64_t down_ms);
  void FinishBoot();
  json SetFault(FaultKind kind, int64_t remaining, int64_t slow_ms);

  bool two_n() const { return o_.family == Family::k2N; }
  int64_t UpTime() const;
  int64_t UtcTime() const;
  void Cancel(std::optional<EventLoop::TimerId>& t);

  EventLoop& loop_;
  PanelHost& host_;
  HttpAuthenticator& auth_;
  const PanelOptions o_;

  std::map<uint64_t, InFlight> in_flight_;
  uint64_t next_in_flight_ = 1;

  std::vector<Switch> switches_;  // index n-1; Akuvox: relays (active = open)
  bool door_open_ = false;
  bool door_unauthorized_ = false;
  bool door_too_long_ = false;
  std::optional<EventLoop::TimerId> door_timer_;
  bool tamper_ = false;
  std::string call_state_ = "idle";
  uint64_t call_session_ = 0;

  // the log (2N)
  int64_t boot_ms_ = 0;
  uint64_t next_event_id_ = 1;
  std::deque<json> log_;
  std::map<uint64_t, Channel> channels_;
  uint64_t next_channel_id_ = 1;  // never reused, not even after a reboot

  // faults and reboots
  FaultKind fault_ = FaultKind::kNone;
  int64_t fault_remaining_ = -1;  // replies still to fault; -1: until `fault off`
  int64_t slow_ms_ = 0;
  bool rebooting_ = false;
  std::optional<EventLoop::TimerId> boot_timer_;
  uint64_t boots_ = 0;

  // counters
  uint64_t requests_ = 0;
  uint64_t auth_failures_ = 0;
  uint64_t auth_stale_ = 0;
  uint64_t auth_challenges_ = 0;
  uint64_t action_urls_sent_ = 0;
  uint64_t action_urls_failed_ = 0;
  uint64_t action_urls_pending_ = 0;
  std::map<std::string, uint64_t> by_path_;
};

}  // namespace lintel::panelsim
