// Serial converters: line formats, and the source reading a real pseudo-terminal on a real loop.
#include <gtest/gtest.h>
#include <pty.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "drivers/wiegand/serial_line.h"

namespace lintel::wiegand {
namespace {

const SerialFormat kHex26{SerialLineFormat::kHex, CardFormat::kH10301, 26};
const SerialFormat kDec26{SerialLineFormat::kDecimal10, CardFormat::kH10301, 26};

TEST(SerialLine, HexLineOfH10301RebuildsThePublicVector) {
  // FC 101 / CN 251: data bits 0x6500FB, frame 0x0CA01F6 (shared/protocols/wiegand.md).
  Result<Frame> f = FrameFromSerialLine("6500FB", kHex26);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(*f, (Frame{26, 0x0CA01F6}));
  EXPECT_EQ(*FrameFromSerialLine("650A20", kHex26), (Frame{26, 0x0CA1440}));
  EXPECT_EQ(*FrameFromSerialLine("ffffff", kHex26), (Frame{26, 0x1FFFFFF}));
  EXPECT_EQ(*FrameFromSerialLine("000000", kHex26), (Frame{26, 0x0000001}));
}

TEST(SerialLine, DecimalLineCarriesTheSameDataBits) {
  EXPECT_EQ(*FrameFromSerialLine("0006619387", kDec26), (Frame{26, 0x0CA01F6}));
  EXPECT_FALSE(FrameFromSerialLine("6619387", kDec26).ok()) << "10 digits";
}

TEST(SerialLine, RoundTripsEveryFormat) {
  for (CardFormat f : {CardFormat::kH10301, CardFormat::kH10306, CardFormat::kH10302,
                       CardFormat::kH10304, CardFormat::kC1k35, CardFormat::kC1k48}) {
    Result<Frame> frame = EncodeCard(f, MaxFacility(f) / 3, MaxNumber(f) / 7);
    ASSERT_TRUE(frame.ok()) << CardFormatName(f);
    SerialFormat fmt{SerialLineFormat::kHex, f, 0};
    Result<std::string> line = SerialLineFromFrame(*frame, fmt);
    ASSERT_TRUE(line.ok()) << line.status().ToString();
    EXPECT_EQ(*FrameFromSerialLine(*line, fmt), *frame) << CardFormatName(f) << " " << *line;
  }
  EXPECT_EQ(*SerialLineFromFrame({26, 0x0CA01F6}, kDec26), "0006619387");
}

TEST(SerialLine, RejectsGarbageWithAPrintableReason) {
  Result<Frame> f = FrameFromSerialLine(
      "65\x01"
      "0FB",
      kHex26);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "serial line \"65?0FB\": not a hex digit");
  EXPECT_FALSE(FrameFromSerialLine("1000000", kHex26).ok()) << "wider than 24 data bits";
  EXPECT_FALSE(FrameFromSerialLine("", kHex26).ok());
}

TEST(SerialSource, ReadsLinesFromAPseudoTerminal) {
  int master = -1, slave = -1;
  char name[128];
  ASSERT_EQ(openpty(&master, &slave, name, nullptr, nullptr), 0);
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  std::vector<Frame> frames;
  std::vector<std::string> errors;
  auto source = SerialSource::Open(
      **loop, {name, 9600, kHex26}, [&](const Frame& f) { frames.push_back(f); },
      [&](const Status& s) { errors.push_back(s.message()); });
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  std::string input =
      "6500FB\r"
      "ZZ\r\n" +
      std::string(100, '7') + "\r" + "650A20\r\n";
  // Split across writes: a line may arrive in pieces.
  ASSERT_EQ(write(master, input.data(), 10), 10);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*loop)->RunOnce(std::chrono::milliseconds(5)).ok());
  ASSERT_EQ(write(master, input.data() + 10, input.size() - 10),
            static_cast<ssize_t>(input.size() - 10));
  for (int i = 0; i < 50 && frames.size() < 2; ++i) {
    ASSERT_TRUE((*loop)->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  EXPECT_EQ(frames, (std::vector<Frame>{{26, 0x0CA01F6}, {26, 0x0CA1440}}));
  EXPECT_EQ((*source)->counters().bad_lines, 1u);
  EXPECT_EQ((*source)->counters().overlong, 1u);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("not a hex digit"), std::string::npos) << errors[0];
  source->reset();
  close(master);
  close(slave);
}

TEST(SerialSource, AConverterThatGoesAwayIsReportedOnceAndNoLongerWatched) {
  int master = -1, slave = -1;
  char name[128];
  ASSERT_EQ(openpty(&master, &slave, name, nullptr, nullptr), 0);
  close(slave);  // the source opens the device by name, as it would /dev/ttyUSB0
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  std::vector<Frame> frames;
  std::vector<Status> errors;
  auto source = SerialSource::Open(
      **loop, {name, 9600, kHex26}, [&](const Frame& f) { frames.push_back(f); },
      [&](const Status& s) { errors.push_back(s); });
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_EQ(write(master, "6500FB\r", 7), 7);
  for (int i = 0; i < 50 && frames.empty(); ++i) {
    ASSERT_TRUE((*loop)->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  ASSERT_EQ(frames.size(), 1u);
  close(master);  // unplugged: the slave now reads EIO, and epoll keeps saying so
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*loop)->RunOnce(std::chrono::milliseconds(5)).ok());
  ASSERT_EQ(errors.size(), 1u) << "reported once, not once per loop turn";
  EXPECT_EQ(errors[0].code(), StatusCode::kIoError);
  EXPECT_NE(errors[0].message().find(std::string(name) + ": device gone"), std::string::npos)
      << errors[0].message();
  EXPECT_TRUE((*source)->failed());
  EXPECT_EQ((*source)->counters().hangups, 1u);
  source->reset();
}

TEST(SerialSource, MissingDeviceIsAClearError) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  auto s = SerialSource::Open(**loop, {"/dev/ttyNOPE9", 9600, kHex26}, nullptr, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "/dev/ttyNOPE9: cannot open: No such file or directory");
  EXPECT_FALSE(SerialSource::Open(**loop, {"/dev/null", 1234, kHex26}, nullptr, nullptr).ok());
}

}  // namespace
}  // namespace lintel::wiegand
