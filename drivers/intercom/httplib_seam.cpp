// HttpSeam over cpp-httplib 0.11.4 (http_seam.h). httplib and OpenSSL stay in this file.
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <regex>

#include "drivers/intercom/http_seam.h"
#include "gateway/base/mutex.h"

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "Debian's cpp-httplib is built with OpenSSL: compile with its pkg-config flags"
#endif

namespace lintel::intercom {
namespace {

const std::regex& UrlPattern() {
  // scheme, host (name, IPv4 or [IPv6]), optional port; nothing else.
  static const std::regex kPattern(
      R"(^(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$)");
  return kPattern;
}

bool IsHttps(const std::string& url) { return url.rfind("https://", 0) == 0; }

// 64 hex digits (':' separators dropped), upper-case; empty when it is not one.
std::string NormalizePin(const std::string& pin) {
  std::string out;
  for (char c : pin) {
    if (c == ':') continue;
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return "";
    out.push_back(c);
  }
  return out.size() == 64 ? out : "";
}

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

class HttplibSeam final : public HttpSeam {
 public:
  explicit HttplibSeam(const HttpConfig& config)
      : config_(config), where_(DescribeHttp(config)), client_(config.base_url) {}

  Status Init() {
    if (!client_.is_valid()) return Status::IoError(where_ + ": httplib refuses the URL");
    client_.set_keep_alive(true);
    client_.set_follow_location(false);
    client_.set_url_encode(false);  // targets are built encoded
    client_.set_connection_timeout(config_.connect_timeout);
    client_.set_read_timeout(config_.read_timeout);
    client_.set_write_timeout(config_.read_timeout);
    switch (config_.auth) {
      case HttpConfig::Auth::kNone:
        break;
      case HttpConfig::Auth::kBasic:
        client_.set_basic_auth(config_.username, config_.password);
        break;
      case HttpConfig::Auth::kDigest:
        client_.set_digest_auth(config_.username, config_.password);
        break;
    }
    if (!IsHttps(config_.base_url)) return Status::Ok();
    if (!config_.ca_file.empty()) {
      client_.set_ca_cert_path(config_.ca_file);
      client_.enable_server_certificate_verification(true);
      return Status::Ok();
    }
    // Pinning. httplib's own verification is off (it would check a chain and a host name the
    // panel's self-signed certificate does not have), so httplib leaves the SSL objects with the
    // context's verify mode; OpenSSL then runs our callback instead of its chain verification,
    // and SSL_VERIFY_PEER makes a refusal fail the handshake.
    pin_ = NormalizePin(config_.pinned_sha256);
    client_.enable_server_certificate_verification(false);
    SSL_CTX* ctx = client_.ssl_context();
    if (ctx == nullptr) return Status::IoError(where_ + ": no TLS context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(ctx, &HttplibSeam::VerifyPin, this);
    return Status::Ok();
  }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    {
      MutexLock lock(mu_);
      if (aborted_) return Status::Unavailable(where_ + ": aborted");
      in_flight_ = true;
    }
    Result<HttpResponse> r = SendNow(request);
    {
      MutexLock lock(mu_);
      in_flight_ = false;
    }
    cv_.notify_all();
    return r;
  }

  void Abort() override {
    MutexLock lock(mu_);
    aborted_ = true;
    // httplib's stop() shuts the socket of a request in flight; a request still connecting
    // holds httplib's socket lock until connected, and is stopped by the next round.
    while (in_flight_) {
      lock.unlock();
      client_.stop();
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(10),
                   [this]() REQUIRES(mu_) { return !in_flight_; });
    }
  }

 private:
  static int VerifyPin(X509_STORE_CTX* store, void* arg) {
    auto* self = static_cast<HttplibSeam*>(arg);
    X509* cert = X509_STORE_CTX_get0_cert(store);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) {
      self->seen_fingerprint_ = "(none)";
      X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
      return 0;
    }
    std::string fp = Hex(md, len);
    if (fp.size() == self->pin_.size() &&
        CRYPTO_memcmp(fp.data(), self->pin_.data(), fp.size()) == 0) {
      return 1;
    }
    self->seen_fingerprint_ = std::move(fp);
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }

