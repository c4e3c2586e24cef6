// HttpSeam: the HTTP client seam of the intercom drivers (STYLE.md 3), and its implementation
// over cpp-httplib 0.11.4 (library `lintel_intercom_io`; no httplib or OpenSSL type appears here).
//
// One seam is one connection to one panel (kept alive between requests). A panel driver uses two:
// one for its event channel (a long poll may be in flight for many seconds) and one for commands,
// so that a door is never opened late because of a poll.
//
// Threads: Send() blocks and is called by one thread at a time (the driver's thread, never the
// core loop). Abort() may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "gateway/base/status.h"

namespace lintel::intercom {

struct HttpRequest {
  enum class Method { kGet, kPost };
  Method method = Method::kGet;
  // Path and query, already encoded: "/api/log/pull?id=3&timeout=20". May carry credentials
  // (Akuvox legacy): the seam never puts it in a message or a log line.
  std::string target;
  std::string body;          // kPost only
  std::string content_type;  // kPost only ("application/json")
  // How long to wait for the reply once the request is sent; zero: HttpConfig::read_timeout.
  // A long poll passes its poll timeout plus a margin.
  std::chrono::milliseconds timeout{0};
};

struct HttpResponse {
  int status = 0;    // the HTTP status (401 included: the caller decides what it means)
  std::string body;  // at most HttpConfig::max_body_bytes
};

class HttpSeam {
 public:
  virtual ~HttpSeam() = default;

  // Sends `request` and waits for the whole reply (with Digest auth, the 401 challenge and the
  // second request are one Send). Every HTTP status is a response. Errors (messages name the
  // base URL, never the target or a credential):
  //  - Unavailable: no reply: connection refused / reset / closed, connect or reply timeout, TLS
  //    handshake failure other than a refused certificate, or Abort();
  //  - FailedPrecondition: the panel's certificate was refused ("certificate of https://... has
  //    SHA-256 <hex>, not the pinned one", "... not trusted: <OpenSSL reason>"), or the CA file
  //    cannot be loaded;
  //  - InvalidArgument: the reply body is longer than max_body_bytes (reading stops there and
  //    the connection is dropped).
  [[nodiscard]] virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;

  // Any thread. Makes the Send in progress (if any) return Unavailable, and every later Send at
  // once; returns when no Send is in progress any more (within about the connect timeout: a
  // connect or TLS handshake under way is not interrupted). Permanent.
  virtual void Abort() = 0;
};

inline constexpr size_t kDefaultMaxBodyBytes = 1 << 20;  // as twon_api.h kMaxReplyBytes

struct HttpConfig {
  // "http://host[:port]" or "https://host[:port]" (host: a name, an IPv4 address or [IPv6]);
  // no path, no user info.
  std::string base_url;
  enum class Auth { kNone, kBasic, kDigest };  // Digest: RFC 2617 (MD5, qop auth), as httplib
  Auth auth = Auth::kNone;
  std::string username;  // with kNone unused by the seam (the Akuvox legacy request reads it)
  std::string password;  // SECRET: never logged, never in a message
  // https only, exactly one of:
  //  - ca_file: a PEM file with the CA certificate(s) to trust; the chain and the host name (a
  //    DNS name or IP address in the certificate) are checked by OpenSSL through httplib;
  //  - pinned_sha256: the SHA-256 fingerprint of the panel's own certificate (DER), 64 hex
  //    digits, ':' separators allowed (as `openssl x509 -noout -fingerprint -sha256` prints
  //    it). Only the leaf certificate is compared (chain, expiry and name are not checked: the
  //    usual self-signed panel certificate has none worth checking). The comparison runs in
  //    OpenSSL's certificate verification step (SSL_CTX_set_cert_verify_callback with
  //    SSL_VERIFY_PEER), so a mismatch fails the handshake before any request, and so before
  //    any credential, is sent.
  std::string ca_file;
  std::string pinned_sha256;
  std::chrono::milliseconds connect_timeout{3000};  // TCP connect (and the TLS handshake)
  std::chrono::milliseconds read_timeout{5000};     // default reply timeout (HttpRequest)
  size_t max_body_bytes = kDefaultMaxBodyBytes;
};

// Errors: InvalidArgument naming the field: a base URL of another form, a scheme other than http
// and https, kBasic/kDigest without a user name, https without exactly one of
// ca_file and pinned_sha256, a CA file or pin on http, a pin that is not 64 hex digits,
// timeouts <= 0, max_body_bytes 0.
[[nodiscard]] Status CheckHttpConfig(const HttpConfig& config);

// "https://10.0.0.7:443 (digest auth, pinned certificate)": for messages; no credential.
std::string DescribeHttp(const HttpConfig& config);

// A seam over cpp-httplib 0.11.4 (Debian's build, with OpenSSL). Nothing is connected yet.
// Errors: InvalidArgument from CheckHttpConfig(); IoError when httplib refuses the URL.
[[nodiscard]] Result<std::unique_ptr<HttpSeam>> MakeHttplibSeam(const HttpConfig& config);

}  // namespace lintel::intercom
