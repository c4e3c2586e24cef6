// Wiegand-to-serial converters (RS-232 / RS-485 / USB): what one output line means, and a source
// that reads such lines from a serial device on the core loop.
//
// A converter strips the parity bits and prints the data bits, one card per line. Two common line
// formats (shared/protocols/wiegand.md, "Serial converters"):
//   kHex:       the data bits as hex ASCII, terminated by CR: "6500FB\r" for H10301 FC 101 CN 251
//               (24 data bits of a 26-bit frame).
//   kDecimal10: the same data bits as 10 decimal digits, terminated by CR LF: "0006619387\r\n".
// The gateway rebuilds the full frame of the reader's card format (parity recomputed), so a
// converter read goes through the same decoding as a frame from GPIO.
#pragma once

#include <termios.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "drivers/wiegand/wiegand.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"

namespace lintel::wiegand {

enum class SerialLineFormat { kHex, kDecimal10 };

struct SerialFormat {
  SerialLineFormat line = SerialLineFormat::kHex;
  // The card format the converter's reader sends. For kRaw, `raw_bits` is the frame length and
  // the line carries the whole frame (nothing stripped).
  CardFormat card = CardFormat::kH10301;
  int raw_bits = 26;
};

// The full frame for one line (terminator already removed; surrounding spaces are not allowed).
// Errors: InvalidArgument "serial line \"6500FBX\": ..." for a character that is not a hex
// (decimal) digit, an empty line, the wrong digit count for kDecimal10 (10), or a value wider than
// the format's data bits (facility or number out of range).
Result<Frame> FrameFromSerialLine(std::string_view line, const SerialFormat& format);

// The data bits a converter prints for a frame (the inverse, for the simulator and tests).
Result<std::string> SerialLineFromFrame(const Frame& frame, const SerialFormat& format);

// The termios speed for a baud rate. Errors: InvalidArgument "unsupported baud rate N (1200, 2400,
// 4800, 9600, 19200, 38400, 57600, 115200)".
Result<speed_t> BaudSpeed(int baud);

struct SerialPortConfig {
  std::string device;  // "/dev/ttyUSB0", or a pseudo-terminal in tests
  int baud = 9600;     // 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200; 8N1, raw mode
  SerialFormat format;
};

struct SerialCounters {
  uint64_t lines = 0;
  uint64_t frames = 0;
  uint64_t bad_lines = 0;  // not a valid line for the format (noise, wrong converter setting)
  uint64_t overlong = 0;   // more than kMaxLineBytes without a terminator: discarded
  uint64_t hangups = 0;    // the device went away (at most 1 per source)
};

// Reads lines from a serial device, on the core loop (non-blocking fd registered with AddFd).
// Each line (ended by CR or LF; an empty line between CR and LF is skipped) becomes a Frame
// passed to `on_frame`, or an error passed to `on_error` (counted; the line's text is included
// only as far as it is printable ASCII, so garbage cannot forge log lines). Single-threaded: the
// loop thread calls everything; the callbacks run on it.
class SerialSource {
 public:
  static constexpr size_t kMaxLineBytes = 64;
  using OnFrame = std::function<void(const Frame&)>;
  using OnError = std::function<void(const Status&)>;

  // Opens and configures the device and registers it with `loop`. Errors: IoError naming the
  // device ("/dev/ttyUSB0: cannot open: No such file or directory"), InvalidArgument for an
  // unsupported baud rate.
  static Result<std::unique_ptr<SerialSource>> Open(EventLoop& loop, SerialPortConfig config,
                                                    OnFrame on_frame, OnError on_error);
  ~SerialSource();  // unregisters and closes
  SerialSource(const SerialSource&) = delete;
  SerialSource& operator=(const SerialSource&) = delete;

  const SerialCounters& counters() const { return counters_; }
  // True once the device hung up or failed (unplugged converter, closed pty master): the source
  // stopped watching it and reported IoError "<device>: device gone (...)" to on_error. The owner
  // destroys it and opens the device again later.
  bool failed() const { return failed_; }

 private:
  SerialSource(EventLoop& loop, SerialPortConfig config, int fd, OnFrame on_frame,
               OnError on_error);
  void OnReadable();
  void Line(std::string_view line);

  EventLoop& loop_;
  SerialPortConfig config_;
  int fd_;
  EventLoop::FdHandle handle_{};
  OnFrame on_frame_;
  OnError on_error_;
  std::string pending_;
  bool discarding_ = false;  // inside an overlong line, until its terminator
  bool failed_ = false;
  SerialCounters counters_;
};

}  // namespace lintel::wiegand
