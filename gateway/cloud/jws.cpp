#include "gateway/cloud/jws.h"

#include <sodium.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "gateway/base/base64.h"
#include "gateway/cloud/echo.h"
#include "gateway/codec/json_text.h"

namespace lintel::cloud {
namespace {

using json = nlohmann::json;
using internal::Echo;
using internal::EchoString;

constexpr size_t kSignatureBytes = crypto_sign_BYTES;
static_assert(crypto_sign_BYTES == 64 && crypto_sign_PUBLICKEYBYTES == 32 &&
              crypto_sign_SECRETKEYBYTES == 64 && crypto_sign_SEEDBYTES == 32);

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;  // 1 (already initialised) is fine too
  return ready;
}

class Failure {
 public:
  explicit Failure(JwsError* out) : out_(out) {}
  Status operator()(JwsError e, std::string message) const {
    if (out_ != nullptr) *out_ = e;
    return e == JwsError::kInternal ? Status::Internal(std::move(message))
                                    : Status::InvalidArgument(std::move(message));
  }

 private:
  JwsError* out_;
};

// Decoded size of `n` base64 characters without padding.
size_t DecodedSize(size_t n) { return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1); }

Result<std::vector<uint8_t>> DecodePart(std::string_view part, std::string_view what) {
  if (!part.empty() && part.back() == '=') {
    return Status::InvalidArgument("JWS " + std::string(what) +
                                   " is not base64url: it ends with '=' padding (JWS omits it)");
  }
  Result<std::vector<uint8_t>> bytes = Base64UrlDecode(part);
  if (!bytes.ok()) {
    return Status::InvalidArgument("JWS " + std::string(what) +
                                   " is not base64url: " + bytes.status().message());
  }
  return bytes;
}

std::string AsString(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

}  // namespace

std::string_view JwsErrorName(JwsError e) {
  switch (e) {
    case JwsError::kMalformed:
      return "malformed";
    case JwsError::kBadBase64:
      return "bad_base64";
    case JwsError::kTooLarge:
      return "too_large";
    case JwsError::kBadHeader:
      return "bad_header";
    case JwsError::kUnsupportedAlg:
      return "unsupported_alg";
    case JwsError::kUnsupportedCrit:
      return "unsupported_crit";
    case JwsError::kUnknownKid:
      return "unknown_kid";
    case JwsError::kBadSignatureLength:
      return "bad_signature_length";
    case JwsError::kBadSignature:
      return "bad_signature";
    case JwsError::kInternal:
      return "internal";
  }
  return "internal";
}

