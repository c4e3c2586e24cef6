#include "drivers/wiegand/wiegand.h"

#include <bit>

namespace lintel::wiegand {
namespace {

// A parity bit at `pos` covering positions first..last, except (when `skip_mod3` >= 0) those with
// p % 3 == skip_mod3. Positions count from 0 = first bit on the wire, as in the facts sheet.
struct ParityRule {
  int pos;
  bool odd;
  int first;
  int last;
  int skip_mod3 = -1;
};

struct Layout {
  CardFormat format;
  int bits;
  int fc_pos, fc_len;  // fc_len 0: no facility
  int cn_pos, cn_len;
  // Applied in this order when encoding: a rule may cover an earlier rule's parity bit (the
  // Corporate 1000 bit 1 covers both other parity bits), so it comes last.
  std::vector<ParityRule> rules;
};

const std::vector<Layout>& Layouts() {
  static const std::vector<Layout> kLayouts = {
      {CardFormat::kH10301, 26, 1, 8, 9, 16, {{0, false, 1, 12}, {25, true, 13, 24}}},
      {CardFormat::kH10306, 34, 1, 16, 17, 16, {{0, false, 1, 16}, {33, true, 17, 32}}},
      {CardFormat::kH10302, 37, 0, 0, 1, 35, {{0, false, 1, 18}, {36, true, 18, 35}}},
      {CardFormat::kH10304, 37, 1, 16, 17, 19, {{0, false, 1, 18}, {36, true, 18, 35}}},
      // 1-based bit b is position b-1; "bits 3,4, 6,7, ..." (b % 3 != 2) is p % 3 != 1, etc.
      {CardFormat::kC1k35,
       35,
       2,
       12,
       14,
       20,
       {{1, false, 2, 33, 1}, {34, true, 1, 32, 0}, {0, true, 1, 34}}},
      {CardFormat::kC1k48,
       48,
       2,
       22,
       24,
       23,
       {{1, false, 3, 46, 2}, {47, true, 2, 45, 1}, {0, true, 1, 47}}},
  };
  return kLayouts;
}

const Layout* FindLayout(CardFormat format) {
  for (const Layout& l : Layouts()) {
    if (l.format == format) return &l;
  }
  return nullptr;
}

int BitAt(const Frame& f, int pos) { return static_cast<int>((f.value >> (f.bits - 1 - pos)) & 1); }

uint64_t Field(const Frame& f, int pos, int len) {
  if (len == 0) return 0;
  uint64_t v = f.value >> (f.bits - pos - len);
  return len == 64 ? v : v & ((uint64_t{1} << len) - 1);
}

void SetField(Frame* f, int pos, int len, uint64_t v) { f->value |= v << (f->bits - pos - len); }

// Ones among the rule's covered positions (the parity bit itself excluded).
int CoveredOnes(const Frame& f, const ParityRule& r) {
  int ones = 0;
  for (int p = r.first; p <= r.last; ++p) {
    if (r.skip_mod3 >= 0 && p % 3 == r.skip_mod3) continue;
    ones += BitAt(f, p);
  }
  return ones;
}

bool RuleHolds(const Frame& f, const ParityRule& r) {
  int total = CoveredOnes(f, r) + BitAt(f, r.pos);
  return (total % 2 == 1) == r.odd;
}

bool LayoutParityOk(const Layout& l, const Frame& f) {
  if (f.bits != l.bits || !IsValidFrame(f)) return false;
  for (const ParityRule& r : l.rules) {
    if (!RuleHolds(f, r)) return false;
  }
  return true;
}

CardRead ReadLayout(const Layout& l, const Frame& f) {
  CardRead r;
  r.format = l.format;
  if (l.fc_len > 0) r.facility = Field(f, l.fc_pos, l.fc_len);
  r.number = Field(f, l.cn_pos, l.cn_len);
  r.parity_ok = LayoutParityOk(l, f);
  return r;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::array<std::pair<CardFormat, std::string_view>, 7> kNames = {{
    {CardFormat::kH10301, "h10301"},
    {CardFormat::kH10306, "h10306"},
    {CardFormat::kH10302, "h10302"},
    {CardFormat::kH10304, "h10304"},
    {CardFormat::kC1k35, "c1k35"},
    {CardFormat::kC1k48, "c1k48"},
    {CardFormat::kRaw, "raw"},
}};

}  // namespace

bool IsValidFrame(const Frame& frame) {
  if (frame.bits < 1 || frame.bits > kMaxFrameBits) return false;
  return frame.bits == 64 || (frame.value >> frame.bits) == 0;
}

Result<Frame> ParseFrame(int bits, std::string_view text) {
  if (bits < 1 || bits > kMaxFrameBits) {
    return Status::InvalidArgument("bit count " + std::to_string(bits) + " is not within 1..64");
  }
  Frame f{bits, 0};
  if (text.starts_with("0x") || text.starts_with("0X")) {
    std::string_view hex = text.substr(2);
    if (hex.empty()) return Status::InvalidArgument("\"" + std::string(text) + "\": no hex digits");
    for (char c : hex) {
      int d = HexDigit(c);
      if (d < 0) {
        return Status::InvalidArgument("\"" + std::string(text) + "\": '" + std::string(1, c) +
                                       "' is not a hex digit");
      }
      if (f.value >> 60) {
        return Status::InvalidArgument("\"" + std::string(text) + "\" does not fit in " +
                                       std::to_string(bits) + " bits");
      }
      f.value = (f.value << 4) | static_cast<uint64_t>(d);
    }
    if (!IsValidFrame(f)) {
      return Status::InvalidArgument("\"" + std::string(text) + "\" does not fit in " +
                                     std::to_string(bits) + " bits");
    }
    return f;
  }
  if (text.empty()) return Status::InvalidArgument("empty value: give 0x<hex> or a binary string");
  for (char c : text) {
    if (c != '0' && c != '1') {
      return Status::InvalidArgument("\"" + std::string(text) + "\": '" + std::string(1, c) +
                                     "' is not a binary digit (hex needs a 0x prefix)");
    }
  }
  if (text.size() != static_cast<size_t>(bits)) {
    return Status::InvalidArgument("binary value has " + std::to_string(text.size()) +
                                   " digits, expected exactly " + std::to_string(bits));
  }
  for (char c : text) f.value = (f.value << 1) | static_cast<uint64_t>(c == '1');
  return f;
}

std::string FrameHex(const Frame& frame) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  int n = (frame.bits + 3) / 4;
  std::string s = "0x";
  for (int i = n - 1; i >= 0; --i) s += kDigits[(frame.value >> (4 * i)) & 0xF];
  return s;
}

std::string FrameBinary(const Frame& frame) {
  std::string s;
  for (int i = frame.bits - 1; i >= 0; --i) s += ((frame.value >> i) & 1) ? '1' : '0';
  return s;
}

std::string_view CardFormatName(CardFormat format) {
  for (const auto& [f, name] : kNames) {
    if (f == format) return name;
  }
  return "unknown";
}

Result<CardFormat> ParseCardFormat(std::string_view name) {
  for (const auto& [f, n] : kNames) {
    if (n == name) return f;
  }
  return Status::InvalidArgument("unknown card format \"" + std::string(name) +
                                 "\": expected h10301, h10306, h10302, h10304, c1k35, c1k48 "
                                 "or raw");
}

int CardFormatBits(CardFormat format) {
  const Layout* l = FindLayout(format);
  return l ? l->bits : 0;
}

uint64_t MaxFacility(CardFormat format) {
  const Layout* l = FindLayout(format);
  return l && l->fc_len > 0 ? (uint64_t{1} << l->fc_len) - 1 : 0;
}

uint64_t MaxNumber(CardFormat format) {
  const Layout* l = FindLayout(format);
  return l ? (uint64_t{1} << l->cn_len) - 1 : UINT64_MAX;
}

bool ParityOk(CardFormat format, const Frame& frame) {
  if (format == CardFormat::kRaw) return IsValidFrame(frame);
  const Layout* l = FindLayout(format);
  return l && LayoutParityOk(*l, frame);
}

std::vector<CardRead> Candidates(const Frame& frame) {
  std::vector<CardRead> out;
  if (!IsValidFrame(frame)) return out;
  for (const Layout& l : Layouts()) {
    if (l.bits == frame.bits) out.push_back(ReadLayout(l, frame));
  }
  out.push_back(CardRead{CardFormat::kRaw, std::nullopt, frame.value, true});
  return out;
}

std::optional<CardRead> DecodeCard(const Frame& frame, std::span<const CardFormat> accepted) {
  if (!IsValidFrame(frame)) return std::nullopt;
  for (CardFormat format : accepted) {
    if (format == CardFormat::kRaw) {
      return CardRead{CardFormat::kRaw, std::nullopt, frame.value, true};
    }
    const Layout* l = FindLayout(format);
    if (l && l->bits == frame.bits) {
      CardRead r = ReadLayout(*l, frame);
      if (r.parity_ok) return r;
    }
  }
  return std::nullopt;
}

Result<Frame> EncodeCard(CardFormat format, uint64_t facility, uint64_t number) {
  const Layout* l = FindLayout(format);
  if (!l) return Status::InvalidArgument("raw frames carry no fields: build a Frame directly");
  std::string name(CardFormatName(format));
  if (l->fc_len == 0 && facility != 0) {
    return Status::InvalidArgument(name + " has no facility code");
  }
  if (facility > MaxFacility(format)) {
    return Status::InvalidArgument(name + " facility " + std::to_string(facility) + " exceeds " +
                                   std::to_string(MaxFacility(format)));
  }
  if (number > MaxNumber(format)) {
    return Status::InvalidArgument(name + " card number " + std::to_string(number) + " exceeds " +
                                   std::to_string(MaxNumber(format)));
  }
  Frame f{l->bits, 0};
  SetField(&f, l->fc_pos, l->fc_len, facility);
  SetField(&f, l->cn_pos, l->cn_len, number);
  for (const ParityRule& r : l->rules) {
    bool covered_odd = CoveredOnes(f, r) % 2 == 1;
    // Even parity: the bit repeats the covered ones' parity; odd parity: it complements it.
    if (covered_odd != r.odd) f.value |= uint64_t{1} << (f.bits - 1 - r.pos);
  }
  return f;
}

KeyMap KeyMap::Default() {
  KeyMap m;
  for (int i = 0; i < 10; ++i) m.keys[i] = static_cast<char>('0' + i);
  m.keys[0xA] = '*';
  m.keys[0xB] = '#';
  return m;
}

KeyMap KeyMap::StarHashSwapped() {
  KeyMap m = Default();
  m.keys[0xA] = '#';
  m.keys[0xB] = '*';
  return m;
}

std::optional<char> DecodeKey(const Frame& frame, const KeyMap& map) {
  if (!IsValidFrame(frame)) return std::nullopt;
  unsigned code;
  if (frame.bits == 4) {
    code = static_cast<unsigned>(frame.value);
  } else if (frame.bits == 8) {
    unsigned low = frame.value & 0xF, high = (frame.value >> 4) & 0xF;
    if (high != (~low & 0xF)) return std::nullopt;
    code = low;
  } else {
    return std::nullopt;
  }
  char key = map.keys[code];
  if (key == '\0') return std::nullopt;
  return key;
}

std::optional<uint32_t> DecodePinBurst(const Frame& frame) {
  if (frame.bits != 26 || !ParityOk(CardFormat::kH10301, frame)) return std::nullopt;
  const Layout& l = *FindLayout(CardFormat::kH10301);
  CardRead r = ReadLayout(l, frame);
  if (*r.facility != 0 || r.number == 0 || r.number == 65535) return std::nullopt;
  return static_cast<uint32_t>(r.number);
}

std::string_view InterpretationKindName(Interpretation::Kind kind) {
  switch (kind) {
    case Interpretation::Kind::kCard:
      return "card";
    case Interpretation::Kind::kKey:
      return "key";
    case Interpretation::Kind::kPinBurst:
      return "pin_burst";
    case Interpretation::Kind::kBadParity:
      return "bad_parity";
    case Interpretation::Kind::kBadKey:
      return "bad_key";
    case Interpretation::Kind::kUnknownLength:
      return "unknown_length";
  }
  return "unknown";
}

Interpretation Interpret(const Frame& frame, const ReaderProfile& profile) {
  using Kind = Interpretation::Kind;
  Interpretation out;
  if (!IsValidFrame(frame)) return out;
  if (profile.pin_burst && frame.bits == 26 && ParityOk(CardFormat::kH10301, frame) &&
      (frame.value >> 17 & 0xFF) == 0) {
    if (auto pin = DecodePinBurst(frame)) {
      out.kind = Kind::kPinBurst;
      out.pin_burst = pin;
    } else {
      out.kind = Kind::kBadKey;  // 65535 ("error") or 0
    }
    return out;
  }
  if ((profile.keys_4bit && frame.bits == 4) || (profile.keys_8bit && frame.bits == 8)) {
    out.key = DecodeKey(frame, profile.key_map);
    out.kind = out.key ? Kind::kKey : Kind::kBadKey;
    return out;
  }
  if (auto card = DecodeCard(frame, profile.accepted)) {
    out.kind = Kind::kCard;
    out.card = card;
    return out;
  }
  for (CardFormat f : profile.accepted) {
    if (CardFormatBits(f) == frame.bits) out.kind = Kind::kBadParity;
  }
  return out;
}

}  // namespace lintel::wiegand
