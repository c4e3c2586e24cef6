// A self-signed certificate made in the test (OpenSSL 3): EC P-256, CN "panel", subjectAltName
// IP:127.0.0.1, valid from an hour ago for a day. For the HTTPS tests of the intercom seam.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace lintel::intercom::testing {

class TestCert {
 public:
  explicit TestCert(const char* common_name = "panel") {
    key_ = EVP_EC_gen("P-256");
    cert_ = X509_new();
    if (key_ == nullptr || cert_ == nullptr) throw std::runtime_error("openssl: alloc");
    X509_set_version(cert_, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert_), serial_++);
    X509_gmtime_adj(X509_getm_notBefore(cert_), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert_), 86400);
    X509_set_pubkey(cert_, key_);
    X509_NAME* name = X509_get_subject_name(cert_);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(cert_, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert_, cert_, nullptr, nullptr, 0);
    for (const char* ext : {"subjectAltName", "basicConstraints"}) {
      const char* value =
          std::string(ext) == "subjectAltName" ? "IP:127.0.0.1" : "critical,CA:TRUE";
      X509_EXTENSION* e = X509V3_EXT_conf(nullptr, &ctx, ext, value);
      if (e == nullptr) throw std::runtime_error("openssl: extension");
      X509_add_ext(cert_, e, -1);
      X509_EXTENSION_free(e);
    }
    if (X509_sign(cert_, key_, EVP_sha256()) == 0) throw std::runtime_error("openssl: sign");
  }
  ~TestCert() {
    X509_free(cert_);
    EVP_PKEY_free(key_);
  }
  TestCert(const TestCert&) = delete;
  TestCert& operator=(const TestCert&) = delete;

  X509* cert() const { return cert_; }
  EVP_PKEY* key() const { return key_; }

  // "AB:CD:..." as `openssl x509 -fingerprint -sha256` prints it.
  std::string Sha256Fingerprint() const {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    X509_digest(cert_, EVP_sha256(), md, &n);
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
      if (i > 0) out.push_back(':');
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  }

  // Writes the certificate as PEM to `path`.
  void WritePem(const std::string& path) const {
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) throw std::runtime_error("cannot write " + path);
    PEM_write_X509(f, cert_);
    std::fclose(f);
  }

 private:
  static inline long serial_ = 1;
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
};

}  // namespace lintel::intercom::testing
