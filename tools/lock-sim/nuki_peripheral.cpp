#include "tools/lock-sim/nuki_peripheral.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace lintel::locksim {
namespace {

constexpr const char* kUsage =
    "nuki commands: press-button | keypad CODE | manual unlock|lock|unlatch|lock-n-go|full-lock "
    "| door open|closed | battery PERCENT [critical] | jam on|off | busy N | lose-codes | "
    "corrupt-crc | revoke ID [off] | pin N | time RFC3339 | advance SECONDS | tz MINUTES | "
    "add-code CODE NAME [FROM UNTIL] | authorize NAME [app|bridge|fob|keypad] | state [codes]";

std::optional<int64_t> ParseInt(const std::string& s, int64_t min, int64_t max) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != s.size() || v < min || v > max) return std::nullopt;
  return v;
}

// "-" = no limit (an all-zero date); otherwise an RFC 3339 instant.
Result<ble::LockDateTime> ParseDate(const std::string& s) {
  if (s == "-") return ble::LockDateTime{};
  Result<Instant> t = ParseRfc3339(s);
  if (!t.ok()) return t.status();
  return ble::ToLockDateTime(*t);
}

std::string Text(const nlohmann::json& j) { return j.dump(); }

}  // namespace

NukiPeripheral::NukiPeripheral(PeripheralHost& host, LockPeerOptions options,
                               std::unique_ptr<ble::RandomSource> random,
                               std::unique_ptr<ble::NonceSource> nonces)
    : host_(host),
      random_(random ? std::move(random) : std::make_unique<ble::SodiumRandomSource>()),
      nonces_(nonces ? std::move(nonces) : std::make_unique<ble::RandomNonceSource>()),
      last_wall_(host.clock().Wall()) {
  peer_ = std::make_unique<LockPeer>(std::move(options), *random_, *nonces_, last_wall_);
}

void NukiPeripheral::SyncClock() {
  Instant wall = host_.clock().Wall();
  if (wall > last_wall_) peer_->AdvanceTime(wall - last_wall_);
  last_wall_ = wall;
}

void NukiPeripheral::PublishStateChanged() {
  bool changed = peer_->state_changed();
  if (published_ == changed) return;
  published_ = changed;
  host_.SetStateChanged(changed);
}

Result<std::vector<Peripheral::Indication>> NukiPeripheral::OnWrite(
    std::string_view characteristic_uuid, std::span<const uint8_t> value) {
  SyncClock();
  const uint64_t actions = peer_->lock_action_commands();
  Result<std::vector<Indication>> out = peer_->OnWrite(characteristic_uuid, value);
  if (peer_->lock_action_commands() != actions) {
    host_.Report("lock_action", ble::LockActionName(peer_->last_commanded_action()));
  }
  PublishStateChanged();
  return out;
}

void NukiPeripheral::OnConnect() {
  SyncClock();
  peer_->OnConnect();
}

void NukiPeripheral::OnDisconnect() { peer_->OnDisconnect(); }

