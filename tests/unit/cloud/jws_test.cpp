#include "gateway/cloud/jws.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/base/base64.h"
#include "tests/unit/cloud/test_keys.h"

namespace lintel::cloud {
namespace {

using testing::Key2026;
using testing::Key2027;
using testing::Part;
using testing::ReadVector;
using testing::SignWithHeader;
using testing::TrustedTestKeys;
using testing::WithPart;

// The vectors signed by OpenSSL (make-vectors.sh) and the key that signed each.
struct Signed {
  const char* name;
  const char* kid;
};
constexpr Signed kSignedVectors[] = {
    {"head", "test-2026"},       {"delta", "test-2026"},   {"snapshot", "test-2027"},
    {"events-ack", "test-2026"}, {"command", "test-2026"}, {"delta-other-site", "test-2026"},
};

const testing::TestKey& KeyNamed(std::string_view kid) {
  return kid == Key2026().kid ? Key2026() : Key2027();
}

// The reason VerifyJws gives for `compact`, or kInternal plus a test failure when it accepts it.
struct Rejected {
  JwsError error = JwsError::kInternal;
  std::string message;
};
Rejected RejectionOf(std::string_view compact,
                     const std::vector<config::TrustedKey>& keys = TrustedTestKeys()) {
  Rejected r;
  Result<VerifiedJws> v = VerifyJws(compact, keys, &r.error);
  if (v.ok()) {
    ADD_FAILURE() << "accepted: " << compact;
    return r;
  }
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  r.message = v.status().message();
  return r;
}

std::string DeltaJws() { return ReadVector("delta.jws"); }

// ---- RFC 8037 appendix A.4
// -----------------------------------------------------------------------

constexpr std::string_view kRfcD = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr std::string_view kRfcX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

Ed25519KeyPair RfcKeyPair() {
  Result<std::vector<uint8_t>> d = Base64UrlDecode(kRfcD);
  EXPECT_TRUE(d.ok() && d->size() == 32);
  std::array<uint8_t, 32> seed{};
  std::copy(d->begin(), d->end(), seed.begin());
  return Ed25519KeyPairFromSeed(seed);
}

TEST(Jws, DerivesRfc8037AppendixA4PublicKeyFromItsSeed) {
  EXPECT_EQ(Base64UrlEncode(std::span<const uint8_t>(RfcKeyPair().public_key)), kRfcX);
}

TEST(Jws, SignsRfc8037AppendixA4ByteExact) {
  // The RFC's header is {"alg":"EdDSA"}: SignJws writes it for an empty kid.
  EXPECT_EQ(SignJws("Example of Ed25519 signing", "", RfcKeyPair().secret_key),
            ReadVector("rfc8037-a4.jws"));
}

TEST(Jws, RejectsRfc8037AppendixA4BecauseItNamesNoKid) {
  // Valid per the RFC, but the contract's header always names the key.
  Rejected r = RejectionOf(ReadVector("rfc8037-a4.jws"), {{"rfc", RfcKeyPair().public_key}});
  EXPECT_EQ(r.error, JwsError::kBadHeader);
  EXPECT_EQ(r.message, "JWS header has no \"kid\"");
}

// ---- vectors made by OpenSSL
// ---------------------------------------------------------------------

TEST(Jws, DerivesTheSamePublicKeysFromSeedsAsOpenSsl) {
  EXPECT_EQ(Key2026().pair.public_key, Key2026().openssl_public_key);
  EXPECT_EQ(Key2027().pair.public_key, Key2027().openssl_public_key);
}

TEST(Jws, SignsByteExactLikeOpenSsl) {
  for (const Signed& v : kSignedVectors) {
    const std::string payload = ReadVector(std::string(v.name) + ".payload.json");
    EXPECT_EQ(SignJws(payload, v.kid, KeyNamed(v.kid).pair.secret_key),
              ReadVector(std::string(v.name) + ".jws"))
        << v.name;
  }
}

TEST(Jws, VerifiesOpenSslSignatures) {
  for (const Signed& v : kSignedVectors) {
    Result<VerifiedJws> r = VerifyJws(ReadVector(std::string(v.name) + ".jws"), TrustedTestKeys());
    ASSERT_TRUE(r.ok()) << v.name << ": " << r.status().ToString();
    EXPECT_EQ(r->payload, ReadVector(std::string(v.name) + ".payload.json")) << v.name;
    EXPECT_EQ(r->kid, v.kid);
    EXPECT_EQ(r->header, nlohmann::json({{"alg", "EdDSA"}, {"kid", v.kid}}));
  }
}

TEST(Jws, VerifiesWithTheKeyTheKidNamesAmongSeveral) {
  const std::string jws = ReadVector("snapshot.jws");  // test-2027, the second key
  std::vector<config::TrustedKey> keys = {Key2026().Trusted(), {"other", {}}, Key2027().Trusted()};
  Result<VerifiedJws> r = VerifyJws(jws, keys);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kid, "test-2027");
}

// ---- algorithm confusion
// -------------------------------------------------------------------------

TEST(Jws, RejectsAlgNone) {
  Rejected r = RejectionOf(ReadVector("alg-none.jws"));
  EXPECT_EQ(r.error, JwsError::kUnsupportedAlg);
  EXPECT_EQ(r.message, "JWS alg \"none\" is not accepted, only \"EdDSA\"");
}

TEST(Jws, RejectsHs256KeyedWithTheTrustedPublicKey) {
  Rejected r = RejectionOf(ReadVector("alg-hs256.jws"));
  EXPECT_EQ(r.error, JwsError::kUnsupportedAlg);
  EXPECT_EQ(r.message, "JWS alg \"HS256\" is not accepted, only \"EdDSA\"");
}

TEST(Jws, RejectsEveryAlgButExactlyEdDsaEvenWhenTheSignatureIsValid) {
  const std::string payload = ReadVector("delta.payload.json");
  for (const char* alg : {"\"Ed25519\"", "\"eddsa\"", "\"EdDSA \"", "\"ES256\"", "\"RS256\"",
                          "\"\"", "1", "null", "[\"EdDSA\"]"}) {
    const std::string header = std::string("{\"alg\":") + alg + ",\"kid\":\"test-2026\"}";
    Rejected r = RejectionOf(SignWithHeader(header, payload, Key2026()));
    EXPECT_EQ(r.error, JwsError::kUnsupportedAlg) << alg;
    EXPECT_EQ(r.message, std::string("JWS alg ") + alg + " is not accepted, only \"EdDSA\"");
  }
}

TEST(Jws, RejectsMissingAlg) {
  Rejected r = RejectionOf(
      SignWithHeader(R"({"kid":"test-2026"})", ReadVector("delta.payload.json"), Key2026()));
  EXPECT_EQ(r.error, JwsError::kUnsupportedAlg);
  EXPECT_EQ(r.message, "JWS header has no \"alg\" (only \"EdDSA\" is accepted)");
}

TEST(Jws, RejectsCritEvenWhenSigned) {
  Rejected r =
      RejectionOf(SignWithHeader(R"({"alg":"EdDSA","crit":["b64"],"b64":false,"kid":"test-2026"})",
                                 ReadVector("delta.payload.json"), Key2026()));
  EXPECT_EQ(r.error, JwsError::kUnsupportedCrit);
  EXPECT_EQ(r.message, "JWS header has \"crit\": no critical extension is supported");
}

TEST(Jws, IgnoresHeaderParametersItDoesNotUseIncludingAnEmbeddedKey) {
  // RFC 7515 section 4: parameters not understood are ignored. An embedded `jwk` never picks the
  // key: the kid does, among the trusted keys.
  const std::string header = R"({"alg":"EdDSA","jwk":{"crv":"Ed25519","kty":"OKP","x":")" +
                             Base64UrlEncode(std::span<const uint8_t>(Key2027().pair.public_key)) +
                             R"("},"kid":"test-2026","typ":"JOSE"})";
  const std::string payload = ReadVector("delta.payload.json");
  Result<VerifiedJws> ok = VerifyJws(SignWithHeader(header, payload, Key2026()), TrustedTestKeys());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->kid, "test-2026");
  // Signed by the embedded key's owner but naming test-2026: the kid's key decides.
  Rejected r = RejectionOf(SignWithHeader(header, payload, Key2027()));
  EXPECT_EQ(r.error, JwsError::kBadSignature);
}

