#include "gateway/devices/wiegand_driver.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <optional>
#include <vector>

#include "drivers/wiegand/feedback.h"
#include "drivers/wiegand/gpio_source.h"
#include "drivers/wiegand/reader.h"
#include "drivers/wiegand/replay_source.h"
#include "drivers/wiegand/serial_line.h"
#include "gateway/base/log.h"
#include "rules/presented.h"

namespace lintel::devices {

namespace {

using nlohmann::json;
using std::chrono::nanoseconds;

constexpr std::string_view kComponent = "wiegand";
constexpr int64_t kMinuteNs = 60'000'000'000;
constexpr std::chrono::milliseconds kMaxBackoff{60'000};

// A card as the engine's presentation: fixed formats by name; raw frames as a UID of
// ceil(bits / 4) hex digits (leading zeros kept: the cloud stores such cards with as many digits).
rules::Presented ToPresented(const wiegand::CardRead& card, int bits) {
  if (card.format == wiegand::CardFormat::kRaw) {
    char hex[17];
    int digits = std::clamp((bits + 3) / 4, 1, 16);
    std::snprintf(hex, sizeof hex, "%0*llX", digits, static_cast<unsigned long long>(card.number));
    return rules::UidPresented(hex);
  }
  rules::Presented p;
  p.kind = rules::PresentedKind::kCard;
  p.format = rules::ParseCardFormat(wiegand::CardFormatName(card.format))
                 .value_or(rules::CardFormat::kH10301);
  p.facility = static_cast<uint32_t>(card.facility.value_or(0));
  p.number = card.number;
  return p;
}

wiegand::ReaderConfig MakeReaderConfig(const config::WiegandConfig& w,
                                       const rules::Policy& policy) {
  wiegand::ReaderConfig rc;
  rc.frames.silence_ns = int64_t{w.silence_ms} * 1'000'000;
  rc.frames.early_close = w.early_close;
  rc.profile.accepted = w.formats;
  rc.profile.keys_4bit = w.keys == config::WiegandKeys::k4Bit;
  rc.profile.keys_8bit = w.keys == config::WiegandKeys::k8Bit;
  rc.profile.pin_burst = w.pin_burst;
  rc.profile.key_map =
      w.star_hash_swapped ? wiegand::KeyMap::StarHashSwapped() : wiegand::KeyMap::Default();
  rc.pin.inter_key_timeout_ns = int64_t{w.pin_timeout_s} * 1'000'000'000;
  rc.pin.min_length = static_cast<size_t>(policy.pin_min_length);
  rc.pin.max_length = static_cast<size_t>(policy.pin_max_length);
  return rc;
}

std::string SourceText(const config::WiegandConfig& w) {
  switch (w.source) {
    case config::WiegandSource::kGpio:
      return "gpio " + w.gpio_chip + " d0 " + std::to_string(w.d0) + " d1 " + std::to_string(w.d1);
    case config::WiegandSource::kSerial:
      return "serial " + w.serial_device + " " + std::to_string(w.baud) + " " +
             std::string(config::SerialLineFormatName(w.line_format));
    case config::WiegandSource::kReplay:
      return "replay " + w.replay_socket;
  }
  return "";
}

Result<std::unique_ptr<wiegand::Output>> OpenGpioOutput(const wiegand::GpioOutputConfig& line) {
  auto o = wiegand::GpioOutput::Open(line);
  if (!o.ok()) return o.status();
  return std::unique_ptr<wiegand::Output>(std::move(*o));
}

class WiegandDriver final : public ReaderDriver {
 public:
  WiegandDriver(const ReaderContext& context, const config::ReaderConfig& reader,
                const rules::Policy& policy)
      : context_(context),
        id_(reader.id),
        door_(reader.door),
        config_(*reader.wiegand),
        reader_(context.loop, context.clock, MakeReaderConfig(*reader.wiegand, policy),
                [this](const wiegand::ReaderEvent& e) { OnEvent(e); }) {
    OpenFeedback();
    OpenSource();
  }

  ~WiegandDriver() override {
    *alive_ = false;
    if (retry_) context_.loop.CancelTimer(*retry_);
    if (feedback_) feedback_->Stop();
    // Sources go before the reader they feed (members are destroyed in reverse order anyway;
    // explicit here because the reader's callbacks point into this object).
    edges_.reset();
    serial_.reset();
  }

  json Status() const override {
    const wiegand::ReaderCounters& c = reader_.counters();
    const wiegand::FrameCounters& f = reader_.frame_counters();
    json s = {{"type", "wiegand"},
              {"door", door_},
              {"source", SourceText(config_)},
              {"state", running() ? "running" : "failed"},
              {"granted", granted_},
              {"denied", denied_},
              {"cards", c.cards},
              {"pins", c.pins},
              {"frames", {{"closed", f.frames}, {"early", f.early}}},
              {"noise",
               {{"bad_parity", c.bad_parity},
                {"bad_key", c.bad_key},
                {"unknown_length", c.unknown_length},
                {"too_short", f.too_short},
                {"too_long", f.too_long},
                {"glitch", f.glitch},
                {"overlap", f.overlap},
                {"pin_too_short", c.pin_too_short},
                {"pin_too_long", c.pin_too_long},
                {"pin_timeout", c.pin_timeout}}},
              {"source_errors", source_errors_}};
    if (!running()) s["error"] = last_error_;
    if (last_decision_us_) s["last_decision_us"] = *last_decision_us_;
    if (config_.feedback.any()) {
      s["feedback"] = feedback_ ? json("ok") : json(feedback_error_);
    }
    return s;
  }

  json LastFrames(size_t n) const override {
    json formats = json::array();
    for (wiegand::CardFormat f : config_.formats) formats.push_back(wiegand::CardFormatName(f));
    const std::deque<wiegand::SeenFrame>& seen = reader_.recent();
    int64_t now =
        std::chrono::duration_cast<nanoseconds>(context_.clock.Monotonic().time_since_epoch())
            .count();
    json frames = json::array();
    for (size_t i = seen.size() - std::min(n, seen.size()); i < seen.size(); ++i) {
      const wiegand::SeenFrame& f = seen[i];
      json j = {{"at", FormatRfc3339(f.wall)},
                {"ago_ms", static_cast<double>(now - f.t_ns) / 1e6},
                {"bits", f.bits},
                {"keypad", f.keypad},
                {"what", f.what}};
      if (f.bits == 0) j["edges"] = f.edges;
      if (f.frame) {
        j["value"] = wiegand::FrameHex(*f.frame);
        json candidates = json::array();
        for (const wiegand::CardRead& c : wiegand::Candidates(*f.frame)) {
          candidates.push_back(CardJson(c));
        }
        j["candidates"] = std::move(candidates);
      }
      j["chosen"] = f.chosen ? CardJson(*f.chosen) : json(nullptr);
      frames.push_back(std::move(j));
    }
    return {{"formats", formats}, {"frames", frames}};
  }

 private:
  static json CardJson(const wiegand::CardRead& c) {
    return {{"format", wiegand::CardFormatName(c.format)},
            {"facility", c.facility ? json(*c.facility) : json(nullptr)},
            {"number", c.number},
            {"parity_ok", c.parity_ok}};
  }

  bool running() const { return edges_ != nullptr || serial_ != nullptr; }

  void OpenSource() {
    retry_.reset();
    auto on_edges = [this](std::span<const wiegand::Edge> e) { reader_.OnEdges(e); };
    auto on_error = [this](const lintel::Status& s) { OnSourceError(s); };
    lintel::Status st;
    switch (config_.source) {
      case config::WiegandSource::kGpio: {
        wiegand::GpioEdgeConfig g;
        g.chip = config_.gpio_chip;
        g.d0_offset = static_cast<unsigned>(config_.d0);
        g.d1_offset = static_cast<unsigned>(config_.d1);
        auto s = wiegand::GpioEdgeSource::Open(context_.loop, g, on_edges, on_error);
        if (s.ok()) edges_ = std::move(*s);
        st = s.status();
        break;
      }
      case config::WiegandSource::kSerial: {
        wiegand::SerialPortConfig p;
        p.device = config_.serial_device;
        p.baud = config_.baud;
        p.format.line = config_.line_format == config::SerialLineFormat::kDecimal10
                            ? wiegand::SerialLineFormat::kDecimal10
                            : wiegand::SerialLineFormat::kHex;
        p.format.card = config_.formats.front();
        p.format.raw_bits = config_.raw_bits;
        auto s = wiegand::SerialSource::Open(
            context_.loop, p, [this](const wiegand::Frame& f) { reader_.OnFrame(f); }, on_error);
        if (s.ok()) serial_ = std::move(*s);
        st = s.status();
        break;
      }
      case config::WiegandSource::kReplay: {
        auto s = wiegand::ReplayEdgeSource::Open(context_.loop, context_.clock,
                                                 {config_.replay_socket, 0600}, on_edges, on_error);
        if (s.ok()) edges_ = std::move(*s);
        st = s.status();
        break;
      }
    }
    if (st.ok()) {
      LogInfo(kComponent,
              "reader " + id_ + " (door " + door_ + "): reading from " + SourceText(config_));
      if (config_.source == config::WiegandSource::kReplay && last_error_.empty() && !warned_) {
        warned_ = true;
        LogWarning(kComponent, "reader " + id_ +
                                   " takes edge timings from a replay socket (for demos and "
                                   "tests): whoever can write to it presents credentials");
      }
      last_error_.clear();
      backoff_ = context_.retry_after;
      return;
    }
    if (st.message() != last_error_) {  // one line per distinct failure, not one per retry
      LogError(kComponent, "reader " + id_ + ": cannot open its source (retrying in " +
                               std::to_string(backoff_.count()) + " ms, backing off to " +
                               std::to_string(kMaxBackoff.count()) + " ms): " + st.ToString());
    }
    last_error_ = st.message();
    ScheduleRetry();
  }

  // The next attempt after the current backoff, which then doubles up to kMaxBackoff.
  void ScheduleRetry() {
    retry_ = context_.loop.AddTimer(backoff_, [this] { OpenSource(); });
    backoff_ = std::min(backoff_ * 2, std::max(kMaxBackoff, context_.retry_after));
  }

  void OpenFeedback() {
    const config::WiegandFeedbackConfig& fb = config_.feedback;
    if (!fb.any()) return;
    wiegand::FeedbackOutputs outs;
    for (auto [offset, slot] : {std::pair<int32_t, wiegand::Output**>{fb.green, &outs.green},
                                {fb.red, &outs.red},
                                {fb.beeper, &outs.beeper}}) {
      if (offset < 0) continue;
      wiegand::GpioOutputConfig line{fb.chip, static_cast<unsigned>(offset), fb.active_low,
                                     "lintel"};
      Result<std::unique_ptr<wiegand::Output>> o =
          context_.open_output ? context_.open_output(line) : OpenGpioOutput(line);
      if (!o.ok()) {
        feedback_error_ = o.status().message();
        LogError(kComponent, "reader " + id_ +
                                 ": feedback outputs unavailable, the reader works "
                                 "without LED and beeper: " +
                                 o.status().ToString());
        outputs_.clear();
        return;
      }
      *slot = o->get();
      outputs_.push_back(std::move(*o));
    }
    feedback_ = std::make_unique<wiegand::Feedback>(
        context_.loop, outs,
        [this](const lintel::Status& s) { Noted("feedback output failed: " + s.ToString()); });
  }

  void OnSourceError(const lintel::Status& s) {
    ++source_errors_;
    Noted("source: " + s.message());
    if (serial_ && serial_->failed()) {
      // Not from inside the source's own callback: tear it down on the next loop turn.
      last_error_ = s.message();
      context_.loop.Post([this, alive = alive_] {
        if (!*alive) return;
        serial_.reset();
        ScheduleRetry();
      });
    } else {
      reader_.OnSourceError(s);
    }
  }

  void OnEvent(const wiegand::ReaderEvent& e) {
    switch (e.kind) {
      case wiegand::ReaderEvent::Kind::kCard:
        Decide(ToPresented(*e.card, e.bits), e.last_bit_ns);
        return;
      case wiegand::ReaderEvent::Kind::kPin:
        Decide(rules::PinPresented(e.pin), e.last_bit_ns);
        return;
      case wiegand::ReaderEvent::Kind::kNoise:
        Noted(std::string(wiegand::NoiseKindName(e.noise)) +
              (e.detail.empty() ? "" : " (" + e.detail + ")"));
        // A PIN entry that was refused as typed: tell the person at the door.
        if ((e.noise == wiegand::NoiseKind::kPinTooShort ||
             e.noise == wiegand::NoiseKind::kPinTooLong) &&
            feedback_) {
          feedback_->Play(wiegand::FeedbackPattern::Deny());
        }
        return;
    }
  }

  void Decide(const rules::Presented& presented, int64_t last_bit_ns) {
    rules::Request request{door_, id_, presented};
    // Feedback and the latency figure right after the lock command, before the journal write.
    context_.gateway.Admit(request, "wiegand", [&](const rules::Decision& d) {
      if (feedback_) {
        feedback_->Play(d.granted ? wiegand::FeedbackPattern::Grant()
                                  : wiegand::FeedbackPattern::Deny());
      }
      (d.granted ? granted_ : denied_)++;
      int64_t now =
          std::chrono::duration_cast<nanoseconds>(context_.clock.Monotonic().time_since_epoch())
              .count();
      last_decision_us_ = static_cast<double>(now - last_bit_ns) / 1000.0;
    });
  }

  // Logs a noise or error line, at most kLoggedPerMinute a minute.
  void Noted(const std::string& what) {
    int64_t now =
        std::chrono::duration_cast<nanoseconds>(context_.clock.Monotonic().time_since_epoch())
            .count();
    if (now - window_start_ns_ >= kMinuteNs) {
      if (suppressed_ > 0) {
        LogWarning(kComponent, "reader " + id_ + ": " + std::to_string(suppressed_) +
                                   " more noise/error lines left out in the last minute");
      }
      window_start_ns_ = now;
      logged_ = 0;
      suppressed_ = 0;
    }
    if (logged_ < kLoggedPerMinute) {
      ++logged_;
      LogWarning(kComponent, "reader " + id_ + ": " + what);
    } else {
      ++suppressed_;
    }
  }

  const ReaderContext context_;
  std::string id_;
  std::string door_;
  config::WiegandConfig config_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::vector<std::unique_ptr<wiegand::Output>> outputs_;
  std::unique_ptr<wiegand::Feedback> feedback_;
  std::string feedback_error_;
  wiegand::WiegandReader reader_;
  std::unique_ptr<wiegand::EdgeSource> edges_;
  std::unique_ptr<wiegand::SerialSource> serial_;
  std::optional<EventLoop::TimerId> retry_;
  std::chrono::milliseconds backoff_ = context_.retry_after;
  bool warned_ = false;
  std::string last_error_;
  uint64_t granted_ = 0;
  uint64_t denied_ = 0;
  uint64_t source_errors_ = 0;
  std::optional<double> last_decision_us_;
  int64_t window_start_ns_ = INT64_MIN / 2;
  int logged_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace

std::unique_ptr<ReaderDriver> MakeWiegandDriver(const ReaderContext& context,
                                                const config::ReaderConfig& reader,
                                                const rules::Policy& policy) {
  return std::make_unique<WiegandDriver>(context, reader, policy);
}

}  // namespace lintel::devices
