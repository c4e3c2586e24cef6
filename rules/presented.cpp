#include "rules/presented.h"

#include <charconv>

namespace lintel::rules {
namespace {

bool ParseHex(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

bool ParseDigits(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 8) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool FitsBits(uint64_t v, int bits) { return bits >= 64 || v < (uint64_t{1} << bits); }

template <typename T>
bool ParseUnsigned(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

CredentialKey KeyOf(const Credential& c) {
  CredentialKey k;
  if (c.type == CredentialType::kPin) {
    uint64_t v;
    if (!ParseDigits(c.pin, &v)) return k;
    k.kind = CredentialKey::Kind::kPin;
    k.value = v;
    k.length = static_cast<uint8_t>(c.pin.size());
  } else if (c.type == CredentialType::kCard) {
    if (c.card.format == CardFormat::kUid) {
      uint64_t v;
      if (!ParseHex(c.card.uid, &v)) return k;
      k.kind = CredentialKey::Kind::kUid;
      k.value = v;
      k.length = static_cast<uint8_t>(c.card.uid.size());
    } else {
      k.kind = CredentialKey::Kind::kFormattedCard;
      k.format = static_cast<uint8_t>(c.card.format);
      k.facility = c.card.facility;
      k.value = c.card.number;
    }
  }
  return k;
}

CredentialKey KeyOf(const Presented& p, std::string* why) {
  CredentialKey k;
  uint64_t v;
  switch (p.kind) {
    case PresentedKind::kPin:
      if (!ParseDigits(p.text, &v)) {
        *why = "a PIN is 1-8 digits";
        return k;
      }
      k.kind = CredentialKey::Kind::kPin;
      k.value = v;
      k.length = static_cast<uint8_t>(p.text.size());
      return k;
    case PresentedKind::kUid:
      if (!ParseHex(p.text, &v)) {
        *why = "a card UID is 1-16 hex digits";
        return k;
      }
      k.kind = CredentialKey::Kind::kUid;
      k.value = v;
      k.length = static_cast<uint8_t>(p.text.size());
      return k;
    case PresentedKind::kCard: {
      CardFormatBits bits = FormatBits(p.format);
      if (p.format == CardFormat::kUid || !FitsBits(p.facility, bits.facility_bits) ||
          !FitsBits(p.number, bits.number_bits)) {
        *why = "card fields do not fit format " + std::string(CardFormatName(p.format));
        return k;
      }
      k.kind = CredentialKey::Kind::kFormattedCard;
      k.format = static_cast<uint8_t>(p.format);
      k.facility = p.facility;
      k.value = p.number;
      return k;
    }
  }
  return k;
}

Result<Presented> ParseCardArg(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument(
        "bad card \"" + std::string(text) +
        "\": expected FORMAT:FACILITY:NUMBER (e.g. h10301:101:251) or "
        "h10302:NUMBER; formats h10301 h10306 h10302 h10304 c1k35 c1k48");
  };
  size_t c1 = text.find(':');
  if (c1 == std::string_view::npos) return bad();
  std::optional<CardFormat> f = ParseCardFormat(text.substr(0, c1));
  if (!f || *f == CardFormat::kUid) return bad();
  Presented p;
  p.kind = PresentedKind::kCard;
  p.format = *f;
  std::string_view rest = text.substr(c1 + 1);
  size_t c2 = rest.find(':');
  if (c2 == std::string_view::npos) {
    if (FormatBits(*f).facility_bits != 0 || !ParseUnsigned(rest, &p.number)) return bad();
    return p;
  }
  if (!ParseUnsigned(rest.substr(0, c2), &p.facility) ||
      !ParseUnsigned(rest.substr(c2 + 1), &p.number)) {
    return bad();
  }
  return p;
}

Presented UidPresented(std::string_view hex) {
  Presented p;
  p.kind = PresentedKind::kUid;
  p.text = std::string(hex);
  for (char& c : p.text) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return p;
}

Presented PinPresented(std::string_view digits) {
  Presented p;
  p.kind = PresentedKind::kPin;
  p.text = std::string(digits);
  return p;
}

std::string Describe(const Presented& p) {
  switch (p.kind) {
    case PresentedKind::kPin:
      return "pin";
    case PresentedKind::kUid:
      return "uid " + p.text;
    case PresentedKind::kCard:
      return "card " + std::string(CardFormatName(p.format)) + ":" + std::to_string(p.facility) +
             ":" + std::to_string(p.number);
  }
  return "?";
}

std::string DescribeKey(const CredentialKey& k) {
  switch (k.kind) {
    case CredentialKey::Kind::kNone:
      break;
    case CredentialKey::Kind::kFormattedCard:
      return "card " + std::string(CardFormatName(static_cast<CardFormat>(k.format))) + ":" +
             std::to_string(k.facility) + ":" + std::to_string(k.value);
    case CredentialKey::Kind::kUid: {
      static constexpr char kHex[] = "0123456789ABCDEF";
      std::string s(k.length, '0');
      uint64_t v = k.value;
      for (int i = k.length - 1; i >= 0; --i, v >>= 4) s[i] = kHex[v & 15];
      return "uid " + s;
    }
    case CredentialKey::Kind::kPin:
      return "pin (" + std::to_string(k.length) + " digits)";
  }
  return "none";
}

}  // namespace lintel::rules
