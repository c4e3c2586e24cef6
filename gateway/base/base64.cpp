#include "gateway/base/base64.h"

#include <array>

namespace lintel {

namespace {

constexpr std::string_view kStandard =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlSafe =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> ReverseTable(std::string_view alphabet) {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<uint8_t>(alphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}

constexpr std::array<uint8_t, 256> kStandardReverse = ReverseTable(kStandard);
constexpr std::array<uint8_t, 256> kUrlSafeReverse = ReverseTable(kUrlSafe);

std::string Encode(std::span<const uint8_t> in, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Printable(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 15];
}

// `padding_required`: the standard form. Otherwise padding may be absent, but if the text has any
// '=' it must be the complete padding of its last group.
Result<std::vector<uint8_t>> Decode(std::string_view text, const std::array<uint8_t, 256>& table,
                                    bool padding_required) {
  size_t pad = 0;
  while (pad < text.size() && pad < 2 && text[text.size() - 1 - pad] == '=') ++pad;
  std::string_view body = text.substr(0, text.size() - pad);
  if (padding_required || pad > 0) {
    if (text.size() % 4 != 0) {
      return Status::InvalidArgument(
          "base64 length must be a multiple of 4 (with '=' padding), got " +
          std::to_string(text.size()) + " characters");
    }
  }
  if (body.size() % 4 == 1) {
    return Status::InvalidArgument("base64 text is truncated: " + std::to_string(body.size()) +
                                   " characters cannot encode whole bytes");
  }
  std::vector<uint8_t> out;
  out.reserve(body.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    uint8_t v = table[static_cast<uint8_t>(body[i])];
    if (v == kInvalid) {
      if (body[i] == '=') {
        return Status::InvalidArgument("base64 padding '=' in the middle of the text at offset " +
                                       std::to_string(i));
      }
      return Status::InvalidArgument("invalid base64 character " + Printable(body[i]) +
                                     " at offset " + std::to_string(i));
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) {
    return Status::InvalidArgument(
        "base64 text is not canonical: the unused bits of its last character are not zero");
  }
  return out;
}

}  // namespace

std::string Base64Encode(std::span<const uint8_t> bytes) { return Encode(bytes, kStandard, true); }
std::string Base64Encode(std::string_view bytes) { return Base64Encode(AsBytes(bytes)); }

std::string Base64UrlEncode(std::span<const uint8_t> bytes) {
  return Encode(bytes, kUrlSafe, false);
}
std::string Base64UrlEncode(std::string_view bytes) { return Base64UrlEncode(AsBytes(bytes)); }

Result<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  return Decode(text, kStandardReverse, /*padding_required=*/true);
}

Result<std::vector<uint8_t>> Base64UrlDecode(std::string_view text) {
  return Decode(text, kUrlSafeReverse, /*padding_required=*/false);
}

}  // namespace lintel
