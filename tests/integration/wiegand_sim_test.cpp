// tools/wiegand-sim as the demo and the gateway's tests use it: the real program sending to a real
// ReplayEdgeSource (a Unix datagram socket) feeding a real WiegandReader on a real EventLoop, or
// writing converter lines to a pseudo-terminal read by a real SerialSource.
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "drivers/wiegand/reader.h"
#include "drivers/wiegand/replay_source.h"
#include "drivers/wiegand/serial_line.h"
#include "drivers/wiegand/wiegand.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "tests/integration/subprocess.h"

namespace lintel::wiegand {
namespace {

using lintel::testing::BinaryDir;
using lintel::testing::Child;
using lintel::testing::ReadFile;
using lintel::testing::RunProgram;
using lintel::testing::RunResult;
using nlohmann::json;

using SteadyClock = std::chrono::steady_clock;  // not lintel::Clock

std::string Sim() { return BinaryDir() + "/tools/wiegand-sim"; }

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

// Every test's reader behind a replay socket, the sim run against it while the loop runs.
class WiegandSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Named by a counter, not the test name: parameterized names hold a '/', and a Unix socket
    // path holds at most 107 bytes.
    dir_ = std::filesystem::temp_directory_path() /
           ("lintel-wsim-" + std::to_string(getpid()) + "-" + std::to_string(++count_));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    socket_ = (dir_ / "reader.sock").string();
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok()) << loop.status().ToString();
    loop_ = std::move(*loop);
  }
  void TearDown() override {
    source_.reset();
    reader_.reset();
    std::filesystem::remove_all(dir_);
  }

  void OpenReader(ReaderProfile profile) {
    reader_ =
        std::make_unique<WiegandReader>(*loop_, clock_, ReaderConfig{.profile = std::move(profile)},
                                        [this](const ReaderEvent& e) { events_.push_back(e); });
    auto source = ReplayEdgeSource::Open(
        *loop_, clock_, {socket_, 0660}, [this](std::span<const Edge> e) { reader_->OnEdges(e); },
        [this](const Status& s) {
          source_errors_.push_back(s.message());
          reader_->OnSourceError(s);
        });
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    source_ = std::move(*source);
  }

  // Runs the sim in the background while the loop runs, until it has exited, everything it says
  // it sent has reached the reader (the `edges` of its stdout lines, one frame per `serial` line),
  // the reader is idle (no frame assembled, no PIN digits held, no timer armed: nothing left that
  // could still become an event, so an event that should not come would have come) and `want`
  // events arrived; at most 15 s. Returns the sim's exit code; stdout in out_, stderr in err_.
  int RunSim(std::vector<std::string> args, size_t want) {
    args.insert(args.begin(), Sim());
    std::string out = (dir_ / ("sim-" + std::to_string(++runs_) + ".out")).string();
    std::string err = (dir_ / ("sim-" + std::to_string(runs_) + ".err")).string();
    Child child(args, err, out);
    auto deadline = SteadyClock::now() + std::chrono::seconds(15);
    while (child.running() && SteadyClock::now() < deadline) {
      EXPECT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    }
    int code = child.Wait(std::chrono::seconds(5));
    out_ = ReadFile(out);
    err_ = ReadFile(err);
    uint64_t edges = 0, serial_frames = 0;
    for (const json& line : JsonLines(out_)) {
      edges += line.value("edges", uint64_t{0});
      serial_frames += line.value("sent", "") == "serial";
    }
    EXPECT_TRUE(Settle(edges, serial_frames, want, deadline))
        << "the reader got " << reader_->counters().edges << " of " << edges << " edges and "
        << reader_->counters().serial_frames << " of " << serial_frames << " frames, "
        << events_.size() << " of " << want << " events, idle: " << reader_->idle();
    return code;
  }

  // Runs the loop until the reader has been given `edges` edges and `serial_frames` frames, is
  // idle and `want` events arrived; false at `deadline`.
  bool Settle(uint64_t edges, uint64_t serial_frames, size_t want,
              SteadyClock::time_point deadline) {
    auto settled = [&] {
      return reader_->counters().edges >= edges &&
             reader_->counters().serial_frames >= serial_frames && reader_->idle() &&
             events_.size() >= want;
    };
    while (!settled()) {
      if (SteadyClock::now() >= deadline) return false;
      EXPECT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    }
    return true;
  }

  std::vector<const ReaderEvent*> Of(ReaderEvent::Kind kind) const {
    std::vector<const ReaderEvent*> out;
    for (const ReaderEvent& e : events_) {
      if (e.kind == kind) out.push_back(&e);
    }
    return out;
  }

  static inline int count_ = 0;
  SystemClock clock_;
  std::unique_ptr<EventLoop> loop_;
  std::filesystem::path dir_;
  std::string socket_;
  std::unique_ptr<WiegandReader> reader_;
  std::unique_ptr<ReplayEdgeSource> source_;
  std::vector<ReaderEvent> events_;
  std::vector<std::string> source_errors_;
  int runs_ = 0;
  std::string out_, err_;
};