// ---- structure
// -----------------------------------------------------------------------------------

TEST(Jws, RejectsAnythingButThreeParts) {
  const std::string jws = DeltaJws();
  const struct {
    std::string text;
    const char* message;
  } cases[] = {
      {"", "not a JWS in compact serialization: 1 parts, expected 3 separated by '.'"},
      {"abc", "not a JWS in compact serialization: 1 parts, expected 3 separated by '.'"},
      {std::string(Part(jws, 0)) + "." + std::string(Part(jws, 1)),
       "not a JWS in compact serialization: 2 parts, expected 3 separated by '.'"},
      {jws + ".", "not a JWS in compact serialization: 4 parts, expected 3 separated by '.'"},
      {jws + "." + std::string(Part(jws, 2)),
       "not a JWS in compact serialization: 4 parts, expected 3 separated by '.'"},
  };
  for (const auto& c : cases) {
    Rejected r = RejectionOf(c.text);
    EXPECT_EQ(r.error, JwsError::kMalformed) << c.text;
    EXPECT_EQ(r.message, c.message);
  }
}

TEST(Jws, RejectsPaddedParts) {
  const std::string jws = DeltaJws();
  // A 64-byte signature is 86 characters; its padded form adds "==".
  Rejected sig = RejectionOf(WithPart(jws, 2, std::string(Part(jws, 2)) + "=="));
  EXPECT_EQ(sig.error, JwsError::kBadBase64);
  EXPECT_EQ(sig.message, "JWS signature is not base64url: it ends with '=' padding (JWS omits it)");
  // The header {"alg":"EdDSA","kid":"test-2026"} is 34 bytes: 46 characters, padded 48.
  Rejected header = RejectionOf(WithPart(jws, 0, std::string(Part(jws, 0)) + "=="));
  EXPECT_EQ(header.error, JwsError::kBadBase64);
  EXPECT_EQ(header.message, "JWS header is not base64url: it ends with '=' padding (JWS omits it)");
}

