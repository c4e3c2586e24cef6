// Test keys and vectors of tests/unit/cloud/vectors/ (made by make-vectors.sh with OpenSSL).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "gateway/cloud/jws.h"

namespace lintel::cloud::testing {

// The bytes of tests/unit/cloud/vectors/<name>; fails the test when missing.
std::string ReadVector(std::string_view name);

struct TestKey {
  std::string kid;
  std::array<uint8_t, 32> seed{};
  std::array<uint8_t, 32> openssl_public_key{};  // as OpenSSL derived it (keys.txt)
  Ed25519KeyPair pair;                           // as libsodium derives it from the seed

  config::TrustedKey Trusted() const { return {kid, pair.public_key}; }
};

// "test-2026" and "test-2027" from keys.txt.
const TestKey& Key2026();
const TestKey& Key2027();
// Both, as a trusted key list.
std::vector<config::TrustedKey> TrustedTestKeys();

// A compact JWS with exactly `header_json` as its header, signed by `key` (for headers SignJws
// never writes).
std::string SignWithHeader(std::string_view header_json, std::string_view payload,
                           const TestKey& key);

// The part `index` (0, 1, 2) of a compact JWS, and the JWS with that part replaced.
std::string_view Part(std::string_view compact, int index);
std::string WithPart(std::string_view compact, int index, std::string_view part);

}  // namespace lintel::cloud::testing
