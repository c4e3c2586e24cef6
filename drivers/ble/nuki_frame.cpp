#include "drivers/ble/nuki_frame.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_crc.h"
#include "drivers/ble/wire.h"

namespace lintel::ble {
namespace {

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", v);
  return buf;
}

void AppendCrc(std::vector<uint8_t>& out, size_t from) {
  uint16_t crc = Crc16CcittFalse(std::span<const uint8_t>(out).subspan(from));
  out.push_back(static_cast<uint8_t>(crc));
  out.push_back(static_cast<uint8_t>(crc >> 8));
}

// Checks the trailing little-endian CRC of `data`.
Status CheckCrc(std::span<const uint8_t> data, const char* what) {
  size_t n = data.size();
  uint16_t stored = static_cast<uint16_t>(data[n - 2] | (data[n - 1] << 8));
  uint16_t computed = Crc16CcittFalse(data.first(n - 2));
  if (stored != computed) {
    return Status::InvalidArgument(std::string(what) + ": bad CRC (frame says " + Hex16(stored) +
                                   ", computed " + Hex16(computed) + ")");
  }
  return Status::Ok();
}

constexpr size_t kMinCipherLength = kMacSize + 8;
constexpr size_t kMaxCipherLength = kMacSize + 8 + kMaxPayloadSize;

Status CheckCipherLength(size_t length) {
  if (length < kMinCipherLength || length > kMaxCipherLength) {
    return Status::InvalidArgument("nuki encrypted frame: length field " + std::to_string(length) +
                                   " outside " + std::to_string(kMinCipherLength) + ".." +
                                   std::to_string(kMaxCipherLength));
  }
  return Status::Ok();
}

}  // namespace

std::vector<uint8_t> EncodePlain(const Message& message) {
  wire::Writer w;
  w.U16(message.command);
  w.Bytes(message.payload);
  AppendCrc(w.out(), 0);
  return w.Take();
}

Result<Message> DecodePlain(std::span<const uint8_t> frame) {
  if (frame.size() < kPlainOverhead || frame.size() > kMaxPlainFrameSize) {
    return Status::InvalidArgument("nuki frame: " + std::to_string(frame.size()) +
                                   " bytes, expected " + std::to_string(kPlainOverhead) + ".." +
                                   std::to_string(kMaxPlainFrameSize));
  }
  LINTEL_RETURN_IF_ERROR(CheckCrc(frame, "nuki frame"));
  Message m;
  m.command = static_cast<uint16_t>(frame[0] | (frame[1] << 8));
  m.payload.assign(frame.begin() + 2, frame.end() - 2);
  return m;
}

std::vector<uint8_t> EncodeEncrypted(const Key32& shared_key, uint32_t auth_id,
                                     const Message& message, const Nonce24& nonce) {
  EnsureSodium();
  wire::Writer plain;
  plain.U32(auth_id);
  plain.U16(message.command);
  plain.Bytes(message.payload);
  AppendCrc(plain.out(), 0);
  const std::vector<uint8_t>& p = plain.out();

  wire::Writer w;
  w.Bytes(nonce);
  w.U32(auth_id);
  w.U16(static_cast<uint16_t>(p.size() + kMacSize));
  std::vector<uint8_t> out = w.Take();
  size_t at = out.size();
  out.resize(at + p.size() + kMacSize);
  crypto_secretbox_easy(out.data() + at, p.data(), p.size(), nonce.data(), shared_key.data());
  sodium_memzero(plain.out().data(), plain.out().size());
  return out;
}

Result<EncryptedHeader> DecodeEncryptedHeader(std::span<const uint8_t> frame) {
  if (frame.size() < kEncryptedHeaderSize) {
    return Status::InvalidArgument("nuki encrypted frame: " + std::to_string(frame.size()) +
                                   " bytes, shorter than its 30-byte header");
  }
  wire::Reader r(frame);
  EncryptedHeader h;
  h.nonce = r.Array<24>();
  h.auth_id = r.U32();
  h.length = r.U16();
  LINTEL_RETURN_IF_ERROR(CheckCipherLength(h.length));
  if (frame.size() != kEncryptedHeaderSize + h.length) {
    return Status::InvalidArgument("nuki encrypted frame: length field says " +
                                   std::to_string(h.length) + " bytes follow the header, " +
                                   std::to_string(frame.size() - kEncryptedHeaderSize) + " do");
  }
  return h;
}

