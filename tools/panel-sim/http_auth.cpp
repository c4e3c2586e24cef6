#include "tools/panel-sim/http_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <cctype>
#include <charconv>
#include <vector>

#include "gateway/base/base64.h"

namespace lintel::panelsim {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xF]);
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

// Equal without an early exit on the first difference.
bool SameSecret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A quoted-string for a header: backslash before '"' and '\'.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// %XX decoded (a malformed escape stays as it is).
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The header's uri names the request target: the same bytes, or the same once %XX escapes are
// decoded (cpp-httplib's client sends "," as %2C on the request line but signs the raw target).
bool SameTarget(std::string_view uri, std::string_view target) {
  return uri == target || PercentDecode(uri) == PercentDecode(target);
}

}  // namespace

const char* AuthSchemeName(AuthScheme scheme) {
  switch (scheme) {
    case AuthScheme::kNone:
      return "none";
    case AuthScheme::kBasic:
      return "basic";
    case AuthScheme::kDigest:
      return "digest";
  }
  return "?";
}

std::string Md5Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_md5(), nullptr) != 1) return {};
  return Hex(md.data(), len);
}

std::string RandomHex(size_t n) {
  std::vector<unsigned char> bytes(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(bytes.data() + got, n - got, 0);
    if (r <= 0) continue;  // EINTR; getrandom does not fail otherwise once the pool is ready
    got += static_cast<size_t>(r);
  }
  return Hex(bytes.data(), n);
}

Result<std::map<std::string, std::string>> ParseAuthParams(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == ',')) ++i;
  };
  for (skip(); i < text.size(); skip()) {
    size_t eq = text.find('=', i);
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument("auth-param without '=' at offset " + std::to_string(i));
    }
    std::string key = Lower(TrimSpace(text.substr(i, eq - i)));
    if (key.empty()) return Status::InvalidArgument("empty auth-param name");
    i = eq + 1;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '\\' && i < text.size()) {
          value.push_back(text[i++]);
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return Status::InvalidArgument("unterminated quoted value of " + key);
    } else {
      size_t end = text.find(',', i);
      if (end == std::string_view::npos) end = text.size();
      value = std::string(TrimSpace(text.substr(i, end - i)));
      i = end;
    }
    if (!out.emplace(key, std::move(value)).second) {
      return Status::InvalidArgument("auth-param " + key + " given twice");
    }
  }
  return out;
}

std::string DigestResponse(std::string_view user, std::string_view realm, std::string_view password,
                           std::string_view method, std::string_view uri, std::string_view nonce,
                           std::string_view nc, std::string_view cnonce) {
  const std::string ha1 =
      Md5Hex(std::string(user) + ":" + std::string(realm) + ":" + std::string(password));
  const std::string ha2 = Md5Hex(std::string(method) + ":" + std::string(uri));
  return Md5Hex(ha1 + ":" + std::string(nonce) + ":" + std::string(nc) + ":" + std::string(cnonce) +
                ":auth:" + ha2);
}

HttpAuthenticator::HttpAuthenticator(AuthScheme scheme, std::string realm, std::string user,
                                     std::string password, std::chrono::seconds nonce_ttl,
                                     std::function<std::string(size_t)> random_hex)
    : scheme_(scheme),
      realm_(std::move(realm)),
      user_(std::move(user)),
      password_(std::move(password)),
      nonce_ttl_(nonce_ttl),
      random_hex_(std::move(random_hex)),
      opaque_(random_hex_(8)) {}

std::string HttpAuthenticator::NewChallenge(Clock::time_point now, bool stale) {
  if (scheme_ == AuthScheme::kBasic) return "Basic realm=" + Quote(realm_) + ", charset=\"UTF-8\"";
  std::string nonce = random_hex_(16);
  while (nonces_.size() >= kMaxNonces && !nonce_order_.empty()) {
    nonces_.erase(nonce_order_.front());
    nonce_order_.pop_front();
  }
  nonces_[nonce] = Nonce{now, 0};
  nonce_order_.push_back(nonce);
  std::string c = "Digest realm=" + Quote(realm_) +
                  ", qop=\"auth\", algorithm=MD5, nonce=" + Quote(nonce) +
                  ", opaque=" + Quote(opaque_);
  if (stale) c += ", stale=true";
  return c;
}

AuthVerdict HttpAuthenticator::Refuse(std::string reason, bool failure, Clock::time_point now,
                                      bool stale, std::string user) {
  AuthVerdict v;
  v.ok = false;
  v.reason = std::move(reason);
  v.failure = failure;
  v.user = std::move(user);
  v.challenge = NewChallenge(now, stale);
  return v;
}

