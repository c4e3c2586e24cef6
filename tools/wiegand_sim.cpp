// wiegand-sim: plays a Wiegand reader, keypad or Wiegand-to-serial converter, for the demo and the
// integration tests. It is the hardware: edge timings go to a reader's replay socket
// (drivers/wiegand/replay_source.h: one datagram per burst, "<0|1> <delta_us>" per edge), converter
// lines go to a serial device (drivers/wiegand/serial_line.h). Every frame is built by the
// driver library's own encoders (EncodeCard, ParseFrame, KeyMap, SerialLineFromFrame,
// FormatReplayDatagram): this program holds no codec of its own.
//
// Timing: the bits of a burst are `--bit-us` apart (default 2000, the usual ~2 ms period). A
// burst after the first of one invocation (keys, --repeat) carries the pause before it as its first
// delta, so the reader keeps the bursts apart even when it picks several datagrams up at once; the
// first carries 50 ms, so it stays apart from whatever a previous invocation sent just before.
//
// Output: one JSON object per line on stdout (flushed per line), one per thing sent; human messages
// on stderr. Exit codes: 0 sent; 1 usage or a bad value (nothing sent); 2 the socket or device
// (nobody listening, cannot send, cannot open or configure the device).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "drivers/wiegand/replay_source.h"
#include "drivers/wiegand/serial_line.h"
#include "drivers/wiegand/wiegand.h"
#include "gateway/base/status.h"

namespace {

namespace wg = lintel::wiegand;
using json = nlohmann::ordered_json;
using lintel::Result;
using lintel::Status;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitDevice = 2;

// The legal Wiegand pulse interval (shared/protocols/wiegand.md): anything else is noise.
constexpr int64_t kMinBitUs = 200;
constexpr int64_t kMaxBitUs = 20'000;
// A pause between bursts must outlast the gateway's end-of-frame silence (25 ms).
constexpr int64_t kMinGapMs = 30;
constexpr int64_t kMaxGapMs = 60'000;
// How long a send may block on a reader whose queue is full before we call it stuck.
constexpr int kSendTimeoutS = 5;

// ---- output ---------------------------------------------------------------------------------

void Emit(const json& line) {
  std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
}
void Note(std::string_view message) { std::cerr << "wiegand-sim: " << message << '\n'; }
int Usage(const Status& status) {
  Note(status.message());
  return kExitUsage;
}
int DeviceError(const Status& status) {
  Note(status.message());
  return kExitDevice;
}

// ---- values ---------------------------------------------------------------------------------

Status CheckGap(const char* what, int64_t ms) {
  if (ms < kMinGapMs || ms > kMaxGapMs) {
    return Status::InvalidArgument(std::string(what) + " " + std::to_string(ms) + " ms: must be " +
                                   std::to_string(kMinGapMs) + ".." + std::to_string(kMaxGapMs) +
                                   " (the gateway ends a frame after 25 ms of silence)");
  }
  return Status::Ok();
}

Status CheckBitUs(int64_t bit_us) {
  if (bit_us < kMinBitUs || bit_us > kMaxBitUs) {
    return Status::InvalidArgument("--bit-us " + std::to_string(bit_us) + ": must be " +
                                   std::to_string(kMinBitUs) + ".." + std::to_string(kMaxBitUs) +
                                   " (the legal Wiegand bit interval); use `noise` for bad timing");
  }
  return Status::Ok();
}

// A card format that carries fields (not raw).
Result<wg::CardFormat> FieldFormat(const std::string& name) {
  Result<wg::CardFormat> f = wg::ParseCardFormat(name);
  if (!f.ok()) return f.status();
  if (*f == wg::CardFormat::kRaw) {
    return Status::InvalidArgument("--format raw carries no fields: use `wiegand-sim raw`");
  }
  return f;
}

json CardJson(const char* sent, wg::CardFormat format, uint64_t facility, uint64_t number) {
  json j = {{"sent", sent}, {"format", std::string(wg::CardFormatName(format))}};
  j["facility"] = wg::MaxFacility(format) == 0 ? json(nullptr) : json(facility);
  j["number"] = number;
  return j;
}

// ---- bursts ---------------------------------------------------------------------------------

// The edges of one burst: edge i at i * bit_us.
struct Burst {
  std::vector<wg::Edge> edges;

