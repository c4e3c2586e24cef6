// readers[]: type and the wiegand hardware binding, with every problem at its line and column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace lintel::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Lines 1-9; the readers a test appends start at line 10.
constexpr const char kHead[] =
    "site: {id: s, time_zone: UTC}\n"
    "gateway: {id: g}\n"
    "store: {path: l.db}\n"
    "policy:\n"
    "  pin: {min_length: 4, max_length: 6}\n"
    "doors:\n"
    "  - id: front\n"
    "  - id: garage\n"
    "readers:\n";

std::vector<std::string> Problems(const std::string& readers) {
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigText(kHead + readers, "t.yaml", &problems);
  EXPECT_FALSE(r.ok()) << "expected problems in:\n" << readers;
  std::vector<std::string> out;
  for (const ConfigProblem& p : problems) {
    out.push_back(std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + p.message);
  }
  return out;
}

Config Load(const std::string& readers) {
  Result<Config> r = LoadConfigText(kHead + readers, "t.yaml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Config{};
}

TEST(ReaderConfig, ReadsEveryWiegandKey) {
  Config c = Load(
      "  - id: front-keypad\n"
      "    door: front\n"
      "    keypad: true\n"
      "    type: wiegand\n"
      "    wiegand:\n"
      "      formats: [c1k35, h10301, raw]\n"
      "      gpio: {chip: gpiochip1, d0: 17, d1: 18}\n"
      "      keys: 8bit\n"
      "      pin_burst: true\n"
      "      key_map: star_hash_swapped\n"
      "      silence_ms: 40\n"
      "      early_close: false\n"
      "      pin_timeout_s: 9\n"
      "      feedback: {chip: gpiochip1, green: 22, beeper: 24, active_low: true}\n"
      "  - id: garage-card\n"
      "    door: garage\n"
      "    type: wiegand\n"
      "    wiegand:\n"
      "      formats: [h10304]\n"
      "      serial: {device: /dev/ttyUSB0, baud: 19200, line_format: decimal10}\n"
      "  - id: demo\n"
      "    door: front\n"
      "    type: wiegand\n"
      "    wiegand:\n"
      "      replay: {socket: /run/lintel/demo.wiegand}\n"
      "  - id: virtual\n"
      "    door: front\n");
  ASSERT_EQ(c.readers.size(), 4u);
  const ReaderConfig& k = c.readers[0];
  EXPECT_EQ(k.type, "wiegand");
  ASSERT_TRUE(k.wiegand);
  const WiegandConfig& w = *k.wiegand;
  EXPECT_EQ(w.formats, (std::vector<wiegand::CardFormat>{wiegand::CardFormat::kC1k35,
                                                         wiegand::CardFormat::kH10301,
                                                         wiegand::CardFormat::kRaw}));
  EXPECT_EQ(w.source, WiegandSource::kGpio);
  EXPECT_EQ(w.gpio_chip, "gpiochip1");
  EXPECT_EQ(w.d0, 17);
  EXPECT_EQ(w.d1, 18);
  EXPECT_EQ(w.keys, WiegandKeys::k8Bit);
  EXPECT_TRUE(w.pin_burst);
  EXPECT_TRUE(w.star_hash_swapped);
  EXPECT_EQ(w.silence_ms, 40);
  EXPECT_FALSE(w.early_close);
  EXPECT_EQ(w.pin_timeout_s, 9);
  EXPECT_EQ(w.feedback.chip, "gpiochip1");
  EXPECT_EQ(w.feedback.green, 22);
  EXPECT_EQ(w.feedback.red, -1);
  EXPECT_EQ(w.feedback.beeper, 24);
  EXPECT_TRUE(w.feedback.active_low);

  const WiegandConfig& g = *c.readers[1].wiegand;
  EXPECT_EQ(g.source, WiegandSource::kSerial);
  EXPECT_EQ(g.serial_device, "/dev/ttyUSB0");
  EXPECT_EQ(g.baud, 19200);
  EXPECT_EQ(g.line_format, SerialLineFormat::kDecimal10);
  EXPECT_EQ(g.keys, WiegandKeys::kNone) << "not a keypad";

  const WiegandConfig& d = *c.readers[2].wiegand;
  EXPECT_EQ(d.source, WiegandSource::kReplay);
  EXPECT_EQ(d.replay_socket, "/run/lintel/demo.wiegand");
  EXPECT_EQ(d.formats, std::vector<wiegand::CardFormat>{wiegand::CardFormat::kH10301})
      << "the default format";
  EXPECT_EQ(d.silence_ms, 25);
  EXPECT_TRUE(d.early_close);
  EXPECT_EQ(d.pin_timeout_s, 5);
  EXPECT_FALSE(d.feedback.any());

  EXPECT_TRUE(c.readers[3].type.empty()) << "a reader without a driver";
  EXPECT_FALSE(c.readers[3].wiegand);
  EXPECT_THAT(Summarize(c), HasSubstr("front-keypad -> front (keypad, wiegand gpio gpiochip1 "
                                      "17/18, c1k35/h10301/raw, keys 8bit, PIN burst, feedback)"));
}

TEST(ReaderConfig, AKeypadSendsFourBitKeysUnlessToldOtherwise) {
  Config c = Load(
      "  - id: k\n"
      "    door: front\n"
      "    keypad: true\n"
      "    type: wiegand\n"
      "    wiegand: {replay: {socket: /tmp/k.sock}}\n");
  EXPECT_EQ(c.readers[0].wiegand->keys, WiegandKeys::k4Bit);
}

TEST(ReaderConfig, ReportsUnknownAndRepeatedFormatsAtTheirItem) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      formats: [h10301, hid26, h10301]\n"
                       "      replay: {socket: /tmp/r.sock}\n"),
              ElementsAre(HasSubstr("14:25: unknown card format \"hid26\" in reader \"r\""),
                          "14:32: card format \"h10301\" is listed twice"));
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      formats: []\n"
                       "      replay: {socket: /tmp/r.sock}\n"),
              ElementsAre(HasSubstr("14:16: wiegand.formats must be a list of card formats")));
}

