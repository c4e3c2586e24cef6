#include "tests/unit/cloud/test_keys.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gateway/base/base64.h"

namespace lintel::cloud::testing {
namespace {

std::string VectorDir() {
  const char* root = std::getenv("LINTEL_SOURCE_DIR");
  return std::string(root != nullptr ? root : LINTEL_SOURCE_DIR_DEFAULT) +
         "/tests/unit/cloud/vectors/";
}

template <size_t N>
std::array<uint8_t, N> Hex(std::string_view hex) {
  std::array<uint8_t, N> out{};
  EXPECT_EQ(hex.size(), 2 * N) << hex;
  for (size_t i = 0; i < N && 2 * i + 1 < hex.size(); ++i) {
    out[i] = static_cast<uint8_t>(std::stoul(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return out;
}

TestKey LoadKey(std::string_view kid) {
  std::istringstream lines(ReadVector("keys.txt"));
  std::string name, seed_hex, public_b64url;
  while (lines >> name >> seed_hex >> public_b64url) {
    if (name != kid) continue;
    TestKey key;
    key.kid = name;
    key.seed = Hex<32>(seed_hex);
    Result<std::vector<uint8_t>> pub = Base64UrlDecode(public_b64url);
    EXPECT_TRUE(pub.ok() && pub->size() == 32) << public_b64url;
    if (pub.ok() && pub->size() == 32)
      std::copy(pub->begin(), pub->end(), key.openssl_public_key.begin());
    key.pair = Ed25519KeyPairFromSeed(key.seed);
    return key;
  }
  ADD_FAILURE() << "no key " << kid << " in keys.txt";
  return {};
}

}  // namespace

std::string ReadVector(std::string_view name) {
  const std::string path = VectorDir() + std::string(name);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const TestKey& Key2026() {
  static const TestKey key = LoadKey("test-2026");
  return key;
}
const TestKey& Key2027() {
  static const TestKey key = LoadKey("test-2027");
  return key;
}
std::vector<config::TrustedKey> TrustedTestKeys() {
  return {Key2026().Trusted(), Key2027().Trusted()};
}

std::string SignWithHeader(std::string_view header_json, std::string_view payload,
                           const TestKey& key) {
  std::string out = Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload);
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(out.data()),
                       out.size(), key.pair.secret_key.data());
  return out + "." + Base64UrlEncode(std::span<const uint8_t>(sig));
}

std::string_view Part(std::string_view compact, int index) {
  size_t start = 0;
  for (int i = 0; i < index; ++i) start = compact.find('.', start) + 1;
  size_t end = compact.find('.', start);
  return compact.substr(start,
                        end == std::string_view::npos ? std::string_view::npos : end - start);
}

std::string WithPart(std::string_view compact, int index, std::string_view part) {
  std::string out;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) out += '.';
    out += i == index ? part : Part(compact, i);
  }
  return out;
}

}  // namespace lintel::cloud::testing
