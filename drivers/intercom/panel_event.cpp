#include "drivers/intercom/panel_event.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace lintel::intercom {

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kCode:
      return "code";
    case EventKind::kCard:
      return "card";
    case EventKind::kKey:
      return "key";
    case EventKind::kCall:
      return "call";
    case EventKind::kInput:
      return "input";
    case EventKind::kSwitchState:
      return "switch_state";
    case EventKind::kDoorState:
      return "door_state";
    case EventKind::kUnauthorizedOpen:
      return "unauthorized_open";
    case EventKind::kOpenTooLong:
      return "open_too_long";
    case EventKind::kTamper:
      return "tamper";
    case EventKind::kDeviceStartup:
      return "device_startup";
    case EventKind::kOther:
      return "other";
  }
  return "other";
}

std::string Describe(const PanelEvent& e) {
  std::string s = e.name.empty() ? std::string(EventKindName(e.kind)) : e.name;
  if (e.id != 0 || e.channel != 0) {
    s += " #" + std::to_string(e.id);
    if (e.channel != 0) s += " (channel " + std::to_string(e.channel) + ")";
  }
  switch (e.kind) {
    case EventKind::kCode:
      s += " (code)";  // never the digits
      break;
    case EventKind::kKey:
      s += " (key)";  // a digit key may be part of a PIN
      break;
    case EventKind::kCard:
      s += " card " + e.card_uid;
      break;
    case EventKind::kCall:
      s += " state " + e.call_state;
      if (!e.call_direction.empty()) s += " " + e.call_direction;
      break;
    default:
      if (!e.port.empty()) s += " port " + e.port;
      if (!e.state.empty()) s += " state " + e.state;
      break;
  }
  if (!e.mac.empty()) s += " mac " + e.mac;
  return s;
}

Status CheckCode(std::string_view code) {
  if (code.size() < kMinCodeDigits || code.size() > kMaxCodeDigits) {
    return Status::InvalidArgument("code is not " + std::to_string(kMinCodeDigits) + ".." +
                                   std::to_string(kMaxCodeDigits) + " digits long (" +
                                   std::to_string(code.size()) + " characters)");
  }
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::InvalidArgument("code has a character that is not a digit");
  }
  return Status::Ok();
}

Result<std::string> NormalizeCardUid(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("card id is empty");
  if (text.size() > kMaxCardDigits) {
    return Status::InvalidArgument("card id longer than " + std::to_string(kMaxCardDigits) +
                                   " hex digits");
  }
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'f') {
      c = static_cast<char>(c - 'a' + 'A');
    } else if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
      return Status::InvalidArgument("card id has a non-hex character");
    }
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of the longer string is looked at whatever the contents; the lengths are folded
  // into the result rather than returned early.
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

std::optional<bool> ParseActive(std::string_view text) {
  std::string t(text);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::array<std::string_view, 7> kTrue = {"true",   "1",      "on",       "open",
                                                            "opened", "active", "activated"};
  static constexpr std::array<std::string_view, 6> kFalse = {"false",  "0",        "off",
                                                             "closed", "inactive", "deactivated"};
  if (std::find(kTrue.begin(), kTrue.end(), t) != kTrue.end()) return true;
  if (std::find(kFalse.begin(), kFalse.end(), t) != kFalse.end()) return false;
  return std::nullopt;
}

}  // namespace lintel::intercom
