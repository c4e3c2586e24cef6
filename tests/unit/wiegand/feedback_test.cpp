// Feedback patterns on a FakeClock loop with recording outputs (exact on/off times), and the GPIO
// output's error path (no GPIO chip on this machine or in CI).
#include "drivers/wiegand/feedback.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace lintel::wiegand {
namespace {

using std::chrono::milliseconds;

struct Change {
  std::string output;
  int64_t at_ms;
  bool on;
  friend bool operator==(const Change&, const Change&) = default;
};

std::ostream& operator<<(std::ostream& os, const Change& c) {
  return os << c.output << (c.on ? " on @" : " off @") << c.at_ms << "ms";
}

class RecordingOutput final : public Output {
 public:
  RecordingOutput(std::string name, const FakeClock& clock, int64_t t0_ns, std::vector<Change>& log)
      : name_(std::move(name)), clock_(clock), t0_ns_(t0_ns), log_(log) {}
  Status Set(bool on) override {
    int64_t ns = clock_.Monotonic().time_since_epoch().count();
    log_.push_back({name_, (ns - t0_ns_) / 1'000'000, on});
    if (fail) return Status::IoError(name_ + ": broken");
    return Status::Ok();
  }
  bool fail = false;

 private:
  std::string name_;
  const FakeClock& clock_;
  int64_t t0_ns_;
  std::vector<Change>& log_;
};

class FeedbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
  }
  void Run(int ms) {
    for (int i = 0; i < ms; ++i) {
      clock_.Advance(milliseconds(1));
      ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok());
    }
  }
  // Changes after Play()'s initial "everything off".
  std::vector<Change> After(size_t n) { return {log_.begin() + n, log_.end()}; }

  FakeClock clock_{Instant{}};
  int64_t t0_ = clock_.Monotonic().time_since_epoch().count();
  std::unique_ptr<EventLoop> loop_;
  std::vector<Change> log_;
  RecordingOutput green_{"green", clock_, t0_, log_};
  RecordingOutput red_{"red", clock_, t0_, log_};
  RecordingOutput beeper_{"beeper", clock_, t0_, log_};
};

TEST_F(FeedbackTest, GrantIsGreenForOneSecondAndOneShortBeep) {
  Feedback fb(*loop_, {&green_, &red_, &beeper_});
  fb.Play(FeedbackPattern::Grant());
  Run(1500);
  EXPECT_EQ(After(3), (std::vector<Change>{{"green", 0, true},
                                           {"beeper", 0, true},
                                           {"beeper", 100, false},
                                           {"green", 1000, false}}));
  EXPECT_FALSE(fb.playing());
}

TEST_F(FeedbackTest, DenyIsThreeShortBeepsWithRed) {
  Feedback fb(*loop_, {&green_, &red_, &beeper_});
  fb.Play(FeedbackPattern::Deny());
  EXPECT_TRUE(fb.playing());
  Run(1000);
  EXPECT_EQ(After(3), (std::vector<Change>{{"red", 0, true},
                                           {"beeper", 0, true},
                                           {"beeper", 100, false},
                                           {"beeper", 200, true},
                                           {"beeper", 300, false},
                                           {"beeper", 400, true},
                                           {"beeper", 500, false},
                                           {"red", 500, false}}));
  EXPECT_EQ(fb.counters().plays, 1u);
}

TEST_F(FeedbackTest, ANewPatternCutsTheRunningOneShort) {
  Feedback fb(*loop_, {&green_, nullptr, &beeper_});  // no red line wired
  fb.Play(FeedbackPattern::Grant());
  Run(50);
  size_t n = log_.size();
  fb.Play(FeedbackPattern::Deny());
  Run(2000);
  EXPECT_EQ(After(n), (std::vector<Change>{{"green", 50, false},
                                           {"beeper", 50, false},
                                           {"beeper", 50, true},
                                           {"beeper", 150, false},
                                           {"beeper", 250, true},
                                           {"beeper", 350, false},
                                           {"beeper", 450, true},
                                           {"beeper", 550, false}}))
      << "grant's later steps never run";
  EXPECT_EQ(fb.counters().interrupted, 1u);
}

TEST_F(FeedbackTest, AFailingOutputIsCountedAndThePatternGoesOn) {
  std::vector<Status> errors;
  beeper_.fail = true;
  Feedback fb(*loop_, {&green_, nullptr, &beeper_}, [&](const Status& s) { errors.push_back(s); });
  fb.Play(FeedbackPattern::Grant());
  Run(1100);
  EXPECT_EQ(fb.counters().output_errors, 3u);  // initial off, on, off
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].message(), "beeper: broken");
  EXPECT_EQ(log_.back(), (Change{"green", 1000, false}));
}

TEST_F(FeedbackTest, DestroyingFeedbackCancelsItsSteps) {
  {
    Feedback fb(*loop_, {&green_, &red_, &beeper_});
    fb.Play(FeedbackPattern::Grant());
  }
  size_t n = log_.size();
  Run(1500);
  EXPECT_EQ(log_.size(), n);
}

TEST(GpioOutput, MissingChipIsAnIoErrorNamingTheChip) {
  GpioOutputConfig config;
  config.chip = "lintel-no-such-chip";
  config.offset = 5;
  auto out = GpioOutput::Open(config);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kIoError);
  EXPECT_NE(out.status().message().find("gpio chip \"lintel-no-such-chip\": cannot open"),
            std::string::npos)
      << out.status().ToString();
}

}  // namespace
}  // namespace lintel::wiegand
