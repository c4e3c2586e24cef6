// The httplib HttpSeam (drivers/intercom/http_seam.h): config checks, HTTPS with a pinned
// certificate or a CA file against an in-test httplib::SSLServer with a certificate made in the
// test, the body limit, Abort(). 127.0.0.1 only.
#include "drivers/intercom/http_seam.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "tests/unit/intercom/fake_panel.h"
#include "tests/unit/intercom/test_cert.h"

namespace lintel::intercom {
namespace {

using std::chrono::milliseconds;
using testing::FakePanel;
using testing::TestCert;

// An httplib server (plain or TLS) on 127.0.0.1 that counts requests reaching its handler.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> svr) : svr_(std::move(svr)) {
    svr_->Get("/hello", [this](const httplib::Request&, httplib::Response& res) {
      ++handled_;
      res.set_content("hi", "text/plain");
    });
    svr_->Get("/big", [this](const httplib::Request&, httplib::Response& res) {
      ++handled_;
      res.set_content(std::string(3 << 20, 'x'), "text/plain");
    });
    port_ = svr_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_->listen_after_bind(); });
    while (!svr_->is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~TestServer() {
    svr_->stop();
    thread_.join();
  }
  std::string url(const char* scheme) const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }
  int handled() const { return handled_; }

 private:
  std::unique_ptr<httplib::Server> svr_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> handled_{0};
};

std::unique_ptr<HttpSeam> Seam(const HttpConfig& c) {
  Result<std::unique_ptr<HttpSeam>> s = MakeHttplibSeam(c);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

HttpRequest Get(const char* target) {
  HttpRequest r;
  r.target = target;
  return r;
}

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/lintel_intercom_" +
         std::to_string(getpid()) + "_" + name;
}

TEST(HttpConfigCheck, AcceptsTheSupportedForms) {
  HttpConfig c;
  for (const char* url : {"http://10.0.0.7", "http://panel.local:8080", "http://[fe80::1]:80"}) {
    c.base_url = url;
    EXPECT_TRUE(CheckHttpConfig(c).ok()) << url;
  }
  c.base_url = "https://10.0.0.7";
  c.pinned_sha256 = std::string(64, 'a');
  EXPECT_TRUE(CheckHttpConfig(c).ok());
  c.pinned_sha256 = "AB:CD:" + std::string(60, '0');
  EXPECT_TRUE(CheckHttpConfig(c).ok());
}

TEST(HttpConfigCheck, RefusesWhatCannotWork) {
  auto bad = [](HttpConfig c, const char* why) {
    Status st = CheckHttpConfig(c);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.base_url;
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
  };
  HttpConfig c;
  c.base_url = "http://10.0.0.7";
  for (const char* url : {"ftp://10.0.0.7", "http://10.0.0.7/api", "10.0.0.7", "http://u:p@h",
                          "http://10.0.0.7:80:80", ""}) {
    HttpConfig u = c;
    u.base_url = url;
    bad(u, "base URL");
  }
  HttpConfig a = c;
  a.auth = HttpConfig::Auth::kDigest;
  bad(a, "needs a user name");
  HttpConfig s = c;
  s.base_url = "https://10.0.0.7";
  bad(s, "exactly one of");
  s.ca_file = "/etc/ssl/ca.pem";
  s.pinned_sha256 = std::string(64, 'a');
  bad(s, "exactly one of");
  s.ca_file.clear();
  s.pinned_sha256 = std::string(63, 'a');
  bad(s, "64 hex digits");
  HttpConfig p = c;
  p.pinned_sha256 = std::string(64, 'a');
  bad(p, "needs an https URL");
  HttpConfig t = c;
  t.read_timeout = milliseconds(0);
  bad(t, "timeouts");
}

TEST(HttpConfigCheck, DescribeNamesNoPassword) {
  HttpConfig c;
  c.base_url = "https://10.0.0.7";
  c.auth = HttpConfig::Auth::kDigest;
  c.username = "admin";
  c.password = "s3cret-pass";
  c.pinned_sha256 = std::string(64, 'a');
  EXPECT_EQ(DescribeHttp(c), "https://10.0.0.7 (digest auth, pinned certificate)");
}

