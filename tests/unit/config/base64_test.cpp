#include "gateway/base/base64.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lintel {
namespace {

std::string AsString(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

struct Vector {
  const char* plain;
  const char* encoded;
};
// RFC 4648 section 10.
constexpr Vector kRfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfc4648TestVectors) {
  for (const Vector& v : kRfc4648) EXPECT_EQ(Base64Encode(std::string(v.plain)), v.encoded);
}

TEST(Base64, DecodesRfc4648TestVectors) {
  for (const Vector& v : kRfc4648) {
    Result<std::vector<uint8_t>> r = Base64Decode(v.encoded);
    ASSERT_TRUE(r.ok()) << v.encoded << ": " << r.status().ToString();
    EXPECT_EQ(AsString(*r), v.plain);
  }
}

TEST(Base64, UrlSafeEncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(std::string("f")), "Zg");
  EXPECT_EQ(Base64UrlEncode(std::string("fo")), "Zm8");
  EXPECT_EQ(Base64UrlEncode(std::string("foobar")), "Zm9vYmFy");
}

TEST(Base64, UrlSafeAlphabetUsesMinusAndUnderscore) {
  const std::vector<uint8_t> bytes = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  Result<std::vector<uint8_t>> r = Base64UrlDecode("-_-_");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, bytes);
}

TEST(Base64, UrlDecodeAcceptsTextWithOrWithoutPadding) {
  for (const char* text : {"Zm8", "Zm8="}) {
    Result<std::vector<uint8_t>> r = Base64UrlDecode(text);
    ASSERT_TRUE(r.ok()) << text;
    EXPECT_EQ(AsString(*r), "fo");
  }
}

TEST(Base64, UrlDecodeRejectsIncompletePadding) { EXPECT_FALSE(Base64UrlDecode("Zg=").ok()); }

TEST(Base64, StandardDecodeRequiresPadding) {
  Result<std::vector<uint8_t>> r = Base64Decode("Zm8");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "base64 length must be a multiple of 4 (with '=' padding), got 3 characters");
}

TEST(Base64, RejectsCharacterOutsideTheAlphabetNamingItsOffset) {
  Result<std::vector<uint8_t>> r = Base64Decode("Zm9v!mFy");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid base64 character '!' at offset 4");
}

TEST(Base64, RejectsWhitespace) {
  EXPECT_FALSE(Base64Decode("Zm9v YmFy").ok());
  EXPECT_FALSE(Base64Decode("Zm9vYmFy\n").ok());
  Result<std::vector<uint8_t>> r = Base64Decode("Zm9v\nmFy");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid base64 character byte 0x0a at offset 4");
}

TEST(Base64, EachAlphabetRejectsTheOthersSpecialCharacters) {
  EXPECT_FALSE(Base64Decode("-_-_").ok());
  EXPECT_FALSE(Base64UrlDecode("+/+/").ok());
}

TEST(Base64, RejectsPaddingInTheMiddle) {
  EXPECT_FALSE(Base64Decode("Zg==Zg==").ok());
  EXPECT_FALSE(Base64Decode("Z===").ok());
  EXPECT_FALSE(Base64Decode("====").ok());
}

TEST(Base64, RejectsNonCanonicalTrailingBits) {
  // "Zg==" is "f"; "Zh==" carries the same byte with a stray low bit.
  EXPECT_TRUE(Base64Decode("Zg==").ok());
  Result<std::vector<uint8_t>> r = Base64Decode("Zh==");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "base64 text is not canonical: the unused bits of its last character are not zero");
  EXPECT_FALSE(Base64UrlDecode("Zm9=").ok());
}

TEST(Base64, RejectsTextThatCannotEncodeWholeBytes) {
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").ok());
  EXPECT_FALSE(Base64Decode("Z").ok());
}

TEST(Base64, RoundTripsEveryLengthAndByteValue) {
  std::vector<uint8_t> bytes;
  for (int n = 0; n < 300; ++n) {
    Result<std::vector<uint8_t>> standard = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(standard.ok()) << n;
    EXPECT_EQ(*standard, bytes);
    Result<std::vector<uint8_t>> url = Base64UrlDecode(Base64UrlEncode(bytes));
    ASSERT_TRUE(url.ok()) << n;
    EXPECT_EQ(*url, bytes);
    bytes.push_back(static_cast<uint8_t>(n * 97 + 13));
  }
}

TEST(Base64, DecodesA32ByteEd25519PublicKey) {
  Result<std::vector<uint8_t>> r = Base64Decode("Bwc9rBiibmdRqg5RI0+BwipUvxOSk99eAf6ZD5TQ5ts=");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 32u);
  EXPECT_EQ((*r)[0], 0x07);
  EXPECT_EQ((*r)[31], 0xdb);
}

}  // namespace
}  // namespace lintel
