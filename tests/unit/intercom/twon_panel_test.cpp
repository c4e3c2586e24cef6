// TwoNPoller and TwoNPanel (drivers/intercom/twon_panel.h) against FakePanel, an in-test
// httplib::Server speaking the 2N API subset of the facts sheet, over the real httplib seam on
// 127.0.0.1. The backoff schedule runs on a FakeClock (TwoNPoller); the threaded tests assert
// orderings and counts, never elapsed time.
#include "drivers/intercom/twon_panel.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/intercom/http_seam.h"
#include "tests/unit/intercom/fake_panel.h"

namespace lintel::intercom {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakePanel;
using testing::kWaitLimit;

// Everything the callbacks report, with waits.
class Recorder {
 public:
  struct Transition {
    bool online;
    PanelFault fault;
    std::string reason;
  };

  PanelCallbacks Callbacks() {
    PanelCallbacks cb;
    cb.on_event = [this](const PanelEvent& e) { Add([&] { events_.push_back(e); }); };
    cb.on_online = [this](bool online, PanelFault fault, const std::string& reason) {
      Add([&] { transitions_.push_back({online, fault, reason}); });
    };
    cb.on_command = [this](const CommandResult& r) { Add([&] { commands_.push_back(r); }); };
    cb.on_error = [this](const Status& e) { Add([&] { errors_.push_back(e); }); };
    return cb;
  }

  bool WaitEvents(size_t n) {
    return Wait([&] { return events_.size() >= n; });
  }
  bool WaitCommands(size_t n) {
    return Wait([&] { return commands_.size() >= n; });
  }
  bool WaitTransition(bool online, PanelFault fault) {
    return Wait([&] {
      for (const Transition& t : transitions_) {
        if (t.online == online && t.fault == fault) return true;
      }
      return false;
    });
  }
  bool WaitErrors(size_t n) {
    return Wait([&] { return errors_.size() >= n; });
  }

  std::vector<PanelEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<Transition> transitions() {
    std::lock_guard<std::mutex> lock(mu_);
    return transitions_;
  }
  std::vector<CommandResult> commands() {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_;
  }
  std::vector<Status> errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

 private:
  template <typename F>
  void Add(F f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      f();
    }
    cv_.notify_all();
  }
  template <typename P>
  bool Wait(P pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWaitLimit, pred);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PanelEvent> events_;
  std::vector<Transition> transitions_;
  std::vector<CommandResult> commands_;
  std::vector<Status> errors_;
};

TwoNConfig Config(const FakePanel& fake) {
  TwoNConfig c;
  c.id = "lobby";
  c.http.base_url = fake.url();
  return c;
}

std::unique_ptr<HttpSeam> Seam(const HttpConfig& http) {
  Result<std::unique_ptr<HttpSeam>> s = MakeHttplibSeam(http);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(*s);
}

std::unique_ptr<TwoNPanel> MakePanel(const TwoNConfig& c, const Clock& clock, Recorder& rec) {
  return std::make_unique<TwoNPanel>(c, Seam(c.http), Seam(c.http), clock, rec.Callbacks());
}

constexpr const char* kCode1234 = R"("event":"CodeEntered","params":{"code":"1234","valid":false})";
constexpr const char* kCardUid =
    R"("event":"CardEntered","params":{"uid":"04a2b3c4","valid":true})";
constexpr const char* kCardCard =
    R"("event":"CardEntered","params":{"card":"00ff10","valid":true})";
constexpr const char* kStartup = R"("event":"DeviceState","params":{"state":"startup"})";

TEST(TwoNConfigCheck, RefusesBadSettings) {
  TwoNConfig c;
  c.id = "lobby";
  c.http.base_url = "http://10.0.0.7";
  EXPECT_TRUE(CheckTwoNConfig(c).ok());
  TwoNConfig bad = c;
  bad.pull_timeout = bad.channel_duration;
  EXPECT_EQ(CheckTwoNConfig(bad).code(), StatusCode::kInvalidArgument);
  bad = c;
  bad.backoff_max = milliseconds(10);
  EXPECT_EQ(CheckTwoNConfig(bad).code(), StatusCode::kInvalidArgument);
  bad = c;
  bad.http.base_url = "http://10.0.0.7/api";
  EXPECT_EQ(CheckTwoNConfig(bad).code(), StatusCode::kInvalidArgument);
  bad = c;
  bad.id.clear();
  EXPECT_EQ(CheckTwoNConfig(bad).code(), StatusCode::kInvalidArgument);
}

