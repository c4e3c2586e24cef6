#include "drivers/ble/nuki_pairing.h"

#include <sodium.h>

#include <utility>

#include "drivers/ble/wire.h"

namespace lintel::ble {
namespace {

const char* ClientStepName(ClientPairing::Step s) {
  switch (s) {
    case ClientPairing::Step::kStart:
      return "before start";
    case ClientPairing::Step::kAwaitPublicKey:
      return "waiting for the lock's Public Key";
    case ClientPairing::Step::kAwaitFirstChallenge:
      return "waiting for the first Challenge";
    case ClientPairing::Step::kAwaitSecondChallenge:
      return "waiting for the second Challenge";
    case ClientPairing::Step::kAwaitAuthorizationId:
      return "waiting for the Authorization-ID";
    case ClientPairing::Step::kAwaitComplete:
      return "waiting for Status COMPLETE";
    case ClientPairing::Step::kDone:
      return "done";
    case ClientPairing::Step::kFailed:
      return "failed";
  }
  return "?";
}

}  // namespace

Key32 PairingAuthenticator(const Key32& shared, const Key32& client_pk, const Key32& lock_pk,
                           const Nonce32& nk) {
  wire::Writer w;
  w.Bytes(client_pk);
  w.Bytes(lock_pk);
  w.Bytes(nk);
  return HmacSha256(shared, w.out());
}

Key32 AuthorizationDataAuthenticator(const Key32& shared, IdType id_type, uint32_t app_id,
                                     const std::string& name, const Nonce32& na,
                                     const Nonce32& nk) {
  wire::Writer w;
  w.U8(static_cast<uint8_t>(id_type));
  w.U32(app_id);
  w.FixedString(name, 32);
  w.Bytes(na);
  w.Bytes(nk);
  return HmacSha256(shared, w.out());
}

Key32 AuthorizationIdAuthenticator(const Key32& shared, uint32_t auth_id,
                                   const std::array<uint8_t, 16>& uuid, const Nonce32& nk,
                                   const Nonce32& na) {
  wire::Writer w;
  w.U32(auth_id);
  w.Bytes(uuid);
  w.Bytes(nk);
  w.Bytes(na);
  return HmacSha256(shared, w.out());
}

Key32 ConfirmationAuthenticator(const Key32& shared, uint32_t auth_id, const Nonce32& nk) {
  wire::Writer w;
  w.U32(auth_id);
  w.Bytes(nk);
  return HmacSha256(shared, w.out());
}

// --- client ----------------------------------------------------------------------------------

ClientPairing::ClientPairing(PairingIdentity identity, const Key32& client_secret,
                             RandomSource& random)
    : identity_(std::move(identity)), keys_(KeyPairFromSecret(client_secret)), random_(random) {
  if (identity_.name.size() > 32) identity_.name.resize(32);
}

Message ClientPairing::Start() {
  step_ = Step::kAwaitPublicKey;
  return ToMessage(RequestData{static_cast<uint16_t>(Command::kPublicKey), {}});
}

Result<std::vector<Message>> ClientPairing::Fail(Status status) {
  step_ = Step::kFailed;
  sodium_memzero(shared_.data(), shared_.size());
  return status;
}

Result<std::vector<Message>> ClientPairing::OnMessage(const Message& m) {
  if (m.command == static_cast<uint16_t>(Command::kErrorReport)) {
    Result<ErrorReport> e = ErrorReport::Decode(m.payload);
    if (!e.ok()) return Fail(e.status());
    return Fail(LockErrorStatus(e->code, e->command));
  }
  auto out_of_order = [&] {
    return Fail(Status::FailedPrecondition(std::string("pairing: unexpected ") +
                                           DescribeCommand(m.command) + " while " +
                                           ClientStepName(step_)));
  };
  switch (step_) {
    case Step::kAwaitPublicKey: {
      if (m.command != static_cast<uint16_t>(Command::kPublicKey)) return out_of_order();
      Result<PublicKey> pk = PublicKey::Decode(m.payload);
      if (!pk.ok()) return Fail(pk.status());
      Result<Key32> shared = DeriveSharedKey(keys_.secret_key, pk->key);
      if (!shared.ok()) return Fail(shared.status());
      lock_public_ = pk->key;
      shared_ = *shared;
      step_ = Step::kAwaitFirstChallenge;
      return std::vector<Message>{ToMessage(PublicKey{keys_.public_key})};
    }
    case Step::kAwaitFirstChallenge: {
      if (m.command != static_cast<uint16_t>(Command::kChallenge)) return out_of_order();
      Result<Challenge> c = Challenge::Decode(m.payload);
      if (!c.ok()) return Fail(c.status());
      step_ = Step::kAwaitSecondChallenge;
      return std::vector<Message>{ToMessage(AuthorizationAuthenticator{
          PairingAuthenticator(shared_, keys_.public_key, lock_public_, c->nonce)})};
    }
    case Step::kAwaitSecondChallenge: {
      if (m.command != static_cast<uint16_t>(Command::kChallenge)) return out_of_order();
      Result<Challenge> c = Challenge::Decode(m.payload);
      if (!c.ok()) return Fail(c.status());
      nonce_a_ = random_.Next();
      AuthorizationData data;
      data.id_type = identity_.id_type;
      data.app_id = identity_.app_id;
      data.name = identity_.name;
      data.nonce = nonce_a_;
      data.authenticator = AuthorizationDataAuthenticator(shared_, data.id_type, data.app_id,
                                                          data.name, nonce_a_, c->nonce);
      step_ = Step::kAwaitAuthorizationId;
      return std::vector<Message>{ToMessage(data)};
    }
    case Step::kAwaitAuthorizationId: {
      if (m.command != static_cast<uint16_t>(Command::kAuthorizationId)) return out_of_order();
      Result<AuthorizationId> id = AuthorizationId::Decode(m.payload);
      if (!id.ok()) return Fail(id.status());
      Key32 expected = AuthorizationIdAuthenticator(shared_, id->authorization_id, id->lock_uuid,
                                                    id->nonce, nonce_a_);
      if (!AuthenticatorsEqual(expected, id->authenticator)) {
        return Fail(Status::FailedPrecondition(
            "pairing: the lock's Authorization-ID authenticator does not verify (not the lock "
            "we exchanged keys with?)"));
      }
      result_.credentials.authorization_id = id->authorization_id;
      result_.lock_uuid = id->lock_uuid;
      step_ = Step::kAwaitComplete;
      return std::vector<Message>{ToMessage(AuthorizationIdConfirmation{
          ConfirmationAuthenticator(shared_, id->authorization_id, id->nonce),
          id->authorization_id})};
    }
    case Step::kAwaitComplete: {
      if (m.command != static_cast<uint16_t>(Command::kStatus)) return out_of_order();
      Result<StatusMessage> s = StatusMessage::Decode(m.payload);
      if (!s.ok()) return Fail(s.status());
      if (s->status != static_cast<uint8_t>(CommandStatus::kComplete)) {
        return Fail(Status::FailedPrecondition("pairing: the lock answered Status " +
                                               std::to_string(s->status) + ", not COMPLETE"));
      }
      result_.credentials.shared_key = shared_;
      result_.lock_public_key = lock_public_;
      step_ = Step::kDone;
      return std::vector<Message>{};
    }
    case Step::kStart:
    case Step::kDone:
    case Step::kFailed:
      return out_of_order();
  }
  return out_of_order();
}

// --- lock ------------------------------------------------------------------------------------

LockPairing::LockPairing(const Key32& lock_secret, const std::array<uint8_t, 16>& lock_uuid,
                         uint32_t new_authorization_id, RandomSource& random)
    : keys_(KeyPairFromSecret(lock_secret)),
      uuid_(lock_uuid),
      new_authorization_id_(new_authorization_id),
      random_(random) {}

std::vector<Message> LockPairing::Refuse(ErrorCode code, uint16_t command) {
  step_ = Step::kFailed;
  return {ToMessage(ErrorReport{static_cast<uint8_t>(code), command})};
}

Message LockPairing::NewChallenge() {
  challenge_ = random_.Next();
  return ToMessage(Challenge{challenge_});
}

std::vector<Message> LockPairing::OnMessage(const Message& m) {
  auto expect = [&](Command c) { return m.command == static_cast<uint16_t>(c); };
  switch (step_) {
    case Step::kAwaitRequest: {
      Result<RequestData> r = FromMessage<RequestData>(m);
      if (!r.ok() || r->command != static_cast<uint16_t>(Command::kPublicKey)) break;
      step_ = Step::kAwaitClientKey;
      return {ToMessage(PublicKey{keys_.public_key})};
    }
    case Step::kAwaitClientKey: {
      if (!expect(Command::kPublicKey)) break;
      Result<PublicKey> pk = PublicKey::Decode(m.payload);
      if (!pk.ok()) break;
      Result<Key32> shared = DeriveSharedKey(keys_.secret_key, pk->key);
      if (!shared.ok()) break;
      shared_ = *shared;
      paired_.client_public_key = pk->key;
      step_ = Step::kAwaitAuthenticator;
      return {NewChallenge()};
    }
    case Step::kAwaitAuthenticator: {
      if (!expect(Command::kAuthorizationAuthenticator)) break;
      Result<AuthorizationAuthenticator> a = AuthorizationAuthenticator::Decode(m.payload);
      if (!a.ok()) break;
      Key32 expected =
          PairingAuthenticator(shared_, paired_.client_public_key, keys_.public_key, challenge_);
      if (!AuthenticatorsEqual(expected, a->authenticator)) {
        return Refuse(ErrorCode::kBadAuthenticator, m.command);
      }
      step_ = Step::kAwaitData;
      return {NewChallenge()};
    }
    case Step::kAwaitData: {
      if (!expect(Command::kAuthorizationData)) break;
      Result<AuthorizationData> d = AuthorizationData::Decode(m.payload);
      if (!d.ok()) break;
      Key32 expected = AuthorizationDataAuthenticator(shared_, d->id_type, d->app_id, d->name,
                                                      d->nonce, challenge_);
      if (!AuthenticatorsEqual(expected, d->authenticator)) {
        return Refuse(ErrorCode::kBadAuthenticator, m.command);
      }
      paired_.id_type = d->id_type;
      paired_.app_id = d->app_id;
      paired_.name = d->name;
      nonce_a_ = d->nonce;
      challenge_ = random_.Next();
      AuthorizationId id;
      id.authorization_id = new_authorization_id_;
      id.lock_uuid = uuid_;
      id.nonce = challenge_;
      id.authenticator =
          AuthorizationIdAuthenticator(shared_, new_authorization_id_, uuid_, challenge_, nonce_a_);
      step_ = Step::kAwaitConfirmation;
      return {ToMessage(id)};
    }
    case Step::kAwaitConfirmation: {
      if (!expect(Command::kAuthorizationIdConfirmation)) break;
      Result<AuthorizationIdConfirmation> c = AuthorizationIdConfirmation::Decode(m.payload);
      if (!c.ok()) break;
      Key32 expected = ConfirmationAuthenticator(shared_, new_authorization_id_, challenge_);
      if (c->authorization_id != new_authorization_id_ ||
          !AuthenticatorsEqual(expected, c->authenticator)) {
        return Refuse(ErrorCode::kBadAuthenticator, m.command);
      }
      paired_.credentials = Credentials{shared_, new_authorization_id_};
      step_ = Step::kDone;
      return {ToMessage(StatusMessage{static_cast<uint8_t>(CommandStatus::kComplete)})};
    }
    case Step::kDone:
    case Step::kFailed:
      break;
  }
  return Refuse(ErrorCode::kPairingBadParameter, m.command);
}

}  // namespace lintel::ble