// The gateway's keypad reader: H10301 cards, 4- and 8-bit keys, PIN bursts.
ReaderProfile Keypad(KeyMap map = KeyMap::Default()) {
  return ReaderProfile{.accepted = {CardFormat::kH10301},
                       .keys_4bit = true,
                       .keys_8bit = true,
                       .pin_burst = true,
                       .key_map = map};
}

// ---- cards ------------------------------------------------------------------------------------

class WiegandSimCardTest : public WiegandSimTest,
                           public ::testing::WithParamInterface<CardFormat> {};

TEST_P(WiegandSimCardTest, CardDecodesToTheSameFacilityAndNumber) {
  const CardFormat format = GetParam();
  const uint64_t facility = MaxFacility(format) / 3;  // 0 for H10302
  const uint64_t number = MaxNumber(format) / 7 + 1;
  OpenReader(ReaderProfile{.accepted = {format}});
  const std::string name(CardFormatName(format));
  std::vector<std::string> args = {
      "card", "--socket", socket_, "--format", name, "--number", std::to_string(number)};
  if (MaxFacility(format) > 0) {
    args.insert(args.end(), {"--facility", std::to_string(facility)});
  }
  ASSERT_EQ(RunSim(args, 1), 0) << err_;

  ASSERT_EQ(events_.size(), 1u) << name;
  ASSERT_EQ(events_[0].kind, ReaderEvent::Kind::kCard) << NoiseKindName(events_[0].noise);
  ASSERT_TRUE(events_[0].card.has_value());
  EXPECT_EQ(events_[0].card->format, format);
  EXPECT_EQ(events_[0].card->number, number);
  if (MaxFacility(format) > 0) {
    EXPECT_EQ(events_[0].card->facility, facility);
  } else {
    EXPECT_FALSE(events_[0].card->facility.has_value());
  }

  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 1u) << out_;
  EXPECT_EQ(lines[0]["sent"], "card");
  EXPECT_EQ(lines[0]["format"], name);
  EXPECT_EQ(lines[0]["number"], number);
  EXPECT_EQ(lines[0]["bits"], CardFormatBits(format));
  EXPECT_EQ(lines[0]["edges"], CardFormatBits(format));
  EXPECT_EQ(lines[0]["frame"], FrameHex(*EncodeCard(format, facility, number)));
  EXPECT_TRUE(source_errors_.empty());
}

INSTANTIATE_TEST_SUITE_P(AllFormats, WiegandSimCardTest,
                         ::testing::Values(CardFormat::kH10301, CardFormat::kH10306,
                                           CardFormat::kH10302, CardFormat::kH10304,
                                           CardFormat::kC1k35, CardFormat::kC1k48),
                         [](const auto& info) { return std::string(CardFormatName(info.param)); });

TEST_F(WiegandSimTest, CardPrintsThePublicH10301Vector) {
  OpenReader(ReaderProfile{});
  ASSERT_EQ(RunSim({"card", "--socket", socket_, "--format", "h10301", "--facility", "101",
                    "--number", "251"},
                   1),
            0)
      << err_;
  EXPECT_EQ(out_,
            "{\"sent\":\"card\",\"format\":\"h10301\",\"facility\":101,\"number\":251,"
            "\"bits\":26,\"frame\":\"0x0CA01F6\",\"edges\":26}\n");
  ASSERT_EQ(Of(ReaderEvent::Kind::kCard).size(), 1u);
  EXPECT_EQ(events_[0].card->facility, 101u);
  EXPECT_EQ(events_[0].card->number, 251u);
}