Result<VerifiedJws> VerifyJws(std::string_view compact, std::span<const config::TrustedKey> keys,
                              JwsError* error) {
  const Failure fail(error);

  // 1. Three parts.
  const size_t dots = static_cast<size_t>(std::count(compact.begin(), compact.end(), '.'));
  if (dots != 2) {
    return fail(JwsError::kMalformed,
                "not a JWS in compact serialization: " + std::to_string(dots + 1) +
                    " parts, expected 3 separated by '.'");
  }
  const size_t dot1 = compact.find('.');
  const size_t dot2 = compact.find('.', dot1 + 1);
  const std::string_view header_b64 = compact.substr(0, dot1);
  const std::string_view payload_b64 = compact.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = compact.substr(dot2 + 1);
  const std::string_view signing_input = compact.substr(0, dot2);

  // 2. Sizes, from the lengths: an oversized message is refused before any of it is decoded.
  if (DecodedSize(header_b64.size()) > kMaxJwsHeaderBytes) {
    return fail(JwsError::kTooLarge,
                "JWS header too large: " + std::to_string(DecodedSize(header_b64.size())) +
                    " bytes, the limit is " + std::to_string(kMaxJwsHeaderBytes));
  }
  if (DecodedSize(payload_b64.size()) > kMaxJwsPayloadBytes) {
    return fail(JwsError::kTooLarge,
                "JWS payload too large: " + std::to_string(DecodedSize(payload_b64.size())) +
                    " bytes, the limit is " + std::to_string(kMaxJwsPayloadBytes));
  }

  // 3. Base64url of the header and the signature (small). The payload is decoded only after the
  // signature over its compact text verified (step 10): nothing a forger sends is decoded.
  Result<std::vector<uint8_t>> header_bytes = DecodePart(header_b64, "header");
  if (!header_bytes.ok()) return fail(JwsError::kBadBase64, header_bytes.status().message());
  Result<std::vector<uint8_t>> signature = DecodePart(signature_b64, "signature");
  if (!signature.ok()) return fail(JwsError::kBadBase64, signature.status().message());

  // 4. Header.
  Result<json> header = codec::ParseJsonText(AsString(*header_bytes), "JWS header");
  if (!header.ok()) {
    const std::string& m = header.status().message();
    // A duplicate field is reported as such; anything else is "not JSON".
    const bool duplicate = m.starts_with("JWS header: duplicate field ");
    return fail(JwsError::kBadHeader, duplicate ? m : "JWS header is not JSON: " + m);
  }
  if (!header->is_object()) {
    return fail(JwsError::kBadHeader, "JWS header must be a JSON object, got " + Echo(*header));
  }

  // 5. alg.
  auto alg = header->find("alg");
  if (alg == header->end()) {
    return fail(JwsError::kUnsupportedAlg,
                "JWS header has no \"alg\" (only \"EdDSA\" is accepted)");
  }
  if (!alg->is_string() || alg->get_ref<const std::string&>() != kJwsAlg) {
    return fail(JwsError::kUnsupportedAlg,
                "JWS alg " + Echo(*alg) + " is not accepted, only \"EdDSA\"");
  }

  // 6. crit.
  if (header->contains("crit")) {
    return fail(JwsError::kUnsupportedCrit,
                "JWS header has \"crit\": no critical extension is supported");
  }

  // 7. kid.
  auto kid = header->find("kid");
  if (kid == header->end()) return fail(JwsError::kBadHeader, "JWS header has no \"kid\"");
  if (!kid->is_string()) {
    return fail(JwsError::kBadHeader, "JWS header \"kid\" must be a string, got " + Echo(*kid));
  }
  const std::string& kid_text = kid->get_ref<const std::string&>();
  auto key = std::find_if(keys.begin(), keys.end(),
                          [&](const config::TrustedKey& k) { return k.kid == kid_text; });
  if (key == keys.end()) {
    return fail(JwsError::kUnknownKid, "JWS kid " + EchoString(kid_text) + " is not a trusted key");
  }

  // 8. Signature length.
  if (signature->size() != kSignatureBytes) {
    return fail(JwsError::kBadSignatureLength, "JWS signature must be 64 bytes (Ed25519), got " +
                                                   std::to_string(signature->size()));
  }

  // 9. Signature.
  if (!SodiumReady()) return fail(JwsError::kInternal, "libsodium could not be initialised");
  if (crypto_sign_verify_detached(signature->data(),
                                  reinterpret_cast<const unsigned char*>(signing_input.data()),
                                  signing_input.size(), key->public_key.data()) != 0) {
    // The kid is the trusted config's own (printable ASCII, no spaces), so it is shown as is.
    return fail(JwsError::kBadSignature, "signature does not verify with key " + key->kid);
  }

  // 10. The payload, now known to be what the key holder signed.
  Result<std::vector<uint8_t>> payload_bytes = DecodePart(payload_b64, "payload");
  if (!payload_bytes.ok()) return fail(JwsError::kBadBase64, payload_bytes.status().message());

  VerifiedJws out;
  out.header = std::move(*header);
  out.payload = AsString(*payload_bytes);
  out.kid = key->kid;
  return out;
}

Ed25519KeyPair Ed25519KeyPairFromSeed(std::span<const uint8_t, 32> seed) {
  (void)SodiumReady();  // key derivation is deterministic and needs no randomness
  Ed25519KeyPair pair;
  crypto_sign_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed.data());
  return pair;
}

std::string SignJws(std::string_view payload, std::string_view kid,
                    std::span<const uint8_t, 64> secret_key) {
  (void)SodiumReady();  // signing is deterministic and needs no randomness
  json header = json::object();
  header["alg"] = kJwsAlg;
  if (!kid.empty()) header["kid"] = kid;
  // nlohmann keeps object fields sorted, so "alg" precedes "kid": the contract's exact form.
  std::string out = Base64UrlEncode(header.dump(-1, ' ', false, json::error_handler_t::replace));
  out += '.';
  out += Base64UrlEncode(payload);
  std::array<uint8_t, kSignatureBytes> signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(out.data()), out.size(),
                       secret_key.data());
  out += '.';
  out += Base64UrlEncode(std::span<const uint8_t>(signature));
  return out;
}

}  // namespace lintel::cloud