  void Add(wg::Line line, int64_t t_us) { edges.push_back({line, t_us * 1000}); }
  static Burst OfFrame(const wg::Frame& frame, int64_t bit_us) {
    Burst b;
    for (int i = 0; i < frame.bits; ++i) {
      bool one = (frame.value >> (frame.bits - 1 - i)) & 1u;
      b.Add(one ? wg::Line::kD1 : wg::Line::kD0, i * bit_us);
    }
    return b;
  }
};

// A connected datagram socket to the reader's replay socket.
class ReplaySocket {
 public:
  // Errors: InvalidArgument for a path a Unix socket cannot have; Unavailable when nobody listens
  // there; IoError for other socket failures.
  static Result<ReplaySocket> Connect(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
      return Status::InvalidArgument("--socket \"" + path + "\": empty or longer than " +
                                     std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::IoError(path + ": socket: " + std::strerror(errno));
    timeval tv{kSendTimeoutS, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int err = errno;
      ::close(fd);
      return Unreachable(path, err);
    }
    return ReplaySocket(fd, path);
  }
  ReplaySocket(ReplaySocket&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  ReplaySocket& operator=(ReplaySocket&&) = delete;
  ReplaySocket(const ReplaySocket&) = delete;
  ~ReplaySocket() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Sends one burst; its first edge `first_delta_us` after the previous burst's last edge.
  Status Send(const Burst& burst, int64_t first_delta_us) {
    std::string text = wg::FormatReplayDatagram(
        burst.edges, std::clamp<int64_t>(first_delta_us, 0, wg::kMaxReplayDeltaUs));
    if (text.size() > wg::kMaxReplayDatagram || burst.edges.size() > wg::kMaxReplayEdges) {
      return Status::Internal("burst exceeds the replay datagram limits");
    }
    while (true) {
      ssize_t n = ::send(fd_, text.data(), text.size(), 0);
      if (n == static_cast<ssize_t>(text.size())) return Status::Ok();
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return Status::Unavailable(path_ + ": the reader has not read its socket for " +
                                   std::to_string(kSendTimeoutS) + " s (queue full)");
      }
      if (n < 0) return Unreachable(path_, errno);
      return Status::Unavailable(path_ + ": short send");
    }
  }

 private:
  ReplaySocket(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  static Status Unreachable(const std::string& path, int err) {
    if (err == ENOENT || err == ECONNREFUSED || err == ENOTSOCK) {
      return Status::Unavailable("no reader socket at " + path +
                                 " (is lintel running with a replay reader?)");
    }
    return Status::Unavailable(path + ": cannot send: " + std::strerror(err));
  }

  int fd_;
  std::string path_;
};

// The first burst of an invocation says the line was quiet this long before it, so it never runs
// into the last burst of a previous invocation sent a few milliseconds earlier (the reader moves
// it later if it has to; see AnchorReplay).
constexpr int64_t kLeadingQuietUs = 50'000;

void Pause(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Sends `burst` `repeat` times, `interval_ms` of silence apart, printing `line` after each send.
int SendRepeated(const std::string& socket_path, const Burst& burst, int repeat,
                 int64_t interval_ms, json line) {
  Result<ReplaySocket> sock = ReplaySocket::Connect(socket_path);
  if (!sock.ok()) {
    return sock.status().code() == lintel::StatusCode::kInvalidArgument
               ? Usage(sock.status())
               : DeviceError(sock.status());
  }
  line["edges"] = burst.edges.size();
  for (int i = 0; i < repeat; ++i) {
    if (i > 0) Pause(interval_ms);
    Status s = sock->Send(burst, i == 0 ? kLeadingQuietUs : interval_ms * 1000);
    if (!s.ok()) return DeviceError(s);
    Emit(line);
  }
  return kExitOk;
}

// ---- subcommands ----------------------------------------------------------------------------

struct Common {
  std::string socket;
  int64_t bit_us = 2000;
  int repeat = 1;
  int64_t interval_ms = 500;

  void AddSocket(CLI::App* cmd) {
    cmd->add_option("--socket", socket, "the reader's replay socket")->required();
    cmd->add_option("--bit-us", bit_us, "microseconds between bits (200..20000)")
        ->capture_default_str();
  }
  void AddRepeat(CLI::App* cmd) {
    cmd->add_option("--repeat", repeat, "send it this many times")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000));
    cmd->add_option("--interval-ms", interval_ms, "silence between repeats (30..60000)")
        ->capture_default_str();
  }
  Status Check() const {
    if (Status s = CheckBitUs(bit_us); !s.ok()) return s;
    if (repeat > 1) return CheckGap("--interval-ms", interval_ms);
    return Status::Ok();
  }
};

struct CardArgs {
  Common common;
  std::string format;
  uint64_t facility = 0;
  uint64_t number = 0;
};

int RunCard(const CardArgs& a) {
  if (Status s = a.common.Check(); !s.ok()) return Usage(s);
  Result<wg::CardFormat> format = FieldFormat(a.format);
  if (!format.ok()) return Usage(format.status());
  Result<wg::Frame> frame = wg::EncodeCard(*format, a.facility, a.number);
  if (!frame.ok()) return Usage(frame.status());
  json line = CardJson("card", *format, a.facility, a.number);
  line["bits"] = frame->bits;
  line["frame"] = wg::FrameHex(*frame);
  return SendRepeated(a.common.socket, Burst::OfFrame(*frame, a.common.bit_us), a.common.repeat,
                      a.common.interval_ms, line);
}

struct RawArgs {
  Common common;
  int bits = 0;
  std::string value;
};

int RunRaw(const RawArgs& a) {
  if (Status s = a.common.Check(); !s.ok()) return Usage(s);
  Result<wg::Frame> frame = wg::ParseFrame(a.bits, a.value);
  if (!frame.ok()) return Usage(frame.status());
  json line = {{"sent", "raw"}, {"bits", frame->bits}, {"frame", wg::FrameHex(*frame)}};
  return SendRepeated(a.common.socket, Burst::OfFrame(*frame, a.common.bit_us), a.common.repeat,
                      a.common.interval_ms, line);
}

struct PinBurstArgs {
  Common common;
  std::string digits;
};

int RunPinBurst(const PinBurstArgs& a) {
  if (Status s = a.common.Check(); !s.ok()) return Usage(s);
  const std::string& d = a.digits;
  bool digits_only = !d.empty() && d.size() <= 5 &&
                     std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  uint64_t pin = digits_only ? std::stoull(d) : 0;
  if (!digits_only || pin == 0 || pin > 65534) {
    return Usage(Status::InvalidArgument("PIN \"" + d +
                                         "\": a PIN burst carries a number 1..65534 (65535 is "
                                         "the keypad's error code)"));
  }
  if (d.size() > 1 && d[0] == '0') {
    Note("leading zeros of \"" + d + "\" are lost on the wire: the gateway reads " +
         std::to_string(pin));
  }
  Result<wg::Frame> frame = wg::EncodeCard(wg::CardFormat::kH10301, 0, pin);
  if (!frame.ok()) return Usage(frame.status());
  json line = {
      {"sent", "pin_burst"}, {"pin", pin}, {"bits", frame->bits}, {"frame", wg::FrameHex(*frame)}};
  return SendRepeated(a.common.socket, Burst::OfFrame(*frame, a.common.bit_us), a.common.repeat,
                      a.common.interval_ms, line);
}

struct KeysArgs {
  Common common;
  int mode = 4;
  std::string key_map = "default";
  int64_t key_gap_ms = 300;
  std::string keys;
};

int RunKeys(const KeysArgs& a) {
  if (Status s = CheckBitUs(a.common.bit_us); !s.ok()) return Usage(s);
  if (Status s = CheckGap("--key-gap-ms", a.key_gap_ms); !s.ok()) return Usage(s);
  const wg::KeyMap map =
      a.key_map == "star_hash_swapped" ? wg::KeyMap::StarHashSwapped() : wg::KeyMap::Default();
  if (a.keys.empty()) return Usage(Status::InvalidArgument("KEYS is empty"));
  std::vector<wg::Frame> frames;
  for (char key : a.keys) {
    auto code = std::find(map.keys.begin(), map.keys.end(), key);
    if (key == '\0' || code == map.keys.end()) {
      return Usage(Status::InvalidArgument(std::string("key '") + key +
                                           "' is not on a keypad (0-9, * and # only)"));
    }
    uint64_t c = static_cast<uint64_t>(code - map.keys.begin());
    wg::Frame f = a.mode == 8 ? wg::Frame{8, ((~c & 0xF) << 4) | c} : wg::Frame{4, c};
    if (wg::DecodeKey(f, map) != key) {  // the library's decoder is the reference
      return Usage(Status::Internal(std::string("key '") + key + "' does not round-trip"));
    }
    frames.push_back(f);
  }
  Result<ReplaySocket> sock = ReplaySocket::Connect(a.common.socket);
  if (!sock.ok()) {
    return sock.status().code() == lintel::StatusCode::kInvalidArgument
               ? Usage(sock.status())
               : DeviceError(sock.status());
  }
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) Pause(a.key_gap_ms);
    Burst burst = Burst::OfFrame(frames[i], a.common.bit_us);
    Status s = sock->Send(burst, i == 0 ? kLeadingQuietUs : a.key_gap_ms * 1000);
    if (!s.ok()) return DeviceError(s);
    Emit({{"sent", "key"},
          {"key", std::string(1, a.keys[i])},
          {"bits", frames[i].bits},
          {"frame", wg::FrameHex(frames[i])},
          {"edges", burst.edges.size()}});
  }
  return kExitOk;
}