  Result<HttpResponse> SendNow(const HttpRequest& request) {
    seen_fingerprint_.clear();
    const std::chrono::milliseconds timeout =
        request.timeout.count() > 0 ? request.timeout : config_.read_timeout;
    client_.set_read_timeout(timeout);

    httplib::Request req;
    req.method = request.method == HttpRequest::Method::kPost ? "POST" : "GET";
    req.path = request.target;
    if (request.method == HttpRequest::Method::kPost) {
      req.body = request.body;
      req.set_header("Content-Type", request.content_type.empty() ? "application/octet-stream"
                                                                  : request.content_type);
    }
    std::string body;
    bool too_big = false;
    const size_t max = config_.max_body_bytes;
    // Called for every response of the exchange (a Digest challenge, then the answer): only the
    // last one's body is kept.
    req.response_handler = [&body](const httplib::Response&) {
      body.clear();
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (body.size() + n > max) {
        too_big = true;
        return false;
      }
      body.append(data, n);
      return true;
    };
    httplib::Result res = client_.send(req);
    if (res) {
      HttpResponse out;
      out.status = res->status;
      out.body = std::move(body);
      return out;
    }
    const httplib::Error err = res.error();
    {
      MutexLock lock(mu_);
      if (aborted_) return Status::Unavailable(where_ + ": aborted");
    }
    if (too_big) {
      client_.stop();  // the rest of the body is not read: drop the connection
      return Status::InvalidArgument(where_ + ": reply body over " + std::to_string(max) +
                                     " bytes");
    }
    switch (err) {
      case httplib::Error::SSLConnection:
        if (!seen_fingerprint_.empty()) {
          return Status::FailedPrecondition("certificate of " + config_.base_url + " has SHA-256 " +
                                            seen_fingerprint_ + ", not the pinned one");
        }
        return Status::Unavailable(where_ + ": TLS handshake failed");
      case httplib::Error::SSLServerVerification: {
        const long v = client_.get_openssl_verify_result();
        std::string why = v == X509_V_OK ? "host name does not match the certificate"
                                         : X509_verify_cert_error_string(v);
        return Status::FailedPrecondition("certificate of " + config_.base_url +
                                          " not trusted: " + why);
      }
      case httplib::Error::SSLLoadingCerts:
        return Status::FailedPrecondition(where_ + ": cannot load the CA file " + config_.ca_file);
      case httplib::Error::Connection:
        return Status::Unavailable(where_ + ": cannot connect");
      case httplib::Error::ConnectionTimeout:
        return Status::Unavailable(where_ + ": connect timed out");
      case httplib::Error::Read:
        return Status::Unavailable(where_ + ": no reply (connection closed or timed out)");
      case httplib::Error::Write:
        return Status::Unavailable(where_ + ": sending the request failed");
      default:
        return Status::Unavailable(where_ + ": request failed (" + httplib::to_string(err) + ")");
    }
  }

  const HttpConfig config_;
  const std::string where_;
  httplib::Client client_;
  std::string pin_;               // normalised; empty unless pinning
  std::string seen_fingerprint_;  // set by VerifyPin on a refusal (the Send thread)

  Mutex mu_;
  CondVar cv_;
  bool aborted_ GUARDED_BY(mu_) = false;
  bool in_flight_ GUARDED_BY(mu_) = false;
};

}  // namespace

Status CheckHttpConfig(const HttpConfig& c) {
  if (!std::regex_match(c.base_url, UrlPattern())) {
    return Status::InvalidArgument(
        "http: base URL must be http://host[:port] or https://host[:port] (no path)");
  }
  const bool https = IsHttps(c.base_url);
  if (c.auth != HttpConfig::Auth::kNone && c.username.empty()) {
    return Status::InvalidArgument("http: basic or digest auth needs a user name");
  }
  if (https) {
    if (c.ca_file.empty() == c.pinned_sha256.empty()) {
      return Status::InvalidArgument(
          "http: https needs exactly one of a CA file and a pinned SHA-256 fingerprint");
    }
    if (!c.pinned_sha256.empty() && NormalizePin(c.pinned_sha256).empty()) {
      return Status::InvalidArgument(
          "http: the pinned fingerprint must be 64 hex digits (':' separators allowed)");
    }
  } else if (!c.ca_file.empty() || !c.pinned_sha256.empty()) {
    return Status::InvalidArgument("http: a CA file or pinned fingerprint needs an https URL");
  }
  if (c.connect_timeout.count() <= 0 || c.read_timeout.count() <= 0) {
    return Status::InvalidArgument("http: timeouts must be > 0");
  }
  if (c.max_body_bytes == 0) return Status::InvalidArgument("http: max_body_bytes must be > 0");
  return Status::Ok();
}

std::string DescribeHttp(const HttpConfig& c) {
  std::string s = c.base_url;
  std::vector<std::string> notes;
  if (c.auth == HttpConfig::Auth::kBasic) notes.push_back("basic auth");
  if (c.auth == HttpConfig::Auth::kDigest) notes.push_back("digest auth");
  if (!c.pinned_sha256.empty()) notes.push_back("pinned certificate");
  if (!c.ca_file.empty()) notes.push_back("CA " + c.ca_file);
  for (size_t i = 0; i < notes.size(); ++i) s += (i == 0 ? " (" : ", ") + notes[i];
  if (!notes.empty()) s += ")";
  return s;
}

Result<std::unique_ptr<HttpSeam>> MakeHttplibSeam(const HttpConfig& config) {
  LINTEL_RETURN_IF_ERROR(CheckHttpConfig(config));
  auto seam = std::make_unique<HttplibSeam>(config);
  LINTEL_RETURN_IF_ERROR(seam->Init());
  return std::unique_ptr<HttpSeam>(std::move(seam));
}

}  // namespace lintel::intercom