TEST_F(WiegandSimTest, RepeatSendsSeparateReadsAnIntervalApart) {
  OpenReader(ReaderProfile{});
  ASSERT_EQ(RunSim({"card", "--socket", socket_, "--format", "h10301", "--facility", "7",
                    "--number", "42", "--repeat", "3", "--interval-ms", "50"},
                   3),
            0)
      << err_;
  std::vector<const ReaderEvent*> cards = Of(ReaderEvent::Kind::kCard);
  ASSERT_EQ(cards.size(), 3u);
  EXPECT_EQ(events_.size(), 3u) << "no noise between repeats";
  for (const ReaderEvent* c : cards) EXPECT_EQ(c->card->number, 42u);
  // The reads are separate bursts, at least the interval of silence apart.
  EXPECT_GE(cards[1]->last_bit_ns - cards[0]->last_bit_ns, 50'000'000);
  EXPECT_GE(cards[2]->last_bit_ns - cards[1]->last_bit_ns, 50'000'000);
  EXPECT_EQ(JsonLines(out_).size(), 3u);
}

// ---- raw frames -------------------------------------------------------------------------------

TEST_F(WiegandSimTest, RawHexFrameIsReadAsTheCardItEncodes) {
  OpenReader(ReaderProfile{});
  ASSERT_EQ(RunSim({"raw", "--socket", socket_, "--bits", "26", "0x0CA1440"}, 1), 0) << err_;
  ASSERT_EQ(Of(ReaderEvent::Kind::kCard).size(), 1u);
  EXPECT_EQ(events_[0].card->facility, 101u);
  EXPECT_EQ(events_[0].card->number, 2592u);
  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], json::parse(R"({"sent":"raw","bits":26,"frame":"0x0CA1440","edges":26})"));
}

TEST_F(WiegandSimTest, RawBinaryFrameArrivesBitForBit) {
  OpenReader(ReaderProfile{.accepted = {CardFormat::kRaw}});
  const std::string bits =
      "1011001110001111000011111000001011";  // 34 bits, first on the wire first
  ASSERT_EQ(RunSim({"raw", "--socket", socket_, "--bits", "34", bits}, 1), 0) << err_;
  ASSERT_EQ(Of(ReaderEvent::Kind::kCard).size(), 1u);
  EXPECT_EQ(events_[0].card->format, CardFormat::kRaw);
  EXPECT_EQ(FrameBinary(Frame{34, events_[0].card->number}), bits);
}

// ---- keypads ----------------------------------------------------------------------------------

TEST_F(WiegandSimTest, Keys4BitSubmitPin) {
  OpenReader(ReaderProfile{.keys_4bit = true});
  ASSERT_EQ(RunSim({"keys", "--socket", socket_, "--key-gap-ms", "60", "1234#"}, 1), 0) << err_;
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kPin) << NoiseKindName(events_[0].noise);
  EXPECT_EQ(events_[0].pin, "1234");
  EXPECT_EQ(reader_->counters().keys, 5u);
  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], json::parse(R"({"sent":"key","key":"1","bits":4,"frame":"0x1","edges":4})"));
  EXPECT_EQ(lines[4]["key"], "#");
  EXPECT_EQ(lines[4]["frame"], "0xB");
}

TEST_F(WiegandSimTest, Keys8BitSendComplementedNibbles) {
  // Only 8-bit keys are accepted: 4-bit frames would be unknown_length noise.
  OpenReader(ReaderProfile{.keys_8bit = true});
  ASSERT_EQ(RunSim({"keys", "--socket", socket_, "--mode", "8", "--key-gap-ms", "60", "1234#"}, 1),
            0)
      << err_;
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kPin) << NoiseKindName(events_[0].noise);
  EXPECT_EQ(events_[0].pin, "1234");
  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["frame"], "0xE1");
  EXPECT_EQ(lines[4]["frame"], "0x4B");
}

