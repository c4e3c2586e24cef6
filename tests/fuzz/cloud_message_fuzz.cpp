// libFuzzer target for the signed cloud messages (gateway/cloud/messages.h, jws.h). Built by
// tests/fuzz/CMakeLists.txt with -DLINTEL_FUZZ=ON; tools/test runs it from corpus/cloud_message/.
//
// Each input is tried two ways, on every inbound topic:
//   1. as a compact JWS, as it would arrive from the broker: splitting, base64url, the header,
//      alg/crit/kid and the signature. Mutated seeds almost never verify, which is the point:
//      anything accepted here must also pass VerifyJws on its own.
//   2. as a payload, signed here with a test key the target trusts, so the fuzzer reaches what
//      lies behind the signature: type, site, gateway, every field rule, ops, records, commands.
//
// The keys are those of tests/unit/cloud/vectors/keys.txt; the seeds in corpus/cloud_message/ are
// signed with them (tests/unit/cloud/vectors/make-vectors.sh).
//
// And, for sync/delta and sync/snapshot, as a verified payload straight into the simdjson fast
// path (messages.h, internal::FastParsePayload): it gives up, or gives exactly the message the
// current parser (internal::ParsePayload) gives.
//
// Checks beyond "no crash, no sanitizer report": an accepted message is the topic's alternative;
// a rejected one has a reason whose every line starts with the message type (so a hostile payload
// cannot forge a log line) and holds no other byte below 0x20.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>

#include "gateway/cloud/jws.h"
#include "gateway/cloud/messages.h"
#include "tests/unit/codec/same_values.h"

namespace {

using lintel::cloud::Ed25519KeyPair;
using lintel::cloud::Expect;
using lintel::cloud::Message;
using lintel::cloud::Topic;

constexpr std::array<uint8_t, 32> kSeed2026 = {
    0x1e, 0x96, 0x94, 0x95, 0x29, 0x6b, 0xe7, 0x8b, 0xf5, 0xd9, 0xdf, 0x3c, 0xa1, 0x18, 0x17, 0x20,
    0xa7, 0xd8, 0x67, 0x07, 0x48, 0xc4, 0xdf, 0x8e, 0x41, 0xb0, 0xb1, 0xad, 0x39, 0x8d, 0x80, 0x21};
constexpr std::array<uint8_t, 32> kSeed2027 = {
    0x9b, 0xc4, 0xa9, 0xe4, 0xc3, 0xb6, 0x86, 0x4b, 0xa8, 0x0f, 0xa4, 0x43, 0x68, 0x67, 0x17, 0x27,
    0xf6, 0x1b, 0x75, 0xbb, 0x95, 0x8f, 0x27, 0x82, 0xae, 0x48, 0xa1, 0x45, 0x81, 0xc7, 0xb3, 0x44};

const Ed25519KeyPair& Key2026() {
  static const Ed25519KeyPair pair = lintel::cloud::Ed25519KeyPairFromSeed(kSeed2026);
  return pair;
}

const Expect& MapleCourt() {
  static const Expect expect = [] {
    Expect e;
    e.site = "maple-court";
    e.gateway = "gw-1";
    e.keys.push_back({"test-2026", Key2026().public_key});
    e.keys.push_back({"test-2027", lintel::cloud::Ed25519KeyPairFromSeed(kSeed2027).public_key});
    return e;
  }();
  return expect;
}

void Check(Topic topic, std::string_view jws, bool must_verify) {
  lintel::cloud::Rejection rejection;
  lintel::Result<Message> m =
      lintel::cloud::ParseCloudMessage(topic, jws, MapleCourt(), &rejection);
  if (m.ok()) {
    if (m->index() != static_cast<size_t>(topic)) std::abort();
    if (must_verify && !lintel::cloud::VerifyJws(jws, MapleCourt().keys).ok()) std::abort();
    return;
  }
  if (m.status().code() != lintel::StatusCode::kInvalidArgument) std::abort();
  if ((rejection.reason == lintel::cloud::RejectReason::kSignature) != rejection.jws.has_value()) {
    std::abort();
  }
  const std::string& message = m.status().message();
  const std::string_view type = lintel::cloud::MessageType(topic);
  size_t line = 0;
  while (true) {
    if (std::string_view(message).substr(line, type.size()) != type) std::abort();
    const size_t nl = message.find('\n', line);
    for (size_t i = line; i < (nl == std::string::npos ? message.size() : nl); ++i) {
      const auto c = static_cast<unsigned char>(message[i]);
      if (c < 0x20) std::abort();
    }
    if (nl == std::string::npos) break;
    line = nl + 1;
  }
}

// The fast path gives up or agrees with the current parser, value for value.
void CheckFast(Topic topic, const std::string& payload) {
  using lintel::codec::testing::Same;
  std::optional<Message> fast =
      lintel::cloud::internal::FastParsePayload(topic, payload, MapleCourt());
  if (!fast) return;
  lintel::Result<Message> current =
      lintel::cloud::internal::ParsePayload(topic, payload, MapleCourt());
  if (!current.ok() || current->index() != fast->index()) std::abort();
  if (const auto* d = std::get_if<lintel::cloud::Delta>(&*fast)) {
    const auto& c = std::get<lintel::cloud::Delta>(*current);
    if (std::tie(d->epoch, d->version, d->prev, d->issued_at) !=
            std::tie(c.epoch, c.version, c.prev, c.issued_at) ||
        d->ops.size() != c.ops.size()) {
      std::abort();
    }
    for (size_t i = 0; i < d->ops.size(); ++i) {
      if (!Same(d->ops[i], c.ops[i])) std::abort();
    }
    return;
  }
  const auto& p = std::get<lintel::cloud::SnapshotPage>(*fast);
  const auto& c = std::get<lintel::cloud::SnapshotPage>(*current);
  if (std::tie(p.epoch, p.version, p.snapshot_id, p.page, p.pages) !=
          std::tie(c.epoch, c.version, c.snapshot_id, c.page, c.pages) ||
      !Same(p.records, c.records)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::string signed_payload =
      lintel::cloud::SignJws(bytes, "test-2026", Key2026().secret_key);
  for (Topic topic : lintel::cloud::kInboundTopics) {
    Check(topic, bytes, /*must_verify=*/true);
    Check(topic, signed_payload, /*must_verify=*/false);
  }
  CheckFast(Topic::kSyncDelta, std::string(bytes));
  CheckFast(Topic::kSyncSnapshot, std::string(bytes));
  return 0;
}
