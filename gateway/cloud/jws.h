// JWS compact serialization (RFC 7515) with EdDSA / Ed25519 (RFC 8037): how every cloud -> gateway
// message is signed (shared/contract/cloud-mqtt.md, "Signed messages").
//
//   BASE64URL(UTF8(header)) "." BASE64URL(payload) "." BASE64URL(signature)
//
// The signature is Ed25519 over the ASCII bytes of the first two parts as received, dot included.
// Only the one algorithm the contract names is accepted; the key is chosen by the header's `kid`
// among the trusted keys of the YAML config, never taken from the message (`jwk`, `jku`, `x5c` and
// other header parameters are ignored, as RFC 7515 section 4 asks of parameters not understood).
//
// Pure functions, no I/O, no globals beyond libsodium's one-time initialisation (sodium_init, which
// is itself thread-safe): any thread may call them. Nothing throws. No function here logs, and no
// error message holds key bytes: keys are named by their kid only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "gateway/base/status.h"

namespace lintel::cloud {

// Payloads whose decoded size is above this are rejected before anything is hashed or decoded
// (a snapshot page of a large building is a few MiB).
inline constexpr size_t kMaxJwsPayloadBytes = size_t{64} << 20;
// Headers whose decoded size is above this are rejected before they are parsed.
inline constexpr size_t kMaxJwsHeaderBytes = 4096;
// The one value of the header's `alg` that is accepted (RFC 8037 section 3.1).
inline constexpr std::string_view kJwsAlg = "EdDSA";

// Why VerifyJws rejected a message: one value per kind of reason, for counters. The Status message
// says the same in words.
enum class JwsError : uint8_t {
  kMalformed,           // not three dot-separated parts
  kBadBase64,           // a part is not unpadded base64url (padding, '+', '/', other characters)
  kTooLarge,            // header above kMaxJwsHeaderBytes or payload above kMaxJwsPayloadBytes
  kBadHeader,           // header not a JSON object, a duplicate field, no string `kid`
  kUnsupportedAlg,      // `alg` missing, not a string, or not exactly "EdDSA"
  kUnsupportedCrit,     // `crit` present: no critical extension is supported
  kUnknownKid,          // `kid` names no trusted key
  kBadSignatureLength,  // the signature is not 64 bytes
  kBadSignature,        // the signature does not verify with the key named by `kid`
  kInternal,            // libsodium could not be initialised
};

// "malformed", "bad_base64", "too_large", "bad_header", "unsupported_alg", "unsupported_crit",
// "unknown_kid", "bad_signature_length", "bad_signature", "internal": stable, for counters.
std::string_view JwsErrorName(JwsError e);

// A message whose signature verified with a trusted key.
struct VerifiedJws {
  nlohmann::json header;  // the protected header, a JSON object
  std::string payload;    // the decoded payload bytes (not yet checked to be JSON)
  std::string kid;        // the trusted key that verified it
};

// Verifies `compact` against `keys` (TrustedKey: config/config.h; kids are unique there, and the
// first key with the header's kid is used). Checks, in this order, and stops at the first failure:
//   1. exactly three parts separated by '.'                                         kMalformed
//   2. the header's and payload's decoded sizes, from the lengths alone              kTooLarge
//   3. header and signature are base64url without padding (RFC 7515 section 2),
//      canonical                                                                     kBadBase64
//   4. the header is a JSON object without duplicate fields                         kBadHeader
//   5. `alg` is exactly "EdDSA" ("none", "HS256", "ES256", "Ed25519", missing: no)  kUnsupportedAlg
//   6. no `crit` kUnsupportedCrit
//   7. `kid` is a string (else kBadHeader) naming a trusted key                      kUnknownKid
//   8. the signature is 64 bytes kBadSignatureLength
//   9. crypto_sign_verify_detached over "<part 1>.<part 2>" with that key           kBadSignature
//  10. the payload is base64url without padding, canonical                            kBadBase64
// The signature is checked on the compact text as received: the payload (up to 64 MiB) is neither
// decoded nor parsed before it verified, so a forged message costs one hash, never a decode.
// Errors: InvalidArgument with one line naming the reason, e.g.
//   "not a JWS in compact serialization: 2 parts, expected 3 separated by '.'"
//   "JWS signature is not base64url: it ends with '=' padding (JWS omits it)"
//   "JWS payload is not base64url: invalid base64 character '+' at offset 17"
//   "JWS payload too large: 70000000 bytes, the limit is 67108864"
//   "JWS header is not JSON: JWS header:1:2: ..." / "JWS header: duplicate field \"alg\" in ..."
//   "JWS alg \"none\" is not accepted, only \"EdDSA\"" / "JWS header has no \"alg\" ..."
//   "JWS header has \"crit\": no critical extension is supported"
//   "JWS header has no \"kid\"" / "JWS kid \"cloud-2025\" is not a trusted key"
//   "JWS signature must be 64 bytes (Ed25519), got 63"
//   "signature does not verify with key cloud-2026"
// and Internal "libsodium could not be initialised". Values echoed from the message are
// JSON-quoted and cut after 64 bytes. When `error` is not null it receives the reason's kind on
// failure (and is left alone on success).
Result<VerifiedJws> VerifyJws(std::string_view compact, std::span<const config::TrustedKey> keys,
                              JwsError* error = nullptr);

// An Ed25519 key pair in libsodium's layout: secret_key is the 32-byte seed followed by the public
// key. For tests and the cloud simulator; the gateway itself only ever holds public keys.
struct Ed25519KeyPair {
  std::array<uint8_t, 32> public_key{};
  std::array<uint8_t, 64> secret_key{};
};
// The key pair of a 32-byte seed (RFC 8032 section 5.1.5; the seed is RFC 8037's "d").
Ed25519KeyPair Ed25519KeyPairFromSeed(std::span<const uint8_t, 32> seed);

// Signs `payload` (the contract's payloads are JSON; any bytes are signed as given) with the header
// {"alg":"EdDSA","kid":<kid>}, serialized exactly so (no spaces, `kid` JSON-escaped), or
// {"alg":"EdDSA"} when `kid` is empty (the form of RFC 8037 appendix A.4). Deterministic (Ed25519):
// the same inputs give the same bytes. `secret_key` as in Ed25519KeyPair. Never fails.
// For tests and the cloud simulator.
std::string SignJws(std::string_view payload, std::string_view kid,
                    std::span<const uint8_t, 64> secret_key);

}  // namespace lintel::cloud