TEST(TwoNPanel, SubscribesPullsAndDeliversEachEventOnce) {
  FakePanel fake;
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(rec.WaitTransition(true, PanelFault::kNone));
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kCode1234);
  fake.Push(kCardUid);
  fake.Push(kCardCard);
  ASSERT_TRUE(rec.WaitEvents(3));
  // Two more pulls answered (one with a new event): nothing is delivered twice.
  const int answered = fake.pulls_answered();
  fake.Push(R"("event":"KeyPressed","params":{"key":"%1"})");
  ASSERT_TRUE(fake.WaitForPullsAnswered(answered + 1));
  ASSERT_TRUE(rec.WaitEvents(4));
  ASSERT_TRUE(fake.WaitForPullWaiting());
  panel->Stop();

  std::vector<PanelEvent> ev = rec.events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].kind, EventKind::kCode);
  EXPECT_EQ(ev[0].code, "1234");
  EXPECT_EQ(ev[0].panel_valid, false);
  EXPECT_EQ(ev[1].kind, EventKind::kCard);
  EXPECT_EQ(ev[1].card_uid, "04A2B3C4");
  EXPECT_EQ(ev[2].card_uid, "00FF10");
  EXPECT_EQ(ev[3].kind, EventKind::kKey);
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].channel, 1u);
    EXPECT_EQ(ev[i].id, i + 1);
  }
  PanelHealth h = panel->Health();
  EXPECT_TRUE(h.online);
  EXPECT_EQ(h.events, 4u);
  EXPECT_EQ(h.channel, 1u);
  EXPECT_EQ(h.resubscribes, 0u);
  EXPECT_EQ(h.info.device_name, "Lobby");
  EXPECT_EQ(fake.subscribes(), 1);
  ASSERT_EQ(rec.transitions().size(), 1u);
  EXPECT_EQ(rec.transitions()[0].reason, "answering");
}

TEST(TwoNPanel, ChannelExpiryResubscribesWithoutLossOrDuplicates) {
  FakePanel fake;
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kCode1234);
  ASSERT_TRUE(rec.WaitEvents(1));
  fake.ExpireChannels();  // the waiting pull gets the 2N error for an unknown id
  ASSERT_TRUE(fake.WaitForSubscribes(2));
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kCardUid);
  ASSERT_TRUE(rec.WaitEvents(2));
  panel->Stop();

  std::vector<PanelEvent> ev = rec.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].channel, 1u);
  EXPECT_EQ(ev[0].id, 1u);
  EXPECT_EQ(ev[1].channel, 2u);  // a new channel, whose ids start again at 1
  EXPECT_EQ(ev[1].id, 1u);
  EXPECT_EQ(ev[1].kind, EventKind::kCard);
  PanelHealth h = panel->Health();
  EXPECT_EQ(h.resubscribes, 1u);
  EXPECT_EQ(h.duplicates, 0u);
  EXPECT_TRUE(h.online);
  // The lost channel is reported, and it is no offline transition.
  ASSERT_FALSE(rec.errors().empty());
  EXPECT_NE(rec.errors()[0].message().find("lost (2N error 12 (id)"), std::string::npos)
      << rec.errors()[0].message();
  EXPECT_EQ(rec.transitions().size(), 1u);
}

TEST(TwoNPanel, EventsRepeatedByThePanelAreDeliveredOnce) {
  FakePanel fake;
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kCode1234);
  ASSERT_TRUE(rec.WaitEvents(1));
  fake.RepeatLastPull();  // the next reply sends event 1 again, then event 2
  fake.Push(kCardUid);
  ASSERT_TRUE(rec.WaitEvents(2));
  ASSERT_TRUE(fake.WaitForPullWaiting());
  panel->Stop();
  std::vector<PanelEvent> ev = rec.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].id, 2u);
  EXPECT_EQ(panel->Health().duplicates, 1u);
}

TEST(TwoNPanel, DeviceStateStartupResubscribes) {
  FakePanel fake;
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kStartup);
  ASSERT_TRUE(rec.WaitEvents(1));
  ASSERT_TRUE(fake.WaitForSubscribes(2));
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kCode1234);
  ASSERT_TRUE(rec.WaitEvents(2));
  panel->Stop();
  std::vector<PanelEvent> ev = rec.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kDeviceStartup);
  EXPECT_EQ(ev[0].channel, 1u);
  EXPECT_EQ(ev[1].kind, EventKind::kCode);
  EXPECT_EQ(ev[1].channel, 2u);
  EXPECT_EQ(panel->Health().resubscribes, 1u);
}