TEST(ReaderConfig, RefusesH10302AndH10304OnOneReader) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      formats: [h10302, h10304]\n"
                       "      replay: {socket: /tmp/r.sock}\n"),
              ElementsAre(HasSubstr("14:17: formats lists both h10302 and h10304")));
}

TEST(ReaderConfig, NeedsExactlyOneSource) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      formats: [h10301]\n"),
              ElementsAre("14:7: reader \"r\" needs exactly one of gpio, serial or replay under "
                          "wiegand (where its frames come from), got 0"));
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      gpio: {d0: 1, d1: 2}\n"
                       "      replay: {socket: /tmp/r.sock}\n"),
              ElementsAre(HasSubstr("14:7: reader \"r\" needs exactly one of gpio, serial or "
                                    "replay under wiegand (where its frames come from), got 2")));
}

TEST(ReaderConfig, ASerialConverterNamesOneFormatAndRawNeedsBits) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      formats: [h10301, c1k35]\n"
                       "      serial: {device: /dev/ttyUSB0}\n"),
              ElementsAre(HasSubstr("14:17: a serial converter prints the data bits of one card "
                                    "format")));
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      formats: [raw]\n"
                       "      serial: {device: /dev/ttyUSB0, baud: 9601}\n"),
              ElementsAre(HasSubstr("15:15: serial.bits is required with formats [raw]"),
                          HasSubstr("15:44: serial.baud must be one of 1200, 2400")));
  Config c = Load(
      "  - id: r\n"
      "    door: front\n"
      "    type: wiegand\n"
      "    wiegand:\n"
      "      formats: [raw]\n"
      "      serial: {device: /dev/ttyUSB0, bits: 32}\n");
  EXPECT_EQ(c.readers[0].wiegand->raw_bits, 32);
}

TEST(ReaderConfig, KeysCannotComeThroughASerialConverter) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    keypad: true\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      serial: {device: /dev/ttyUSB0}\n"
                       "      keys: 8bit\n"),
              ElementsAre(HasSubstr("16:13: keys 8bit cannot come through a serial converter")));
  Config c = Load(
      "  - id: r\n"
      "    door: front\n"
      "    keypad: true\n"
      "    type: wiegand\n"
      "    wiegand: {serial: {device: /dev/ttyUSB0}, pin_burst: true}\n");
  EXPECT_EQ(c.readers[0].wiegand->keys, WiegandKeys::kNone);
  EXPECT_TRUE(c.readers[0].wiegand->pin_burst);
}

TEST(ReaderConfig, KeysNeedAKeypadReader) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      replay: {socket: /tmp/r.sock}\n"
                       "      keys: 4bit\n"),
              ElementsAre(HasSubstr("15:13: reader \"r\" sends keys or PINs but is not a keypad")));
}

TEST(ReaderConfig, ReportsHardwareUsedTwiceWithThePositionOfTheFirstUse) {
  EXPECT_THAT(Problems("  - id: a\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      gpio: {d0: 17, d1: 18}\n"
                       "      feedback: {green: 17}\n"
                       "  - id: b\n"
                       "    door: garage\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      replay: {socket: /tmp/x.sock}\n"
                       "  - id: c\n"
                       "    door: garage\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      replay: {socket: /tmp/x.sock}\n"),
              ElementsAre("15:25: gpio gpiochip0 line 17 is already used by reader \"a\" (at "
                          "14:18)",
                          "25:24: replay socket /tmp/x.sock is already used by reader \"b\" (at "
                          "20:24)"));
}

TEST(ReaderConfig, TypeAndSectionGoTogether) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"),
              ElementsAre("12:11: reader \"r\" is type wiegand but has no wiegand section "
                          "(formats and one of gpio, serial or replay)"));
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    wiegand: {replay: {socket: /tmp/r.sock}}\n"),
              ElementsAre("12:14: reader \"r\" has a wiegand section but no type: wiegand"));
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: osdp\n"),
              ElementsAre("12:11: type must be one of wiegand, got \"osdp\""));
}

TEST(ReaderConfig, ReportsUnknownKeysAndRangesInTheWiegandSection) {
  EXPECT_THAT(Problems("  - id: r\n"
                       "    door: front\n"
                       "    type: wiegand\n"
                       "    wiegand:\n"
                       "      replay: {socket: /tmp/r.sock}\n"
                       "      silence: 30\n"
                       "      pin_timeout_s: 0\n"
                       "      feedback: {active_low: true}\n"),
              ElementsAre(HasSubstr("15:7: unknown key \"silence\" in wiegand (did you mean "
                                    "\"silence_ms\"?)"),
                          HasSubstr("16:22: wiegand.pin_timeout_s must be an integer between 1 "
                                    "and 60, got 0"),
                          HasSubstr("17:17: feedback names no output")));
}

TEST(ReaderConfig, EqualityNoticesAnyChange) {
  Config a = Load(
      "  - id: r\n"
      "    door: front\n"
      "    type: wiegand\n"
      "    wiegand: {replay: {socket: /tmp/r.sock}}\n");
  Config b = a;
  EXPECT_EQ(a.readers[0], b.readers[0]);
  b.readers[0].wiegand->silence_ms = 30;
  EXPECT_NE(a.readers[0], b.readers[0]);
}

}  // namespace
}  // namespace lintel::config
