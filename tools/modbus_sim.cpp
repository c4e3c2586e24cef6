// modbus-sim: a Modbus TCP or RTU server (libmodbus) playing a door I/O module, for the demo and
// the integration tests: lock relays on coils, door contacts and REX buttons on discrete inputs, a
// fire-alarm release and a tamper loop, a host-watchdog register. Doors are modelled: a door opens
// some time after its relay energises and closes again; a scenario file or the control socket
// forces doors, presses REX, sets fire/tamper and injects faults (offline, exceptions, delays).
// The register map and the commands are documented in tools/README.md (## modbus-sim).
//
// One thread, one EventLoop (gateway/base/event_loop.h): the listening socket and the Modbus
// clients (or the serial device), the control socket and its clients, the door timers and the
// signals. libmodbus frames and answers requests (modbus_receive / modbus_reply on a mapping);
// this program decides whether and when to answer, and watches what the writes changed.
//
// Output: one JSON object per line on stdout (flushed per line), the first always the
// "listening" line; every line after it carries "t_ms", milliseconds since the program started
// on the monotonic clock (scenario times use the same origin). With --manual-clock that clock is
// virtual: it starts at 0 and moves only by the `advance MS` command, one millisecond at a time
// with every timer due at each step run before the next (tests assert on exact times that way,
// never on how long something took). Human messages on stderr.
// Exit codes: 0 clean stop (SIGTERM, SIGINT, `quit`); 1 usage (options, scenario file);
// 2 cannot listen, cannot open the device or the control socket, or the device went away.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"

namespace {

using json = nlohmann::ordered_json;
using lintel::EventLoop;
using lintel::Result;
using lintel::Status;
using std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitDevice = 2;

// ---- the register map (tools/README.md) ------------------------------------------------------

constexpr int kMaxDoors = 6;  // inputs 2d and 2d+1 must stay below the fire input
constexpr int kInputCount = 16;
constexpr int kFireInput = 12;
constexpr int kTamperInput = 13;
constexpr int kFirstCoil = 16;  // lock relays 16..23 (16 + door)
constexpr int kLockRelays = 8;
constexpr int kSounderCoil = 24;
constexpr int kSpareCoil = 25;
constexpr int kCoilCount = 10;  // 16..25
constexpr int kWatchdogRegister = 0x100;
constexpr int kContactMirrorRegister = 0x200;
constexpr int kFirmwareVersion = 0x0103;  // input register 0

// The door model's fixed times.
constexpr int kRexPressMs = 200;
constexpr int kRexOpenAfterMs = 300;

constexpr size_t kMaxClients = 16;
constexpr size_t kMaxControlLine = 1024;

// ---- output ---------------------------------------------------------------------------------

// The program's clock (the system's, or a FakeClock with --manual-clock) and its start.
const lintel::Clock* g_clock = nullptr;
std::chrono::steady_clock::time_point g_start;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(g_clock->Monotonic() - g_start).count();
}

void Emit(const json& line) {
  std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
}
// An event line: "t_ms" first, then the fields of `body`.
void Event(const json& body) {
  json line = {{"t_ms", NowMs()}};
  for (const auto& [k, v] : body.items()) line[k] = v;
  Emit(line);
}
void Note(std::string_view message) { std::cerr << "modbus-sim: " << message << '\n'; }

// ---- commands (control socket and scenario) --------------------------------------------------

enum class Verb {
  kOpen,
  kClose,
  kForce,
  kHold,
  kRex,
  kAuto,
  kFire,
  kTamper,
  kOffline,
  kException,
  kRefuse,
  kDelay,
  kAdvance,
  kState,
  kQuit
};

struct Command {
  Verb verb = Verb::kState;
  int door = -1;
  int64_t value = 0;         // hold: ms; exception, refuse: code (0 = off); delay, advance: ms
  int64_t address = -1;      // refuse: the coil
  int64_t count = 0;         // refuse: how many writes
  std::optional<bool> only;  // refuse: only writes of this value (nullopt: any)
  bool on = false;           // auto, fire, tamper, offline
  bool no_open = false;
  std::string text;  // the command as given, whitespace normalised
};

