// HttpAuthenticator: the server side of HTTP Basic (RFC 7617) and Digest (RFC 2617 / RFC 7616 with
// MD5 and qop=auth) authentication, as an IP intercom panel checks its API callers. cpp-httplib's
// server has none, so panel-sim checks the Authorization header here and builds the challenges.
//
// Digest: every challenge carries a fresh nonce (random, 128 bits) that stays valid for
// `nonce_ttl` after it was issued; a response with the right credentials on an expired nonce is
// answered with a new challenge marked stale=true (not a failure: the client retries at once). The
// nonce count (nc) must grow with every request on the same nonce (a replay is refused). The
// `uri` of the header must be the request target as it came on the request line, byte for byte or
// once %XX escapes are decoded on both sides (cpp-httplib's client signs "a,b" but sends "a%2Cb").
// At most kMaxNonces nonces are remembered; the oldest is forgotten first.
//
// Threads: not thread-safe; panel-sim calls it on its loop thread only. Time is passed in, so tests
// (and --manual-clock) move it by hand.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::panelsim {

enum class AuthScheme { kNone, kBasic, kDigest };

// "none" / "basic" / "digest".
const char* AuthSchemeName(AuthScheme scheme);

// The lower-case hex MD5 of `data` (OpenSSL's EVP).
std::string Md5Hex(std::string_view data);

// The auth-params of a Digest header after the scheme word: `k=v, k="quoted \" value", ...`.
// Keys are lower-cased. Errors: InvalidArgument for an unterminated quote, a missing '=', an empty
// key or a repeated key.
Result<std::map<std::string, std::string>> ParseAuthParams(std::string_view text);

// The Digest `response` for qop=auth:
// MD5(MD5(user:realm:password):nonce:nc:cnonce:auth:MD5(method:uri)).
std::string DigestResponse(std::string_view user, std::string_view realm, std::string_view password,
                           std::string_view method, std::string_view uri, std::string_view nonce,
                           std::string_view nc, std::string_view cnonce);

// What Check() concluded about one request.
struct AuthVerdict {
  bool ok = false;
  // When !ok: the WWW-Authenticate header value to send with the 401.
  std::string challenge;
  // When !ok: why, for the output line. "missing" (no credentials: the normal first step of a
  // Digest client, not counted as a failure), "stale nonce" (right credentials, expired nonce: not
  // a failure either), or a failure: "wrong scheme", "malformed", "unknown user", "bad password",
  // "wrong realm", "unknown nonce", "uri mismatch", "bad qop", "bad algorithm", "bad nc",
  // "replayed nc", "opaque mismatch".
  std::string reason;
  // The user name the client claimed ("" when none could be read). Never the password.
  std::string user;
  // True when credentials were presented and were wrong: what a panel counts as a failed login.
  bool failure = false;
};

class HttpAuthenticator {
 public:
  static constexpr size_t kMaxNonces = 4096;
  using Clock = std::chrono::steady_clock;

  // `random_hex(n)` returns n random bytes as 2n hex digits (injected so tests can fix nonces).
  HttpAuthenticator(AuthScheme scheme, std::string realm, std::string user, std::string password,
                    std::chrono::seconds nonce_ttl, std::function<std::string(size_t)> random_hex);

  // Checks one request. `authorization` is the Authorization header value ("" when absent),
  // `method` the request method, `target` the request target (path and query as sent).
  AuthVerdict Check(std::string_view method, std::string_view target,
                    std::string_view authorization, Clock::time_point now);

  AuthScheme scheme() const { return scheme_; }
  const std::string& realm() const { return realm_; }
  size_t nonces() const { return nonces_.size(); }

 private:
  struct Nonce {
    Clock::time_point issued;
    uint64_t last_nc = 0;
  };
  AuthVerdict CheckBasic(std::string_view credentials);
  AuthVerdict CheckDigest(std::string_view method, std::string_view target, std::string_view params,
                          Clock::time_point now);
  std::string NewChallenge(Clock::time_point now, bool stale);
  AuthVerdict Refuse(std::string reason, bool failure, Clock::time_point now, bool stale = false,
                     std::string user = {});

  const AuthScheme scheme_;
  const std::string realm_;
  const std::string user_;
  const std::string password_;
  const std::chrono::seconds nonce_ttl_;
  const std::function<std::string(size_t)> random_hex_;
  const std::string opaque_;
  std::map<std::string, Nonce> nonces_;
  std::deque<std::string> nonce_order_;  // issue order, for forgetting the oldest
};

// n random bytes from the kernel (getrandom), as 2n lower-case hex digits.
std::string RandomHex(size_t n);

}  // namespace lintel::panelsim
