// HttpAuthenticator (tools/panel-sim/http_auth.h) against RFC 2617's worked example, and the rules
// a panel applies around it: nonce expiry (stale=true), nonce-count replay, uri, realm, user,
// Basic; SubstituteActionUrl (tools/panel-sim/panel.h).
#include "tools/panel-sim/http_auth.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "gateway/base/base64.h"
#include "tools/panel-sim/panel.h"

namespace lintel::panelsim {
namespace {

using std::chrono::seconds;
using Time = HttpAuthenticator::Clock::time_point;

// RFC 2617 section 3.5.
constexpr const char* kUser = "Mufasa";
constexpr const char* kRealm = "testrealm@host.com";
constexpr const char* kPassword = "Circle Of Life";
constexpr const char* kNonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
constexpr const char* kOpaque = "5ccc069c403ebaf9f0171e9517f40e41";
constexpr const char* kUri = "/dir/index.html";
constexpr const char* kResponse = "6629fae49393a05397450978507c4ef1";

std::string Header(const std::string& nc = "00000001", const std::string& response = kResponse,
                   const std::string& uri = kUri, const std::string& user = kUser) {
  return "Digest username=\"" + user + "\", realm=\"" + kRealm + "\", nonce=\"" + kNonce +
         "\", uri=\"" + uri + "\", qop=auth, nc=" + nc + ", cnonce=\"0a4f113b\", response=\"" +
         response + "\", opaque=\"" + kOpaque + "\"";
}

// Nonces and the opaque value are fixed: the RFC's.
HttpAuthenticator RfcAuthenticator(seconds ttl = seconds(300)) {
  return HttpAuthenticator(AuthScheme::kDigest, kRealm, kUser, kPassword, ttl,
                           [](size_t n) { return std::string(n == 8 ? kOpaque : kNonce); });
}

TEST(HttpAuth, DigestResponseMatchesTheRfc2617Example) {
  EXPECT_EQ(DigestResponse(kUser, kRealm, kPassword, "GET", kUri, kNonce, "00000001", "0a4f113b"),
            kResponse);
}

TEST(HttpAuth, ChallengesWithoutCredentialsWithoutCountingAFailure) {
  HttpAuthenticator auth = RfcAuthenticator();
  AuthVerdict v = auth.Check("GET", kUri, "", Time{});
  EXPECT_FALSE(v.ok);
  EXPECT_FALSE(v.failure);
  EXPECT_EQ(v.reason, "missing");
  EXPECT_EQ(v.challenge, std::string("Digest realm=\"") + kRealm +
                             "\", qop=\"auth\", algorithm=MD5, nonce=\"" + kNonce +
                             "\", opaque=\"" + kOpaque + "\"");
}

TEST(HttpAuth, AcceptsTheRfc2617ExampleOnAnIssuedNonce) {
  HttpAuthenticator auth = RfcAuthenticator();
  (void)auth.Check("GET", kUri, "", Time{});  // issues kNonce
  AuthVerdict v = auth.Check("GET", kUri, Header(), Time{} + seconds(10));
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.user, kUser);
}

TEST(HttpAuth, RefusesAReplayedNonceCountButAcceptsTheNextOne) {
  HttpAuthenticator auth = RfcAuthenticator();
  (void)auth.Check("GET", kUri, "", Time{});
  ASSERT_TRUE(auth.Check("GET", kUri, Header(), Time{}).ok);
  AuthVerdict replay = auth.Check("GET", kUri, Header(), Time{});
  EXPECT_FALSE(replay.ok);
  EXPECT_TRUE(replay.failure);
  EXPECT_EQ(replay.reason, "replayed nc");
  const std::string r2 =
      DigestResponse(kUser, kRealm, kPassword, "GET", kUri, kNonce, "00000002", "0a4f113b");
  EXPECT_TRUE(auth.Check("GET", kUri, Header("00000002", r2), Time{}).ok);
}

TEST(HttpAuth, TheUriMayDifferFromTheTargetOnlyByPercentEscapes) {
  HttpAuthenticator auth = RfcAuthenticator();
  (void)auth.Check("GET", kUri, "", Time{});
  const std::string uri = "/api/log/subscribe?filter=A,B";
  const std::string response =
      DigestResponse(kUser, kRealm, kPassword, "GET", uri, kNonce, "00000001", "0a4f113b");
  EXPECT_TRUE(auth.Check("GET", "/api/log/subscribe?filter=A%2CB",
                         Header("00000001", response, uri), Time{})
                  .ok);
  const std::string r2 =
      DigestResponse(kUser, kRealm, kPassword, "GET", uri, kNonce, "00000002", "0a4f113b");
  EXPECT_EQ(
      auth.Check("GET", "/api/log/subscribe?filter=A%2CC", Header("00000002", r2, uri), Time{})
          .reason,
      "uri mismatch");
}

TEST(HttpAuth, AnExpiredNonceIsStaleNotAFailure) {
  HttpAuthenticator auth = RfcAuthenticator(seconds(60));
  (void)auth.Check("GET", kUri, "", Time{});
  AuthVerdict v = auth.Check("GET", kUri, Header(), Time{} + seconds(61));
  EXPECT_FALSE(v.ok);
  EXPECT_FALSE(v.failure);
  EXPECT_EQ(v.reason, "stale nonce");
  EXPECT_NE(v.challenge.find("stale=true"), std::string::npos) << v.challenge;
}

TEST(HttpAuth, RefusesAWrongPasswordUserUriMethodOrUnknownNonce) {
  HttpAuthenticator auth = RfcAuthenticator();
  (void)auth.Check("GET", kUri, "", Time{});
  const std::string wrong =
      DigestResponse(kUser, kRealm, "Circle of life", "GET", kUri, kNonce, "00000001", "0a4f113b");
  EXPECT_EQ(auth.Check("GET", kUri, Header("00000001", wrong), Time{}).reason, "bad password");
  EXPECT_EQ(auth.Check("GET", "/other", Header(), Time{}).reason, "uri mismatch");
  EXPECT_EQ(auth.Check("POST", kUri, Header(), Time{}).reason, "bad password");
  EXPECT_EQ(auth.Check("GET", kUri, Header("00000001", kResponse, kUri, "Simba"), Time{}).reason,
            "unknown user");
  HttpAuthenticator fresh = RfcAuthenticator();  // never issued kNonce; the response is wrong there
  EXPECT_EQ(fresh.Check("GET", kUri, Header("00000001", wrong), Time{}).reason, "unknown nonce");
  EXPECT_EQ(auth.Check("GET", kUri, "Basic YTpi", Time{}).reason, "wrong scheme");
  EXPECT_EQ(auth.Check("GET", kUri, "Digest username=\"Mufasa", Time{}).reason, "malformed");
  EXPECT_TRUE(auth.Check("GET", kUri, Header("00000001", wrong), Time{}).failure);
}

TEST(HttpAuth, ParsesQuotedEscapedAndBareAuthParams) {
  auto p = ParseAuthParams(R"(username="a\"b", qop=auth, NC=00000001 ,uri="/x?y=1,2")");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->at("username"), "a\"b");
  EXPECT_EQ(p->at("qop"), "auth");
  EXPECT_EQ(p->at("nc"), "00000001");
  EXPECT_EQ(p->at("uri"), "/x?y=1,2");
  EXPECT_FALSE(ParseAuthParams("username=\"open").ok());
  EXPECT_FALSE(ParseAuthParams("a=1, a=2").ok());
  EXPECT_FALSE(ParseAuthParams("novalue").ok());
}