TEST(Jws, RejectsTheStandardBase64Alphabet) {
  const std::string jws = DeltaJws();
  std::string payload(Part(jws, 1));
  payload[5] = '+';
  // The payload is decoded only after the signature over its text verified (issue 10, point 1):
  // a payload nobody signed fails the signature, and nothing of it is decoded.
  Rejected plus = RejectionOf(WithPart(jws, 1, payload));
  EXPECT_EQ(plus.error, JwsError::kBadSignature);
  EXPECT_EQ(plus.message, "signature does not verify with key test-2026");
  std::string sig(Part(jws, 2));
  sig[0] = '/';
  Rejected slash = RejectionOf(WithPart(jws, 2, sig));
  EXPECT_EQ(slash.error, JwsError::kBadBase64);
  EXPECT_EQ(slash.message,
            "JWS signature is not base64url: invalid base64 character '/' at offset 0");
}

TEST(Jws, RejectsWhitespaceAroundTheMessage) {
  Rejected r = RejectionOf(DeltaJws() + "\n");
  EXPECT_EQ(r.error, JwsError::kBadBase64);
  EXPECT_EQ(r.message,
            "JWS signature is not base64url: invalid base64 character byte 0x0a at offset 86");
}

TEST(Jws, RejectsANonCanonicalSignatureEncoding) {
  // 86 characters carry 64 bytes and 4 unused bits; setting one gives the same bytes in a second
  // spelling. Strict decoding refuses it, so a signature has exactly one accepted text.
  const std::string jws = DeltaJws();
  std::string sig(Part(jws, 2));
  Result<std::vector<uint8_t>> bytes = Base64UrlDecode(sig);
  ASSERT_TRUE(bytes.ok());
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  sig.back() = alphabet[alphabet.find(sig.back()) | 1];
  Rejected r = RejectionOf(WithPart(jws, 2, sig));
  EXPECT_EQ(r.error, JwsError::kBadBase64);
  EXPECT_EQ(r.message,
            "JWS signature is not base64url: base64 text is not canonical: the unused bits of its "
            "last character are not zero");
}

TEST(Jws, RejectsAHeaderThatIsNotAJsonObject) {
  const std::string payload = ReadVector("delta.payload.json");
  Rejected text = RejectionOf(SignWithHeader("alg=EdDSA", payload, Key2026()));
  EXPECT_EQ(text.error, JwsError::kBadHeader);
  EXPECT_EQ(text.message.rfind("JWS header is not JSON: JWS header:1:1: ", 0), 0u) << text.message;
  Rejected array = RejectionOf(SignWithHeader(R"(["EdDSA"])", payload, Key2026()));
  EXPECT_EQ(array.error, JwsError::kBadHeader);
  EXPECT_EQ(array.message, "JWS header must be a JSON object, got [\"EdDSA\"]");
  Rejected utf8 =
      RejectionOf(SignWithHeader("{\"alg\":\"EdDSA\",\"kid\":\"\xff\"}", payload, Key2026()));
  EXPECT_EQ(utf8.error, JwsError::kBadHeader);
}

TEST(Jws, RejectsAHeaderWithADuplicateField) {
  // Parsers that keep the last (or first) duplicate would disagree about the algorithm.
  Rejected r = RejectionOf(SignWithHeader(R"({"alg":"EdDSA","kid":"test-2026","alg":"none"})",
                                          ReadVector("delta.payload.json"), Key2026()));
  EXPECT_EQ(r.error, JwsError::kBadHeader);
  EXPECT_EQ(r.message, "JWS header: duplicate field \"alg\" in the top-level object");
}

