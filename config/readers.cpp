// The readers section and each reader's Wiegand binding.
#include <algorithm>
#include <iterator>

#include "config/loader.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kReaderKeys[] = {"id", "door", "keypad", "type", "wiegand"};
constexpr std::string_view kReaderTypes[] = {"wiegand"};
constexpr std::string_view kWiegandKeys[] = {
    "formats", "gpio",       "serial",      "replay",        "keys",    "pin_burst",
    "key_map", "silence_ms", "early_close", "pin_timeout_s", "feedback"};
constexpr std::string_view kGpioKeys[] = {"chip", "d0", "d1"};
constexpr std::string_view kSerialKeys[] = {"device", "baud", "line_format", "bits"};
constexpr std::string_view kReplayKeys[] = {"socket"};
constexpr std::string_view kFeedbackKeys[] = {"chip", "green", "red", "beeper", "active_low"};
constexpr std::string_view kWiegandKeyModes[] = {"4bit", "8bit", "none"};
constexpr std::string_view kKeyMaps[] = {"default", "star_hash_swapped"};
constexpr std::string_view kLineFormats[] = {"hex", "decimal10"};
constexpr std::string_view kFormatsExpected =
    "a list of card formats from h10301, h10306, h10302, h10304, c1k35, c1k48, raw";
constexpr std::string_view kChipExpected =
    "a GPIO chip name, number, label or path such as gpiochip0";
constexpr int32_t kMaxGpioLine = 1023;

