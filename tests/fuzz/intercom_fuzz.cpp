// libFuzzer target for the intercom parsers (drivers/intercom, lintel_intercom): the bytes a 2N
// panel answers (envelope, system info, subscribe, pull, switch ctrl), an Akuvox local API reply,
// and an Action URL request target, all given the same input.
//
// Invariants: no crash, no exception, no hang; failures are InvalidArgument or
// FailedPrecondition (NotFound too for Action URLs), never Internal; a pull reply has at most 128
// events plus rejected ones, every accepted code is 2..8 digits, every card 1..16 upper-case hex
// digits, `unknown` counts the kOther events, names are bounded; an accepted Action URL has
// segments of the allowed characters, at most 16 unique parameters, and its event satisfies the
// same credential rules; a rejection reason never quotes a code that was refused.
// ConstantTimeEquals agrees with ==.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "drivers/intercom/akuvox_api.h"
#include "drivers/intercom/panel_event.h"
#include "drivers/intercom/twon_api.h"

using namespace lintel;
using namespace lintel::intercom;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckFailure(const Status& st, bool not_found_ok = false) {
  Check(!st.ok());
  Check(st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kFailedPrecondition ||
        (not_found_ok && st.code() == StatusCode::kNotFound));
}

bool UpperHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

void CheckEvent(const PanelEvent& e) {
  Check(e.name.size() <= kMaxNameLength + 3);
  switch (e.kind) {
    case EventKind::kCode:
      Check(CheckCode(e.code).ok());
      break;
    case EventKind::kCard:
      Check(!e.card_uid.empty() && e.card_uid.size() <= kMaxCardDigits && UpperHex(e.card_uid));
      break;
    case EventKind::kKey:
      Check(!e.key.empty() && e.key.size() <= 11);
      break;
    default:
      Check(e.code.empty());
      Check(e.card_uid.empty());
      break;
  }
  Check(e.state.size() <= 35);
  Check(e.mac.empty() || (e.mac.size() == 12 && UpperHex(e.mac)));
  (void)Describe(e);
}

void FuzzTwoN(std::string_view body) {
  TwoNError err;
  if (Status st = CheckTwoNEnvelope(body, &err); !st.ok()) CheckFailure(st);
  if (Status st = ParseSwitchCtrlReply(body); !st.ok()) CheckFailure(st);
  if (Result<uint64_t> id = ParseSubscribeReply(body); !id.ok()) CheckFailure(id.status());
  if (Result<SystemInfo> info = ParseSystemInfoReply(body); !info.ok()) {
    CheckFailure(info.status());
  } else {
    Check(info->device_name.size() <= 67);
  }
  Result<PullReply> pull = ParsePullReply(body, &err);
  if (!pull.ok()) {
    CheckFailure(pull.status());
    if (pull.status().code() == StatusCode::kFailedPrecondition) {
      Check(err.param.size() <= 67 && err.description.size() <= 123);
    }
    return;
  }
  Check(pull->events.size() + pull->rejected.size() <= kMaxPullEvents);
  size_t others = 0;
  for (const PanelEvent& e : pull->events) {
    CheckEvent(e);
    if (e.kind == EventKind::kOther) ++others;
    Check(e.channel == 0);
  }
  Check(others == pull->unknown);
  for (const RejectedEvent& r : pull->rejected) {
    Check(!r.reason.empty() && r.reason.size() < 256);
    Check(r.name.size() <= kMaxNameLength + 3);
  }
}

void FuzzAkuvox(std::string_view body) {
  AkuvoxReply reply;
  Status st = CheckAkuvoxReply(body, &reply);
  if (st.ok()) {
    Check(reply.retcode >= 0);
  } else {
    CheckFailure(st);
    if (st.code() == StatusCode::kFailedPrecondition) Check(reply.retcode < 0);
  }
  Check(reply.message.size() <= 123);
}

bool Segment(std::string_view s, std::string_view extra, bool lower_only) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alpha =
        lower_only ? (c >= 'a' && c <= 'z') : ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    if (!alpha && !(c >= '0' && c <= '9') && extra.find(c) == std::string_view::npos) return false;
  }
  return true;
}

void FuzzActionUrl(std::string_view target) {
  Result<ActionUrlRequest> r = ParseActionUrlTarget(target);
  if (!r.ok()) {
    CheckFailure(r.status(), /*not_found_ok=*/true);
    return;
  }
  Check(target.size() <= kMaxActionUrlBytes);
  Check(Segment(r->panel_id, "_.-", false) && r->panel_id.size() <= 64);
  Check(Segment(r->secret, "_.~-", false) && r->secret.size() <= 128);
  Check(Segment(r->event, "_", true) && r->event.size() <= 32);
  Check(r->params.size() <= kMaxActionUrlParams);
  std::set<std::string> names;
  for (const auto& [k, v] : r->params) {
    Check(names.insert(k).second);
    Check(v.size() <= 128);
    for (char c : v) Check(c >= 0x20 && c < 0x7F);
  }
  Result<PanelEvent> e = ActionUrlEvent(*r);
  if (!e.ok()) {
    CheckFailure(e.status(), /*not_found_ok=*/true);
    // A refused code of digits is never quoted.
    const std::string* code = r->Param("code");
    if (code != nullptr && code->size() >= 4 &&
        code->find_first_not_of("0123456789") == std::string::npos) {
      Check(e.status().message().find(*code) == std::string::npos);
    }
    return;
  }
  CheckEvent(*e);
  Check(e->name == r->event);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  FuzzTwoN(in);
  FuzzAkuvox(in);
  FuzzActionUrl(in);
  const size_t half = size / 2;
  Check(ConstantTimeEquals(in.substr(0, half), in.substr(half)) ==
        (in.substr(0, half) == in.substr(half)));
  if (Result<std::string> uid = NormalizeCardUid(in.substr(0, 20)); uid.ok()) {
    Check(UpperHex(*uid) && uid->size() <= kMaxCardDigits);
  }
  return 0;
}
