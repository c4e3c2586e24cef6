// ActionUrlListener: the gateway's small HTTP server for Akuvox Action URLs (library
// `lintel_intercom_io`, cpp-httplib 0.11.4 server). One per gateway, bound to the address and port
// the YAML names; every Akuvox panel is registered with its id, its shared secret and its address.
//
// A request is accepted only when all of these hold, checked in this order, each refusal answered
// with the status shown and counted per reason (ListenerStats), the secret, the query and the path
// never logged:
//   1. method GET                                                 else 405 (kMethod)
//   2. request target at most kMaxActionUrlBytes                  else 414 (kOversized)
//   3. path /akuvox/<panel-id>/<secret>/<event> (akuvox_api.h)    else 404 (kNotFound);
//      well-formed segments and query                             else 400 (kMalformed)
//   4. <panel-id> registered                                      else 404 (kUnknownPanel)
//   5. the source address is the panel's address                  else 403 (kWrongSource)
//   6. <secret> is the panel's secret (constant-time comparison)  else 403 (kWrongSecret)
//   7. a known event with valid variables (ActionUrlEvent)        else 404 (kUnknownEvent) /
//                                                                      400 (kMalformed)
// and answered 200 after the panel's on_event returned. Requests httplib itself refuses before
// they reach the listener (a request line over 8 KiB: 414, a malformed request: 400) are counted
// too (kOversized, kMalformed).
//
// Bounds: request targets of at most kMaxActionUrlBytes (and httplib's own 8 KiB request-line
// limit), a body of at most 1 KiB (never read: only GET is accepted), one request per connection
// (no keep-alive), `threads` worker threads; when `max_queued` accepted connections wait for a
// worker, the accept thread waits too (the kernel's listen backlog then refuses new ones), and
// every connection is dropped after `read_timeout` of silence.
//
// Threads: on_event and on_refused run on the listener's worker threads (several at once for
// different requests); they must return quickly and must not call Stop(). Every member may be
// called from any thread except from those callbacks (AddPanel/RemovePanel excepted).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "drivers/intercom/panel_event.h"
#include "gateway/base/mutex.h"
#include "gateway/base/status.h"

namespace httplib {
class Server;
}

namespace lintel::intercom {

struct ListenerConfig {
  std::string address = "0.0.0.0";               // an IPv4 or IPv6 literal ("::" for both)
  int port = 8090;                               // 1..65535; 0: any free port (tests; see port())
  int threads = 2;                               // 1..16 worker threads
  size_t max_queued = 16;                        // accepted connections waiting for a worker, >= 1
  std::chrono::milliseconds read_timeout{2000};  // >= 1 s (httplib counts keep-alive in seconds)
};

// Errors: InvalidArgument naming the field.
[[nodiscard]] Status CheckListenerConfig(const ListenerConfig& config);

struct ActionUrlPanel {
  std::string panel_id;  // [A-Za-z0-9_.-]{1,64}
  std::string secret;    // [A-Za-z0-9_.~-]{16,128}. SECRET: never logged
  // The panel's IP address (IPv4 or IPv6 literal); requests from any other source are refused.
  // An IPv4 panel reaching a dual-stack listener as ::ffff:a.b.c.d matches.
  std::string address;
  std::function<void(const PanelEvent& event)> on_event;
};

enum class Refusal {
  kMethod,
  kOversized,
  kNotFound,
  kMalformed,
  kUnknownPanel,
  kWrongSource,
  kWrongSecret,
  kUnknownEvent,
};
// "method", "oversized", "not_found", "malformed", "unknown_panel", "wrong_source",
// "wrong_secret", "unknown_event".
std::string_view RefusalName(Refusal refusal);

struct ListenerStats {
  uint64_t accepted = 0;
  uint64_t method = 0;
  uint64_t oversized = 0;
  uint64_t not_found = 0;
  uint64_t malformed = 0;
  uint64_t unknown_panel = 0;
  uint64_t wrong_source = 0;
  uint64_t wrong_secret = 0;
  uint64_t unknown_event = 0;

  uint64_t refused() const {
    return method + oversized + not_found + malformed + unknown_panel + wrong_source +
           wrong_secret + unknown_event;
  }
};

class ActionUrlListener {
 public:
  // `on_refused` (may be empty) hears every refusal: the reason, the source address, the panel
  // id when the path named a registered one (else empty). For the journal; never the secret.
  using RefusedFn =
      std::function<void(Refusal reason, const std::string& source, const std::string& panel_id)>;

  explicit ActionUrlListener(ListenerConfig config, RefusedFn on_refused = {});
  ~ActionUrlListener();  // Stop()
  ActionUrlListener(const ActionUrlListener&) = delete;
  ActionUrlListener& operator=(const ActionUrlListener&) = delete;

  // Registers a panel (before or after Start()). Errors: InvalidArgument for an id or secret of
  // the wrong form (a secret shorter than 16 characters included) or an address that is not an
  // IP literal; AlreadyExists for a registered id.
  [[nodiscard]] Status AddPanel(ActionUrlPanel panel);
  // Unregisters a panel: once it returns, its on_event is not called again. Unknown ids: no-op.
  void RemovePanel(std::string_view panel_id);

  // Binds and starts serving. Errors: InvalidArgument from CheckListenerConfig(); IoError
  // "cannot listen on <address>:<port>" (taken, no such address); FailedPrecondition when
  // started twice or after Stop().
  [[nodiscard]] Status Start();
  // Stops accepting, lets the requests being served finish (each within about read_timeout),
  // joins. Idempotent.
  void Stop();

  int port() const;  // the bound port once started (the chosen one with port 0), else 0
  ListenerStats Stats() const;

 private:
  class TaskQueue;
  struct Registered {
    ActionUrlPanel panel;
    std::shared_ptr<Mutex> calling;  // held while its on_event runs (RemovePanel waits on it)
  };
  void Count(Refusal reason, const std::string& source, const std::string& panel_id);

  const ListenerConfig config_;
  const RefusedFn on_refused_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;

  mutable Mutex mu_;
  std::map<std::string, Registered, std::less<>> panels_ GUARDED_BY(mu_);
  ListenerStats stats_ GUARDED_BY(mu_);
  int port_ GUARDED_BY(mu_) = 0;
  bool started_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;
};

}  // namespace lintel::intercom