struct NoiseArgs {
  Common common;
  std::string kind;
};

// Malformed bursts, each exactly what FrameAssembler / Interpret classify as `kind` (the names of
// ReaderEvent::noise, NoiseKindName). The card is the public H10301 vector FC 101 / CN 251.
Result<Burst> NoiseBurst(const std::string& kind, int64_t bit_us) {
  Result<wg::Frame> card = wg::EncodeCard(wg::CardFormat::kH10301, 101, 251);
  if (!card.ok()) return card.status();
  if (kind == "bad_parity") {
    // The leading even-parity bit flipped: 26 bits of H10301 length, parity wrong.
    wg::Frame bad{card->bits, card->value ^ (uint64_t{1} << (card->bits - 1))};
    return Burst::OfFrame(bad, bit_us);
  }
  if (kind == "too_short") return Burst::OfFrame(wg::Frame{2, 0b10}, bit_us);
  if (kind == "too_long") {
    Burst b;  // 70 bits, more than any frame (64)
    for (int i = 0; i < 70; ++i) b.Add(i % 3 == 0 ? wg::Line::kD1 : wg::Line::kD0, i * bit_us);
    return b;
  }
  if (kind == "glitch" || kind == "overlap") {
    // Mid-frame, a second edge 50 us after a bit on the same line (contact bounce: a glitch), or
    // an edge on the other line at the very same instant (both lines low: an overlap).
    Burst b = Burst::OfFrame(*card, bit_us);
    const size_t at = b.edges.size() / 2;
    wg::Edge extra = b.edges[at];
    if (kind == "glitch") {
      extra.t_ns += 50'000;
    } else {
      extra.line = extra.line == wg::Line::kD0 ? wg::Line::kD1 : wg::Line::kD0;
    }
    b.edges.insert(b.edges.begin() + static_cast<std::ptrdiff_t>(at) + 1, extra);
    return b;
  }
  return Status::InvalidArgument("--kind " + kind +
                                 ": one of bad_parity, too_short, too_long, glitch, overlap");
}

