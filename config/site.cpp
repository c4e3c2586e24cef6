// The small top-level sections: site, gateway, store, control, logging, policy.
#include <algorithm>
#include <memory>

#include "config/loader.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kTimeZoneExpected = "an IANA name such as Europe/Berlin";

// Shape only; LoadTimeZone decides whether the zone exists. Keeps odd text (paths, "..") away
// from the tz database.
bool LooksLikeZoneName(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.find("..") != std::string_view::npos) return false;
  if (s.front() == '/' || s.back() == '/') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

constexpr std::string_view kSiteKeys[] = {"id", "time_zone"};
void ParseSite(Loader& l, MapWalker& w) {
  if (auto id = w.Id("id", Need::kRequired)) l.config.site_id = id->value;
  if (auto tz = w.String("time_zone", Need::kRequired, kTimeZoneExpected)) {
    l.config.time_zone = tz->value;
    Result<std::shared_ptr<const TimeZone>> zone =
        LooksLikeZoneName(tz->value)
            ? LoadTimeZone(tz->value)
            : Result<std::shared_ptr<const TimeZone>>(Status::NotFound(""));
    if (zone.ok()) {
      l.config.zone = *zone;
    } else {
      l.problems.Add(tz->pos, "unknown time zone " + Quote(tz->value) + " (expected " +
                                  std::string(kTimeZoneExpected) + ")");
    }
  }
}

constexpr std::string_view kGatewayKeys[] = {"id"};
void ParseGateway(Loader& l, MapWalker& w) {
  if (auto id = w.Id("id", Need::kRequired)) l.config.gateway_id = id->value;
}

constexpr std::string_view kStoreKeys[] = {"path", "max_unwritten_events"};
void ParseStore(Loader& l, MapWalker& w) {
  if (auto path = w.String("path", Need::kRequired, kPathExpected)) {
    l.config.store_path = path->value;
  }
  if (auto v = w.Int("max_unwritten_events", Need::kOptional, 100, 10000000,
                     " (journal events kept in memory while the store cannot be written)")) {
    l.config.max_unwritten_events = v->value;
  }
}

constexpr std::string_view kControlKeys[] = {"socket", "idle_timeout_s"};
void ParseControl(Loader& l, MapWalker& w) {
  if (auto socket = w.String("socket", Need::kOptional, kPathExpected)) {
    if (socket->value.size() > kMaxSocketPathBytes) {
      l.problems.Add(socket->pos, "control.socket must be a path of at most " +
                                      std::to_string(kMaxSocketPathBytes) +
                                      " bytes (the limit of a Unix socket address), got " +
                                      std::to_string(socket->value.size()) + " bytes");
    } else {
      l.config.control_socket = socket->value;
    }
  }
  if (auto v = w.Int("idle_timeout_s", Need::kOptional, 1, 3600)) {
    l.config.control_idle_timeout_s = v->value;
  }
}

constexpr std::string_view kLoggingKeys[] = {"level"};
constexpr std::string_view kLogLevels[] = {"error", "warning", "info", "debug"};
void ParseLogging(Loader& l, MapWalker& w) {
  if (auto level = w.OneOf("level", Need::kOptional, kLogLevels)) {
    const std::string& v = level->value;
    l.config.log_level = v == "error"     ? LogLevel::kError
                         : v == "warning" ? LogLevel::kWarning
                         : v == "debug"   ? LogLevel::kDebug
                                          : LogLevel::kInfo;
  }
}

constexpr std::string_view kPolicyKeys[] = {"rent_grace_days", "pin", "keypad_lockout", "clock"};
constexpr std::string_view kClockKeys[] = {"max_ahead_days"};
constexpr std::string_view kPinKeys[] = {"min_length", "max_length", "allow_leading_9"};
constexpr std::string_view kLockoutKeys[] = {"failures", "within_s", "lockout_s"};
void ParsePolicy(Loader& l, MapWalker& w) {
  rules::Policy& p = l.config.policy;
  if (auto v = w.Int("rent_grace_days", Need::kOptional, 0, 365)) p.rent_grace_days = v->value;
  w.Mapping("pin", Need::kOptional, kPinKeys, [&](MapWalker& pin) {
    constexpr int32_t kShortest = 2;
    constexpr int32_t kLongest = 8;
    // An invalid min_length is reported once; max_length is then only held to 2..8.
    int32_t floor = kShortest;
    if (auto v = pin.Int("min_length", Need::kOptional, kShortest, kLongest)) {
      p.pin_min_length = v->value;
      floor = v->value;
    } else if (!pin.Has("min_length")) {
      floor = p.pin_min_length;
    }
    if (auto v = pin.Int("max_length", Need::kOptional, floor, kLongest,
                         floor > kShortest ? " (not less than min_length)" : "")) {
      p.pin_max_length = v->value;
    }
    if (auto v = pin.Bool("allow_leading_9", Need::kOptional)) p.pin_allow_leading_9 = v->value;
  });
  w.Mapping("keypad_lockout", Need::kOptional, kLockoutKeys, [&](MapWalker& lockout) {
    if (auto v = lockout.Int("failures", Need::kOptional, 0, 100, " (0 disables the lockout)")) {
      p.lockout_failures = v->value;
    }
    if (auto v = lockout.Int("within_s", Need::kOptional, 1, 86400)) p.lockout_window_s = v->value;
    if (auto v = lockout.Int("lockout_s", Need::kOptional, 1, 86400)) p.lockout_s = v->value;
  });
  w.Mapping("clock", Need::kOptional, kClockKeys, [&](MapWalker& clock) {
    if (auto v = clock.Int("max_ahead_days", Need::kOptional, 1, 365)) {
      p.clock_max_ahead_days = v->value;
    }
  });
}

}  // namespace

constinit const SectionSpec kSiteSection = {"site", Need::kRequired, Shape::kMapping, kSiteKeys,
                                            ParseSite};
constinit const SectionSpec kGatewaySection = {"gateway", Need::kRequired, Shape::kMapping,
                                               kGatewayKeys, ParseGateway};
constinit const SectionSpec kStoreSection = {"store", Need::kRequired, Shape::kMapping, kStoreKeys,
                                             ParseStore};
constinit const SectionSpec kControlSection = {"control", Need::kOptional, Shape::kMapping,
                                               kControlKeys, ParseControl};
constinit const SectionSpec kLoggingSection = {"logging", Need::kOptional, Shape::kMapping,
                                               kLoggingKeys, ParseLogging};
constinit const SectionSpec kPolicySection = {"policy", Need::kOptional, Shape::kMapping,
                                              kPolicyKeys, ParsePolicy};

}  // namespace lintel::config::internal

namespace lintel::config {

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "info";
}

}  // namespace lintel::config
