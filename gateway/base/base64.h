// Base64 (RFC 4648): the standard alphabet with padding (section 4) and the URL-safe alphabet
// (section 5) as used by JWS (RFC 7515), which omits the padding.
//
// Pure functions over caller-owned bytes; thread-safe. Decoding is strict, so every byte string has
// exactly one accepted text form: no whitespace, no characters outside the alphabet, and the unused
// low bits of the last character must be zero.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"

namespace lintel {

// Standard alphabet (A-Z a-z 0-9 + /), padded with '=' to a multiple of 4 characters.
std::string Base64Encode(std::span<const uint8_t> bytes);
std::string Base64Encode(std::string_view bytes);

// URL-safe alphabet (A-Z a-z 0-9 - _), without padding (the JWS form).
std::string Base64UrlEncode(std::span<const uint8_t> bytes);
std::string Base64UrlEncode(std::string_view bytes);

// Decodes the standard alphabet. The padding is required: the length must be a multiple of 4.
// Errors: InvalidArgument naming the first problem (a character outside the alphabet and its
// offset, a wrong length, misplaced padding, or non-zero unused bits).
Result<std::vector<uint8_t>> Base64Decode(std::string_view text);

// Decodes the URL-safe alphabet. Padding is optional, but when present it must be complete.
// Errors: as Base64Decode.
Result<std::vector<uint8_t>> Base64UrlDecode(std::string_view text);

}  // namespace lintel