TEST(Jws, RejectsAMissingOrNonStringKid) {
  const std::string payload = ReadVector("delta.payload.json");
  Rejected missing = RejectionOf(SignWithHeader(R"({"alg":"EdDSA"})", payload, Key2026()));
  EXPECT_EQ(missing.error, JwsError::kBadHeader);
  EXPECT_EQ(missing.message, "JWS header has no \"kid\"");
  Rejected number =
      RejectionOf(SignWithHeader(R"({"alg":"EdDSA","kid":2026})", payload, Key2026()));
  EXPECT_EQ(number.error, JwsError::kBadHeader);
  EXPECT_EQ(number.message, "JWS header \"kid\" must be a string, got 2026");
}

TEST(Jws, RejectsAnUnknownKid) {
  const std::string payload = ReadVector("delta.payload.json");
  Rejected r = RejectionOf(SignJws(payload, "cloud-2025", Key2026().pair.secret_key));
  EXPECT_EQ(r.error, JwsError::kUnknownKid);
  EXPECT_EQ(r.message, "JWS kid \"cloud-2025\" is not a trusted key");
  // No trusted keys at all: nothing verifies.
  Rejected none = RejectionOf(DeltaJws(), {});
  EXPECT_EQ(none.error, JwsError::kUnknownKid);
  EXPECT_EQ(none.message, "JWS kid \"test-2026\" is not a trusted key");
}

TEST(Jws, EchoesHostileKidsQuotedAndCut) {
  const std::string kid = "evil\nkid" + std::string(100, 'x');
  Rejected r = RejectionOf(SignJws("{}", kid, Key2026().pair.secret_key));
  EXPECT_EQ(r.error, JwsError::kUnknownKid);
  EXPECT_EQ(r.message,
            "JWS kid \"evil\\nkid" + std::string(56, 'x') + "...\" is not a trusted key");
}

TEST(Jws, RejectsASignatureThatIsNot64Bytes) {
  const std::string jws = DeltaJws();
  Result<std::vector<uint8_t>> sig = Base64UrlDecode(Part(jws, 2));
  ASSERT_TRUE(sig.ok());
  for (size_t n : {size_t{0}, size_t{32}, size_t{63}, size_t{65}, size_t{128}}) {
    std::vector<uint8_t> bytes = *sig;
    bytes.resize(n, 0);
    Rejected r = RejectionOf(WithPart(jws, 2, Base64UrlEncode(std::span<const uint8_t>(bytes))));
    EXPECT_EQ(r.error, JwsError::kBadSignatureLength) << n;
    EXPECT_EQ(r.message, "JWS signature must be 64 bytes (Ed25519), got " + std::to_string(n));
  }
}

TEST(Jws, RejectsASignatureByAnotherTrustedKey) {
  // Signed by test-2027's secret key, but naming test-2026.
  const std::string jws =
      SignJws(ReadVector("delta.payload.json"), "test-2026", Key2027().pair.secret_key);
  Rejected r = RejectionOf(jws);
  EXPECT_EQ(r.error, JwsError::kBadSignature);
  EXPECT_EQ(r.message, "signature does not verify with key test-2026");
}

TEST(Jws, RejectsAnAllZeroSignature) {
  const std::string jws = DeltaJws();
  const std::vector<uint8_t> zeros(64, 0);
  Rejected r = RejectionOf(WithPart(jws, 2, Base64UrlEncode(std::span<const uint8_t>(zeros))));
  EXPECT_EQ(r.error, JwsError::kBadSignature);
}

TEST(Jws, RejectsEveryFlippedBitInAnyPart) {
  const std::string jws = DeltaJws();
  for (int part = 0; part < 3; ++part) {
    Result<std::vector<uint8_t>> bytes = Base64UrlDecode(Part(jws, part));
    ASSERT_TRUE(bytes.ok());
    for (size_t i = 0; i < bytes->size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<uint8_t> flipped = *bytes;
        flipped[i] ^= static_cast<uint8_t>(1u << bit);
        const std::string tampered =
            WithPart(jws, part, Base64UrlEncode(std::span<const uint8_t>(flipped)));
        JwsError error = JwsError::kInternal;
        Result<VerifiedJws> r = VerifyJws(tampered, TrustedTestKeys(), &error);
        ASSERT_FALSE(r.ok()) << "part " << part << " byte " << i << " bit " << bit;
        // The payload and the signature are only checked by the signature; a changed header may
        // also stop being JSON, name another alg or kid first.
        if (part != 0) {
          ASSERT_EQ(error, JwsError::kBadSignature) << "part " << part << " byte " << i;
        }
      }
    }
  }
}