Result<EncryptedMessage> DecodeEncrypted(const Key32& shared_key, std::span<const uint8_t> frame) {
  EnsureSodium();
  Result<EncryptedHeader> header = DecodeEncryptedHeader(frame);
  if (!header.ok()) return header.status();
  std::span<const uint8_t> cipher = frame.subspan(kEncryptedHeaderSize);
  std::vector<uint8_t> plain(cipher.size() - kMacSize);
  if (crypto_secretbox_open_easy(plain.data(), cipher.data(), cipher.size(), header->nonce.data(),
                                 shared_key.data()) != 0) {
    return Status::InvalidArgument(
        "nuki encrypted frame: decryption failed (wrong key, or the frame was altered)");
  }
  LINTEL_RETURN_IF_ERROR(CheckCrc(plain, "nuki encrypted frame"));
  wire::Reader r(plain);
  EncryptedMessage m;
  m.auth_id = r.U32();
  m.message.command = r.U16();
  if (m.auth_id != header->auth_id) {
    return Status::InvalidArgument("nuki encrypted frame: authorization id " +
                                   std::to_string(m.auth_id) + " inside, " +
                                   std::to_string(header->auth_id) + " in clear");
  }
  m.message.payload.assign(plain.begin() + 6, plain.end() - 2);
  return m;
}

std::vector<std::vector<uint8_t>> Chunk(std::span<const uint8_t> frame, size_t mtu) {
  std::vector<std::vector<uint8_t>> chunks;
  if (mtu == 0) mtu = frame.size();
  for (size_t at = 0; at < frame.size(); at += mtu) {
    size_t n = std::min(mtu, frame.size() - at);
    chunks.emplace_back(frame.begin() + static_cast<std::ptrdiff_t>(at),
                        frame.begin() + static_cast<std::ptrdiff_t>(at + n));
  }
  return chunks;
}

std::optional<size_t> PlainPayloadSize(uint16_t command) {
  switch (static_cast<Command>(command)) {
    case Command::kRequestData:
      return 2;
    case Command::kPublicKey:
    case Command::kChallenge:
    case Command::kAuthorizationAuthenticator:
      return 32;
    case Command::kAuthorizationData:
      return 101;
    case Command::kAuthorizationId:
      return 84;
    case Command::kAuthorizationIdConfirmation:
      return 36;
    case Command::kStatus:
      return 1;
    case Command::kErrorReport:
      return 3;
    default:
      return std::nullopt;
  }
}

Result<std::optional<size_t>> Reassembler::ExpectedSize() const {
  if (kind_ == FrameKind::kPlain) {
    if (partial_.size() < 2) return std::optional<size_t>();
    uint16_t command = static_cast<uint16_t>(partial_[0] | (partial_[1] << 8));
    std::optional<size_t> payload = PlainPayloadSize(command);
    if (!payload) {
      return Status::InvalidArgument("nuki reassembly: " + Hex16(command) +
                                     " is not an unencrypted command");
    }
    return std::optional<size_t>(*payload + kPlainOverhead);
  }
  if (partial_.size() < kEncryptedHeaderSize) return std::optional<size_t>();
  size_t length = partial_[28] | (partial_[29] << 8);
  LINTEL_RETURN_IF_ERROR(CheckCipherLength(length));
  return std::optional<size_t>(kEncryptedHeaderSize + length);
}

Result<std::vector<std::vector<uint8_t>>> Reassembler::Feed(std::span<const uint8_t> value) {
  std::vector<std::vector<uint8_t>> frames;
  while (!value.empty()) {
    // Take header bytes one step at a time, then the rest of the frame at once: partial_ never
    // grows past the frame's size, which ExpectedSize bounds.
    Result<std::optional<size_t>> expected = ExpectedSize();
    if (!expected.ok()) {
      partial_.clear();
      return expected.status();
    }
    size_t want;
    if (expected->has_value()) {
      want = **expected - partial_.size();
    } else {
      want = (kind_ == FrameKind::kPlain ? 2 : kEncryptedHeaderSize) - partial_.size();
    }
    size_t take = std::min(want, value.size());
    partial_.insert(partial_.end(), value.begin(),
                    value.begin() + static_cast<std::ptrdiff_t>(take));
    value = value.subspan(take);
    if (expected->has_value() && partial_.size() == **expected) {
      frames.push_back(std::move(partial_));
      partial_.clear();
    }
  }
  // A header completed by the last bytes: check it now, so garbage is reported at once.
  Result<std::optional<size_t>> expected = ExpectedSize();
  if (!expected.ok()) {
    partial_.clear();
    return expected.status();
  }
  return frames;
}

}  // namespace lintel::ble
