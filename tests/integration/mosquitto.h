// Test helper: a real mosquitto broker on a loopback port, started and stopped by the test, and a
// throw-away PKI (CA, server and client certificates made with the openssl command) for TLS.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "tests/integration/subprocess.h"

namespace lintel::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// True when something accepts TCP connections on 127.0.0.1:port.
inline bool PortAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// Files of a test PKI, all PEM, in one directory.
struct TestPki {
  std::string dir;
  std::string ca_cert;      // the CA both sides trust
  std::string server_cert;  // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  std::string server_key;
  std::string client_cert;  // CN=<client_cn>, signed by the CA
  std::string client_key;
  std::string rogue_cert;  // a client certificate from another CA (must be refused)
  std::string rogue_key;
};

// Makes a CA, a server certificate for 127.0.0.1/localhost and a client certificate under `dir`
// with the openssl command (EC P-256 keys, valid for a day). Returns nullopt if openssl failed.
inline std::optional<TestPki> MakeTestPki(const std::string& dir,
                                          const std::string& client_cn = "gw-test") {
  std::filesystem::create_directories(dir);
  TestPki p;
  p.dir = dir;
  p.ca_cert = dir + "/ca.crt";
  p.server_cert = dir + "/server.crt";
  p.server_key = dir + "/server.key";
  p.client_cert = dir + "/client.crt";
  p.client_key = dir + "/client.key";
  p.rogue_cert = dir + "/rogue.crt";
  p.rogue_key = dir + "/rogue.key";
  const std::string ca_key = dir + "/ca.key";
  const std::string rogue_ca_key = dir + "/rogue-ca.key";
  const std::string rogue_ca = dir + "/rogue-ca.crt";
  {
    std::ofstream ext(dir + "/server.ext");
    ext << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  }
  const std::string openssl = "/usr/bin/openssl";
  auto run = [&](std::vector<std::string> argv) { return RunProgram(argv).exit_code == 0; };
  auto ec_key = [&](const std::string& path) {
    return run({openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path});
  };
  auto ca = [&](const std::string& key, const std::string& cert, const std::string& cn) {
    return ec_key(key) && run({openssl, "req", "-x509", "-new", "-key", key, "-days", "1", "-subj",
                               "/CN=" + cn, "-out", cert});
  };
  auto leaf = [&](const std::string& key, const std::string& cert, const std::string& cn,
                  const std::string& signer_cert, const std::string& signer_key,
                  const std::string& extfile) {
    std::string csr = cert + ".csr";
    std::vector<std::string> sign = {openssl, "x509",      "-req",   "-in",      csr,
                                     "-CA",   signer_cert, "-CAkey", signer_key, "-CAcreateserial",
                                     "-days", "1",         "-out",   cert};
    if (!extfile.empty()) {
      sign.push_back("-extfile");
      sign.push_back(extfile);
    }
    return ec_key(key) &&
           run({openssl, "req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr}) &&
           run(sign);
  };
  if (!ca(ca_key, p.ca_cert, "Lintel Test CA") ||
      !leaf(p.server_key, p.server_cert, "localhost", p.ca_cert, ca_key, dir + "/server.ext") ||
      !leaf(p.client_key, p.client_cert, client_cn, p.ca_cert, ca_key, "") ||
      !ca(rogue_ca_key, rogue_ca, "Rogue CA") ||
      !leaf(p.rogue_key, p.rogue_cert, client_cn, rogue_ca, rogue_ca_key, "")) {
    return std::nullopt;
  }
  return p;
}

// A mosquitto process listening on 127.0.0.1:port only. Plain TCP, anonymous; or, with a PKI, TLS
// requiring a client certificate signed by the PKI's CA. Stop() and Start() again keep the port,
// so a test can take the broker away and bring it back.
class Mosquitto {
 public:
  explicit Mosquitto(std::string dir, std::optional<TestPki> tls = std::nullopt)
      : dir_(std::move(dir)), tls_(std::move(tls)), port_(FreeLoopbackPort()) {
    std::filesystem::create_directories(dir_);
    std::ofstream conf(config_path());
    conf << "listener " << port_ << " 127.0.0.1\n"
         << "allow_anonymous true\n"
         << "set_tcp_nodelay true\n"
         << "persistence false\n"
         << "max_queued_messages 100000\n"
         << "log_dest stderr\n"
         << "log_type error\nlog_type warning\nlog_type notice\n";
    if (geteuid() == 0) conf << "user root\n";
    if (tls_) {
      conf << "cafile " << tls_->ca_cert << "\n"
           << "certfile " << tls_->server_cert << "\n"
           << "keyfile " << tls_->server_key << "\n"
           << "require_certificate true\n";
    }
  }
  ~Mosquitto() { Stop(); }

  // Starts the broker and waits (up to 5 s) until it accepts connections. False if it did not.
  bool Start() {
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/sbin/mosquitto", "-c", config_path()}, dir_ + "/broker.log");
    for (int i = 0; i < 500; ++i) {
      if (PortAccepts(port_)) return true;
      if (!child_->running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // Stops the broker (SIGTERM, then SIGKILL after 5 s). Connected clients see the connection drop.
  void Stop() {
    if (!child_) return;
    child_->Signal(SIGTERM);
    if (child_->Wait(std::chrono::seconds(5)) < 0) child_->Signal(SIGKILL);
    child_->Wait(std::chrono::seconds(5));
    child_.reset();
  }

  int port() const { return port_; }
  // tcp://127.0.0.1:PORT, or ssl://127.0.0.1:PORT with TLS.
  std::string uri() const {
    return std::string(tls_ ? "ssl" : "tcp") + "://127.0.0.1:" + std::to_string(port_);
  }
  std::string config_path() const { return dir_ + "/mosquitto.conf"; }
  std::string log_path() const { return dir_ + "/broker.log"; }

 private:
  std::string dir_;
  std::optional<TestPki> tls_;
  int port_;
  std::unique_ptr<Child> child_;
};

}  // namespace lintel::testing