int RunNoise(const NoiseArgs& a) {
  if (Status s = CheckBitUs(a.common.bit_us); !s.ok()) return Usage(s);
  Result<Burst> burst = NoiseBurst(a.kind, a.common.bit_us);
  if (!burst.ok()) return Usage(burst.status());
  return SendRepeated(a.common.socket, *burst, 1, 0, {{"sent", "noise"}, {"kind", a.kind}});
}

struct SerialArgs {
  std::string device;
  int baud = 9600;
  std::string line_format = "hex";
  std::string format;
  uint64_t facility = 0;
  uint64_t number = 0;
  int repeat = 1;
  int64_t interval_ms = 500;
};

// Opens the converter's side of the line for writing; a tty is put in raw 8N1 at `speed`.
Result<int> OpenDevice(const std::string& device, speed_t speed) {
  int fd = ::open(device.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(device + ": cannot open: " + std::strerror(errno));
  if (::isatty(fd)) {
    termios tio{};
    bool ok = ::tcgetattr(fd, &tio) == 0;
    if (ok) {
      ::cfmakeraw(&tio);  // 8 data bits, no parity, no output processing (CR stays CR)
      tio.c_cflag |= CLOCAL | CREAD;
      tio.c_cflag &= ~(CSTOPB | CRTSCTS);
      ::cfsetispeed(&tio, speed);
      ::cfsetospeed(&tio, speed);
      ok = ::tcsetattr(fd, TCSANOW, &tio) == 0;
    }
    if (!ok) {
      Status s = Status::IoError(device + ": cannot configure: " + std::strerror(errno));
      ::close(fd);
      return s;
    }
  }
  return fd;
}

Status WriteAll(int fd, const std::string& device, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IoError(device + ": cannot write: " + std::strerror(errno));
    text.remove_prefix(static_cast<size_t>(n));
  }
  if (::isatty(fd)) ::tcdrain(fd);  // out on the wire before we close or pause
  return Status::Ok();
}

