#include "drivers/wiegand/serial_line.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cstring>

namespace lintel::wiegand {
namespace {

int Width(uint64_t max) { return max == 0 ? 0 : std::bit_width(max); }

// Printable ASCII only, cut after 32 bytes: a line from a converter is untrusted text.
std::string Shown(std::string_view line) {
  std::string out = "\"";
  for (size_t i = 0; i < line.size() && i < 32; ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '?';
  }
  if (line.size() > 32) out += "...";
  return out + "\"";
}

Status Bad(std::string_view line, const std::string& why) {
  return Status::InvalidArgument("serial line " + Shown(line) + ": " + why);
}

}  // namespace

Result<speed_t> BaudSpeed(int baud) {
  switch (baud) {
    case 1200:
      return speed_t{B1200};
    case 2400:
      return speed_t{B2400};
    case 4800:
      return speed_t{B4800};
    case 9600:
      return speed_t{B9600};
    case 19200:
      return speed_t{B19200};
    case 38400:
      return speed_t{B38400};
    case 57600:
      return speed_t{B57600};
    case 115200:
      return speed_t{B115200};
    default:
      return Status::InvalidArgument("unsupported baud rate " + std::to_string(baud) +
                                     " (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)");
  }
}

Result<Frame> FrameFromSerialLine(std::string_view line, const SerialFormat& format) {
  if (line.empty()) return Bad(line, "empty");
  const bool raw = format.card == CardFormat::kRaw;
  const int fc_bits = raw ? 0 : Width(MaxFacility(format.card));
  const int cn_bits = raw ? format.raw_bits : Width(MaxNumber(format.card));
  const int data_bits = fc_bits + cn_bits;
  if (raw && (format.raw_bits < 1 || format.raw_bits > kMaxFrameBits)) {
    return Bad(line, "raw frames have 1 to 64 bits");
  }
  uint64_t value = 0;
  if (format.line == SerialLineFormat::kDecimal10) {
    if (line.size() != 10) return Bad(line, "expected 10 decimal digits");
    for (char c : line) {
      if (c < '0' || c > '9') return Bad(line, "not a decimal digit");
      value = value * 10 + static_cast<uint64_t>(c - '0');
    }
  } else {
    if (line.size() > 16) return Bad(line, "more than 16 hex digits");
    for (char c : line) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) return Bad(line, "not a hex digit");
      value = (value << 4) | static_cast<uint64_t>(d);
    }
  }
  if (data_bits < 64 && (value >> data_bits) != 0) {
    return Bad(line, "value does not fit the " + std::to_string(data_bits) + " data bits of " +
                         std::string(CardFormatName(format.card)));
  }
  if (raw) return Frame{format.raw_bits, value};
  uint64_t cn_mask = cn_bits >= 64 ? UINT64_MAX : (uint64_t{1} << cn_bits) - 1;
  Result<Frame> frame =
      EncodeCard(format.card, fc_bits == 0 ? 0 : value >> cn_bits, value & cn_mask);
  if (!frame.ok()) return Bad(line, frame.status().message());
  return frame;
}

Result<std::string> SerialLineFromFrame(const Frame& frame, const SerialFormat& format) {
  uint64_t data = frame.value;
  int data_bits = frame.bits;
  if (format.card != CardFormat::kRaw) {
    const CardFormat accepted[] = {format.card};
    std::optional<CardRead> read = DecodeCard(frame, accepted);
    if (!read) {
      return Status::InvalidArgument("frame " + FrameHex(frame) + " is not a valid " +
                                     std::string(CardFormatName(format.card)) + " frame");
    }
    int cn_bits = Width(MaxNumber(format.card));
    data = (read->facility.value_or(0) << cn_bits) | read->number;
    data_bits = Width(MaxFacility(format.card)) + cn_bits;
  }
  std::string out;
  if (format.line == SerialLineFormat::kDecimal10) {
    out = std::to_string(data);
    if (out.size() > 10) return Status::InvalidArgument("value needs more than 10 digits");
    out.insert(0, 10 - out.size(), '0');
  } else {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int shift = ((data_bits + 3) / 4 - 1) * 4; shift >= 0; shift -= 4) {
      out += kHex[(data >> shift) & 0xf];
    }
  }
  return out;
}

