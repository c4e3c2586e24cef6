// libFuzzer target for the Nuki BLE codec (STYLE.md 13): everything that parses lock bytes.
// Input: byte 0 selects how the rest is read, byte 1 the chunk size for reassembly:
//  - the rest as one unencrypted frame (DecodePlain), then its payload through the decoder of
//    its command id, and the decoders of every command;
//  - the rest as an encrypted frame under a fixed key (DecodeEncryptedHeader, DecodeEncrypted);
//  - the rest as a stream of indications through both Reassemblers, every frame decoded.
// Invariants: nothing reads out of bounds (ASan), a decoded payload re-encodes to the same bytes,
// a reassembler never holds more than one frame, frames it yields have the announced size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_frame.h"

namespace {

using namespace lintel::ble;

void Check(bool ok) {
  if (!ok) std::abort();
}

template <typename T>
void Payload(std::span<const uint8_t> p) {
  lintel::Result<T> v = T::Decode(p);
  if (!v.ok()) return;
  std::vector<uint8_t> again = v->Encode();
  // Strings stop at their first NUL, so bytes after it in a string field may differ; the size
  // never does, and neither does a second round.
  Check(again.size() == p.size());
  lintel::Result<T> twice = T::Decode(again);
  Check(twice.ok() && twice->Encode() == again);
}

void EveryPayload(std::span<const uint8_t> p) {
  Payload<RequestData>(p);
  Payload<StatusMessage>(p);
  Payload<ErrorReport>(p);
  Payload<Challenge>(p);
  Payload<PublicKey>(p);
  Payload<AuthorizationAuthenticator>(p);
  Payload<AuthorizationData>(p);
  Payload<AuthorizationId>(p);
  Payload<AuthorizationIdConfirmation>(p);
  Payload<KeyturnerStates>(p);
  Payload<LockActionRequest>(p);
  Payload<BatteryReport>(p);
  Payload<UpdateTime>(p);
  Payload<KeypadCodeAdd>(p);
  Payload<KeypadCodeId>(p);
  Payload<KeypadCodeRequest>(p);
  Payload<KeypadCodeCount>(p);
  Payload<KeypadCode>(p);
  Payload<KeypadCodeUpdate>(p);
  Payload<KeypadCodeRemove>(p);
  Payload<AuthorizationInvite>(p);
  Payload<AuthorizationIdInvite>(p);
  Payload<AuthorizationUpdate>(p);
  Payload<AuthorizationRemove>(p);
  Payload<AuthorizationRequest>(p);
  Payload<AuthorizationCount>(p);
  Payload<AuthorizationEntry>(p);
  Payload<LogRequest>(p);
  Payload<LogEntryCount>(p);
  Payload<LogEntry>(p);
  if (auto e = LogEntry::Decode(p); e.ok()) {
    (void)e->lock_action();
    (void)e->keypad_action();
  }
  if (auto s = KeyturnerStates::Decode(p); s.ok()) (void)ToInstant(s->current_time);
  (void)BeaconStateChanged(p);
}

const Key32 kKey = {0x21, 0x7F, 0xCB, 0x0F, 0x18, 0xCA, 0xF2, 0x84, 0xE9, 0xBD, 0xEA,
                    0x0B, 0x94, 0xB8, 0x3B, 0x8D, 0x10, 0x86, 0x7E, 0xD7, 0x06, 0xBF,
                    0xDE, 0xDB, 0xD2, 0x38, 0x1F, 0x4C, 0xB3, 0xB8, 0xF7, 0x30};

void Plain(std::span<const uint8_t> frame) {
  lintel::Result<Message> m = DecodePlain(frame);
  if (!m.ok()) return;
  Check(EncodePlain(*m) == std::vector<uint8_t>(frame.begin(), frame.end()));
  EveryPayload(m->payload);
}

void Encrypted(std::span<const uint8_t> frame) {
  (void)DecodeEncryptedHeader(frame);
  lintel::Result<EncryptedMessage> m = DecodeEncrypted(kKey, frame);
  if (!m.ok()) return;
  Check(m->message.payload.size() <= kMaxPayloadSize);
  EveryPayload(m->message.payload);
}

void Reassemble(FrameKind kind, std::span<const uint8_t> stream, size_t chunk) {
  Reassembler r(kind);
  for (const std::vector<uint8_t>& value : Chunk(stream, chunk)) {
    lintel::Result<std::vector<std::vector<uint8_t>>> frames = r.Feed(value);
    Check(r.pending() <= (kind == FrameKind::kPlain ? kMaxPlainFrameSize : kMaxEncryptedFrameSize));
    if (!frames.ok()) {
      Check(r.pending() == 0);
      continue;
    }
    for (const std::vector<uint8_t>& f : *frames) {
      if (kind == FrameKind::kPlain) {
        Check(f.size() >= 2 && PlainPayloadSize(static_cast<uint16_t>(f[0] | (f[1] << 8))).value() +
                                       kPlainOverhead ==
                                   f.size());
        Plain(f);
      } else {
        Check(DecodeEncryptedHeader(f).ok());
        Encrypted(f);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::span<const uint8_t> rest(data + 2, size - 2);
  size_t chunk = data[1] % 24;  // 0 = one value
  switch (data[0] % 4) {
    case 0:
      Plain(rest);
      break;
    case 1:
      Encrypted(rest);
      break;
    case 2:
      Reassemble(FrameKind::kPlain, rest, chunk);
      Reassemble(FrameKind::kEncrypted, rest, chunk);
      break;
    case 3:
      EveryPayload(rest);
      break;
  }
  return 0;
}