Result<int64_t> ParseInt(const std::string& s, int64_t lo, int64_t hi, const char* what) {
  int64_t v = 0;
  size_t used = 0;
  try {
    v = std::stoll(s, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || v < lo || v > hi) {
    return Status::InvalidArgument(std::string(what) + " \"" + s + "\": must be a number " +
                                   std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v;
}

Result<bool> ParseOnOff(const std::string& s, const std::string& verb) {
  if (s == "on") return true;
  if (s == "off") return false;
  return Status::InvalidArgument(verb + ": expected on or off, got \"" + s + "\"");
}

constexpr const char* kCommandHelp =
    "open D | close D | force D | hold D MS | rex D [--no-open] | auto D on|off | fire on|off | "
    "tamper on|off | offline on|off | exception CODE|off | refuse COIL CODE N [on|off] | "
    "delay MS | advance MS | state | quit";

Result<Command> ParseCommand(std::string_view line, int doors) {
  std::vector<std::string> w;
  std::istringstream in{std::string(line)};
  for (std::string t; in >> t;) w.push_back(t);
  if (w.empty())
    return Status::InvalidArgument(std::string("empty command; one of: ") + kCommandHelp);
  Command c;
  for (size_t i = 0; i < w.size(); ++i) c.text += (i ? " " : "") + w[i];
  const std::string& verb = w[0];
  auto args = [&](size_t lo, size_t hi) -> Status {
    if (w.size() - 1 < lo || w.size() - 1 > hi) {
      return Status::InvalidArgument("\"" + c.text +
                                     "\": wrong number of arguments; usage: " + kCommandHelp);
    }
    return Status::Ok();
  };
  auto door = [&]() -> Status {
    Result<int64_t> d = ParseInt(w[1], 0, doors - 1, "door");
    if (!d.ok()) return d.status();
    c.door = static_cast<int>(*d);
    return Status::Ok();
  };
  auto on_off = [&](size_t at) -> Status {
    Result<bool> on = ParseOnOff(w[at], verb);
    if (!on.ok()) return on.status();
    c.on = *on;
    return Status::Ok();
  };
  static const std::map<std::string, Verb> kDoorVerbs = {
      {"open", Verb::kOpen}, {"close", Verb::kClose}, {"force", Verb::kForce}};
  static const std::map<std::string, Verb> kSwitchVerbs = {
      {"fire", Verb::kFire}, {"tamper", Verb::kTamper}, {"offline", Verb::kOffline}};
  if (auto it = kDoorVerbs.find(verb); it != kDoorVerbs.end()) {
    c.verb = it->second;
    LINTEL_RETURN_IF_ERROR(args(1, 1));
    LINTEL_RETURN_IF_ERROR(door());
  } else if (verb == "hold") {
    c.verb = Verb::kHold;
    LINTEL_RETURN_IF_ERROR(args(2, 2));
    LINTEL_RETURN_IF_ERROR(door());
    Result<int64_t> ms = ParseInt(w[2], 1, 3'600'000, "hold MS");
    if (!ms.ok()) return ms.status();
    c.value = *ms;
  } else if (verb == "rex") {
    c.verb = Verb::kRex;
    LINTEL_RETURN_IF_ERROR(args(1, 2));
    LINTEL_RETURN_IF_ERROR(door());
    if (w.size() == 3) {
      if (w[2] != "--no-open") {
        return Status::InvalidArgument("rex: unknown option \"" + w[2] + "\" (only --no-open)");
      }
      c.no_open = true;
    }
  } else if (verb == "auto") {
    c.verb = Verb::kAuto;
    LINTEL_RETURN_IF_ERROR(args(2, 2));
    LINTEL_RETURN_IF_ERROR(door());
    LINTEL_RETURN_IF_ERROR(on_off(2));
  } else if (auto sw = kSwitchVerbs.find(verb); sw != kSwitchVerbs.end()) {
    c.verb = sw->second;
    LINTEL_RETURN_IF_ERROR(args(1, 1));
    LINTEL_RETURN_IF_ERROR(on_off(1));
  } else if (verb == "exception") {
    c.verb = Verb::kException;
    LINTEL_RETURN_IF_ERROR(args(1, 1));
    if (w[1] != "off") {
      // libmodbus 3.1.6 sends codes below MODBUS_EXCEPTION_MAX only.
      Result<int64_t> code = ParseInt(w[1], 1, MODBUS_EXCEPTION_MAX - 1, "exception CODE");
      if (!code.ok()) return code.status();
      c.value = *code;
    }
  } else if (verb == "refuse") {
    c.verb = Verb::kRefuse;
    LINTEL_RETURN_IF_ERROR(args(3, 4));
    Result<int64_t> coil = ParseInt(w[1], 0, 65535, "refuse COIL");
    if (!coil.ok()) return coil.status();
    Result<int64_t> code = ParseInt(w[2], 0, MODBUS_EXCEPTION_MAX - 1, "refuse CODE");
    if (!code.ok()) return code.status();
    Result<int64_t> n = ParseInt(w[3], 0, 1'000'000, "refuse N");
    if (!n.ok()) return n.status();
    c.address = *coil;
    c.value = *code;
    c.count = *n;
    if (w.size() == 5) {
      LINTEL_RETURN_IF_ERROR(on_off(4));
      c.only = c.on;
    }
  } else if (verb == "delay") {
    c.verb = Verb::kDelay;
    LINTEL_RETURN_IF_ERROR(args(1, 1));
    Result<int64_t> ms = ParseInt(w[1], 0, 600'000, "delay MS");
    if (!ms.ok()) return ms.status();
    c.value = *ms;
  } else if (verb == "advance") {
    c.verb = Verb::kAdvance;
    LINTEL_RETURN_IF_ERROR(args(1, 1));
    Result<int64_t> ms = ParseInt(w[1], 1, 3'600'000, "advance MS");
    if (!ms.ok()) return ms.status();
    c.value = *ms;
  } else if (verb == "state" || verb == "quit") {
    c.verb = verb == "state" ? Verb::kState : Verb::kQuit;
    LINTEL_RETURN_IF_ERROR(args(0, 0));
  } else {
    return Status::InvalidArgument("unknown command \"" + verb + "\"; one of: " + kCommandHelp);
  }
  return c;
}

struct ScenarioStep {
  int64_t at_ms = 0;
  Command command;
};

// Lines "AT_MS COMMAND"; blank lines and lines starting with '#' are skipped.
// Errors: InvalidArgument "FILE:LINE: what" for a file that cannot be read or a bad line.
Result<std::vector<ScenarioStep>> LoadScenario(const std::string& path, int doors) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(path + ": cannot read the scenario file");
  std::vector<ScenarioStep> steps;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream words(line);
    std::string at;
    words >> at;
    std::string rest;
    std::getline(words, rest);
    auto where = [&](const Status& s) {
      return Status::InvalidArgument(path + ":" + std::to_string(n) + ": " + s.message());
    };
    Result<int64_t> at_ms = ParseInt(at, 0, 86'400'000, "AT_MS");
    if (!at_ms.ok()) return where(at_ms.status());
    Result<Command> c = ParseCommand(rest, doors);
    if (!c.ok()) return where(c.status());
    steps.push_back({*at_ms, *c});
  }
  return steps;
}

// ---- options --------------------------------------------------------------------------------

struct Options {
  std::string tcp;
  std::string rtu;
  int baud = 9600;
  std::string parity = "N";
  int unit = 1;
  int doors = 4;
  std::string control;
  std::string scenario;
  int open_after_ms = 300;
  int open_for_ms = 1500;
  bool verbose = false;
  bool manual_clock = false;
};

struct TcpAddress {
  std::string host;
  int port = 0;
};

// "HOST:PORT" with HOST an IPv4 loopback address (127.0.0.0/8) and PORT 0..65535.
Result<TcpAddress> ParseTcp(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("--tcp \"" + text + "\": expected HOST:PORT, e.g. 127.0.0.1:0");
  }
  TcpAddress a{text.substr(0, colon), 0};
  in_addr addr{};
  if (::inet_pton(AF_INET, a.host.c_str(), &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) {
    return Status::InvalidArgument("--tcp \"" + text +
                                   "\": the host must be an IPv4 loopback address (127.x.x.x); "
                                   "the simulator never listens on a network");
  }
  Result<int64_t> port = ParseInt(text.substr(colon + 1), 0, 65535, "--tcp port");
  if (!port.ok()) return port.status();
  a.port = static_cast<int>(*port);
  return a;
}

// ---- the simulator --------------------------------------------------------------------------

struct ModbusFree {
  void operator()(modbus_t* ctx) const { modbus_free(ctx); }
};
struct MappingFree {
  void operator()(modbus_mapping_t* m) const { modbus_mapping_free(m); }
};
using ModbusPtr = std::unique_ptr<modbus_t, ModbusFree>;

// The fields of a request worth a summary line.
struct Request {
  int unit = 0;
  int fc = 0;
  int addr = -1;
  int count = -1;
};

class Simulator {
 public:
  Simulator(EventLoop& loop, Options options) : loop_(loop), o_(std::move(options)) {
    doors_.resize(static_cast<size_t>(o_.doors));
  }
  ~Simulator() { Shutdown(); }
  // --manual-clock: `advance` moves this clock (the loop's and NowMs()'s).
  void UseManualClock(lintel::FakeClock* clock) { manual_clock_ = clock; }
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Builds the mapping, opens the Modbus side and the control socket, prints the listening line.
  // Errors: Unavailable / IoError when a socket or the device cannot be opened.
  Status Start() {
    map_.reset(
        modbus_mapping_new_start_address(kFirstCoil, kCoilCount, 0, kInputCount, kWatchdogRegister,
                                         kContactMirrorRegister - kWatchdogRegister + 1, 0, 1));
    if (!map_) return Status::Internal("modbus_mapping_new_start_address failed");
    map_->tab_input_registers[0] = kFirmwareVersion;
    for (int d = 0; d < o_.doors; ++d) RefreshDoorInputs(d);
    json listening;
    if (!o_.tcp.empty()) {
      Result<json> l = OpenTcp();
      if (!l.ok()) return l.status();
      listening = *l;
    } else {
      Result<json> l = OpenRtu();
      if (!l.ok()) return l.status();
      listening = *l;
    }
    if (!o_.control.empty()) LINTEL_RETURN_IF_ERROR(OpenControl());
    listening["unit"] = o_.unit;
    listening["doors"] = o_.doors;
    Emit(listening);
    return Status::Ok();
  }

  // Schedules the scenario's steps at their times since the program started.
  void Schedule(const std::vector<ScenarioStep>& steps) {
    for (const ScenarioStep& s : steps) {
      loop_.AddTimer(milliseconds(s.at_ms - NowMs()), [this, c = s.command] {
        json reply = Execute(c, "scenario");
        if (c.verb == Verb::kState) Event({{"state", reply["state"]}});
        if (!reply.value("ok", false)) Note("scenario: " + reply.dump());
      });
    }
  }

  void Stop(const char* reason) {
    Event({{"stopped", reason}});
    loop_.Stop();
  }
  int exit_code() const { return exit_code_; }

 private:
  struct Door {
    bool open = false;
    bool rex = false;
    bool auto_open = true;
    std::optional<EventLoop::TimerId> open_timer, close_timer, rex_timer, rex_open_timer;
  };
  struct Client {
    int fd = -1;
    EventLoop::FdHandle handle{};
    std::string peer;
  };
  struct ControlClient {
    int fd = -1;
    EventLoop::FdHandle handle{};
    std::string buffer;
  };
  static constexpr uint64_t kSerialClient = 0;  // the RTU line's "client id"

  bool tcp() const { return !o_.tcp.empty(); }
  modbus_t* ctx() const { return reader_ctx_ ? reader_ctx_.get() : ctx_.get(); }

  // ---- Modbus TCP --------------------------------------------------------------------------

  Result<json> OpenTcp() {
    Result<TcpAddress> a = ParseTcp(o_.tcp);
    if (!a.ok()) return a.status();
    ctx_.reset(modbus_new_tcp(a->host.c_str(), a->port));
    if (!ctx_) return Status::IoError("modbus_new_tcp: " + std::string(modbus_strerror(errno)));
    ConfigureServerContext(ctx_.get());
    listen_fd_ = modbus_tcp_listen(ctx_.get(), 8);
    if (listen_fd_ < 0) {
      return Status::Unavailable("cannot listen on " + o_.tcp + ": " + modbus_strerror(errno));
    }
    sockaddr_in bound{};
    socklen_t len = sizeof(bound);
    if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      return Status::IoError(std::string("getsockname: ") + std::strerror(errno));
    }
    auto h = loop_.AddFd(listen_fd_, EPOLLIN, [this](uint32_t) { Accept(); });
    if (!h.ok()) return h.status();
    listen_handle_ = *h;
    return json{{"listening", "tcp"}, {"host", a->host}, {"port", ntohs(bound.sin_port)}};
  }

  void Accept() {
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) return;
    char ip[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    std::string name = std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port));
    if (offline_ || clients_.size() >= kMaxClients) {
      ::close(fd);  // unplugged (or full): the connection is closed before any byte
      Event({{"client", "refused"},
             {"peer", name},
             {"reason", offline_ ? "offline" : "too many clients"}});
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const uint64_t id = next_client_++;
    auto h = loop_.AddFd(fd, EPOLLIN, [this, id](uint32_t) { OnClientReadable(id); });
    if (!h.ok()) {
      ::close(fd);
      Note("cannot watch a client: " + h.status().message());
      return;
    }
    clients_[id] = Client{fd, *h, name};
    Event({{"client", "connected"}, {"id", id}, {"peer", name}});
  }

  void CloseClient(uint64_t id, const std::string& reason) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    loop_.RemoveFd(it->second.handle);
    ::close(it->second.fd);
    Event({{"client", "disconnected"}, {"id", id}, {"peer", it->second.peer}, {"reason", reason}});
    clients_.erase(it);
  }

  void OnClientReadable(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    modbus_set_socket(ctx(), it->second.fd);
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    int rc = modbus_receive(ctx(), req);
    if (rc < 0) {
      CloseClient(id, errno == ECONNRESET ? "closed" : modbus_strerror(errno));
      return;
    }
    if (rc > 0) OnRequest(id, req, rc);
  }

  // ---- Modbus RTU --------------------------------------------------------------------------

  modbus_t* NewRtuContext() const {
    modbus_t* c = modbus_new_rtu(o_.rtu.c_str(), o_.baud, o_.parity[0], 8, 1);
    if (c == nullptr) return nullptr;
    modbus_set_slave(c, o_.unit);
    ConfigureServerContext(c);
    return c;
  }

  Result<json> OpenRtu() {
    ctx_.reset(NewRtuContext());
    if (!ctx_)
      return Status::InvalidArgument("modbus_new_rtu: " + std::string(modbus_strerror(errno)));
    if (modbus_connect(ctx_.get()) != 0) {
      Status s = Status::Unavailable("cannot open " + o_.rtu + ": " + modbus_strerror(errno));
      return s;
    }
    serial_open_ = true;
    serial_fd_ = modbus_get_socket(ctx_.get());
    auto h = loop_.AddFd(serial_fd_, EPOLLIN, [this](uint32_t ev) { OnSerialReadable(ev); });
    if (!h.ok()) return h.status();
    serial_handle_ = *h;
    return json{{"listening", "rtu"}, {"device", o_.rtu}, {"baud", o_.baud}, {"parity", o_.parity}};
  }

  void OnSerialReadable(uint32_t events) {
    if (events & (EPOLLHUP | EPOLLERR)) {
      Note(o_.rtu + ": the device hung up (the other end of the line went away)");
      exit_code_ = kExitDevice;
      loop_.RemoveFd(serial_handle_);
      Stop("device");
      return;
    }
    uint8_t req[MODBUS_RTU_MAX_ADU_LENGTH];
    int rc = modbus_receive(ctx(), req);
    if (rc == 0) {
      // A request for another unit: silence, as a real slave. libmodbus 3.1.6 would now skip the
      // next frame as that unit's answer; alone on the line, nobody answers, so the next frame is
      // the host's next request: read it with a fresh context (the serial fd stays open).
      if (o_.verbose) Event(RequestLine(Summarise(req, 1), "ignored", "unit"));
      modbus_t* fresh = NewRtuContext();
      if (fresh != nullptr) {
        modbus_set_socket(fresh, serial_fd_);
        reader_ctx_.reset(fresh);
      }
      return;
    }
    if (rc < 0) {
      if (o_.verbose) Event({{"frame", "bad"}, {"error", modbus_strerror(errno)}});
      modbus_flush(ctx());
      return;
    }
    OnRequest(kSerialClient, req, rc);
  }

  // ---- requests ----------------------------------------------------------------------------

  static void ConfigureServerContext(modbus_t* c) {
    // libmodbus sleeps for the response timeout before flushing after a malformed count; keep
    // that short in a single-threaded server.
    modbus_set_response_timeout(c, 0, 50'000);
  }

  static Request Summarise(const uint8_t* req, int offset) {
    Request r;
    r.unit = req[offset - 1];
    r.fc = req[offset];
    auto word = [&](int at) { return (req[offset + at] << 8) | req[offset + at + 1]; };
    switch (r.fc) {
      case MODBUS_FC_READ_COILS:
      case MODBUS_FC_READ_DISCRETE_INPUTS:
      case MODBUS_FC_READ_HOLDING_REGISTERS:
      case MODBUS_FC_READ_INPUT_REGISTERS:
      case MODBUS_FC_WRITE_MULTIPLE_COILS:
      case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
      case MODBUS_FC_WRITE_AND_READ_REGISTERS:
        r.addr = word(1);
        r.count = word(3);
        break;
      case MODBUS_FC_WRITE_SINGLE_COIL:
      case MODBUS_FC_WRITE_SINGLE_REGISTER:
      case MODBUS_FC_MASK_WRITE_REGISTER:
        r.addr = word(1);
        r.count = 1;
        break;
      default:
        break;
    }
    return r;
  }

  static json RequestLine(const Request& r, const char* key = nullptr, json value = nullptr) {
    json j = {{"unit", r.unit}, {"fc", r.fc}};
    if (r.addr >= 0) j["addr"] = r.addr;
    if (r.count >= 0) j["count"] = r.count;
    if (key != nullptr) j[key] = std::move(value);
    return j;
  }

  // Holding registers exist at 0x100 (read/write) and 0x200 (read-only) only; the mapping spans
  // the gap, so requests touching it (or writing the mirror) are refused here.
  static bool TouchesMissingRegister(const uint8_t* req, int offset) {
    auto word = [&](int at) { return (req[offset + at] << 8) | req[offset + at + 1]; };
    auto missing = [](int addr, int count, bool write) {
      if (count < 1 || count > MODBUS_MAX_READ_REGISTERS) return false;  // libmodbus: bad value
      if (count != 1) return true;  // no two of the module's registers are adjacent
      if (addr == kWatchdogRegister) return false;
      return addr != kContactMirrorRegister || write;
    };
    switch (req[offset]) {
      case MODBUS_FC_READ_HOLDING_REGISTERS:
        return missing(word(1), word(3), false);
      case MODBUS_FC_WRITE_SINGLE_REGISTER:
      case MODBUS_FC_MASK_WRITE_REGISTER:
        return missing(word(1), 1, true);
      case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
        return missing(word(1), word(3), true);
      case MODBUS_FC_WRITE_AND_READ_REGISTERS:
        return missing(word(1), word(3), false) || missing(word(5), word(7), true);
      default:
        return false;
    }
  }

  void OnRequest(uint64_t client, const uint8_t* req, int length) {
    const int offset = modbus_get_header_length(ctx());
    const Request r = Summarise(req, offset);
    if (offline_) {
      if (o_.verbose) Event(RequestLine(r, "dropped", "offline"));
      return;
    }
    if (tcp() && r.unit != o_.unit) {
      // Modbus TCP addresses a device behind a gateway by unit id; there is none but ours.
      if (o_.verbose) Event(RequestLine(r, "exception", MODBUS_EXCEPTION_GATEWAY_TARGET));
      if (modbus_reply_exception(ctx(), req, MODBUS_EXCEPTION_GATEWAY_TARGET) < 0) {
        CloseClient(client, modbus_strerror(errno));
      }
      return;
    }
    FeedWatchdog();
    std::vector<uint8_t> bytes(req, req + length);
    if (delay_ms_ > 0) {
      loop_.AddTimer(milliseconds(delay_ms_),
                     [this, client, bytes = std::move(bytes)] { Respond(client, bytes); });
    } else {
      Respond(client, bytes);
    }
  }

  void Respond(uint64_t client, const std::vector<uint8_t>& bytes) {
    if (tcp()) {
      auto it = clients_.find(client);
      if (it == clients_.end()) return;  // gone while the reply was delayed
      modbus_set_socket(ctx(), it->second.fd);
    }
    if (offline_) return;  // unplugged while the reply was delayed
    const uint8_t* req = bytes.data();
    const int offset = modbus_get_header_length(ctx());
    const Request r = Summarise(req, offset);
    const bool broadcast = !tcp() && r.unit == MODBUS_BROADCAST_ADDRESS;
    int exception = exception_;
    if (exception == 0 && TouchesMissingRegister(req, offset)) {
      exception = MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS;
    }
    if (exception == 0 && r.fc == MODBUS_FC_WRITE_SINGLE_COIL) {
      auto it = refuse_.find(r.addr);
      const bool on = req[offset + 3] == 0xFF;
      if (it != refuse_.end() && it->second.count > 0 &&
          (!it->second.only || *it->second.only == on)) {
        exception = it->second.code;
        if (--it->second.count == 0) refuse_.erase(it);
        Event({{"refused", "write"},
               {"coil", r.addr},
               {"value", on ? "on" : "off"},
               {"exception", exception}});
      }
    }
    int rc = 0;
    if (exception != 0) {
      if (o_.verbose) Event(RequestLine(r, "exception", exception));
      if (!broadcast) rc = modbus_reply_exception(ctx(), req, static_cast<unsigned>(exception));
    } else {
      if (o_.verbose) Event(RequestLine(r));
      std::array<uint8_t, kCoilCount> coils_before{};
      std::memcpy(coils_before.data(), map_->tab_bits, kCoilCount);
      const uint16_t watchdog_before = Register(kWatchdogRegister);
      rc = modbus_reply(ctx(), req, static_cast<int>(bytes.size()), map_.get());
      Register(kContactMirrorRegister) = ContactBits();  // a write cannot change the mirror
      for (int i = 0; i < kCoilCount; ++i) {
        if ((coils_before[i] != 0) != (map_->tab_bits[i] != 0)) {
          OnCoilChanged(kFirstCoil + i, map_->tab_bits[i] != 0, "modbus");
        }
      }
      if (Register(kWatchdogRegister) != watchdog_before) {
        Event({{"watchdog", "set"}, {"timeout_ms", Register(kWatchdogRegister)}});
        ArmWatchdog();
      }
    }
    if (rc < 0 && tcp()) CloseClient(client, modbus_strerror(errno));
  }

  uint16_t& Register(int address) { return map_->tab_registers[address - kWatchdogRegister]; }

  // ---- the host watchdog -------------------------------------------------------------------

  void FeedWatchdog() {
    if (watchdog_expired_) {
      watchdog_expired_ = false;
      Event({{"watchdog", "rearmed"}});
    }
    ArmWatchdog();
  }

  void ArmWatchdog() {
    if (watchdog_timer_) loop_.CancelTimer(*watchdog_timer_);
    watchdog_timer_.reset();
    const int timeout = Register(kWatchdogRegister);
    if (timeout == 0 || watchdog_expired_) return;
    watchdog_timer_ = loop_.AddTimer(milliseconds(timeout), [this, timeout] {
      watchdog_timer_.reset();
      watchdog_expired_ = true;
      Event({{"watchdog", "expired"}, {"timeout_ms", timeout}});
      for (int i = 0; i < kCoilCount; ++i) {
        if (map_->tab_bits[i] != 0) {
          map_->tab_bits[i] = 0;
          OnCoilChanged(kFirstCoil + i, false, "watchdog");
        }
      }
    });
  }

  // ---- relays and the door model -----------------------------------------------------------

  void OnCoilChanged(int coil, bool on, const char* cause) {
    json line = {{"coil", coil}};
    const int door = coil - kFirstCoil;
    if (coil == kSounderCoil) {
      line["name"] = "sounder";
    } else if (coil == kSpareCoil) {
      line["name"] = "spare";
    } else {
      line["name"] = "lock";
      if (door < o_.doors) line["door"] = door;
    }
    line["relay"] = on ? "on" : "off";
    line["cause"] = cause;
    Event(line);
    if (door >= kLockRelays || door >= o_.doors) return;
    Door& d = doors_[static_cast<size_t>(door)];
    if (on && d.auto_open && !d.open && !d.open_timer) {
      // Someone waiting at the door pulls it open once the strike releases.
      d.open_timer = loop_.AddTimer(milliseconds(o_.open_after_ms), [this, door] {
        doors_[static_cast<size_t>(door)].open_timer.reset();
        OpenFor(door, o_.open_for_ms, "relay");
      });
    } else if (!on) {
      // Relocked before anyone pulled: the door stays shut.
      Cancel(d.open_timer);
    }
  }

  void Cancel(std::optional<EventLoop::TimerId>& t) {
    if (t) loop_.CancelTimer(*t);
    t.reset();
  }

  uint16_t ContactBits() const {
    uint16_t bits = 0;
    for (int d = 0; d < o_.doors; ++d) {
      if (!doors_[static_cast<size_t>(d)].open) bits |= static_cast<uint16_t>(1u << d);
    }
    return bits;
  }

  void RefreshDoorInputs(int door) {
    const Door& d = doors_[static_cast<size_t>(door)];
    map_->tab_input_bits[2 * door] = d.open ? 0 : 1;  // NC contact: 1 = closed
    map_->tab_input_bits[2 * door + 1] = d.rex ? 1 : 0;
    Register(kContactMirrorRegister) = ContactBits();
  }

  void SetContact(int door, bool open, const char* cause) {
    Door& d = doors_[static_cast<size_t>(door)];
    if (d.open == open) return;
    d.open = open;
    RefreshDoorInputs(door);
    Event({{"door", door}, {"contact", open ? "open" : "closed"}, {"cause", cause}});
  }

  // Opens the door now; it closes `ms` later (never when ms < 0).
  void OpenFor(int door, int64_t ms, const char* cause) {
    Door& d = doors_[static_cast<size_t>(door)];
    Cancel(d.close_timer);
    SetContact(door, true, cause);
    if (ms < 0) return;
    d.close_timer = loop_.AddTimer(milliseconds(ms), [this, door] {
      doors_[static_cast<size_t>(door)].close_timer.reset();
      SetContact(door, false, "timer");
    });
  }

  void SetRex(int door, bool pressed) {
    Door& d = doors_[static_cast<size_t>(door)];
    if (d.rex == pressed) return;
    d.rex = pressed;
    RefreshDoorInputs(door);
    Event({{"door", door}, {"rex", pressed ? "pressed" : "released"}});
  }

  void SetInput(int input, bool on, const char* name) {
    if ((map_->tab_input_bits[input] != 0) == on) return;
    map_->tab_input_bits[input] = on ? 1 : 0;
    Event({{name, on ? "on" : "off"}});
  }

  // ---- commands ----------------------------------------------------------------------------

  json Execute(const Command& c, const char* source) {
    if (c.verb != Verb::kState) Event({{"command", c.text}, {"source", source}});
    json reply = {{"ok", true}, {"command", c.text}};
    Door* d = c.door >= 0 ? &doors_[static_cast<size_t>(c.door)] : nullptr;
    switch (c.verb) {
      case Verb::kOpen:
        Cancel(d->open_timer);
        Cancel(d->rex_open_timer);
        OpenFor(c.door, -1, "manual");
        break;
      case Verb::kClose:
        Cancel(d->open_timer);
        Cancel(d->rex_open_timer);
        Cancel(d->close_timer);
        SetContact(c.door, false, "manual");
        break;
      case Verb::kForce:
        Cancel(d->open_timer);
        Cancel(d->rex_open_timer);
        OpenFor(c.door, o_.open_for_ms, "forced");
        break;
      case Verb::kHold:
        Cancel(d->open_timer);
        Cancel(d->rex_open_timer);
        OpenFor(c.door, c.value, "held");
        break;
      case Verb::kRex: {
        const int door = c.door;
        SetRex(door, true);
        Cancel(d->rex_timer);
        d->rex_timer = loop_.AddTimer(milliseconds(kRexPressMs), [this, door] {
          doors_[static_cast<size_t>(door)].rex_timer.reset();
          SetRex(door, false);
        });
        if (!c.no_open) {
          Cancel(d->rex_open_timer);
          d->rex_open_timer = loop_.AddTimer(milliseconds(kRexOpenAfterMs), [this, door] {
            doors_[static_cast<size_t>(door)].rex_open_timer.reset();
            OpenFor(door, o_.open_for_ms, "rex");
          });
        }
        break;
      }
      case Verb::kAuto:
        d->auto_open = c.on;
        if (!c.on) Cancel(d->open_timer);
        break;
      case Verb::kFire:
        SetInput(kFireInput, c.on, "fire");
        break;
      case Verb::kTamper:
        SetInput(kTamperInput, c.on, "tamper");
        break;
      case Verb::kOffline:
        offline_ = c.on;
        break;
      case Verb::kException:
        exception_ = static_cast<int>(c.value);
        break;
      case Verb::kRefuse:
        if (c.count == 0 || c.value == 0) {
          refuse_.erase(static_cast<int>(c.address));
        } else {
          refuse_[static_cast<int>(c.address)] = {static_cast<int>(c.value),
                                                  static_cast<int>(c.count), c.only};
        }
        break;
      case Verb::kDelay:
        delay_ms_ = c.value;
        break;
      case Verb::kAdvance:
        if (manual_clock_ == nullptr) {
          return {{"ok", false}, {"error", "advance needs --manual-clock"}};
        }
        advance_left_ms_ += c.value;
        reply["until_ms"] = NowMs() + advance_left_ms_;
        if (!advancing_) {
          advancing_ = true;
          loop_.Post([this] { AdvanceStep(); });
        }
        break;
      case Verb::kState:
        reply["state"] = State();
        break;
      case Verb::kQuit:
        Stop("quit");
        break;
    }
    return reply;
  }

  // One millisecond of an `advance`: the loop runs every timer due at the new time (and any
  // request that came in) before the next step, posted behind them. The step after the last one
  // ends the advance, so `state` says "advancing": false only once the last timers have run.
  void AdvanceStep() {
    if (advance_left_ms_ <= 0) {
      advancing_ = false;
      return;
    }
    manual_clock_->Advance(milliseconds(1));
    --advance_left_ms_;
    loop_.Post([this] { AdvanceStep(); });
  }

  json State() const {
    json doors = json::array();
    for (int i = 0; i < o_.doors; ++i) {
      const Door& d = doors_[static_cast<size_t>(i)];
      doors.push_back({{"door", i},
                       {"contact", d.open ? "open" : "closed"},
                       {"rex", d.rex},
                       {"relay", map_->tab_bits[i] != 0 ? "on" : "off"},
                       {"auto", d.auto_open}});
    }
    json inputs = json::object();
    for (int i = 0; i < kInputCount; ++i) inputs[std::to_string(i)] = map_->tab_input_bits[i];
    json coils = json::object();
    for (int i = 0; i < kCoilCount; ++i) coils[std::to_string(kFirstCoil + i)] = map_->tab_bits[i];
    const uint16_t* regs = map_->tab_registers;
    return {{"unit", o_.unit},
            {"doors", doors},
            {"fire", map_->tab_input_bits[kFireInput] != 0},
            {"tamper", map_->tab_input_bits[kTamperInput] != 0},
            {"discrete_inputs", inputs},
            {"coils", coils},
            {"holding_registers",
             {{std::to_string(kWatchdogRegister), regs[0]},
              {std::to_string(kContactMirrorRegister),
               regs[kContactMirrorRegister - kWatchdogRegister]}}},
            {"input_registers", {{"0", map_->tab_input_registers[0]}}},
            {"watchdog", {{"timeout_ms", regs[0]}, {"expired", watchdog_expired_}}},
            {"offline", offline_},
            {"exception", exception_ == 0 ? json(nullptr) : json(exception_)},
            {"delay_ms", delay_ms_},
            {"now_ms", NowMs()},
            {"advancing", advancing_},
            {"clients", clients_.size()}};
  }

  // ---- the control socket ------------------------------------------------------------------

  Status OpenControl() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string& path = o_.control;
    if (path.size() >= sizeof(addr.sun_path)) {
      return Status::InvalidArgument("--control \"" + path + "\": longer than " +
                                     std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return Status::Unavailable("--control " + path + ": exists and is not a socket");
      }
      ::unlink(path.c_str());  // a stale socket from an earlier run
    }
    control_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (control_fd_ < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
    mode_t old_mask = ::umask(0177);  // created 0600: whoever may write it drives the doors
    int rc = ::bind(control_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    int err = errno;
    ::umask(old_mask);
    if (rc != 0 || ::listen(control_fd_, 8) != 0) {
      return Status::Unavailable("--control " + path +
                                 ": cannot listen: " + std::strerror(rc != 0 ? err : errno));
    }
    control_bound_ = true;
    auto h = loop_.AddFd(control_fd_, EPOLLIN, [this](uint32_t) { AcceptControl(); });
    if (!h.ok()) return h.status();
    control_handle_ = *h;
    return Status::Ok();
  }

  void AcceptControl() {
    int fd = ::accept4(control_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    timeval tv{1, 0};  // a client that does not read its replies does not stall the module
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    const uint64_t id = next_control_++;
    auto h = loop_.AddFd(fd, EPOLLIN, [this, id](uint32_t) { OnControlReadable(id); });
    if (!h.ok()) {
      ::close(fd);
      return;
    }
    control_clients_[id] = ControlClient{fd, *h, {}};
  }

  void CloseControl(uint64_t id) {
    auto it = control_clients_.find(id);
    if (it == control_clients_.end()) return;
    loop_.RemoveFd(it->second.handle);
    ::close(it->second.fd);
    control_clients_.erase(it);
  }

  void OnControlReadable(uint64_t id) {
    auto it = control_clients_.find(id);
    if (it == control_clients_.end()) return;
    char buf[4096];
    ssize_t n = ::read(it->second.fd, buf, sizeof(buf));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      CloseControl(id);
      return;
    }
    it->second.buffer.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = it->second.buffer.find('\n')) != std::string::npos;) {
      std::string line = it->second.buffer.substr(0, nl);
      it->second.buffer.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      Result<Command> c = ParseCommand(line, o_.doors);
      json reply =
          c.ok() ? Execute(*c, "control") : json{{"ok", false}, {"error", c.status().message()}};
      std::string text = reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      if (::send(it->second.fd, text.data(), text.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(text.size())) {
        CloseControl(id);
        return;
      }
      it = control_clients_.find(id);  // Execute() does not close control clients; be sure
      if (it == control_clients_.end()) return;
    }
    if (it->second.buffer.size() > kMaxControlLine) {
      std::string text = json{{"ok", false}, {"error", "line too long"}}.dump() + "\n";
      (void)::send(it->second.fd, text.data(), text.size(), MSG_NOSIGNAL);
      CloseControl(id);
    }
  }

  void Shutdown() {
    while (!control_clients_.empty()) CloseControl(control_clients_.begin()->first);
    if (control_fd_ >= 0) {
      loop_.RemoveFd(control_handle_);
      ::close(control_fd_);
      control_fd_ = -1;
      if (control_bound_) ::unlink(o_.control.c_str());
    }
    while (!clients_.empty()) {
      auto it = clients_.begin();
      loop_.RemoveFd(it->second.handle);
      ::close(it->second.fd);
      clients_.erase(it);
    }
    if (listen_fd_ >= 0) {
      loop_.RemoveFd(listen_handle_);
      ::close(listen_fd_);
      listen_fd_ = -1;
    }
    if (ctx_ && tcp()) modbus_set_socket(ctx_.get(), -1);  // its fds were ours, already closed
    if (serial_open_) {
      loop_.RemoveFd(serial_handle_);
      reader_ctx_.reset();
      modbus_close(ctx_.get());  // restores the line's settings and closes it
      serial_open_ = false;
    }
  }

  EventLoop& loop_;
  const Options o_;
  int exit_code_ = kExitOk;
  std::unique_ptr<modbus_mapping_t, MappingFree> map_;
  ModbusPtr ctx_;         // TCP: the server context; RTU: the one that opened the device
  ModbusPtr reader_ctx_;  // RTU: a fresh context on the same fd after an ignored request
  std::vector<Door> doors_;

  int listen_fd_ = -1;
  EventLoop::FdHandle listen_handle_{};
  std::map<uint64_t, Client> clients_;
  uint64_t next_client_ = 1;

  bool serial_open_ = false;
  int serial_fd_ = -1;
  EventLoop::FdHandle serial_handle_{};

  int control_fd_ = -1;
  bool control_bound_ = false;
  EventLoop::FdHandle control_handle_{};
  std::map<uint64_t, ControlClient> control_clients_;
  uint64_t next_control_ = 1;

  bool offline_ = false;
  int exception_ = 0;
  // `refuse`: coil -> the next `count` FC05 writes (of `only`, if set) get exception `code`.
  struct Refusal {
    int code = 0;
    int count = 0;
    std::optional<bool> only;
  };
  std::map<int, Refusal> refuse_;
  int64_t delay_ms_ = 0;
  lintel::FakeClock* manual_clock_ = nullptr;  // --manual-clock
  int64_t advance_left_ms_ = 0;                // `advance` still to go
  bool advancing_ = false;                     // an AdvanceStep is posted
  bool watchdog_expired_ = false;
  std::optional<EventLoop::TimerId> watchdog_timer_;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  if (Status s = lintel::BlockSignals({SIGTERM, SIGINT}); !s.ok()) {
    Note(s.message());
    return kExitDevice;
  }
  CLI::App app{"modbus-sim: a Modbus TCP/RTU door I/O module with scripted doors"};
  Options o;
  auto* tcp =
      app.add_option("--tcp", o.tcp, "serve Modbus TCP on HOST:PORT (loopback; port 0 = any free)");
  auto* rtu = app.add_option("--rtu", o.rtu, "serve Modbus RTU on this serial device");
  tcp->excludes(rtu);
  app.add_option("--baud", o.baud, "RTU line speed")
      ->capture_default_str()
      ->check(CLI::IsMember({1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}));
  app.add_option("--parity", o.parity, "RTU parity: N, E or O (8 data bits, 1 stop bit)")
      ->capture_default_str()
      ->check(CLI::IsMember({"N", "E", "O"}));
  app.add_option("--unit", o.unit, "the module's unit id (slave address)")
      ->capture_default_str()
      ->check(CLI::Range(1, 247));
  app.add_option("--doors", o.doors, "doors wired to the module")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxDoors));
  app.add_option("--control", o.control, "Unix socket for control commands (mode 0600)");
  app.add_option("--scenario", o.scenario, "file of \"AT_MS COMMAND\" lines");
  app.add_option("--open-after-ms", o.open_after_ms, "a door opens this long after its relay")
      ->capture_default_str()
      ->check(CLI::Range(0, 60'000));
  app.add_option("--open-for-ms", o.open_for_ms, "an opened door closes this long after")
      ->capture_default_str()
      ->check(CLI::Range(1, 600'000));
  app.add_flag("-v,--verbose", o.verbose, "one line per Modbus request");
  app.add_flag("--manual-clock", o.manual_clock,
               "virtual time from 0, moved only by the `advance MS` command (for tests)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (o.tcp.empty() == o.rtu.empty()) {
    Note("give exactly one of --tcp 127.0.0.1:PORT or --rtu DEVICE");
    return kExitUsage;
  }
  if (!o.tcp.empty()) {
    if (Result<TcpAddress> a = ParseTcp(o.tcp); !a.ok()) {
      Note(a.status().message());
      return kExitUsage;
    }
  }
  std::vector<ScenarioStep> steps;
  if (!o.scenario.empty()) {
    Result<std::vector<ScenarioStep>> s = LoadScenario(o.scenario, o.doors);
    if (!s.ok()) {
      Note(s.status().message());
      return kExitUsage;
    }
    steps = std::move(*s);
  }

  lintel::SystemClock system_clock;
  lintel::FakeClock manual_clock{lintel::Instant{}};
  g_clock = o.manual_clock ? static_cast<const lintel::Clock*>(&manual_clock) : &system_clock;
  g_start = g_clock->Monotonic();
  auto loop = EventLoop::Create(*g_clock);
  if (!loop.ok()) {
    Note(loop.status().message());
    return kExitDevice;
  }
  Simulator sim(**loop, o);
  if (o.manual_clock) sim.UseManualClock(&manual_clock);
  if (Status s = sim.Start(); !s.ok()) {
    Note(s.message());
    return s.code() == lintel::StatusCode::kInvalidArgument ? kExitUsage : kExitDevice;
  }
  if (Status s = (*loop)->WatchSignals({SIGTERM, SIGINT}, [&sim](int) { sim.Stop("signal"); });
      !s.ok()) {
    Note(s.message());
    return kExitDevice;
  }
  sim.Schedule(steps);
  if (Status s = (*loop)->Run(); !s.ok()) {
    Note(s.message());
    return kExitDevice;
  }
  return sim.exit_code();
}
