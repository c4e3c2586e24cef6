// Nuki Bluetooth API framing (library `lintel_ble`, pure: no I/O, no clock, no logging).
//
// Two frame formats, all integers little-endian:
//  - unencrypted (pairing GDIO characteristic): command id (2) | payload | CRC (2)
//  - encrypted (keyturner USDIO characteristic):
//      nonce (24) | authorization id (4) | length (2)          in clear, then
//      crypto_secretbox_xsalsa20poly1305(authorization id (4) | command id (2) | payload | CRC (2))
//    where length is the ciphertext length including the 16-byte MAC.
// The CRC is CRC-16/CCITT-FALSE over everything before it (nuki_crc.h).
//
// GATT values are at most 20 bytes: frames are written as Chunk()s and arrive as several
// indications, which a Reassembler turns back into frames.
//
// Every function is thread-safe; a Reassembler is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "drivers/ble/nuki_crypto.h"
#include "gateway/base/status.h"

namespace lintel::ble {

// GATT UUIDs (lower case, as BlueZ spells them).
inline constexpr std::string_view kPairingServiceUuid = "a92ee100-5501-11e4-916c-0800200c9a66";
inline constexpr std::string_view kPairingGdioUuid = "a92ee101-5501-11e4-916c-0800200c9a66";
inline constexpr std::string_view kKeyturnerServiceUuid = "a92ee200-5501-11e4-916c-0800200c9a66";
inline constexpr std::string_view kKeyturnerGdioUuid = "a92ee201-5501-11e4-916c-0800200c9a66";
inline constexpr std::string_view kKeyturnerUsdioUuid = "a92ee202-5501-11e4-916c-0800200c9a66";

// The largest payload this codec accepts (more than any command of the facts sheet needs: the
// longest, Authorization Data (Invite), has 120 bytes). Decoders and the Reassembler reject
// anything longer, so no input makes them allocate more than a few hundred bytes.
inline constexpr size_t kMaxPayloadSize = 256;
inline constexpr size_t kPlainOverhead = 4;         // command id + CRC
inline constexpr size_t kEncryptedHeaderSize = 30;  // nonce + authorization id + length
inline constexpr size_t kMacSize = 16;
// Clear header + MAC + inner authorization id, command id and CRC.
inline constexpr size_t kEncryptedOverhead = kEncryptedHeaderSize + kMacSize + 8;
inline constexpr size_t kMaxPlainFrameSize = kMaxPayloadSize + kPlainOverhead;
inline constexpr size_t kMaxEncryptedFrameSize = kMaxPayloadSize + kEncryptedOverhead;
// The most one GATT characteristic value carries.
inline constexpr size_t kGattValueSize = 20;

// One command with its payload. `command` is the raw id (an unknown id is representable);
// nuki_commands.h has the ids and the typed payloads.
struct Message {
  uint16_t command = 0;
  std::vector<uint8_t> payload;

  bool operator==(const Message&) const = default;
};

// command | payload | CRC. Precondition: payload.size() <= kMaxPayloadSize (a longer payload is
// encoded, and every decoder rejects it).
std::vector<uint8_t> EncodePlain(const Message& message);

// Errors (InvalidArgument, the message says which): shorter than 4 bytes, longer than
// kMaxPlainFrameSize, CRC mismatch.
Result<Message> DecodePlain(std::span<const uint8_t> frame);

// The encrypted frame of `message` from `auth_id` under `shared_key` with `nonce` (the caller
// takes it from a NonceSource; never twice with one key). Same precondition as EncodePlain.
std::vector<uint8_t> EncodeEncrypted(const Key32& shared_key, uint32_t auth_id,
                                     const Message& message, const Nonce24& nonce);

// The clear part of an encrypted frame (the lock side picks the key by `auth_id`).
struct EncryptedHeader {
  Nonce24 nonce{};
  uint32_t auth_id = 0;
  uint16_t length = 0;  // ciphertext length including the MAC
};
// Errors: InvalidArgument when the frame is shorter than the header, its length field is not
// the rest of the frame, or the length cannot hold MAC + auth id + command + CRC or exceeds
// what kMaxPayloadSize allows.
Result<EncryptedHeader> DecodeEncryptedHeader(std::span<const uint8_t> frame);

struct EncryptedMessage {
  uint32_t auth_id = 0;
  Message message;

  bool operator==(const EncryptedMessage&) const = default;
};
// Decrypts and checks a whole encrypted frame. Errors (InvalidArgument): every header error
// above; "decryption failed" (wrong key, or the frame was altered: the MAC does not verify);
// CRC mismatch of the decrypted data; the inner authorization id differs from the clear one.
Result<EncryptedMessage> DecodeEncrypted(const Key32& shared_key, std::span<const uint8_t> frame);

// Splits a frame into GATT values of at most `mtu` bytes (the last may be shorter). mtu 0 means
// "no limit": one value holding the whole frame. An empty frame gives no values.
std::vector<std::vector<uint8_t>> Chunk(std::span<const uint8_t> frame,
                                        size_t mtu = kGattValueSize);

// The payload size of an unencrypted command, which is how a Reassembler knows where an
// unencrypted frame ends (those frames carry no length). Unencrypted frames exist only during
// pairing, and each pairing command has a fixed size: Request Data 2 (a request for the Public
// Key), Public Key 32, Challenge 32, Authorization Authenticator 32, Authorization Data 101,
// Authorization-ID 84, Authorization-ID Confirmation 36, Status 1, Error Report 3. Any other
// command id: nullopt.
std::optional<size_t> PlainPayloadSize(uint16_t command);

enum class FrameKind : uint8_t { kPlain, kEncrypted };

// Turns a stream of characteristic values (indications, or the chunks a client wrote) back into
// whole frames. Encrypted frames end where the clear header's length says (once the first 30
// bytes are in); unencrypted frames end where PlainPayloadSize(command id) says (once the first
// 2 bytes are in). Frames are not checked beyond that: pass them to DecodePlain/DecodeEncrypted.
//
// Bounded: it never holds more than one incomplete frame of at most kMax*FrameSize bytes.
// Garbage (an unknown unencrypted command id, an impossible encrypted length) is an error and
// the partial frame is dropped: the next value starts a fresh frame.
class Reassembler {
 public:
  explicit Reassembler(FrameKind kind) : kind_(kind) {}

  // Feeds one value. Returns the frames it completed, in order: usually none or one (bytes after
  // the end of a frame start the next frame). Errors: InvalidArgument naming the garbage; the
  // reassembler is then empty, and frames completed earlier in the same value are lost.
  Result<std::vector<std::vector<uint8_t>>> Feed(std::span<const uint8_t> value);

  // Drops a partial frame (a new command starts; a timeout).
  void Reset() { partial_.clear(); }
  // Bytes of the incomplete frame held.
  size_t pending() const { return partial_.size(); }
  FrameKind kind() const { return kind_; }

 private:
  // The whole frame's size once enough header is in; nullopt when more bytes are needed.
  Result<std::optional<size_t>> ExpectedSize() const;

  FrameKind kind_;
  std::vector<uint8_t> partial_;
};

}  // namespace lintel::ble