TEST_F(WiegandSimTest, KeysWithTheDefaultGapReachAFullKeypadReader) {
  OpenReader(Keypad());
  ASSERT_EQ(RunSim({"keys", "--socket", socket_, "9*1234#"}, 1), 0) << err_;
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].pin, "1234") << "'*' cleared the 9";
  EXPECT_EQ(reader_->counters().pin_cleared, 1u);
}

TEST_F(WiegandSimTest, SwappedKeyMapSendsHashAsCodeA) {
  OpenReader(ReaderProfile{.keys_4bit = true, .key_map = KeyMap::StarHashSwapped()});
  ASSERT_EQ(RunSim({"keys", "--socket", socket_, "--key-map", "star_hash_swapped", "--key-gap-ms",
                    "60", "1234#"},
                   1),
            0)
      << err_;
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kPin);
  EXPECT_EQ(events_[0].pin, "1234");
  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[4]["frame"], "0xA");
}

TEST_F(WiegandSimTest, SwappedKeysToADefaultKeypadNeverSubmit) {
  // 0xA is '*' on a default keypad: the digits are cleared, nothing is submitted.
  OpenReader(ReaderProfile{.keys_4bit = true});
  ASSERT_EQ(RunSim({"keys", "--socket", socket_, "--key-map", "star_hash_swapped", "--key-gap-ms",
                    "60", "1234#"},
                   0),
            0)
      << err_;
  EXPECT_TRUE(Of(ReaderEvent::Kind::kPin).empty());
  EXPECT_EQ(reader_->counters().keys, 5u);
  EXPECT_EQ(reader_->counters().pin_cleared, 1u);
}

TEST_F(WiegandSimTest, KeysSentWhileTheReaderIsBusyStayApart) {
  // The loop does not run while the sim sends: the reader picks all five datagrams up at once.
  // Each key's first delta carries the gap, so the anchored bursts are still 60 ms apart rather
  // than one glitching run of edges.
  OpenReader(ReaderProfile{.keys_4bit = true});
  RunResult r = RunProgram({Sim(), "keys", "--socket", socket_, "--key-gap-ms", "60", "1234#"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(Settle(5 * 4, 0, 1, SteadyClock::now() + std::chrono::seconds(5)));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kPin) << NoiseKindName(events_[0].noise);
  EXPECT_EQ(events_[0].pin, "1234");
  EXPECT_EQ(reader_->frame_counters().glitch + reader_->frame_counters().overlap, 0u);
}

TEST_F(WiegandSimTest, PinBurstIsOneFrameWithThePin) {
  OpenReader(Keypad());
  ASSERT_EQ(RunSim({"pin-burst", "--socket", socket_, "1234"}, 1), 0) << err_;
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kPin);
  EXPECT_EQ(events_[0].pin, "1234");
  EXPECT_EQ(reader_->counters().pin_bursts, 1u);
  EXPECT_EQ(reader_->counters().keys, 0u);
  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["frame"], "0x00009A4");
  EXPECT_EQ(lines[0]["pin"], 1234);
}

// ---- noise ------------------------------------------------------------------------------------

class WiegandSimNoiseTest : public WiegandSimTest,
                            public ::testing::WithParamInterface<const char*> {};

TEST_P(WiegandSimNoiseTest, NoiseIsCountedAsItsKindAndNeverACard) {
  const std::string kind = GetParam();
  OpenReader(Keypad());
  ASSERT_EQ(RunSim({"noise", "--socket", socket_, "--kind", kind}, 1), 0) << err_;
  ASSERT_EQ(events_.size(), 1u) << kind;
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kNoise);
  EXPECT_EQ(NoiseKindName(events_[0].noise), kind);
  EXPECT_FALSE(events_[0].card.has_value());
  EXPECT_EQ(reader_->counters().cards, 0u);
  EXPECT_EQ(reader_->counters().pins, 0u);
  EXPECT_EQ(reader_->counters().keys, 0u);
  EXPECT_TRUE(source_errors_.empty()) << "well-formed datagrams, malformed Wiegand";
  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["sent"], "noise");
  EXPECT_EQ(lines[0]["kind"], kind);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, WiegandSimNoiseTest,
                         ::testing::Values("bad_parity", "too_short", "too_long", "glitch",
                                           "overlap"),
                         [](const auto& info) { return std::string(info.param); });

