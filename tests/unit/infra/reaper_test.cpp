#include "gateway/base/reaper.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace lintel {
namespace {

// An object whose destructor records the thread it ran on and can be held until released.
struct Tracked {
  std::atomic<std::thread::id>* freed_on;
  std::atomic<bool>* hold = nullptr;     // the destructor waits while it is true
  std::atomic<bool>* entered = nullptr;  // set when the destructor starts
  explicit Tracked(std::atomic<std::thread::id>* on, std::atomic<bool>* h = nullptr,
                   std::atomic<bool>* e = nullptr)
      : freed_on(on), hold(h), entered(e) {}
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() {
    if (entered) *entered = true;
    while (hold && hold->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    freed_on->store(std::this_thread::get_id());
  }
};

void AwaitFreed(const std::atomic<std::thread::id>& freed_on) {
  for (int i = 0; i < 5000 && freed_on.load() == std::thread::id(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(Reaper, TheLastReferenceIsDroppedOnTheReapersThread) {
  Reaper reaper;
  std::atomic<std::thread::id> freed_on{};
  auto p = std::make_shared<Tracked>(&freed_on);
  std::weak_ptr<Tracked> watch = p;
  reaper.Release(std::move(p));
  AwaitFreed(freed_on);
  EXPECT_TRUE(watch.expired());
  ASSERT_NE(freed_on.load(), std::thread::id());
  EXPECT_NE(freed_on.load(), std::this_thread::get_id());
  EXPECT_EQ(reaper.released(), 1u);
  EXPECT_EQ(reaper.released_inline(), 0u);
}

TEST(Reaper, AnObjectStillSharedElsewhereStaysAlive) {
  Reaper reaper;
  std::atomic<std::thread::id> freed_on{};
  auto p = std::make_shared<Tracked>(&freed_on);
  reaper.Release(p);  // a copy: p still holds it
  for (int i = 0; i < 5000 && reaper.released() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(reaper.released(), 1u);
  EXPECT_EQ(freed_on.load(), std::thread::id()) << "not destroyed: p still refers to it";
  p.reset();
  EXPECT_EQ(freed_on.load(), std::this_thread::get_id()) << "the last reference was ours";
}

TEST(Reaper, BeyondItsBoundTheCallerReleasesAndNothingIsLost) {
  std::atomic<std::thread::id> first_on{};
  std::atomic<bool> hold{true}, entered{false};
  std::atomic<std::thread::id> inline_on{};
  std::vector<std::atomic<std::thread::id>> queued_on(Reaper::kMaxQueued);
  {
    Reaper reaper;
    // The reaper's thread takes this one off its queue and is held freeing it.
    reaper.Release(std::make_shared<Tracked>(&first_on, &hold, &entered));
    for (int i = 0; i < 5000 && !entered; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_TRUE(entered);
    for (auto& on : queued_on) reaper.Release(std::make_shared<Tracked>(&on));
    reaper.Release(std::make_shared<Tracked>(&inline_on));  // the queue is full
    EXPECT_EQ(inline_on.load(), std::this_thread::get_id()) << "released by the caller";
    EXPECT_EQ(reaper.released_inline(), 1u);
    hold = false;
  }  // the destructor releases what is queued, then joins
  EXPECT_NE(first_on.load(), std::thread::id());
  for (auto& on : queued_on) {
    ASSERT_NE(on.load(), std::thread::id()) << "every queued object was released";
    EXPECT_NE(on.load(), std::this_thread::get_id());
  }
}

}  // namespace
}  // namespace lintel