AuthVerdict HttpAuthenticator::Check(std::string_view method, std::string_view target,
                                     std::string_view authorization, Clock::time_point now) {
  if (scheme_ == AuthScheme::kNone) return AuthVerdict{.ok = true};
  authorization = TrimSpace(authorization);
  if (authorization.empty()) return Refuse("missing", false, now);
  const size_t space = authorization.find(' ');
  const std::string_view word = authorization.substr(0, space);
  const std::string_view rest =
      space == std::string_view::npos ? std::string_view{} : authorization.substr(space + 1);
  if (scheme_ == AuthScheme::kBasic) {
    if (!EqualsIgnoreCase(word, "Basic")) return Refuse("wrong scheme", true, now);
    return CheckBasic(TrimSpace(rest));
  }
  if (!EqualsIgnoreCase(word, "Digest")) return Refuse("wrong scheme", true, now);
  return CheckDigest(method, target, rest, now);
}

AuthVerdict HttpAuthenticator::CheckBasic(std::string_view credentials) {
  const auto now = Clock::time_point{};  // Basic challenges carry no nonce
  Result<std::vector<uint8_t>> decoded = Base64Decode(credentials);
  if (!decoded.ok()) return Refuse("malformed", true, now);
  std::string pair(decoded->begin(), decoded->end());
  const size_t colon = pair.find(':');
  if (colon == std::string::npos) return Refuse("malformed", true, now);
  std::string user = pair.substr(0, colon);
  if (user != user_) return Refuse("unknown user", true, now, false, user);
  if (!SameSecret(std::string_view(pair).substr(colon + 1), password_)) {
    return Refuse("bad password", true, now, false, user);
  }
  AuthVerdict v;
  v.ok = true;
  v.user = std::move(user);
  return v;
}

AuthVerdict HttpAuthenticator::CheckDigest(std::string_view method, std::string_view target,
                                           std::string_view params, Clock::time_point now) {
  Result<std::map<std::string, std::string>> p = ParseAuthParams(params);
  if (!p.ok()) return Refuse("malformed", true, now);
  auto get = [&](const char* key) -> std::string {
    auto it = p->find(key);
    return it == p->end() ? std::string() : it->second;
  };
  const std::string user = get("username");
  for (const char* required : {"username", "realm", "nonce", "uri", "response"}) {
    if (!p->contains(required)) return Refuse("malformed", true, now, false, user);
  }
  if (user != user_) return Refuse("unknown user", true, now, false, user);
  if (get("realm") != realm_) return Refuse("wrong realm", true, now, false, user);
  if (p->contains("algorithm") && !EqualsIgnoreCase(get("algorithm"), "MD5")) {
    return Refuse("bad algorithm", true, now, false, user);
  }
  if (get("qop") != "auth") return Refuse("bad qop", true, now, false, user);
  if (p->contains("opaque") && get("opaque") != opaque_) {
    return Refuse("opaque mismatch", true, now, false, user);
  }
  if (!SameTarget(get("uri"), target)) return Refuse("uri mismatch", true, now, false, user);
  const std::string nc_text = get("nc");
  const std::string cnonce = get("cnonce");
  uint64_t nc = 0;
  const char* nc_end = nc_text.data() + nc_text.size();
  if (nc_text.size() != 8 || cnonce.empty() ||
      std::from_chars(nc_text.data(), nc_end, nc, 16).ptr != nc_end || nc == 0) {
    return Refuse("bad nc", true, now, false, user);
  }
  const std::string nonce = get("nonce");
  const std::string expected =
      DigestResponse(user_, realm_, password_, method, get("uri"), nonce, nc_text, cnonce);
  auto it = nonces_.find(nonce);
  if (it == nonces_.end()) {
    // Not one of ours, or forgotten: a right response on a forgotten nonce is stale, not wrong.
    if (SameSecret(Lower(get("response")), expected)) {
      return Refuse("stale nonce", false, now, true, user);
    }
    return Refuse("unknown nonce", true, now, false, user);
  }
  if (!SameSecret(Lower(get("response")), expected)) {
    return Refuse("bad password", true, now, false, user);
  }
  if (now - it->second.issued > nonce_ttl_) return Refuse("stale nonce", false, now, true, user);
  if (nc <= it->second.last_nc) return Refuse("replayed nc", true, now, false, user);
  it->second.last_nc = nc;
  AuthVerdict v;
  v.ok = true;
  v.user = user;
  return v;
}

}  // namespace lintel::panelsim
