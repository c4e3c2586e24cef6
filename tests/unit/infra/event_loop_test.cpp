#include "gateway/base/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.h"

namespace lintel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<EventLoop> NewLoop(const Clock& clock) {
  auto loop = EventLoop::Create(clock);
  EXPECT_TRUE(loop.ok()) << loop.status().ToString();
  return std::move(loop).value();
}

std::unique_ptr<EventLoop> NewLoop() {
  auto loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status().ToString();
  return std::move(loop).value();
}

// Runs rounds until `done` holds. The bound only keeps a broken build from hanging CI; nothing
// here depends on timing.
void RunUntil(EventLoop& loop, const std::function<bool()>& done) {
  auto give_up = std::chrono::steady_clock::now() + seconds(30);
  while (!done() && std::chrono::steady_clock::now() < give_up) {
    ASSERT_TRUE(loop.RunOnce(milliseconds(100)).ok());
  }
  ASSERT_TRUE(done());
}

class Pipe {
 public:
  Pipe() { EXPECT_EQ(pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0); }
  ~Pipe() {
    close(fds_[0]);
    close(fds_[1]);
  }
  int read_end() const { return fds_[0]; }
  void Write(char c) { ASSERT_EQ(write(fds_[1], &c, 1), 1); }
  void Drain() {
    char buf[64];
    while (read(fds_[0], buf, sizeof buf) > 0) {
    }
  }

 private:
  int fds_[2];
};

TEST(EventLoop, RunsWorkPostedFromOtherThreadsInPostOrder) {
  auto loop = NewLoop();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::vector<int>> seen(kThreads);
  int total = 0;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop->Post([&, t, i] {
          EXPECT_TRUE(loop->IsLoopThread());
          seen[t].push_back(i);
          if (++total == kThreads * kPerThread) loop->Stop();
        });
      }
    });
  }
  ASSERT_TRUE(loop->Run().ok());
  for (auto& p : producers) p.join();
  ASSERT_EQ(total, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) ASSERT_EQ(seen[t][i], i) << "thread " << t;
  }
}

TEST(EventLoop, TaskPostedByATaskRunsInALaterRound) {
  auto loop = NewLoop();
  std::vector<std::string> order;
  loop->Post([&] {
    order.push_back("first");
    loop->Post([&] { order.push_back("third"); });
  });
  loop->Post([&] { order.push_back("second"); });
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "third"}));
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  auto loop = NewLoop();
  std::thread stopper([&] { loop->Stop(); });
  ASSERT_TRUE(loop->Run().ok());
  stopper.join();
}

TEST(EventLoop, StopBeforeRunMakesRunReturnAfterOneRound) {
  auto loop = NewLoop();
  bool ran = false;
  loop->Post([&] { ran = true; });
  loop->Stop();
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(ran);
}