TEST(HttplibSeam, PinnedCertificateThatMatchesIsAccepted) {
  TestCert cert;
  TestServer server(std::make_unique<httplib::SSLServer>(cert.cert(), cert.key()));
  HttpConfig c;
  c.base_url = server.url("https");
  c.pinned_sha256 = cert.Sha256Fingerprint();
  auto seam = Seam(c);
  Result<HttpResponse> r = seam->Send(Get("/hello"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hi");
  // The same connection again (keep-alive), then lower-case hex without colons works as well.
  EXPECT_TRUE(seam->Send(Get("/hello")).ok());
  std::string plain;
  for (char ch : cert.Sha256Fingerprint()) {
    if (ch != ':') plain.push_back(static_cast<char>(std::tolower(ch)));
  }
  c.pinned_sha256 = plain;
  EXPECT_TRUE(Seam(c)->Send(Get("/hello")).ok());
  EXPECT_EQ(server.handled(), 3);
}

TEST(HttplibSeam, WrongPinFailsTheHandshakeBeforeAnyRequestIsSent) {
  TestCert cert;
  TestCert other("impostor");
  TestServer server(std::make_unique<httplib::SSLServer>(cert.cert(), cert.key()));
  HttpConfig c;
  c.base_url = server.url("https");
  c.auth = HttpConfig::Auth::kBasic;  // the credentials must never reach an impostor
  c.username = "admin";
  c.password = "s3cret";
  c.pinned_sha256 = other.Sha256Fingerprint();
  Result<HttpResponse> r = Seam(c)->Send(Get("/hello"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  std::string seen;
  for (char ch : cert.Sha256Fingerprint()) {
    if (ch != ':') seen.push_back(ch);
  }
  EXPECT_EQ(r.status().message(),
            "certificate of " + c.base_url + " has SHA-256 " + seen + ", not the pinned one");
  EXPECT_EQ(server.handled(), 0);
}

TEST(HttplibSeam, CaFileVerifiesTheChainAndTheAddress) {
  TestCert cert;  // self-signed, CA:TRUE, subjectAltName IP:127.0.0.1
  TestCert stranger("stranger");
  TestServer server(std::make_unique<httplib::SSLServer>(cert.cert(), cert.key()));
  const std::string ca = TempPath("ca.pem");
  const std::string wrong_ca = TempPath("wrong_ca.pem");
  cert.WritePem(ca);
  stranger.WritePem(wrong_ca);
  HttpConfig c;
  c.base_url = server.url("https");
  c.ca_file = ca;
  Result<HttpResponse> r = Seam(c)->Send(Get("/hello"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "hi");

  c.ca_file = wrong_ca;
  r = Seam(c)->Send(Get("/hello"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("not trusted"), std::string::npos) << r.status().message();

  // The right CA but another name: "localhost" is not in the certificate.
  c.ca_file = ca;
  c.base_url =
      "https://localhost:" + server.url("https").substr(server.url("https").rfind(':') + 1);
  r = Seam(c)->Send(Get("/hello"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  EXPECT_EQ(server.handled(), 1);
  unlink(ca.c_str());
  unlink(wrong_ca.c_str());
}

TEST(HttplibSeam, PlainHttpToATlsServerIsUnavailable) {
  TestCert cert;
  TestServer server(std::make_unique<httplib::SSLServer>(cert.cert(), cert.key()));
  HttpConfig c;
  c.base_url = server.url("http");
  Result<HttpResponse> r = Seam(c)->Send(Get("/hello"));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(HttplibSeam, ReplyBodyOverTheLimitIsRefused) {
  TestServer server(std::make_unique<httplib::Server>());
  HttpConfig c;
  c.base_url = server.url("http");
  auto seam = Seam(c);
  Result<HttpResponse> r = seam->Send(Get("/big"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("reply body over 1048576 bytes"), std::string::npos);
  // The seam is still usable.
  Result<HttpResponse> ok = seam->Send(Get("/hello"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->body, "hi");
}

TEST(HttplibSeam, RefusedConnectionIsUnavailableWithoutTheTarget) {
  FakePanel fake(/*keep_alive=*/false);
  fake.Down();
  HttpConfig c;
  c.base_url = fake.url();
  Result<HttpResponse> r = Seam(c)->Send(Get("/fcgi/do?action=OpenDoor&Password=s3cret"));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message().find("s3cret"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find("fcgi"), std::string::npos) << r.status().message();
}

TEST(HttplibSeam, AbortEndsASendInFlightAndEveryLaterOne) {
  FakePanel fake;
  fake.HoldPulls(true);
  HttpConfig c;
  c.base_url = fake.url();
  auto seam = Seam(c);
  Result<HttpResponse> sub = seam->Send(Get("/api/log/subscribe?include=new&duration=60"));
  ASSERT_TRUE(sub.ok());
  Result<HttpResponse> pulled = Status::Internal("not yet");
  std::thread t([&] { pulled = seam->Send(Get("/api/log/pull?id=1007&timeout=30")); });
  ASSERT_TRUE(fake.WaitForPullWaiting());
  seam->Abort();  // returns once the Send in flight has returned
  t.join();
  EXPECT_EQ(pulled.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(pulled.status().message().find("aborted"), std::string::npos);
  EXPECT_EQ(seam->Send(Get("/api/system/info")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(fake.pulls_answered(), 0);
  fake.HoldPulls(false);
}

}  // namespace
}  // namespace lintel::intercom
