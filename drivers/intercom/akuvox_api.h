// Akuvox panels (shared/protocols/intercom-2n.md, "Akuvox panels"): local API replies, the relay
// request, and the Action URL requests a panel sends to the gateway (library `lintel_intercom`,
// pure: no I/O, no clock, no logging).
//
// Same rules as twon_api.h for outside bytes: bounded sizes checked first, no exception escapes,
// malformed input is InvalidArgument with a reason that never quotes a code, card or secret.
//
// Action URLs. The installer points each Action URL of a panel at the gateway's listener:
//   http://<gateway>:<port>/akuvox/<panel-id>/<secret>/<event>?<variables>
// with these events (the panel's Valid/Invalid split is ignored: configure both to one URL):
//   code    ?code=$code[&mac=$mac]          Valid / Invalid Code Entered  -> kCode
//   card    ?card_sn=$card_sn[&mac=$mac]    Valid / Invalid Card Entered  -> kCard
//   relay   ?relay1status=$relay1status     Relay Triggered / Closed      -> kSwitchState port "1"
//                                           (1 open: active true; 0 closed: active false)
//   tamper  [?mac=$mac]                     Tamper Alarm                  -> kTamper
// Other variables ($ip, $model, $firmware, ...) are allowed and ignored.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/intercom/panel_event.h"
#include "gateway/base/status.h"

namespace lintel::intercom {

// Local API replies: {"retcode": n, "message": "...", "data": {...}}; retcode < 0 is an error.
struct AkuvoxReply {
  int64_t retcode = 0;
  std::string message;  // as sent, cut to 120 printable characters
};

// OK for a well-formed reply with retcode >= 0 (stored in `*reply` when non-null, also on a
// FailedPrecondition). Errors: InvalidArgument "Akuvox reply: <reason>" (over kMaxReplyBytes,
// not JSON, too deep, no integer retcode); FailedPrecondition "Akuvox error <retcode>:
// <message>" for retcode < 0 ("Api unsupported": the model lacks that endpoint).
Status CheckAkuvoxReply(std::string_view body, AkuvoxReply* reply = nullptr);

// POST /api/relay/trig body:
// {"target":"relay","action":"trig","data":{"num":<relay>,"mode":0,"level":0,"delay":<s>}}
// (mode 0: closes again by itself). Precondition: relay >= 1, delay >= 0.
std::string AkuvoxRelayTriggerBody(int relay, std::chrono::seconds delay);
inline constexpr std::string_view kAkuvoxRelayTriggerPath = "/api/relay/trig";
inline constexpr std::string_view kAkuvoxSystemInfoPath = "/api/system/info";

// The legacy "/fcgi/do?action=OpenDoor&UserName=<u>&Password=<p>&DoorNum=<n>" (user and password
// percent-encoded). SECRET: the result carries the password; never log it, never put it in a
// message.
std::string AkuvoxLegacyOpenDoorTarget(std::string_view user, std::string_view password, int door);

// Action URL requests.
inline constexpr size_t kMaxActionUrlBytes = 1024;  // the whole request target
inline constexpr size_t kMaxActionUrlParams = 16;

struct ActionUrlRequest {
  std::string panel_id;  // [A-Za-z0-9_.-]{1,64}
  std::string secret;    // [A-Za-z0-9_.~-]{1,128}. SECRET: never log
  std::string event;     // [a-z0-9_]{1,32}
  // Percent-decoded query parameters in order; names [A-Za-z0-9_]{1,32} and unique, values
  // printable ASCII of at most 128 bytes.
  std::vector<std::pair<std::string, std::string>> params;

  // The value of `name`, or nullptr.
  const std::string* Param(std::string_view name) const;
};

// Splits a request target "/akuvox/<panel-id>/<secret>/<event>[?query]" (as received, not yet
// decoded). Errors: NotFound "not an Action URL path" when the path is not of that shape (other
// prefix, wrong number of segments, an empty segment); InvalidArgument for everything else
// (longer than kMaxActionUrlBytes, a character not allowed in a segment, bad percent-encoding,
// more than kMaxActionUrlParams parameters, a repeated or badly named parameter, a control or
// non-ASCII byte in a value).
Result<ActionUrlRequest> ParseActionUrlTarget(std::string_view target);

// The PanelEvent of a request (the caller has checked the panel and the secret: see
// ConstantTimeEquals). Errors: NotFound "unknown Action URL event '<event>'"; InvalidArgument
// "Action URL <event>: <reason>" for a missing or malformed code (CheckCode), card_sn
// (NormalizeCardUid), relay1status (0 or 1) or mac (12 hex digits, ':' or '-' separators
// allowed). A variable the panel did not substitute ("$code") is malformed like any other.
Result<PanelEvent> ActionUrlEvent(const ActionUrlRequest& request);

}  // namespace lintel::intercom