TEST(HttpAuth, BasicChecksUserAndPassword) {
  HttpAuthenticator auth(AuthScheme::kBasic, "panel", "admin", "p:w", seconds(60),
                         [](size_t) { return std::string("00"); });
  EXPECT_TRUE(auth.Check("GET", "/", "Basic " + Base64Encode(std::string("admin:p:w")), Time{}).ok);
  AuthVerdict bad =
      auth.Check("GET", "/", "Basic " + Base64Encode(std::string("admin:pw")), Time{});
  EXPECT_FALSE(bad.ok);
  EXPECT_TRUE(bad.failure);
  EXPECT_EQ(bad.reason, "bad password");
  EXPECT_EQ(bad.challenge, "Basic realm=\"panel\", charset=\"UTF-8\"");
  EXPECT_EQ(auth.Check("GET", "/", "Basic !!", Time{}).reason, "malformed");
}

TEST(HttpAuth, NoneLetsEverythingThrough) {
  HttpAuthenticator auth(AuthScheme::kNone, "", "", "", seconds(1),
                         [](size_t) { return std::string(); });
  EXPECT_TRUE(auth.Check("GET", "/", "", Time{}).ok);
}

TEST(ActionUrl, SubstitutesKnownVariablesPercentEncodedAndLeavesOthers) {
  EXPECT_EQ(SubstituteActionUrl(
                "http://gw:8090/akuvox/p1/s/code?code=$code&mac=$mac&x=$other&r="
                "$relay1status&c=$card_sn&m=$model",
                {{"code", "12#4"}, {"mac", "0C:11"}, {"relay1status", "1"}, {"model", "R20 A"}}),
            "http://gw:8090/akuvox/p1/s/code?code=12%234&mac=0C%3A11&x=$other&r=1&c=&m=R20%20A");
}

}  // namespace
}  // namespace lintel::panelsim