int RunSerial(const SerialArgs& a) {
  if (a.repeat > 1) {
    if (Status s = CheckGap("--interval-ms", a.interval_ms); !s.ok()) return Usage(s);
  }
  Result<speed_t> speed = wg::BaudSpeed(a.baud);
  if (!speed.ok()) return Usage(Status::InvalidArgument("--baud: " + speed.status().message()));
  Result<wg::CardFormat> format = FieldFormat(a.format);
  if (!format.ok()) return Usage(format.status());
  Result<wg::Frame> frame = wg::EncodeCard(*format, a.facility, a.number);
  if (!frame.ok()) return Usage(frame.status());
  const bool decimal = a.line_format == "decimal10";
  wg::SerialFormat sf{decimal ? wg::SerialLineFormat::kDecimal10 : wg::SerialLineFormat::kHex,
                      *format, 0};
  Result<std::string> text = wg::SerialLineFromFrame(*frame, sf);
  if (!text.ok()) return Usage(text.status());  // e.g. c1k48 data bits need more than 10 digits

  Result<int> fd = OpenDevice(a.device, *speed);
  if (!fd.ok()) return DeviceError(fd.status());
  json line = CardJson("serial", *format, a.facility, a.number);
  line["line_format"] = a.line_format;
  line["line"] = *text;
  const std::string wire = *text + (decimal ? "\r\n" : "\r");
  int rc = kExitOk;
  for (int i = 0; i < a.repeat; ++i) {
    if (i > 0) Pause(a.interval_ms);
    if (Status s = WriteAll(*fd, a.device, wire); !s.ok()) {
      rc = DeviceError(s);
      break;
    }
    Emit(line);
  }
  ::close(*fd);
  return rc;
}

