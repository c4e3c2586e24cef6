// A real Modbus server for tests: libmodbus 3.1.6 on its own thread, answering from a
// modbus_mapping_new_start_address mapping, over TCP (127.0.0.1, any free port or a given one)
// or RTU (one end of a pty pair). It can answer every request with an exception, stay silent (the
// client times out), be stopped (the module goes away) and started again on the same port.
// Thread-safe accessors for the mapping (the server thread writes coils and registers).
#pragma once

#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace lintel::modbus::fakes {

class TestServer {
 public:
  enum class Mode { kNormal, kException, kSilent };

  // Mapping: coils 0..31, discrete inputs 0..15, holding registers 40..59, input registers 0..3.
  TestServer() : map_(modbus_mapping_new_start_address(0, 32, 0, 16, 40, 20, 0, 4)) {}
  ~TestServer() {
    Stop();
    modbus_mapping_free(map_);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Listens on 127.0.0.1:`port` (0: a free port, see port()). False (and errno) on failure.
  bool StartTcp(int port = 0) {
    ctx_ = modbus_new_tcp("127.0.0.1", port);
    if (ctx_ == nullptr) return false;
    listen_fd_ = modbus_tcp_listen(ctx_, 1);
    if (listen_fd_ < 0) {
      modbus_free(ctx_);
      ctx_ = nullptr;
      return false;
    }
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    Launch(/*tcp=*/true);
    return true;
  }

  // Serves RTU unit `unit` on `device` (9600 8N1).
  bool StartRtu(const std::string& device, int unit = 1) {
    ctx_ = modbus_new_rtu(device.c_str(), 9600, 'N', 8, 1);
    if (ctx_ == nullptr) return false;
    modbus_set_slave(ctx_, unit);
    if (modbus_connect(ctx_) == -1) {
      modbus_free(ctx_);
      ctx_ = nullptr;
      return false;
    }
    Launch(/*tcp=*/false);
    return true;
  }

  // Closes the listening socket and any connection, joins the thread. The mapping is kept.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (ctx_ != nullptr) {
      modbus_close(ctx_);
      modbus_free(ctx_);
      ctx_ = nullptr;
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
  }

  int port() const { return port_; }
  void SetMode(Mode m, int exception_code = MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE) {
    std::lock_guard l(mu_);
    mode_ = m;
    exception_code_ = exception_code;
  }
  void SetDiscrete(int a, bool v) {
    std::lock_guard l(mu_);
    map_->tab_input_bits[a] = v;
  }
  void SetCoil(int a, bool v) {
    std::lock_guard l(mu_);
    map_->tab_bits[a] = v;
  }
  bool Coil(int a) const {
    std::lock_guard l(mu_);
    return map_->tab_bits[a] != 0;
  }
  void SetHolding(int a, uint16_t v) {
    std::lock_guard l(mu_);
    map_->tab_registers[a - 40] = v;
  }
  uint16_t Holding(int a) const {
    std::lock_guard l(mu_);
    return map_->tab_registers[a - 40];
  }
  void SetInputRegister(int a, uint16_t v) {
    std::lock_guard l(mu_);
    map_->tab_input_registers[a] = v;
  }
  int requests() const { return requests_; }
  // The next `count` FC05 writes of coil `address` are answered with exception `code` (and change
  // nothing), like an independent module that is busy; reads are answered as usual.
  void RefuseCoilWrites(int address, int code, int count) {
    std::lock_guard l(mu_);
    refuse_address_ = address;
    refuse_code_ = code;
    refuse_count_ = count;
  }
  int refused() const {
    std::lock_guard l(mu_);
    return refused_;
  }

 private:
  void Launch(bool tcp) {
    stop_ = false;
    modbus_set_indication_timeout(ctx_, 0, 50'000);  // so the thread notices Stop()
    thread_ = std::thread([this, tcp] { tcp ? RunTcp() : Serve(); });
  }

  void RunTcp() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      if (modbus_tcp_accept(ctx_, &listen_fd_) < 0) continue;
      Serve();
      modbus_close(ctx_);  // the accepted connection
    }
  }

  // Answers requests until Stop() or the connection fails.
  void Serve() {
    uint8_t req[MODBUS_MAX_ADU_LENGTH];
    while (!stop_) {
      const int rc = modbus_receive(ctx_, req);
      if (rc == -1) {
        if (errno == ETIMEDOUT) continue;
        if (errno == EMBBADCRC || errno == EMBBADDATA) continue;  // noise on the line
        return;
      }
      if (rc == 0) continue;  // RTU: a request for another unit
      ++requests_;
      std::lock_guard l(mu_);
      const int h = modbus_get_header_length(ctx_);
      if (mode_ == Mode::kNormal && refuse_count_ > 0 && rc >= h + 3 &&
          req[h] == MODBUS_FC_WRITE_SINGLE_COIL &&
          ((req[h + 1] << 8) | req[h + 2]) == refuse_address_) {
        --refuse_count_;
        ++refused_;
        modbus_reply_exception(ctx_, req, static_cast<unsigned>(refuse_code_));
        continue;
      }
      switch (mode_) {
        case Mode::kNormal:
          modbus_reply(ctx_, req, rc, map_);
          break;
        case Mode::kException:
          modbus_reply_exception(ctx_, req, exception_code_);
          break;
        case Mode::kSilent:
          break;
      }
    }
  }

  modbus_mapping_t* const map_;
  modbus_t* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  Mode mode_ = Mode::kNormal;
  int exception_code_ = MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE;
  int refuse_address_ = -1;
  int refuse_code_ = 0;
  int refuse_count_ = 0;
  int refused_ = 0;
};

}  // namespace lintel::modbus::fakes
