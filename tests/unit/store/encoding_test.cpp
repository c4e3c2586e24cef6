#include "gateway/store/encoding.h"

#include <gtest/gtest.h>

namespace lintel::store::internal {
namespace {

TEST(StoreEncoding, IdListsRoundTrip) {
  std::string joined;
  for (const std::vector<std::string>& ids : std::vector<std::vector<std::string>>{
           {}, {"a"}, {"front", "garage", "gym"}, {"a b", "ü-ñ", "x,y;z"}}) {
    ASSERT_TRUE(JoinIds(ids, &joined));
    std::vector<std::string> back = {"left", "over", "from", "before", "and", "more"};
    SplitIds(joined, &back);
    EXPECT_EQ(back, ids);
  }
  ASSERT_TRUE(JoinIds({"a", "b"}, &joined));
  EXPECT_EQ(joined,
            "a\x1f"
            "b");
}

TEST(StoreEncoding, IdListsRefuseIdsThatWouldNotSplitBack) {
  std::string joined;
  EXPECT_FALSE(JoinIds({""}, &joined));
  EXPECT_FALSE(JoinIds({"a", ""}, &joined));
  EXPECT_FALSE(JoinIds({"a\x1f"
                        "b"},
                       &joined));
}

TEST(StoreEncoding, WindowsAndExceptionsRoundTrip) {
  std::vector<rules::Window> windows = {{0x1f, 480, 1080}, {0x60, 0, 1440}};
  std::string text;
  EncodeWindows(windows, &text);
  EXPECT_EQ(text, "31:480-1080,96:0-1440");
  std::vector<rules::Window> back;
  ASSERT_TRUE(DecodeWindows(text, &back));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].days, 0x60);
  EXPECT_EQ(back[1].to_min, 1440);

  std::vector<rules::ScheduleException> ex = {{-3, {}}, {20820, windows}};
  EncodeExceptions(ex, &text);
  EXPECT_EQ(text, "-3=;20820=31:480-1080,96:0-1440");
  std::vector<rules::ScheduleException> ex_back;
  ASSERT_TRUE(DecodeExceptions(text, &ex_back));
  ASSERT_EQ(ex_back.size(), 2u);
  EXPECT_EQ(ex_back[0].date, -3);
  EXPECT_TRUE(ex_back[0].windows.empty());
  EXPECT_EQ(ex_back[1].windows.size(), 2u);

  EncodeWindows({}, &text);
  EXPECT_EQ(text, "");
  ASSERT_TRUE(DecodeWindows("", &back));
  EXPECT_TRUE(back.empty());
}

TEST(StoreEncoding, MalformedSchedulesAreRefused) {
  std::vector<rules::Window> w;
  for (const char* bad : {"1:2", "1:2-", "256:0-10", "1:0-70000", "1:0-10,", ",1:0-10", "x:0-1",
                          "1:0-10 ", "+1:0-10", "1:-1-10"}) {
    EXPECT_FALSE(DecodeWindows(bad, &w)) << bad;
  }
  std::vector<rules::ScheduleException> e;
  for (const char* bad : {"=", "12", "12=1:0", "12=;", "a=1:0-1"}) {
    EXPECT_FALSE(DecodeExceptions(bad, &e)) << bad;
  }
}

}  // namespace
}  // namespace lintel::store::internal