TEST(TwoNPanel, WrongPasswordIsAClearErrorNotUnreachable) {
  FakePanel fake;
  fake.SetAuth(FakePanel::Auth::kBasic, "admin", "right");
  Recorder rec;
  SystemClock clock;
  TwoNConfig c = Config(fake);
  c.http.auth = HttpConfig::Auth::kBasic;
  c.http.username = "admin";
  c.http.password = "hunter2";
  auto panel = MakePanel(c, clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(rec.WaitTransition(false, PanelFault::kAuthFailed));
  panel->Stop();
  Recorder::Transition t = rec.transitions()[0];
  EXPECT_FALSE(t.online);
  EXPECT_EQ(t.fault, PanelFault::kAuthFailed);
  EXPECT_EQ(t.reason, "wrong password for panel 'lobby' (HTTP 401 on health check)");
  EXPECT_EQ(t.reason.find("hunter2"), std::string::npos);
  PanelHealth h = panel->Health();
  EXPECT_FALSE(h.online);
  EXPECT_EQ(h.fault, PanelFault::kAuthFailed);
  EXPECT_NE(h.last_error.find("wrong password for panel 'lobby'"), std::string::npos);
}

TEST(TwoNPanel, BasicAuthWithTheRightPasswordWorks) {
  FakePanel fake;
  fake.SetAuth(FakePanel::Auth::kBasic, "admin", "right");
  Recorder rec;
  SystemClock clock;
  TwoNConfig c = Config(fake);
  c.http.auth = HttpConfig::Auth::kBasic;
  c.http.username = "admin";
  c.http.password = "right";
  auto panel = MakePanel(c, clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kCode1234);
  ASSERT_TRUE(rec.WaitEvents(1));
  panel->Stop();
  EXPECT_EQ(fake.unauthorized(), 0);
}

TEST(TwoNPanel, DigestAuthWorksAndAWrongDigestPasswordIsAuthFailed) {
  FakePanel fake;
  fake.SetAuth(FakePanel::Auth::kDigest, "admin", "2n-secret");
  SystemClock clock;
  {
    Recorder rec;
    TwoNConfig c = Config(fake);
    c.http.auth = HttpConfig::Auth::kDigest;
    c.http.username = "admin";
    c.http.password = "2n-secret";
    auto panel = MakePanel(c, clock, rec);
    ASSERT_TRUE(panel->Start().ok());
    ASSERT_TRUE(fake.WaitForPullWaiting());
    fake.Push(kCode1234);
    ASSERT_TRUE(rec.WaitEvents(1));
    ASSERT_TRUE(panel->TriggerSwitch(1).ok());
    ASSERT_TRUE(rec.WaitCommands(1));
    EXPECT_TRUE(rec.commands()[0].status.ok()) << rec.commands()[0].status.ToString();
    panel->Stop();
    EXPECT_TRUE(panel->Health().online);
  }
  {
    Recorder rec;
    TwoNConfig c = Config(fake);
    c.http.auth = HttpConfig::Auth::kDigest;
    c.http.username = "admin";
    c.http.password = "not-it";
    auto panel = MakePanel(c, clock, rec);
    ASSERT_TRUE(panel->Start().ok());
    ASSERT_TRUE(rec.WaitTransition(false, PanelFault::kAuthFailed));
    panel->Stop();
  }
}

TEST(TwoNPanel, TriggerWhileALongPollIsInFlightIsNotDelayedByIt) {
  FakePanel fake;
  fake.HoldPulls(true);  // the pull stays open until released
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(fake.WaitForPullWaiting());
  fake.Push(kCode1234);  // held back too
  Result<uint64_t> id = panel->TriggerSwitch(1, seconds(3));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(rec.WaitCommands(1));
  // The command completed while the poll was still in flight, and before its event came.
  EXPECT_EQ(fake.pulls_waiting(), 1);
  EXPECT_EQ(fake.pulls_answered(), 0);
  EXPECT_TRUE(rec.events().empty());
  CommandResult r = rec.commands()[0];
  EXPECT_EQ(r.request_id, *id);
  EXPECT_EQ(r.output, 1);
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(fake.ctrl_requests().size(), 1u);
  EXPECT_EQ(fake.ctrl_requests()[0], "/api/switch/ctrl?switch=1&action=trigger&timeout=3");
  fake.HoldPulls(false);
  ASSERT_TRUE(rec.WaitEvents(1));
  panel->Stop();
  EXPECT_EQ(panel->Health().commands_ok, 1u);
}

TEST(TwoNPanel, LockedSwitchIsReportedWithErrorFourteen) {
  FakePanel fake;
  fake.LockSwitch(true);
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(panel->TriggerSwitch(2).ok());
  ASSERT_TRUE(rec.WaitCommands(1));
  panel->Stop();
  const Status st = rec.commands()[0].status;
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("panel 'lobby': switch 2 refused: 2N error 14 (switch)"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(panel->Health().commands_failed, 1u);
}

TEST(TwoNPanel, TriggerArgumentsAreChecked) {
  FakePanel fake;
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  EXPECT_EQ(panel->TriggerSwitch(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(panel->TriggerSwitch(1, seconds(-1)).status().code(), StatusCode::kInvalidArgument);
  panel->Stop();
  EXPECT_EQ(panel->TriggerSwitch(1).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(panel->Start().code(), StatusCode::kFailedPrecondition);
}

TEST(TwoNPanel, StopEndsALongPollInFlight) {
  FakePanel fake;
  fake.HoldPulls(true);
  Recorder rec;
  SystemClock clock;
  auto panel = MakePanel(Config(fake), clock, rec);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(fake.WaitForPullWaiting());
  panel->Stop();  // returns although the panel never answers the pull
  EXPECT_EQ(fake.pulls_answered(), 0);
}

// --- TwoNPoller on a FakeClock ------------------------------------------------------------------

class TwoNPollerTest : public ::testing::Test {
 protected:
  int64_t Now() const { return clock_.Monotonic().time_since_epoch().count(); }
  static int64_t S(double s) { return static_cast<int64_t>(s * 1e9); }

  FakeClock clock_{FromUnix(1'800'000'000)};
};

TEST_F(TwoNPollerTest, UnreachablePanelGoesOfflineWithBackoffAndComesBack) {
  FakePanel fake(/*keep_alive=*/false);
  fake.Down();  // connection refused
  Recorder rec;
  TwoNConfig c = Config(fake);
  auto seam = Seam(c.http);
  TwoNPoller poller(c, *seam, clock_, rec.Callbacks());
  const int64_t t0 = Now();

  EXPECT_EQ(poller.Step(), t0);  // the first failure is retried at once
  EXPECT_TRUE(rec.transitions().empty());
  EXPECT_EQ(poller.Step(), t0 + S(1));  // the second: offline, then the backoff
  ASSERT_EQ(rec.transitions().size(), 1u);
  EXPECT_FALSE(rec.transitions()[0].online);
  EXPECT_EQ(rec.transitions()[0].fault, PanelFault::kUnreachable);
  EXPECT_NE(rec.transitions()[0].reason.find("panel 'lobby': health check:"), std::string::npos)
      << rec.transitions()[0].reason;
  EXPECT_EQ(poller.Step(), t0 + S(1));  // not due yet: nothing is tried
  EXPECT_EQ(poller.health().failures, 2u);

  clock_.Advance(seconds(1));
  EXPECT_EQ(poller.Step(), t0 + S(3));  // 1 s later, then 2 s
  clock_.Advance(seconds(2));
  EXPECT_EQ(poller.Step(), t0 + S(7));      // then 4 s
  EXPECT_EQ(rec.transitions().size(), 1u);  // still offline: reported once

  fake.Up();
  fake.Push(kCode1234);  // (no channel yet: dropped)
  clock_.Advance(seconds(4));
  EXPECT_EQ(poller.Step(), Now());  // online, pull due now
  ASSERT_EQ(rec.transitions().size(), 2u);
  EXPECT_TRUE(rec.transitions()[1].online);
  EXPECT_EQ(rec.transitions()[1].reason, "answering again");
  EXPECT_TRUE(poller.subscribed());

  fake.Push(kCardUid);
  EXPECT_EQ(poller.Step(), Now());  // a pull with the event: the backoff is reset
  ASSERT_EQ(rec.events().size(), 1u);

  fake.Down();
  EXPECT_EQ(poller.Step(), Now());         // the pull fails: retried at once
  EXPECT_EQ(poller.Step(), Now() + S(1));  // the reconnect fails: offline, 1 s again
  EXPECT_EQ(rec.transitions().size(), 3u);
}

TEST_F(TwoNPollerTest, BackoffDoublesUpToTheMaximum) {
  FakePanel fake;
  fake.Down();
  Recorder rec;
  TwoNConfig c = Config(fake);
  auto seam = Seam(c.http);
  TwoNPoller poller(c, *seam, clock_, rec.Callbacks());
  EXPECT_EQ(poller.Step(), Now());
  std::vector<int64_t> waits;
  for (int i = 0; i < 9; ++i) {
    const int64_t next = poller.Step();
    waits.push_back((next - Now()) / 1'000'000'000);
    clock_.Advance(std::chrono::nanoseconds(next - Now()));
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 60, 60, 60}));
  EXPECT_EQ(rec.transitions().size(), 1u);
}

TEST_F(TwoNPollerTest, MalformedAndHugeRepliesAreRejectedCountedAndTheChannelKept) {
  FakePanel fake;
  Recorder rec;
  TwoNConfig c = Config(fake);
  auto seam = Seam(c.http);
  TwoNPoller poller(c, *seam, clock_, rec.Callbacks());
  ASSERT_EQ(poller.Step(), Now());  // connect
  ASSERT_TRUE(poller.subscribed());

  fake.NextPullBody("this is not json");
  EXPECT_EQ(poller.Step(), Now());  // the first is retried at once
  fake.NextPullBody(R"({"success":true,"result":{"events":)" + std::string(5000, '[') +
                    std::string(5000, ']') + "}}");
  EXPECT_EQ(poller.Step(), Now() + S(1));  // then the backoff
  clock_.Advance(seconds(1));
  fake.NextPullBody(R"({"success":true,"result":{"events":[],"pad":")" + std::string(2 << 20, 'x') +
                    "\"}}");
  EXPECT_EQ(poller.Step(), Now() + S(2));
  clock_.Advance(seconds(2));

  fake.Push(kCode1234);
  EXPECT_EQ(poller.Step(), Now());  // a good reply: delivered, backoff reset
  ASSERT_EQ(rec.events().size(), 1u);
  EXPECT_EQ(poller.health().rejected_replies, 3u);
  EXPECT_EQ(fake.subscribes(), 1);  // the big reply dropped the connection, not the channel
  std::vector<Status> errors = rec.errors();
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].message().find("not valid JSON"), std::string::npos) << errors[0].ToString();
  EXPECT_NE(errors[1].message().find("nested deeper than 16"), std::string::npos);
  EXPECT_NE(errors[2].message().find("over 1048576 bytes"), std::string::npos);
  EXPECT_TRUE(poller.health().online);
  EXPECT_EQ(rec.transitions().size(), 1u);  // online throughout
}

TEST_F(TwoNPollerTest, RejectedEventsAreReportedWithoutTheirDigits) {
  FakePanel fake;
  Recorder rec;
  TwoNConfig c = Config(fake);
  auto seam = Seam(c.http);
  TwoNPoller poller(c, *seam, clock_, rec.Callbacks());
  ASSERT_EQ(poller.Step(), Now());
  fake.Push(R"("event":"CodeEntered","params":{"code":"123456789"})");
  fake.Push(R"("event":"CardEntered","params":{"uid":"zz99"})");
  fake.Push(R"("event":"MotionDetected","params":{"state":"in"})");
  fake.Push(kCode1234);
  poller.Step();
  std::vector<PanelEvent> ev = rec.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kOther);
  EXPECT_EQ(ev[1].code, "1234");
  PanelHealth h = poller.health();
  EXPECT_EQ(h.rejected_events, 2u);
  EXPECT_EQ(h.unknown_events, 1u);
  std::vector<Status> errors = rec.errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].message(),
            "panel 'lobby': event #1 rejected: CodeEntered: code is not 2..8 digits long (9 "
            "characters)");
  EXPECT_EQ(errors[1].message(),
            "panel 'lobby': event #2 rejected: CardEntered: card id has a non-hex character");
  for (const Status& e : errors) EXPECT_EQ(e.message().find("123456789"), std::string::npos);
}

TEST_F(TwoNPollerTest, AnHttpErrorStatusIsAProtocolFault) {
  Recorder rec;
  TwoNConfig c;
  c.id = "lobby";
  // A web server that is not a panel: 404 for /api/system/info.
  httplib::Server other;
  const int port = other.bind_to_any_port("127.0.0.1");
  std::thread t([&] { other.listen_after_bind(); });
  while (!other.is_running()) std::this_thread::sleep_for(milliseconds(1));
  c.http.base_url = "http://127.0.0.1:" + std::to_string(port);
  {
    auto seam = Seam(c.http);
    TwoNPoller poller(c, *seam, clock_, rec.Callbacks());
    poller.Step();
  }  // the connection is closed before the server stops
  other.stop();
  t.join();
  ASSERT_EQ(rec.transitions().size(), 1u);
  EXPECT_EQ(rec.transitions()[0].fault, PanelFault::kProtocol);
  EXPECT_EQ(rec.transitions()[0].reason, "panel 'lobby': health check: HTTP 404");
}

}  // namespace
}  // namespace lintel::intercom
