// The Nuki pairing ("authorize app") state machines, both sides, pure (library `lintel_ble`).
// They only turn messages into messages; the transport (GattLink, the simulated lock's
// characteristics) and the timeouts belong to the caller. All messages are unencrypted and go
// over the pairing GDIO characteristic. One object pairs once and is used by one thread.
//
//   client                                           lock (held in pairing mode by its button)
//   Request Data(Public Key)                    ->
//                                               <-   Public Key (lock pk)
//   Public Key (client pk)                      ->   both derive the shared key s
//                                               <-   Challenge nK1
//   Authorization Authenticator                 ->   HMAC(s, client pk | lock pk | nK1)
//                                               <-   Challenge nK2
//   Authorization Data                          ->   HMAC(s, id type | app id | name | nA | nK2),
//                                                    id type, app id, name (32), nA
//                                               <-   Authorization-ID: HMAC(s, auth id | UUID |
//                                                    nK3 | nA), auth id, UUID, nK3
//   Authorization-ID Confirmation               ->   HMAC(s, auth id | nK3), auth id
//                                               <-   Status COMPLETE
//
// Either side answers a wrong authenticator by failing: the lock with Error Report "bad
// authenticator", the client with FailedPrecondition (below).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_crypto.h"
#include "drivers/ble/nuki_frame.h"
#include "gateway/base/status.h"

namespace lintel::ble {

// What a paired client keeps (per lock, in a file of mode 0600; never logged).
struct Credentials {
  Key32 shared_key{};
  uint32_t authorization_id = 0;

  bool operator==(const Credentials&) const = default;
};

// Who the client registers as.
struct PairingIdentity {
  IdType id_type = IdType::kBridge;
  uint32_t app_id = 0;
  std::string name;  // at most 32 bytes are sent
};

struct PairingResult {
  Credentials credentials;
  std::array<uint8_t, 16> lock_uuid{};
  Key32 lock_public_key{};
};

class ClientPairing {
 public:
  enum class Step {
    kStart,                 // Start() not called yet
    kAwaitPublicKey,        // sent Request Data(Public Key)
    kAwaitFirstChallenge,   // sent our Public Key
    kAwaitSecondChallenge,  // sent the Authorization Authenticator
    kAwaitAuthorizationId,  // sent the Authorization Data
    kAwaitComplete,         // sent the Authorization-ID Confirmation
    kDone,
    kFailed,
  };

  // `client_secret`: our curve25519 secret key (any 32 random bytes; a fresh one per pairing).
  // `random` gives the nonce nA; it must outlive this object.
  ClientPairing(PairingIdentity identity, const Key32& client_secret, RandomSource& random);

  // The first message: Request Data(Public Key). Moves to kAwaitPublicKey.
  Message Start();

  // Feeds one message from the lock; returns what to send next (zero or one message, in order).
  // Errors (and the machine is then kFailed):
  //  - the lock's Error Report: LockErrorStatus (e.g. "lock error 0x10 not pairing").
  //  - FailedPrecondition "pairing: ..." for a message out of order (also anything after
  //    kDone/kFailed, or before Start()), a bad authenticator in Authorization-ID (someone in
  //    the middle, or a lock that derived another key).
  //  - InvalidArgument: a payload that does not decode, or a low-order lock public key.
  Result<std::vector<Message>> OnMessage(const Message& from_lock);

  Step step() const { return step_; }
  bool done() const { return step_ == Step::kDone; }
  // Valid once done().
  const PairingResult& result() const { return result_; }

 private:
  Result<std::vector<Message>> Fail(Status status);

  PairingIdentity identity_;
  KeyPair keys_;
  RandomSource& random_;
  Step step_ = Step::kStart;
  Key32 lock_public_{};
  Key32 shared_{};
  Nonce32 nonce_a_{};
  PairingResult result_;
};

// The lock's side, for the simulated lock. It does not know about pairing mode: a lock that is
// not in pairing mode answers Error Report "not pairing" itself, without feeding this.
class LockPairing {
 public:
  enum class Step {
    kAwaitRequest,        // Request Data(Public Key)
    kAwaitClientKey,      // the client's Public Key
    kAwaitAuthenticator,  // Authorization Authenticator
    kAwaitData,           // Authorization Data
    kAwaitConfirmation,   // Authorization-ID Confirmation
    kDone,
    kFailed,
  };

  // What the lock learns about the new user.
  struct Paired {
    Credentials credentials;
    IdType id_type = IdType::kApp;
    uint32_t app_id = 0;
    std::string name;
    Key32 client_public_key{};
  };

  // `lock_secret`: the lock's curve25519 secret key; `new_authorization_id`: the id this pairing
  // assigns; `random` gives the challenges nK (must outlive this object).
  LockPairing(const Key32& lock_secret, const std::array<uint8_t, 16>& lock_uuid,
              uint32_t new_authorization_id, RandomSource& random);

  // Feeds one message the client wrote; returns the lock's replies. Never fails: a protocol
  // error is answered with an Error Report (bad authenticator 0x11 for a wrong HMAC, bad
  // parameter 0x12 for a message out of order, a payload that does not decode, or a low-order
  // key) and the machine is then kFailed (every later message gets bad parameter).
  std::vector<Message> OnMessage(const Message& from_client);

  Step step() const { return step_; }
  bool done() const { return step_ == Step::kDone; }
  // Valid once done().
  const Paired& result() const { return paired_; }
  const Key32& public_key() const { return keys_.public_key; }

 private:
  std::vector<Message> Refuse(ErrorCode code, uint16_t command);
  Message NewChallenge();

  KeyPair keys_;
  std::array<uint8_t, 16> uuid_;
  uint32_t new_authorization_id_;
  RandomSource& random_;
  Step step_ = Step::kAwaitRequest;
  Key32 shared_{};
  Nonce32 challenge_{};
  Nonce32 nonce_a_{};
  Paired paired_;
};

// The authenticators of the pairing exchange (above), for both sides and for tests.
Key32 PairingAuthenticator(const Key32& shared, const Key32& client_pk, const Key32& lock_pk,
                           const Nonce32& nk);
Key32 AuthorizationDataAuthenticator(const Key32& shared, IdType id_type, uint32_t app_id,
                                     const std::string& name, const Nonce32& na, const Nonce32& nk);
Key32 AuthorizationIdAuthenticator(const Key32& shared, uint32_t auth_id,
                                   const std::array<uint8_t, 16>& uuid, const Nonce32& nk,
                                   const Nonce32& na);
Key32 ConfirmationAuthenticator(const Key32& shared, uint32_t auth_id, const Nonce32& nk);

}  // namespace lintel::ble
