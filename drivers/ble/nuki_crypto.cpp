#include "drivers/ble/nuki_crypto.h"

#include <sodium.h>

#include <cstdlib>

namespace lintel::ble {
namespace {

template <size_t N>
void Increment(std::array<uint8_t, N>& a) {
  for (auto& byte : a) {
    if (++byte != 0) break;
  }
}

}  // namespace

void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // no randomness at all: nothing safe can be done
}

Key32 PublicKeyOf(const Key32& secret_key) {
  EnsureSodium();
  Key32 pub{};
  crypto_scalarmult_curve25519_base(pub.data(), secret_key.data());
  return pub;
}

KeyPair KeyPairFromSecret(const Key32& secret_key) {
  return KeyPair{PublicKeyOf(secret_key), secret_key};
}

Result<Key32> DeriveSharedKey(const Key32& my_secret, const Key32& peer_public) {
  EnsureSodium();
  Key32 dh{};
  if (crypto_scalarmult_curve25519(dh.data(), my_secret.data(), peer_public.data()) != 0) {
    return Status::InvalidArgument(
        "nuki key agreement: the peer's public key is a low-order point");
  }
  static constexpr unsigned char kZero16[16] = {};
  static constexpr unsigned char kSigma[17] = "expand 32-byte k";
  Key32 shared{};
  crypto_core_hsalsa20(shared.data(), kZero16, dh.data(), kSigma);
  sodium_memzero(dh.data(), dh.size());
  return shared;
}

Key32 HmacSha256(const Key32& key, std::span<const uint8_t> data) {
  EnsureSodium();
  Key32 mac{};
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, data.data(), data.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  sodium_memzero(&state, sizeof state);
  return mac;
}

bool AuthenticatorsEqual(const Key32& a, const Key32& b) {
  EnsureSodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Nonce24 RandomNonceSource::Next() {
  EnsureSodium();
  Nonce24 n{};
  randombytes_buf(n.data(), n.size());
  return n;
}

Nonce24 CountingNonceSource::Next() {
  Nonce24 n = next_;
  Increment(next_);
  return n;
}

Key32 SodiumRandomSource::Next() {
  EnsureSodium();
  Key32 k{};
  randombytes_buf(k.data(), k.size());
  return k;
}

Key32 CountingRandomSource::Next() {
  Key32 k = next_;
  Increment(next_);
  return k;
}

}  // namespace lintel::ble
