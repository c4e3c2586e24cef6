// The Nuki Bluetooth API's cryptography, over libsodium (library `lintel_ble`, pure).
//
//  - Key agreement: curve25519 (`crypto_scalarmult_curve25519`) of our secret key and the peer's
//    public key, turned into the long-term shared key by `crypto_core_hsalsa20` with a zero
//    16-byte input and the constant "expand 32-byte k" (what `crypto_box_beforenm` does).
//  - Authenticators during pairing: HMAC-SHA256 keyed with the shared key.
//  - Messages: `crypto_secretbox_xsalsa20poly1305` with a fresh 24-byte nonce (nuki_frame.h).
//
// Randomness is an injected seam: a `NonceSource` for the 24-byte frame nonces and a
// `RandomSource` for 32-byte values (secret keys, pairing nonces); the counting variants make
// tests byte-exact. Every function here is thread-safe; a source is used by one thread at a time.
//
// Secrets (secret keys, shared keys) are plain arrays the caller owns; nothing here logs them.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "gateway/base/status.h"

namespace lintel::ble {

using Key32 = std::array<uint8_t, 32>;
using Nonce24 = std::array<uint8_t, 24>;
// The 32-byte challenge nonces of the protocol (nK from the lock, nA from the client).
using Nonce32 = std::array<uint8_t, 32>;

// Initialises libsodium once (thread-safe, idempotent). Every function of lintel_ble that needs
// libsodium calls it; it is public for programs that want to fail early. Aborts only if
// libsodium cannot initialise at all (no usable random source in the OS).
void EnsureSodium();

struct KeyPair {
  Key32 public_key{};
  Key32 secret_key{};
};

// The curve25519 public key of `secret_key` (any 32 bytes are a valid secret; curve25519 clamps).
Key32 PublicKeyOf(const Key32& secret_key);
KeyPair KeyPairFromSecret(const Key32& secret_key);

// The long-term shared key: hsalsa20(zero16, scalarmult(my_secret, peer_public), "expand 32-byte
// k"). Both sides compute the same key. Errors: InvalidArgument when `peer_public` is a
// low-order point (the scalar product is all zeros), which an honest peer never sends.
Result<Key32> DeriveSharedKey(const Key32& my_secret, const Key32& peer_public);

// HMAC-SHA256(key, data) (`crypto_auth_hmacsha256`).
Key32 HmacSha256(const Key32& key, std::span<const uint8_t> data);

// Constant-time comparison of two authenticators.
bool AuthenticatorsEqual(const Key32& a, const Key32& b);

// Where frame nonces come from. Never reuse a nonce with one key: production uses
// RandomNonceSource; tests use CountingNonceSource to get byte-exact frames.
class NonceSource {
 public:
  virtual ~NonceSource() = default;
  virtual Nonce24 Next() = 0;
};

// 24 bytes from `randombytes_buf` per call.
class RandomNonceSource final : public NonceSource {
 public:
  Nonce24 Next() override;
};

// Returns `first`, then `first` + 1, + 2, ... (as a little-endian 192-bit counter). For tests.
class CountingNonceSource final : public NonceSource {
 public:
  explicit CountingNonceSource(const Nonce24& first) : next_(first) {}
  Nonce24 Next() override;

 private:
  Nonce24 next_;
};

// Where 32-byte random values come from (secret keys, pairing nonces nA and nK).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual Key32 Next() = 0;
};

// 32 bytes from `randombytes_buf` per call.
class SodiumRandomSource final : public RandomSource {
 public:
  Key32 Next() override;
};

// Returns `first`, then `first` + 1, ... (little-endian 256-bit counter). For tests.
class CountingRandomSource final : public RandomSource {
 public:
  explicit CountingRandomSource(const Key32& first) : next_(first) {}
  Key32 Next() override;

 private:
  Key32 next_;
};

}  // namespace lintel::ble