void ParseWiegand(Loader& l, MapWalker& w, const std::string& reader, bool keypad,
                  WiegandConfig& wg) {
  std::optional<Pos> formats_pos;
  if (auto list = w.ScalarList("formats", Need::kOptional, kFormatsExpected)) {
    formats_pos = list->front().pos;
    wg.formats.clear();
    for (const Field<std::string>& f : *list) {
      Result<wiegand::CardFormat> format = wiegand::ParseCardFormat(f.value);
      if (!format.ok()) {
        l.problems.Add(f.pos, "unknown card format " + Quote(f.value) + " in " + reader +
                                  " (expected h10301, h10306, h10302, h10304, c1k35, c1k48 or "
                                  "raw)");
      } else if (std::find(wg.formats.begin(), wg.formats.end(), *format) != wg.formats.end()) {
        l.problems.Add(f.pos, "card format " + Quote(f.value) + " is listed twice");
      } else {
        wg.formats.push_back(*format);
      }
    }
    bool h10302 = std::find(wg.formats.begin(), wg.formats.end(), wiegand::CardFormat::kH10302) !=
                  wg.formats.end();
    bool h10304 = std::find(wg.formats.begin(), wg.formats.end(), wiegand::CardFormat::kH10304) !=
                  wg.formats.end();
    if (h10302 && h10304) {
      l.problems.Add(*formats_pos,
                     "formats lists both h10302 and h10304: both are 37 bits with the same "
                     "parity, so a frame cannot say which it is; keep the one the reader sends");
    }
  }

  int sources = 0;
  std::optional<Pos> serial_pos;
  bool serial_bits = false;
  w.Mapping("gpio", Need::kOptional, kGpioKeys, [&](MapWalker& g) {
    ++sources;
    wg.source = WiegandSource::kGpio;
    if (auto v = g.String("chip", Need::kOptional, kChipExpected)) wg.gpio_chip = v->value;
    auto d0 = g.Int("d0", Need::kRequired, 0, kMaxGpioLine);
    auto d1 = g.Int("d1", Need::kRequired, 0, kMaxGpioLine);
    if (d0) {
      wg.d0 = d0->value;
      Claim(l, "gpio " + wg.gpio_chip + " line " + std::to_string(d0->value), reader, d0->pos);
    }
    if (d1) {
      wg.d1 = d1->value;
      Claim(l, "gpio " + wg.gpio_chip + " line " + std::to_string(d1->value), reader, d1->pos);
    }
  });
  w.Mapping("serial", Need::kOptional, kSerialKeys, [&](MapWalker& ser) {
    ++sources;
    serial_pos = ser.pos();
    wg.source = WiegandSource::kSerial;
    if (auto v = ser.String("device", Need::kRequired, kPathExpected)) {
      wg.serial_device = v->value;
      Claim(l, "serial device " + v->value, reader, v->pos);
    }
    if (auto v = ser.Int("baud", Need::kOptional, 1200, 115200,
                         " (1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200)")) {
      if (std::find(std::begin(kBauds), std::end(kBauds), v->value) == std::end(kBauds)) {
        l.problems.Add(v->pos,
                       "serial.baud must be one of 1200, 2400, 4800, 9600, 19200, 38400, "
                       "57600, 115200, got " +
                           std::to_string(v->value));
      } else {
        wg.baud = v->value;
      }
    }
    if (auto v = ser.OneOf("line_format", Need::kOptional, kLineFormats)) {
      wg.line_format =
          v->value == "decimal10" ? SerialLineFormat::kDecimal10 : SerialLineFormat::kHex;
    }
    if (auto v = ser.Int("bits", Need::kOptional, 1, 64, " (the frame length of a raw reader)")) {
      wg.raw_bits = v->value;
      serial_bits = true;
    }
  });
  w.Mapping("replay", Need::kOptional, kReplayKeys, [&](MapWalker& r) {
    ++sources;
    wg.source = WiegandSource::kReplay;
    if (auto v = r.String("socket", Need::kRequired, kPathExpected)) {
      if (v->value.size() > kMaxSocketPathBytes) {
        l.problems.Add(v->pos, "replay.socket must be a path of at most " +
                                   std::to_string(kMaxSocketPathBytes) + " bytes, got " +
                                   std::to_string(v->value.size()) + " bytes");
      } else {
        wg.replay_socket = v->value;
        Claim(l, "replay socket " + v->value, reader, v->pos);
      }
    }
  });
  if (sources != 1) {
    l.problems.Add(w.pos(), reader +
                                " needs exactly one of gpio, serial or replay under "
                                "wiegand (where its frames come from), got " +
                                std::to_string(sources));
  }
  if (serial_pos && sources == 1) {
    bool raw = wg.formats.size() == 1 && wg.formats[0] == wiegand::CardFormat::kRaw;
    if (wg.formats.size() != 1) {
      l.problems.Add(formats_pos.value_or(*serial_pos),
                     "a serial converter prints the data bits of one card format: formats must "
                     "name exactly one for " +
                         reader);
    } else if (raw && !serial_bits) {
      l.problems.Add(*serial_pos,
                     "serial.bits is required with formats [raw] (the frame length "
                     "the converter's reader sends)");
    } else if (!raw && serial_bits) {
      l.problems.Add(*serial_pos, "serial.bits only applies to formats [raw]; the length of " +
                                      std::string(wiegand::CardFormatName(wg.formats[0])) +
                                      " is fixed");
    }
  }

  std::optional<Pos> keys_pos;
  bool keys_set = false;
  if (auto v = w.OneOf("keys", Need::kOptional, kWiegandKeyModes)) {
    keys_set = true;
    keys_pos = v->pos;
    wg.keys = v->value == "4bit"   ? WiegandKeys::k4Bit
              : v->value == "8bit" ? WiegandKeys::k8Bit
                                   : WiegandKeys::kNone;
  }
  std::optional<Pos> burst_pos;
  if (auto v = w.Bool("pin_burst", Need::kOptional)) {
    wg.pin_burst = v->value;
    if (v->value) burst_pos = v->pos;
  }
  if (keypad && !keys_set && !serial_pos) wg.keys = WiegandKeys::k4Bit;
  if (serial_pos && wg.keys != WiegandKeys::kNone) {
    l.problems.Add(*keys_pos, "keys " + std::string(WiegandKeysName(wg.keys)) +
                                  " cannot come through a serial converter (it prints card "
                                  "frames only); a keypad behind one sends pin_burst");
  }
  if (!keypad && (wg.keys != WiegandKeys::kNone || burst_pos)) {
    l.problems.Add(keys_pos.value_or(burst_pos.value_or(w.pos())),
                   reader +
                       " sends keys or PINs but is not a keypad: set keypad: true (so the "
                       "keypad lockout applies) or remove the setting");
  }
  if (auto v = w.OneOf("key_map", Need::kOptional, kKeyMaps)) {
    wg.star_hash_swapped = v->value == "star_hash_swapped";
  }
  if (auto v = w.Int("silence_ms", Need::kOptional, 5, 500)) wg.silence_ms = v->value;
  if (auto v = w.Bool("early_close", Need::kOptional)) wg.early_close = v->value;
  if (auto v = w.Int("pin_timeout_s", Need::kOptional, 1, 60)) wg.pin_timeout_s = v->value;
  w.Mapping("feedback", Need::kOptional, kFeedbackKeys, [&](MapWalker& f) {
    WiegandFeedbackConfig& fb = wg.feedback;
    if (auto v = f.String("chip", Need::kOptional, kChipExpected)) fb.chip = v->value;
    for (auto [key, out] : {std::pair<std::string_view, int32_t*>{"green", &fb.green},
                            {"red", &fb.red},
                            {"beeper", &fb.beeper}}) {
      if (auto v = f.Int(key, Need::kOptional, 0, kMaxGpioLine)) {
        *out = v->value;
        Claim(l, "gpio " + fb.chip + " line " + std::to_string(v->value), reader, v->pos);
      }
    }
    if (auto v = f.Bool("active_low", Need::kOptional)) fb.active_low = v->value;
    if (!fb.any()) {
      l.problems.Add(f.pos(),
                     "feedback names no output: give at least one of green, red, beeper "
                     "(the GPIO line of the reader's LED or beeper input)");
    }
  });
}