TEST(EventLoop, TimersFireInDeadlineOrderThenAddOrder) {
  FakeClock clock(FromUnix(1'700'000'000));
  auto loop = NewLoop(clock);
  std::vector<std::string> fired;
  loop->AddTimer(milliseconds(30), [&] { fired.push_back("30ms"); });
  loop->AddTimer(milliseconds(10), [&] { fired.push_back("10ms-a"); });
  loop->AddTimer(milliseconds(20), [&] { fired.push_back("20ms"); });
  loop->AddTimer(milliseconds(10), [&] { fired.push_back("10ms-b"); });

  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_TRUE(fired.empty());
  clock.Advance(milliseconds(15));
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(fired, (std::vector<std::string>{"10ms-a", "10ms-b"}));
  clock.Advance(seconds(1));
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(fired, (std::vector<std::string>{"10ms-a", "10ms-b", "20ms", "30ms"}));
}

TEST(EventLoop, CancelledTimerNeverFires) {
  FakeClock clock(FromUnix(1'700'000'000));
  auto loop = NewLoop(clock);
  int fired = 0;
  auto id = loop->AddTimer(milliseconds(10), [&] { ++fired; });
  loop->AddTimer(milliseconds(20), [&] { ++fired; });
  EXPECT_TRUE(loop->CancelTimer(id));
  EXPECT_FALSE(loop->CancelTimer(id));
  clock.Advance(seconds(1));
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(fired, 1);
}

TEST(EventLoop, TimerCancelledByAnEarlierTimerInTheSameRoundDoesNotFire) {
  FakeClock clock(FromUnix(1'700'000'000));
  auto loop = NewLoop(clock);
  bool second_fired = false;
  EventLoop::TimerId second{};
  loop->AddTimer(milliseconds(1), [&] { loop->CancelTimer(second); });
  second = loop->AddTimer(milliseconds(2), [&] { second_fired = true; });
  clock.Advance(milliseconds(5));
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_FALSE(second_fired);
}

TEST(EventLoop, PeriodicTimerRepeatsUntilCancelledAndCoalescesMissedTicks) {
  FakeClock clock(FromUnix(1'700'000'000));
  auto loop = NewLoop(clock);
  int ticks = 0;
  auto id = loop->AddPeriodic(seconds(10), [&] { ++ticks; });
  for (int i = 0; i < 3; ++i) {
    clock.Advance(seconds(10));
    ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  }
  EXPECT_EQ(ticks, 3);
  clock.Advance(seconds(55));  // five intervals late: one call, not a burst of five
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(ticks, 4);
  EXPECT_TRUE(loop->CancelTimer(id));
  clock.Advance(seconds(100));
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(ticks, 4);
}

TEST(EventLoop, PeriodicTimerCanCancelItself) {
  FakeClock clock(FromUnix(1'700'000'000));
  auto loop = NewLoop(clock);
  int ticks = 0;
  EventLoop::TimerId id{};
  id = loop->AddPeriodic(seconds(1), [&] {
    if (++ticks == 2) loop->CancelTimer(id);
  });
  for (int i = 0; i < 5; ++i) {
    clock.Advance(seconds(1));
    ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  }
  EXPECT_EQ(ticks, 2);
}

TEST(EventLoop, ZeroDelayTimerAddedByATimerWaitsForTheNextRound) {
  FakeClock clock(FromUnix(1'700'000'000));
  auto loop = NewLoop(clock);
  int fired = 0;
  std::function<void()> again = [&] {
    ++fired;
    loop->AddTimer(milliseconds(0), again);
  };
  loop->AddTimer(milliseconds(0), again);
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(fired, 1);
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(fired, 2);
}

TEST(EventLoop, TimerFiresOnTheRealMonotonicClock) {
  auto loop = NewLoop();
  bool fired = false;
  loop->AddTimer(milliseconds(1), [&] {
    fired = true;
    loop->Stop();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_TRUE(fired);
}

TEST(EventLoop, FdCallbackReceivesReadinessUntilRemoved) {
  auto loop = NewLoop();
  Pipe p;
  int calls = 0;
  auto handle = loop->AddFd(p.read_end(), EPOLLIN, [&](uint32_t revents) {
    EXPECT_TRUE(revents & EPOLLIN);
    ++calls;
    p.Drain();
  });
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  p.Write('x');
  RunUntil(*loop, [&] { return calls == 1; });
  loop->RemoveFd(*handle);
  loop->RemoveFd(*handle);  // harmless
  p.Write('y');
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(calls, 1);
}

TEST(EventLoop, AddingTheSameFdTwiceIsRefused) {
  auto loop = NewLoop();
  Pipe p;
  ASSERT_TRUE(loop->AddFd(p.read_end(), EPOLLIN, [](uint32_t) {}).ok());
  auto again = loop->AddFd(p.read_end(), EPOLLIN, [](uint32_t) {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
}

TEST(EventLoop, AddingARegularFileIsAnInvalidArgument) {
  auto loop = NewLoop();
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  auto handle = loop->AddFd(fileno(f), EPOLLIN, [](uint32_t) {});
  fclose(f);
  ASSERT_FALSE(handle.ok());
  EXPECT_EQ(handle.status().code(), StatusCode::kInvalidArgument);
}

TEST(EventLoop, FdRemovedByAnEarlierCallbackInTheSameRoundIsNotCalled) {
  auto loop = NewLoop();
  Pipe a, b;
  int calls = 0;
  EventLoop::FdHandle ha{}, hb{};
  auto cb = [&](uint32_t) {
    ++calls;
    loop->RemoveFd(ha);  // whichever runs first removes the other
    loop->RemoveFd(hb);
  };
  ha = *loop->AddFd(a.read_end(), EPOLLIN, cb);
  hb = *loop->AddFd(b.read_end(), EPOLLIN, cb);
  a.Write('x');
  b.Write('x');
  RunUntil(*loop, [&] { return calls > 0; });
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(calls, 1);
}

TEST(EventLoop, ThrowingCallbackIsLoggedAndTheLoopContinues) {
  FakeClock clock(FromUnix(1'700'000'000));
  auto loop = NewLoop(clock);
  Pipe p;
  std::vector<std::string> ran;
  loop->Post([] { throw std::runtime_error("posted boom"); });
  loop->Post([&] { ran.push_back("task after the throw"); });
  loop->AddTimer(milliseconds(0), [] { throw std::runtime_error("timer boom"); });
  loop->AddTimer(milliseconds(0), [&] { ran.push_back("timer after the throw"); });
  ASSERT_TRUE(loop->AddFd(p.read_end(), EPOLLIN,
                          [&](uint32_t) {
                            p.Drain();
                            throw 42;
                          })
                  .ok());
  p.Write('x');

  testing::internal::CaptureStderr();
  RunUntil(*loop, [&] { return ran.size() == 2; });
  ASSERT_TRUE(loop->RunOnce(milliseconds(0)).ok());
  std::string log = testing::internal::GetCapturedStderr();

  EXPECT_EQ(ran, (std::vector<std::string>{"timer after the throw", "task after the throw"}));
  EXPECT_NE(log.find("<3>event_loop: posted task threw, loop continues: posted boom"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("timer callback threw, loop continues: timer boom"), std::string::npos);
  EXPECT_NE(log.find("fd callback threw a non-std exception"), std::string::npos);
}

TEST(EventLoop, SignalDeliveredThroughSignalfdCallsTheHandler) {
  ASSERT_TRUE(BlockSignals({SIGHUP, SIGUSR1}).ok());
  auto loop = NewLoop();
  std::vector<int> received;
  ASSERT_TRUE(
      loop->WatchSignals({SIGHUP, SIGUSR1}, [&](int signo) { received.push_back(signo); }).ok());
  ASSERT_EQ(raise(SIGHUP), 0);
  RunUntil(*loop, [&] { return received.size() == 1; });
  ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
  RunUntil(*loop, [&] { return received.size() == 2; });
  EXPECT_EQ(received, (std::vector<int>{SIGHUP, SIGUSR1}));
}

TEST(EventLoop, WatchingASignalThatIsNotBlockedIsRefused) {
  auto loop = NewLoop();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_UNBLOCK, &set, nullptr), 0);
  Status st = loop->WatchSignals({SIGUSR2}, [](int) {});
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("SIGUSR2 is not blocked"), std::string::npos) << st.message();
}

TEST(EventLoop, BlockingANumberThatIsNotASignalIsAnInvalidArgument) {
  EXPECT_EQ(BlockSignals({SIGTERM, 12345}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lintel