// ---- the serial source ------------------------------------------------------------------------

Result<std::unique_ptr<SerialSource>> SerialSource::Open(EventLoop& loop, SerialPortConfig config,
                                                         OnFrame on_frame, OnError on_error) {
  Result<speed_t> speed = BaudSpeed(config.baud);
  if (!speed.ok()) return speed.status();
  int fd = open(config.device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return Status::IoError(config.device + ": cannot open: " + std::strerror(errno));
  }
  termios tio{};
  if (tcgetattr(fd, &tio) != 0) {
    Status st = Status::IoError(config.device + ": not a serial device: " + std::strerror(errno));
    close(fd);
    return st;
  }
  cfmakeraw(&tio);  // 8 data bits, no parity, no echo, no line editing
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cflag &= ~(CSTOPB | CRTSCTS);
  cfsetispeed(&tio, *speed);
  cfsetospeed(&tio, *speed);
  if (tcsetattr(fd, TCSANOW, &tio) != 0) {
    Status st = Status::IoError(config.device + ": cannot configure: " + std::strerror(errno));
    close(fd);
    return st;
  }
  std::unique_ptr<SerialSource> s(
      new SerialSource(loop, std::move(config), fd, std::move(on_frame), std::move(on_error)));
  Result<EventLoop::FdHandle> h =
      loop.AddFd(fd, EPOLLIN, [raw = s.get()](uint32_t) { raw->OnReadable(); });
  if (!h.ok()) return h.status();  // the destructor closes the fd
  s->handle_ = *h;
  return s;
}

SerialSource::SerialSource(EventLoop& loop, SerialPortConfig config, int fd, OnFrame on_frame,
                           OnError on_error)
    : loop_(loop),
      config_(std::move(config)),
      fd_(fd),
      on_frame_(std::move(on_frame)),
      on_error_(std::move(on_error)) {}

SerialSource::~SerialSource() {
  if (handle_ != EventLoop::FdHandle{}) loop_.RemoveFd(handle_);
  close(fd_);
}

void SerialSource::OnReadable() {
  std::array<char, 256> buf;
  while (true) {
    ssize_t n = read(fd_, buf.data(), buf.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;  // drained
    if (n <= 0) {
      // Hung up (0) or gone (EIO when a USB converter is unplugged or a pty's master closes).
      // Level-triggered epoll would report it again at once, for ever: stop watching.
      std::string why = n == 0 ? "hung up" : std::strerror(errno);
      loop_.RemoveFd(handle_);
      handle_ = EventLoop::FdHandle{};
      failed_ = true;
      ++counters_.hangups;
      if (on_error_) on_error_(Status::IoError(config_.device + ": device gone (" + why + ")"));
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[static_cast<size_t>(i)];
      if (c == '\r' || c == '\n') {
        if (discarding_) {
          discarding_ = false;
        } else if (!pending_.empty()) {
          Line(pending_);
        }
        pending_.clear();
        continue;
      }
      if (discarding_) continue;
      if (pending_.size() >= kMaxLineBytes) {
        ++counters_.overlong;
        if (on_error_) {
          on_error_(Status::InvalidArgument(config_.device + ": line longer than " +
                                            std::to_string(kMaxLineBytes) +
                                            " bytes without a terminator, discarded"));
        }
        pending_.clear();
        discarding_ = true;
        continue;
      }
      pending_ += c;
    }
  }
}

void SerialSource::Line(std::string_view line) {
  ++counters_.lines;
  Result<Frame> frame = FrameFromSerialLine(line, config_.format);
  if (!frame.ok()) {
    ++counters_.bad_lines;
    if (on_error_)
      on_error_(Status::InvalidArgument(config_.device + ": " + frame.status().message()));
    return;
  }
  ++counters_.frames;
  if (on_frame_) on_frame_(*frame);
}

}  // namespace lintel::wiegand