TEST(Jws, RejectsSwappedPartsFromAnotherValidMessage) {
  // The head's payload under the delta's header and signature (both signed by test-2026).
  const std::string delta = DeltaJws();
  const std::string head = ReadVector("head.jws");
  Rejected r = RejectionOf(WithPart(delta, 1, Part(head, 1)));
  EXPECT_EQ(r.error, JwsError::kBadSignature);
}

// ---- limits ------------------------------------------------------------------------------------

TEST(Jws, RejectsAPayloadAboveTheLimitBeforeDecodingIt) {
  const std::string jws = DeltaJws();
  // Not even valid base64 at the end: the size is refused first.
  std::string big((kMaxJwsPayloadBytes / 3 + 1) * 4, 'A');
  big.back() = '!';
  Rejected r = RejectionOf(WithPart(jws, 1, big));
  EXPECT_EQ(r.error, JwsError::kTooLarge);
  EXPECT_EQ(r.message, "JWS payload too large: " + std::to_string(big.size() / 4 * 3) +
                           " bytes, the limit is 67108864");
}

TEST(Jws, AcceptsAPayloadOfExactlyTheLimit) {
  const std::string payload(kMaxJwsPayloadBytes, ' ');
  Result<VerifiedJws> r =
      VerifyJws(SignJws(payload, "test-2026", Key2026().pair.secret_key), TrustedTestKeys());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->payload.size(), kMaxJwsPayloadBytes);
}

TEST(Jws, RejectsAHeaderAboveTheLimit) {
  const std::string header =
      R"({"alg":"EdDSA","kid":"test-2026","x":")" + std::string(kMaxJwsHeaderBytes, 'x') + "\"}";
  Rejected r = RejectionOf(SignWithHeader(header, "{}", Key2026()));
  EXPECT_EQ(r.error, JwsError::kTooLarge);
  EXPECT_EQ(r.message.rfind("JWS header too large: ", 0), 0u) << r.message;
}

// ---- what never leaks
// ------------------------------------------------------------------------------

TEST(Jws, NeverPutsKeyBytesInErrors) {
  const config::TrustedKey key = Key2026().Trusted();
  const std::string b64 = Base64Encode(std::span<const uint8_t>(key.public_key));
  const std::string b64url = Base64UrlEncode(std::span<const uint8_t>(key.public_key));
  const std::string jws = DeltaJws();
  for (const std::string& bad :
       {SignJws(ReadVector("delta.payload.json"), "test-2026", Key2027().pair.secret_key),
        ReadVector("alg-hs256.jws"), WithPart(jws, 2, "AAAA")}) {
    Rejected r = RejectionOf(bad, {key});
    EXPECT_EQ(r.message.find(b64), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find(b64url), std::string::npos) << r.message;
  }
}

TEST(Jws, NamesEveryErrorKindStably) {
  EXPECT_EQ(JwsErrorName(JwsError::kMalformed), "malformed");
  EXPECT_EQ(JwsErrorName(JwsError::kBadBase64), "bad_base64");
  EXPECT_EQ(JwsErrorName(JwsError::kTooLarge), "too_large");
  EXPECT_EQ(JwsErrorName(JwsError::kBadHeader), "bad_header");
  EXPECT_EQ(JwsErrorName(JwsError::kUnsupportedAlg), "unsupported_alg");
  EXPECT_EQ(JwsErrorName(JwsError::kUnsupportedCrit), "unsupported_crit");
  EXPECT_EQ(JwsErrorName(JwsError::kUnknownKid), "unknown_kid");
  EXPECT_EQ(JwsErrorName(JwsError::kBadSignatureLength), "bad_signature_length");
  EXPECT_EQ(JwsErrorName(JwsError::kBadSignature), "bad_signature");
  EXPECT_EQ(JwsErrorName(JwsError::kInternal), "internal");
}

TEST(Jws, SignsDeterministicallyAndEscapesTheKid) {
  const auto& sk = Key2026().pair.secret_key;
  EXPECT_EQ(SignJws("{}", "k", sk), SignJws("{}", "k", sk));
  const std::string jws = SignJws("{}", "a\"b", sk);
  Result<std::vector<uint8_t>> header = Base64UrlDecode(Part(jws, 0));
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(std::string(header->begin(), header->end()), R"({"alg":"EdDSA","kid":"a\"b"})");
  Result<VerifiedJws> r =
      VerifyJws(jws, std::vector<config::TrustedKey>{{"a\"b", Key2026().pair.public_key}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kid, "a\"b");
}

}  // namespace
}  // namespace lintel::cloud
