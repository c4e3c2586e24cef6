// Wiegand frame decoding: card formats, keypad keys and the 26-bit PIN burst. Pure functions.
//
// Everything here is pure, allocation-light and thread-safe (no state, no I/O, no logging, no
// clock). Nothing in this header decides access: a decoded card or key is a fact about the wire,
// handed to the core as an event. Bad parity never yields a card (DecodeCard returns nullopt); it
// is visible through Candidates() and Interpret() so the caller can count and log it.
//
// Bit order: position 0 is the first bit on the wire. A Frame keeps its bits in the low `bits`
// bits of `value`, the first bit on the wire the most significant of them. Field positions and
// parity rules per format are in drivers/wiegand/README.md and ../shared/protocols/wiegand.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"

namespace lintel::wiegand {

inline constexpr int kMaxFrameBits = 64;

struct Frame {
  int bits = 0;        // 1..64 for a valid frame
  uint64_t value = 0;  // only the low `bits` bits may be set

  friend bool operator==(const Frame&, const Frame&) = default;
};

// True when 1 <= bits <= 64 and value has no bit at or above `bits`. Every function below treats
// an invalid frame as "nothing decodes" (empty candidates, nullopt), never as an error or a crash.
bool IsValidFrame(const Frame& frame);

// Parses "0x..." (hex, any case, leading zeros allowed, the value must fit in `bits`) or a binary
// string of exactly `bits` characters '0'/'1', first bit on the wire first. Errors:
// InvalidArgument when `bits` is outside 1..64, the text is empty, a digit is not hex/binary, the
// binary string has the wrong length, or the hex value needs more than `bits` bits.
Result<Frame> ParseFrame(int bits, std::string_view text);

// "0x" + ceil(bits/4) upper-case hex digits, e.g. {26, 0xCA01F6} -> "0x0CA01F6".
std::string FrameHex(const Frame& frame);
// The bits as '0'/'1', first bit on the wire first.
std::string FrameBinary(const Frame& frame);

enum class CardFormat { kH10301, kH10306, kH10302, kH10304, kC1k35, kC1k48, kRaw };

// "h10301", "h10306", "h10302", "h10304", "c1k35", "c1k48", "raw": the cloud contract's names.
std::string_view CardFormatName(CardFormat format);
// The inverse of CardFormatName. Errors: InvalidArgument naming the accepted names.
Result<CardFormat> ParseCardFormat(std::string_view name);
// 26, 34, 37, 37, 35, 48; 0 for kRaw (any length 1..64).
int CardFormatBits(CardFormat format);
// Largest facility / card number a format can carry (facility 0 for formats without one; for kRaw
// the number may be any 64-bit value).
uint64_t MaxFacility(CardFormat format);
uint64_t MaxNumber(CardFormat format);

struct CardRead {
  CardFormat format = CardFormat::kRaw;
  std::optional<uint64_t> facility;  // absent for H10302 and raw
  uint64_t number = 0;               // raw: the whole frame value
  bool parity_ok = false;            // raw has no parity: always true

  friend bool operator==(const CardRead&, const CardRead&) = default;
};

// Every interpretation of the frame: each fixed format whose length matches (H10301, H10306,
// H10302, H10304, C1k35, C1k48 in that order, with parity_ok as computed), then raw. Empty for an
// invalid frame. For installers and diagnostics; use DecodeCard to get a credential.
std::vector<CardRead> Candidates(const Frame& frame);

// The first format of `accepted` (in the caller's order of preference) that reads the frame: a
// fixed format when the length matches and every parity bit is right; kRaw for any valid frame
// (number = value, no parity). nullopt when none does (bad parity, unknown length, invalid frame).
// H10302 and H10304 look alike on the wire: a reader's list should hold only the one it sends.
std::optional<CardRead> DecodeCard(const Frame& frame, std::span<const CardFormat> accepted);

// Builds a frame with its parity bits set. Errors: InvalidArgument when the facility or number is
// out of range for the format, a facility is given for H10302, or format is kRaw (use a Frame).
Result<Frame> EncodeCard(CardFormat format, uint64_t facility, uint64_t number);

// Whether every parity bit of `frame` is right for `format` (false on a length mismatch; kRaw:
// true for any valid frame).
bool ParityOk(CardFormat format, const Frame& frame);

// Keypads. A KeyMap maps a 4-bit key code to the key's character ('0'..'9', '*', '#'), or '\0'
// for codes the keypad does not send.
struct KeyMap {
  std::array<char, 16> keys{};

  // 0x0..0x9 -> '0'..'9', 0xA -> '*', 0xB -> '#' (HID and most keypads).
  static KeyMap Default();
  // The same with '*' and '#' swapped (0xA -> '#', 0xB -> '*'), as one common library sends.
  static KeyMap StarHashSwapped();
};

// A 4-bit frame (the code itself) or an 8-bit frame (high nibble the one's complement of the low
// nibble; anything else is noise) mapped through `map`. nullopt for other lengths, noise, and
// unmapped codes.
std::optional<char> DecodeKey(const Frame& frame, const KeyMap& map);

// A 26-bit PIN burst: H10301 layout, facility 0, number = the PIN as a number 1..65534 (leading
// zeros of the typed PIN are lost on the wire). nullopt for bad parity, facility != 0, 0, or
// 65535 (the keypad's "error" code).
std::optional<uint32_t> DecodePinBurst(const Frame& frame);

// How a reader's frames are read: the card formats it sends (in order of preference) and, for a
// keypad, how keys arrive.
struct ReaderProfile {
  std::vector<CardFormat> accepted = {CardFormat::kH10301};
  bool keys_4bit = false;  // 4-bit frames are keys
  bool keys_8bit = false;  // 8-bit frames are keys
  bool pin_burst = false;  // 26-bit frames with facility 0 are PIN bursts (checked before cards)
  KeyMap key_map = KeyMap::Default();
};

// What one frame means for a reader. kind says which member is set.
struct Interpretation {
  enum class Kind {
    kCard,          // card
    kKey,           // key
    kPinBurst,      // pin_burst
    kBadParity,     // the length matches an accepted format but a parity bit is wrong
    kBadKey,        // a keypad length, but complement noise or an unmapped code
    kUnknownLength  // no accepted format or keypad mode has this length
  };
  Kind kind = Kind::kUnknownLength;
  std::optional<CardRead> card;
  std::optional<char> key;
  std::optional<uint32_t> pin_burst;
};
std::string_view InterpretationKindName(Interpretation::Kind kind);

// Interprets a frame for `profile`: PIN burst (when enabled and the frame is one), then keys, then
// DecodeCard. Never returns a card whose parity failed.
Interpretation Interpret(const Frame& frame, const ReaderProfile& profile);

}  // namespace lintel::wiegand
