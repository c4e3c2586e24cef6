// The cloud section: the MQTT link, its TLS files, the offline policy, size limits, trusted keys.
#include <algorithm>

#include "config/loader.h"
#include "gateway/base/base64.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kKidExpected =
    "a key id of 1 to 128 printable characters without spaces";
constexpr std::string_view kPublicKeyExpected =
    "standard base64 (with \"=\" padding) of a 32-byte Ed25519 public key";

bool IsKid(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

constexpr std::string_view kCloudKeys[] = {"broker", "client_id",    "mqtt_version", "keep_alive_s",
                                           "tls",    "trusted_keys", "offline",      "limits"};
constexpr std::string_view kLimitsKeys[] = {
    "snapshot_page_bytes", "delta_bytes",    "command_bytes", "head_bytes",
    "events_ack_bytes",    "queue_messages", "queue_bytes",   "reject_journal_interval_s"};
constexpr std::string_view kTlsKeys[] = {"ca_file", "cert_file", "key_file"};
constexpr std::string_view kOfflineKeys[] = {"policy", "staff_only_after_h"};
constexpr std::string_view kMqttVersions[] = {"3.1.1", "5"};
constexpr std::string_view kOfflinePolicies[] = {"keep_enforcing", "staff_only"};
constexpr std::string_view kTrustedKeyKeys[] = {"kid", "public_key"};

// tcp://host:port, ssl://host:port (also mqtt:// and mqtts://): host non-empty, port 1..65535.
bool IsBrokerUri(std::string_view uri) {
  size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view scheme = uri.substr(0, scheme_end);
  if (scheme != "tcp" && scheme != "ssl" && scheme != "mqtt" && scheme != "mqtts") return false;
  std::string_view rest = uri.substr(scheme_end + 3);
  size_t colon = rest.rfind(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  std::string_view host = rest.substr(0, colon);
  std::string_view port = rest.substr(colon + 1);
  if (host.find_first_of("/ ") != std::string_view::npos) return false;
  if (port.empty() || port.size() > 5) return false;
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

void ParseCloud(Loader& l, MapWalker& w) {
  CloudConfig& c = l.config.cloud;
  std::optional<Pos> broker_pos;
  if (auto broker = w.String("broker", Need::kOptional,
                             "a broker address like tcp://127.0.0.1:1883 or ssl://host:8883")) {
    if (!IsBrokerUri(broker->value)) {
      l.problems.Add(broker->pos,
                     "cloud.broker must be an address like tcp://127.0.0.1:1883 or "
                     "ssl://mqtt.example.com:8883, got " +
                         Quote(broker->value));
    } else {
      c.broker = broker->value;
      broker_pos = broker->pos;
    }
  }
  if (auto id = w.String("client_id", Need::kOptional)) c.client_id = id->value;
  if (auto v = w.OneOf("mqtt_version", Need::kOptional, kMqttVersions)) {
    c.mqtt_version = v->value == "5" ? 5 : 4;
  }
  if (auto v = w.Int("keep_alive_s", Need::kOptional, 5, 3600)) c.keep_alive_s = v->value;
  std::optional<Pos> tls_pos;
  w.Mapping("tls", Need::kOptional, kTlsKeys, [&](MapWalker& tls) {
    tls_pos = tls.pos();
    if (auto v = tls.String("ca_file", Need::kOptional, kPathExpected)) c.ca_file = v->value;
    auto cert = tls.String("cert_file", Need::kOptional, kPathExpected);
    auto key = tls.String("key_file", Need::kOptional, kPathExpected);
    if (cert) c.cert_file = cert->value;
    if (key) c.key_file = key->value;
    if (cert.has_value() != key.has_value()) {
      l.problems.Add(cert ? cert->pos : key->pos,
                     "cloud.tls needs both cert_file and key_file (the client certificate and its "
                     "private key), or neither");
    }
  });
  w.Mapping("offline", Need::kOptional, kOfflineKeys, [&](MapWalker& off) {
    if (auto v = off.OneOf("policy", Need::kOptional, kOfflinePolicies)) {
      c.offline =
          v->value == "staff_only" ? OfflinePolicy::kStaffOnly : OfflinePolicy::kKeepEnforcing;
    }
    if (auto v = off.Int("staff_only_after_h", Need::kOptional, 1, 8760)) {
      c.staff_only_after_h = v->value;
    }
  });
  w.Mapping("limits", Need::kOptional, kLimitsKeys, [&](MapWalker& lim) {
    CloudLimits& m = c.limits;
    constexpr int32_t kMiB = 1 << 20;
    // A JWS of the contract is at least a few hundred bytes; 64 MiB is the verifier's own cap.
    auto bytes = [&](const char* key, int32_t* out) {
      if (auto v = lim.Int(key, Need::kOptional, 1024, 64 * kMiB)) *out = v->value;
    };
    bytes("snapshot_page_bytes", &m.snapshot_page_bytes);
    bytes("delta_bytes", &m.delta_bytes);
    bytes("command_bytes", &m.command_bytes);
    bytes("head_bytes", &m.head_bytes);
    bytes("events_ack_bytes", &m.events_ack_bytes);
    if (auto v = lim.Int("queue_messages", Need::kOptional, 16, 100000)) {
      m.queue_messages = v->value;
    }
    if (auto v = lim.Int("queue_bytes", Need::kOptional, kMiB, 1024 * kMiB)) {
      m.queue_bytes = v->value;
    }
    if (auto v = lim.Int("reject_journal_interval_s", Need::kOptional, 1, 86400)) {
      m.reject_journal_interval_s = v->value;
    }
    int32_t largest = std::max(
        {m.snapshot_page_bytes, m.delta_bytes, m.command_bytes, m.head_bytes, m.events_ack_bytes});
    if (m.queue_bytes < largest) {
      l.problems.Add(lim.pos(), "cloud.limits.queue_bytes (" + std::to_string(m.queue_bytes) +
                                    ") must hold at least the largest message allowed (" +
                                    std::to_string(largest) + " bytes)");
    }
  });
  bool tls_scheme = c.broker.rfind("ssl://", 0) == 0 || c.broker.rfind("mqtts://", 0) == 0;
  if (tls_pos && !c.broker.empty() && !tls_scheme) {
    l.problems.Add(*tls_pos, "cloud.tls is set but cloud.broker " + Quote(c.broker) +
                                 " is not a TLS address (use ssl://host:8883)");
  }

  w.List("trusted_keys", Need::kOptional, {"trusted key", "kid", kTrustedKeyKeys},
         [&](MapWalker& item) {
           TrustedKey key;
           if (auto kid = item.Id("kid", Need::kRequired, kKidExpected, IsKid)) {
             key.kid = kid->value;
             CheckUnique(l, l.kids, "trusted key kid", *kid);
           }
           if (auto text = item.String("public_key", Need::kRequired, kPublicKeyExpected)) {
             Result<std::vector<uint8_t>> bytes = Base64Decode(text->value);
             if (!bytes.ok()) {
               l.problems.Add(text->pos, "public_key must be " + std::string(kPublicKeyExpected) +
                                             ": " + bytes.status().message());
             } else if (bytes->size() != key.public_key.size()) {
               l.problems.Add(text->pos,
                              "public_key must be base64 of exactly 32 bytes (an Ed25519 public "
                              "key), got " +
                                  std::to_string(bytes->size()) + " bytes");
             } else {
               std::copy(bytes->begin(), bytes->end(), key.public_key.begin());
             }
           }
           l.config.trusted_keys.push_back(std::move(key));
         });
  if (broker_pos && l.config.trusted_keys.empty()) {
    l.problems.Add(*broker_pos,
                   "cloud.broker is set but cloud.trusted_keys is empty: every cloud message would "
                   "be rejected (add the cloud's signing key: kid and public_key)");
  }
}

}  // namespace

constinit const SectionSpec kCloudSection = {"cloud", Need::kOptional, Shape::kMapping, kCloudKeys,
                                             ParseCloud};

}  // namespace lintel::config::internal