// ---- serial converter -------------------------------------------------------------------------

// Two pseudo-terminals joined like a null-modem cable: what is written to `sim_tty` (the
// converter's port) comes out of `gateway_tty` (the gateway's port). The loop copies the bytes
// from one master to the other.
class NullModem {
 public:
  explicit NullModem(EventLoop& loop) : loop_(loop) {
    char a[128], b[128];
    ok_ = openpty(&a_master_, &a_slave_, a, nullptr, nullptr) == 0 &&
          openpty(&b_master_, &b_slave_, b, nullptr, nullptr) == 0;
    if (!ok_) return;
    sim_tty_ = a;
    gateway_tty_ = b;
    Result<EventLoop::FdHandle> h = loop_.AddFd(a_master_, EPOLLIN, [this](uint32_t) {
      char buf[256];
      ssize_t n = read(a_master_, buf, sizeof buf);
      if (n <= 0) return;
      wire_.append(buf, static_cast<size_t>(n));
      if (write(b_master_, buf, static_cast<size_t>(n)) != n) copy_errors_++;
    });
    ok_ = h.ok();
    if (ok_) handle_ = *h;
  }
  ~NullModem() {
    loop_.RemoveFd(handle_);
    for (int fd : {a_master_, a_slave_, b_master_, b_slave_}) {
      if (fd >= 0) close(fd);
    }
  }
  bool ok() const { return ok_; }
  const std::string& sim_tty() const { return sim_tty_; }
  const std::string& gateway_tty() const { return gateway_tty_; }
  int copy_errors() const { return copy_errors_; }
  // Every byte that went through the cable.
  const std::string& wire() const { return wire_; }

 private:
  EventLoop& loop_;
  // Both slaves stay open here too, so neither side sees a hangup when the sim closes its end.
  int a_master_ = -1, a_slave_ = -1, b_master_ = -1, b_slave_ = -1;
  std::string sim_tty_, gateway_tty_;
  EventLoop::FdHandle handle_{};
  bool ok_ = false;
  int copy_errors_ = 0;
  std::string wire_;
};

class WiegandSimSerialTest : public WiegandSimTest,
                             public ::testing::WithParamInterface<SerialLineFormat> {};

TEST_P(WiegandSimSerialTest, ConverterLineReachesASerialSourceAsTheCard) {
  const bool decimal = GetParam() == SerialLineFormat::kDecimal10;
  reader_ = std::make_unique<WiegandReader>(*loop_, clock_, ReaderConfig{.profile = {}},
                                            [this](const ReaderEvent& e) { events_.push_back(e); });
  NullModem cable(*loop_);
  ASSERT_TRUE(cable.ok()) << std::strerror(errno);
  std::vector<std::string> serial_errors;
  auto serial = SerialSource::Open(
      *loop_, {cable.gateway_tty(), 9600, {GetParam(), CardFormat::kH10301, 26}},
      [this](const Frame& f) { reader_->OnFrame(f); },
      [&](const Status& s) { serial_errors.push_back(s.message()); });
  ASSERT_TRUE(serial.ok()) << serial.status().ToString();

  ASSERT_EQ(
      RunSim({"serial", "--device", cable.sim_tty(), "--line-format", decimal ? "decimal10" : "hex",
              "--format", "h10301", "--facility", "101", "--number", "251"},
             1),
      0)
      << err_;
  ASSERT_EQ(events_.size(), 1u);
  ASSERT_EQ(events_[0].kind, ReaderEvent::Kind::kCard);
  EXPECT_EQ(events_[0].card->facility, 101u);
  EXPECT_EQ(events_[0].card->number, 251u);
  EXPECT_EQ((*serial)->counters().lines, 1u) << "one line: CR LF is one terminator";
  EXPECT_TRUE(serial_errors.empty()) << serial_errors.front();
  EXPECT_EQ(cable.copy_errors(), 0);
  EXPECT_EQ(cable.wire(), decimal ? "0006619387\r\n" : "6500FB\r") << "the converter's terminator";
  std::vector<json> lines = JsonLines(out_);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["sent"], "serial");
  EXPECT_EQ(lines[0]["line"], decimal ? "0006619387" : "6500FB");
  serial->reset();
}