void ParseReader(Loader& l, MapWalker& w) {
  ReaderConfig reader;
  if (auto id = w.Id("id", Need::kRequired)) {
    reader.id = id->value;
    CheckUnique(l, l.reader_ids, "reader id", *id);
  }
  if (auto door = w.Id("door", Need::kRequired)) {
    reader.door = door->value;
    l.door_refs.push_back({w.name(), door->value, door->pos});
  }
  if (auto v = w.Bool("keypad", Need::kOptional)) reader.keypad = v->value;
  std::optional<Pos> type_pos;
  if (auto v = w.OneOf("type", Need::kOptional, kReaderTypes)) {
    reader.type = v->value;
    type_pos = v->pos;
  }
  bool has_wiegand = w.Has("wiegand");
  w.Mapping("wiegand", Need::kOptional, kWiegandKeys, [&](MapWalker& wg) {
    reader.wiegand.emplace();
    ParseWiegand(l, wg, w.name(), reader.keypad, *reader.wiegand);
    if (reader.type != "wiegand" && !w.Has("type")) {
      l.problems.Add(wg.pos(), w.name() + " has a wiegand section but no type: wiegand");
    }
  });
  if (reader.type == "wiegand" && !has_wiegand) {
    l.problems.Add(*type_pos, w.name() +
                                  " is type wiegand but has no wiegand section (formats "
                                  "and one of gpio, serial or replay)");
  }
  l.config.readers.push_back(std::move(reader));
}

}  // namespace

constinit const SectionSpec kReadersSection = {
    "readers", Need::kOptional, Shape::kList, kReaderKeys, ParseReader, "reader", "id"};

}  // namespace lintel::config::internal

namespace lintel::config {

std::string_view WiegandSourceName(WiegandSource source) {
  switch (source) {
    case WiegandSource::kGpio:
      return "gpio";
    case WiegandSource::kSerial:
      return "serial";
    case WiegandSource::kReplay:
      return "replay";
  }
  return "replay";
}

std::string_view WiegandKeysName(WiegandKeys keys) {
  switch (keys) {
    case WiegandKeys::kNone:
      return "none";
    case WiegandKeys::k4Bit:
      return "4bit";
    case WiegandKeys::k8Bit:
      return "8bit";
  }
  return "none";
}

std::string_view SerialLineFormatName(SerialLineFormat f) {
  return f == SerialLineFormat::kDecimal10 ? "decimal10" : "hex";
}

}  // namespace lintel::config