Result<std::string> NukiPeripheral::OnCommand(const std::vector<std::string>& args) {
  SyncClock();
  Result<std::string> r = [&]() -> Result<std::string> {
    const size_t n = args.size();
    const std::string cmd = n > 0 ? args[0] : "";
    auto bad = [&](std::string what) {
      return Status::InvalidArgument(what.empty() ? std::string(kUsage) : what);
    };
    if (cmd == "press-button" && n == 1) {
      peer_->PressButton();
      return Text({{"pairing_mode", true},
                   {"until", FormatRfc3339(peer_->now() + peer_->options().pairing_window)}});
    }
    if (cmd == "keypad" && n == 2) {
      std::optional<int64_t> code = ParseInt(args[1], 0, 999999999);
      if (!code) return bad("keypad CODE: digits");
      KeypadResult k = peer_->EnterKeypadCode(static_cast<uint32_t>(*code));
      nlohmann::json j{{"accepted", k.accepted()}, {"outcome", KeypadOutcomeName(k.outcome)}};
      j["code_id"] = k.code_id ? nlohmann::json(*k.code_id) : nlohmann::json(nullptr);
      if (k.outcome == KeypadResult::Outcome::kOutsideWindow) {
        j["window"] = WindowVerdictName(k.window);
      }
      return Text(j);
    }
    if (cmd == "manual" && n == 2) {
      static const std::pair<const char*, ble::LockAction> kActions[] = {
          {"unlock", ble::LockAction::kUnlock},
          {"lock", ble::LockAction::kLock},
          {"unlatch", ble::LockAction::kUnlatch},
          {"lock-n-go", ble::LockAction::kLockNGo},
          {"full-lock", ble::LockAction::kFullLock}};
      for (const auto& [name, action] : kActions) {
        if (args[1] == name) {
          peer_->ManualAction(action);
          return Text({{"lock_state", ble::LockStateName(peer_->state().lock_state)}});
        }
      }
      return bad("manual unlock|lock|unlatch|lock-n-go|full-lock");
    }
    if (cmd == "door" && n == 2 && (args[1] == "open" || args[1] == "closed")) {
      peer_->SetDoor(args[1] == "open");
      return Text({{"door", ble::DoorSensorStateName(peer_->state().door)}});
    }
    if (cmd == "battery" && (n == 2 || (n == 3 && args[2] == "critical"))) {
      std::optional<int64_t> percent = ParseInt(args[1], 0, 100);
      if (!percent) return bad("battery PERCENT [critical]: PERCENT 0..100");
      peer_->SetBattery(static_cast<int>(*percent), n == 3);
      return Text({{"battery", *percent}, {"critical", n == 3}});
    }
    if (cmd == "jam" && n == 2 && (args[1] == "on" || args[1] == "off")) {
      peer_->SetJammed(args[1] == "on");
      return Text({{"jammed", args[1] == "on"}});
    }
    if (cmd == "busy" && n == 2) {
      std::optional<int64_t> count = ParseInt(args[1], 0, 1'000'000);
      if (!count) return bad("busy N: N 0..1000000");
      peer_->SetBusy(static_cast<int>(*count));
      return Text({{"busy", *count}});
    }
    if (cmd == "lose-codes" && n == 1) {
      peer_->LoseCodes();
      return Text({{"codes", 0}});
    }
    if (cmd == "corrupt-crc" && n == 1) {
      peer_->CorruptNextCrc();
      return Text({{"corrupt_next_crc", true}});
    }
    if (cmd == "revoke" && (n == 2 || (n == 3 && args[2] == "off"))) {
      std::optional<int64_t> id = ParseInt(args[1], 0, 0xFFFFFFFF);
      if (!id) return bad("revoke ID [off]: ID a number");
      LINTEL_RETURN_IF_ERROR(peer_->SetAuthorizationRevoked(static_cast<uint32_t>(*id), n == 2));
      return Text({{"authorization", *id}, {"revoked", n == 2}});
    }
    if (cmd == "pin" && n == 2) {
      std::optional<int64_t> pin = ParseInt(args[1], 0, 0xFFFF);
      if (!pin) return bad("pin N: N 0..65535");
      peer_->set_security_pin(static_cast<uint16_t>(*pin));
      return Text({{"pin", "set"}});
    }
    if (cmd == "time" && n == 2) {
      Result<Instant> t = ParseRfc3339(args[1]);
      if (!t.ok()) return bad("time RFC3339: " + t.status().message());
      peer_->SetTime(*t);
      return Text({{"time", FormatRfc3339(peer_->now())}});
    }
    if (cmd == "advance" && n == 2) {
      std::optional<int64_t> s = ParseInt(args[1], 0, int64_t{100} * 366 * 86400);
      if (!s) return bad("advance SECONDS: 0 .. 100 years");
      peer_->AdvanceTime(std::chrono::seconds(*s));
      return Text({{"time", FormatRfc3339(peer_->now())}});
    }
    if (cmd == "tz" && n == 2) {
      std::optional<int64_t> m = ParseInt(args[1], -14 * 60, 14 * 60);
      if (!m) return bad("tz MINUTES: -840..840");
      peer_->SetTimezoneOffset(static_cast<int16_t>(*m));
      return Text({{"timezone_offset_min", *m}});
    }
    if (cmd == "add-code" && (n == 3 || n == 5)) {
      std::optional<int64_t> code = ParseInt(args[1], 0, 999999999);
      if (!code) return bad("add-code CODE NAME [FROM UNTIL]: CODE digits");
      ble::AccessWindow w;
      if (n == 5) {
        Result<ble::LockDateTime> from = ParseDate(args[3]);
        Result<ble::LockDateTime> until = ParseDate(args[4]);
        if (!from.ok() || !until.ok()) {
          return bad("add-code CODE NAME [FROM UNTIL]: FROM and UNTIL are RFC 3339 or -");
        }
        w.from = *from;
        w.until = *until;
        w.time_limited = !(w.from == ble::LockDateTime{} && w.until == ble::LockDateTime{});
      }
      Result<uint16_t> id = peer_->AddKeypadCode(static_cast<uint32_t>(*code), args[2], w);
      if (!id.ok()) return id.status();
      return Text({{"code_id", *id}});
    }
    if (cmd == "authorize" && (n == 2 || n == 3)) {
      ble::IdType type = ble::IdType::kApp;
      if (n == 3) {
        static const std::pair<const char*, ble::IdType> kTypes[] = {
            {"app", ble::IdType::kApp},
            {"bridge", ble::IdType::kBridge},
            {"fob", ble::IdType::kFob},
            {"keypad", ble::IdType::kKeypad}};
        bool found = false;
        for (const auto& [name, t] : kTypes) {
          if (args[2] == name) {
            type = t;
            found = true;
          }
        }
        if (!found) return bad("authorize NAME [app|bridge|fob|keypad]");
      }
      Result<uint32_t> id = peer_->AddAuthorization(type, args[1], 0, random_->Next());
      if (!id.ok()) return id.status();
      return Text({{"id", *id}});
    }
    if (cmd == "state" && (n == 1 || (n == 2 && args[1] == "codes"))) {
      return peer_->ToJson(n == 2);
    }
    return bad("");
  }();
  PublishStateChanged();
  return r;
}

}  // namespace lintel::locksim