INSTANTIATE_TEST_SUITE_P(BothLineFormats, WiegandSimSerialTest,
                         ::testing::Values(SerialLineFormat::kHex, SerialLineFormat::kDecimal10),
                         [](const auto& info) {
                           return std::string(info.param == SerialLineFormat::kHex ? "hex"
                                                                                   : "decimal10");
                         });

TEST_F(WiegandSimTest, SerialDeviceThatCannotBeOpenedExitsTwo) {
  RunResult r = RunProgram({Sim(), "serial", "--device", (dir_ / "no-such-tty").string(),
                            "--format", "h10301", "--facility", "1", "--number", "2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no-such-tty: cannot open"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

// ---- failures ---------------------------------------------------------------------------------

TEST_F(WiegandSimTest, NoReaderSocketExitsTwoAndSaysSo) {
  const std::string missing = (dir_ / "nobody.sock").string();
  RunResult r = RunProgram({Sim(), "card", "--socket", missing, "--format", "h10301", "--facility",
                            "1", "--number", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      r.err.find("no reader socket at " + missing + " (is lintel running with a replay reader?)"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "") << "nothing was sent";
}

TEST_F(WiegandSimTest, StaleSocketFileWithNobodyBehindItExitsTwo) {
  // A socket file left by a reader that died: bound, then closed, never unlinked.
  const std::string stale = socket_;
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, stale.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
  RunResult r = RunProgram({Sim(), "keys", "--socket", stale, "12#"});
  unlink(stale.c_str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no reader socket at " + stale), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(WiegandSimTest, BadValuesExitOneBeforeTouchingTheSocket) {
  // The socket does not exist: a bad value must be reported as such (1), not as the socket (2).
  const std::string s = (dir_ / "nobody.sock").string();
  const std::vector<std::vector<std::string>> bad = {
      {"card", "--socket", s, "--format", "h99999", "--number", "1"},
      {"card", "--socket", s, "--format", "h10301", "--facility", "256", "--number", "1"},
      {"card", "--socket", s, "--format", "h10301", "--number", "65536"},
      {"card", "--socket", s, "--format", "h10302", "--facility", "1", "--number", "1"},
      {"card", "--socket", s, "--format", "h10301", "--number", "-1"},
      {"card", "--socket", s, "--format", "h10301", "--number", "1", "--bit-us", "50"},
      {"card", "--socket", s, "--format", "h10301", "--number", "1", "--repeat", "2",
       "--interval-ms", "10"},
      {"card", "--format", "h10301", "--number", "1"},
      {"raw", "--socket", s, "--bits", "65", "0x1"},
      {"raw", "--socket", s, "--bits", "4", "0x1F"},
      {"raw", "--socket", s, "--bits", "4", "10x1"},
      {"keys", "--socket", s, "12a#"},
      {"keys", "--socket", s, "--key-gap-ms", "20", "12#"},
      {"keys", "--socket", s, "--mode", "6", "12#"},
      {"keys", "--socket", s, "--key-map", "weird", "12#"},
      {"pin-burst", "--socket", s, "0"},
      {"pin-burst", "--socket", s, "65535"},
      {"pin-burst", "--socket", s, "12a"},
      {"noise", "--socket", s, "--kind", "static"},
      {"serial", "--device", s, "--format", "h10301", "--number", "1", "--baud", "1234"},
      {"serial", "--device", s, "--format", "raw", "--number", "1"},
      {"serial", "--device", s, "--line-format", "decimal10", "--format", "c1k48", "--facility",
       "4000000", "--number", "8000000"},
  };
  for (std::vector<std::string> args : bad) {
    args.insert(args.begin(), Sim());
    RunResult r = RunProgram(args);
    std::string shown;
    for (const std::string& a : args) shown += " " + a;
    EXPECT_EQ(r.exit_code, 1) << shown << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << shown;
    EXPECT_EQ(r.err.find("no reader socket"), std::string::npos) << shown;
    EXPECT_EQ(r.out, "") << shown;
  }
}

}  // namespace
}  // namespace lintel::wiegand
