// gateway/store/index_image_file.h (issue 13, point 4): the index image next to the store is used
// only for the state it was made of; a damaged, partly written, stale or foreign image means a
// rebuild from the store, never a partly used image.
#include "gateway/store/index_image_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "rules/engine.h"

namespace lintel::store {
namespace {

namespace fs = std::filesystem;

rules::Site TestSite() {
  rules::Site s;
  s.id = "maple-court";
  s.doors = {{"front", true}, {"garage", false}};
  s.policy.rent_grace_days = 3;
  s.zone = FixedTimeZone("UTC", 0);
  return s;
}

rules::Records TestState(int n) {
  rules::Records r;
  r.groups = {rules::Group{"g0", "g0", {"front"}, "always"}};
  for (int i = 0; i < n; ++i) {
    rules::Person p;
    p.id = "p" + std::to_string(i);
    p.name = "Person " + std::to_string(i);
    p.groups = {"g0"};
    r.people.push_back(p);
    rules::Credential c;
    c.id = "c" + std::to_string(i);
    c.person = p.id;
    c.type = rules::CredentialType::kCard;
    c.card.format = rules::CardFormat::kH10301;
    c.card.facility = 9;
    c.card.number = static_cast<uint64_t>(i);
    r.credentials.push_back(c);
  }
  return r;
}

bool Granted(const rules::Index& x, uint64_t card) {
  rules::Presented p;
  p.kind = rules::PresentedKind::kCard;
  p.format = rules::CardFormat::kH10301;
  p.facility = 9;
  p.number = card;
  return rules::DecideWith(x, {"front", "", p}, ParseRfc3339("2026-03-01T10:00:00Z").value(),
                           INT64_MIN, nullptr)
      .granted;
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class IndexImageFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "lintel-image-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "lintel.sqlite").string();
    image_ = IndexImagePath(path_);
    StoreOptions options;
    options.durable_commits = false;
    Result<std::unique_ptr<Store>> s = Store::Open(path_, options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->ReplaceState(TestState(5000), Position{1, 10}).ok());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  // Builds from the store and saves the image; returns the stamp.
  rules::ImageStamp Save() {
    Result<StartIndex> built = BuildIndexStamped(*store_, TestSite(), nullptr);
    EXPECT_TRUE(built.ok()) << built.status().ToString();
    EXPECT_TRUE(built->stamp.has_value());
    Result<uint64_t> n = SaveIndexImage(image_, *built->index, *built->stamp);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return *built->stamp;
  }
  StartIndex Start(const rules::Site& site = TestSite()) {
    Result<StartIndex> s = LoadIndexPreferImage(*store_, image_, site, nullptr);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }

  fs::path dir_;
  std::string path_;
  std::string image_;
  std::unique_ptr<Store> store_;
};

TEST_F(IndexImageFileTest, StateSerialMovesWithEveryStateCommit) {
  rules::ImageStamp a = ReadStateStamp(*store_).value();
  EXPECT_EQ(a.epoch, 1u);
  EXPECT_EQ(a.version, 10u);
  EXPECT_GT(a.state_serial, 0u);
  // A change that keeps the position (a command's door mode, a local import) still moves it.
  rules::DoorMode m{"front", rules::DoorModeKind::kLockedDown, std::nullopt};
  ASSERT_TRUE(store_->ApplyOps({rules::PutOp(m)}, Position{1, 10}).ok());
  rules::ImageStamp b = ReadStateStamp(*store_).value();
  EXPECT_EQ(b.version, 10u);
  EXPECT_EQ(b.state_serial, a.state_serial + 1);
  ASSERT_TRUE(store_->ReplaceState(TestState(3), Position{1, 10}).ok());
  EXPECT_EQ(ReadStateStamp(*store_).value().state_serial, a.state_serial + 2);
  EXPECT_FALSE(store_->SetMeta("state_serial", "1").ok());
}

TEST_F(IndexImageFileTest, NoImageMeansARebuild) {
  StartIndex s = Start();
  EXPECT_FALSE(s.from_image);
  EXPECT_NE(s.how.find("no index image"), std::string::npos) << s.how;
  EXPECT_EQ(s.index->credential_count(), 5000u);
  EXPECT_TRUE(s.stamp.has_value());
}

TEST_F(IndexImageFileTest, ImageOfTheStoredStateIsUsedAndDecidesTheSame) {
  Save();
  struct stat st;
  ASSERT_EQ(::stat(image_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  StartIndex s = Start();
  ASSERT_TRUE(s.from_image) << s.how;
  EXPECT_EQ(s.index->credential_count(), 5000u);
  Result<StartIndex> fresh = BuildIndexStamped(*store_, TestSite(), nullptr);
  for (uint64_t card : {0u, 1u, 4999u, 5000u}) {
    EXPECT_EQ(Granted(*s.index, card), Granted(*fresh->index, card)) << card;
  }
  EXPECT_TRUE(Granted(*s.index, 4999));
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_))
    files += e.path().string().find(".tmp-") != std::string::npos;
  EXPECT_EQ(files, 0);
}

TEST_F(IndexImageFileTest, ImageIsStaleOnceTheStoreMoves) {
  Save();
  // A delta that moves the position.
  rules::Credential c = TestState(1).credentials[0];
  c.status = rules::CredentialStatus::kRevoked;
  ASSERT_TRUE(store_->ApplyOps({rules::PutOp(c)}, Position{1, 11}).ok());
  StartIndex s = Start();
  EXPECT_FALSE(s.from_image);
  EXPECT_NE(s.how.find("stale"), std::string::npos) << s.how;
  EXPECT_FALSE(Granted(*s.index, 0));
  // A change that keeps the position: still stale.
  Save();
  rules::DoorMode m{"front", rules::DoorModeKind::kLockedDown, std::nullopt};
  ASSERT_TRUE(store_->ApplyOps({rules::PutOp(m)}, Position{1, 11}).ok());
  s = Start();
  EXPECT_FALSE(s.from_image);
  EXPECT_FALSE(Granted(*s.index, 1));  // locked down
}

TEST_F(IndexImageFileTest, DamagedOrPartImageMeansARebuild) {
  Save();
  const std::string good = Slurp(image_);
  auto put = [&](const std::string& bytes) {
    fs::remove(image_);
    std::ofstream(image_, std::ios::binary) << bytes;
  };
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x01;
  put(flipped);
  StartIndex s = Start();
  EXPECT_FALSE(s.from_image);
  EXPECT_NE(s.how.find("checksum"), std::string::npos) << s.how;
  put(good.substr(0, good.size() - 4096));  // a kill -9 mid-write without the rename
  s = Start();
  EXPECT_FALSE(s.from_image);
  EXPECT_NE(s.how.find("truncated"), std::string::npos) << s.how;
  put("");
  EXPECT_FALSE(Start().from_image);
  put(good);
  EXPECT_TRUE(Start().from_image);
  // Another site config (a door added).
  rules::Site other = TestSite();
  other.doors.push_back({"roof", false});
  s = Start(other);
  EXPECT_FALSE(s.from_image);
  EXPECT_NE(s.how.find("another site config"), std::string::npos) << s.how;
}

TEST_F(IndexImageFileTest, EditingAMappedIndexLeavesTheFileUntouched) {
  Save();
  const std::string before = Slurp(image_);
  StartIndex s = Start();
  ASSERT_TRUE(s.from_image);
  rules::Credential c = TestState(8).credentials[7];
  c.status = rules::CredentialStatus::kRevoked;
  rules::Person p;
  p.id = "new";
  p.groups = {"g0"};
  rules::Credential n = TestState(1).credentials[0];
  n.id = "c-new";
  n.person = "new";
  n.card.number = 60000;
  std::string why;
  // The mapping is read-only: writing into it would crash, so passing shows the chunks were copied.
  std::shared_ptr<const rules::Index> edited =
      rules::ApplyOpsToIndex(*s.index, {rules::PutOp(c), rules::PutOp(p), rules::PutOp(n)}, &why);
  ASSERT_TRUE(edited) << why;
  EXPECT_FALSE(Granted(*edited, 7));
  EXPECT_TRUE(Granted(*edited, 60000));
  EXPECT_TRUE(Granted(*s.index, 7));
  EXPECT_EQ(Slurp(image_), before);
}

}  // namespace
}  // namespace lintel::store