const std::vector<std::string> kFormats = {"h10301", "h10306", "h10302",
                                           "h10304", "c1k35",  "c1k48"};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"wiegand-sim: plays a Wiegand reader, keypad or serial converter"};
  app.require_subcommand(1);

  CardArgs card_args;
  auto* card = app.add_subcommand("card", "one card read: the encoded frame as one burst");
  card_args.common.AddSocket(card);
  card->add_option("--format", card_args.format, "card format")
      ->required()
      ->check(CLI::IsMember(kFormats));
  card->add_option("--facility", card_args.facility, "facility code (none for h10302)")
      ->capture_default_str();
  card->add_option("--number", card_args.number, "card number")->required();
  card_args.common.AddRepeat(card);

  RawArgs raw_args;
  auto* raw = app.add_subcommand("raw", "any frame: VALUE as 0x... hex or a binary string");
  raw_args.common.AddSocket(raw);
  raw->add_option("--bits", raw_args.bits, "frame length, 1..64")->required();
  raw->add_option("VALUE", raw_args.value, "0x... or the bits, first on the wire first")
      ->required();
  raw_args.common.AddRepeat(raw);

  KeysArgs keys_args;
  auto* keys = app.add_subcommand("keys", "keypad presses: one burst per key");
  keys_args.common.AddSocket(keys);
  keys->add_option("--mode", keys_args.mode, "bits per key")
      ->capture_default_str()
      ->check(CLI::IsMember({4, 8}));
  keys->add_option("--key-map", keys_args.key_map, "where * and # go")
      ->capture_default_str()
      ->check(CLI::IsMember({"default", "star_hash_swapped"}));
  keys->add_option("--key-gap-ms", keys_args.key_gap_ms, "silence between keys (30..60000)")
      ->capture_default_str();
  keys->add_option("KEYS", keys_args.keys, "0-9, * and #, e.g. 1234#")->required();

  PinBurstArgs pin_args;
  auto* pin = app.add_subcommand("pin-burst", "a 26-bit PIN burst (H10301, facility 0)");
  pin_args.common.AddSocket(pin);
  pin->add_option("DIGITS", pin_args.digits, "the PIN, 1..65534")->required();
  pin_args.common.AddRepeat(pin);

  NoiseArgs noise_args;
  auto* noise = app.add_subcommand("noise", "a malformed burst the gateway must count, not grant");
  noise_args.common.AddSocket(noise);
  noise->add_option("--kind", noise_args.kind, "bad_parity|too_short|too_long|glitch|overlap")
      ->required();

  SerialArgs serial_args;
  auto* serial = app.add_subcommand("serial", "one converter line to a serial device");
  serial->add_option("--device", serial_args.device, "tty (or pty slave) to write to")->required();
  serial->add_option("--baud", serial_args.baud, "line speed, 8N1")->capture_default_str();
  serial->add_option("--line-format", serial_args.line_format, "hex + CR, or decimal10 + CR LF")
      ->capture_default_str()
      ->check(CLI::IsMember({"hex", "decimal10"}));
  serial->add_option("--format", serial_args.format, "card format")
      ->required()
      ->check(CLI::IsMember(kFormats));
  serial->add_option("--facility", serial_args.facility, "facility code (none for h10302)")
      ->capture_default_str();
  serial->add_option("--number", serial_args.number, "card number")->required();
  serial->add_option("--repeat", serial_args.repeat, "send it this many times")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  serial->add_option("--interval-ms", serial_args.interval_ms, "pause between repeats (30..60000)")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (*card) return RunCard(card_args);
  if (*raw) return RunRaw(raw_args);
  if (*keys) return RunKeys(keys_args);
  if (*pin) return RunPinBurst(pin_args);
  if (*noise) return RunNoise(noise_args);
  if (*serial) return RunSerial(serial_args);
  return kExitUsage;
}
