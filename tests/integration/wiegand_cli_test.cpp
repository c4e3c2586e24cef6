// `lintelctl wiegand decode --bits N VALUE`, run as installers run it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

using nlohmann::json;
using testing::BinaryDir;
using testing::RunProgram;
using testing::RunResult;

RunResult Decode(const std::string& bits, const std::string& value) {
  return RunProgram(
      {BinaryDir() + "/tools/lintelctl", "wiegand", "decode", "--bits", bits, value, "--json"});
}

TEST(WiegandCli, DecodesAnH10301VectorToJson) {
  RunResult r = Decode("26", "0x0CA01F6");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["bits"], 26);
  EXPECT_EQ(j["value"], "0x0CA01F6");
  EXPECT_EQ(j["binary"], "00110010100000000111110110");
  ASSERT_GE(j["candidates"].size(), 1u);
  EXPECT_EQ(j["candidates"][0],
            json({{"format", "h10301"}, {"facility", 101}, {"number", 251}, {"parity_ok", true}}));
  EXPECT_EQ(j["candidates"].back()["format"], "raw");
  EXPECT_TRUE(j["keypad"]["pin_burst"].is_null());
}

TEST(WiegandCli, ReportsBadParityFromABinaryString) {
  RunResult r = Decode("26", "10110010100000000111110110");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["candidates"][0]["parity_ok"], false);
}

TEST(WiegandCli, ListsBothLookalike37BitFormats) {
  RunResult r = Decode("37", "0x100EB79A2B");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["candidates"][0], json({{"format", "h10302"},
                                      {"facility", nullptr},
                                      {"number", 123456789},
                                      {"parity_ok", true}}));
  EXPECT_EQ(j["candidates"][1]["format"], "h10304");
  EXPECT_FALSE(j.contains("keypad"));
}

TEST(WiegandCli, ShowsKeypadInterpretations) {
  json key = json::parse(Decode("8", "0xE1").out);
  EXPECT_EQ(key["keypad"]["key"], "1");
  json noise = json::parse(Decode("8", "0x11").out);
  EXPECT_TRUE(noise["keypad"]["key"].is_null());
  json burst = json::parse(Decode("26", "0x00009A4").out);  // FC 0, CN 1234, parities
  EXPECT_EQ(burst["keypad"]["pin_burst"], 1234);
}

TEST(WiegandCli, RefusesABadValueWithExitCode1) {
  RunResult r = Decode("26", "0x4000000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("does not fit in 26 bits"), std::string::npos) << r.err;
  RunResult d = Decode("26", "0102");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("not a binary digit"), std::string::npos) << d.err;
  RunResult n = Decode("70", "0x1");
  EXPECT_EQ(n.exit_code, 1);
}

}  // namespace
}  // namespace lintel
