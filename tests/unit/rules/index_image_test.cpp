// rules/index_image.h (issue 13, point 4): an index written as an image and read back is the same
// index (byte for byte, and it decides the same); every damaged, stale or foreign image is refused
// whole; an index read from an image can be edited by a delta without writing into the image.
#include "rules/index_image.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "rules/engine.h"
#include "rules/validate.h"
#include "tests/unit/rules/fixture.h"
#include "tests/unit/rules/random_state.h"

namespace lintel::rules {
namespace {

using testing::Card;
using testing::MakeGroup;
using testing::MakePerson;
using testing::MapleCourt;
using testing::Pin;
using testing::RandomState;
using testing::T;

class StringSink final : public ImageSink {
 public:
  Status Write(const void* data, size_t n) override {
    out.append(static_cast<const char*>(data), n);
    return Status::Ok();
  }
  std::string out;
};

// An image in 8-byte aligned memory, as a mapping would be (page aligned there).
struct Image {
  std::shared_ptr<std::vector<uint64_t>> words;
  size_t bytes = 0;
  std::span<const std::byte> span() const {
    return {reinterpret_cast<const std::byte*>(words->data()), bytes};
  }
  std::byte* data() { return reinterpret_cast<std::byte*>(words->data()); }
};

Image Write(const Index& x, const ImageStamp& stamp) {
  StringSink sink;
  Result<uint64_t> n = WriteIndexImage(x, stamp, sink);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, sink.out.size());
  Image img;
  img.bytes = sink.out.size();
  img.words = std::make_shared<std::vector<uint64_t>>((img.bytes + 7) / 8);
  std::memcpy(img.words->data(), sink.out.data(), img.bytes);
  return img;
}

Result<std::shared_ptr<const Index>> Read(const Image& img, const Site& site,
                                          const ImageStamp& stamp) {
  return ReadIndexImage(img.span(), img.words, site, stamp);
}

template <typename T>
void ExpectSameArray(const CowVector<T>& a, const CowVector<T>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); i += CowVector<T>::kChunk) {
    size_t n = std::min(CowVector<T>::kChunk, a.size() - i);
    ASSERT_EQ(std::memcmp(&a[i], &b[i], n * sizeof(T)), 0) << what << " at " << i;
  }
}

void ExpectSameIndex(const Index& a, const Index& b) {
  ExpectSameArray(a.people(), b.people(), "people");
  ExpectSameArray(a.leases(), b.leases(), "leases");
  ExpectSameArray(a.credentials(), b.credentials(), "credentials");
  EXPECT_EQ(a.credential_count(), b.credential_count());
  EXPECT_EQ(a.person_count(), b.person_count());
  EXPECT_EQ(a.lease_count(), b.lease_count());
  ASSERT_EQ(a.doors().size(), b.doors().size());
  for (size_t i = 0; i < a.doors().size(); ++i) {
    EXPECT_EQ(a.doors()[i].id, b.doors()[i].id);
    EXPECT_EQ(a.doors()[i].common, b.doors()[i].common);
    EXPECT_EQ(a.doors()[i].mode, b.doors()[i].mode);
    EXPECT_EQ(a.doors()[i].mode_until, b.doors()[i].mode_until);
    EXPECT_EQ(a.FindDoor(a.doors()[i].id), b.FindDoor(a.doors()[i].id));
  }
  ASSERT_EQ(a.schedules().size(), b.schedules().size());
  for (size_t i = 0; i < a.schedules().size(); ++i) {
    EXPECT_EQ(a.str(a.schedules()[i].id), b.str(b.schedules()[i].id));
    EXPECT_EQ(a.schedules()[i].windows.size(), b.schedules()[i].windows.size());
    EXPECT_EQ(a.schedules()[i].exceptions.size(), b.schedules()[i].exceptions.size());
  }
  ASSERT_EQ(a.groups().size(), b.groups().size());
  for (size_t i = 0; i < a.groups().size(); ++i) {
    EXPECT_EQ(a.str(a.groups()[i].name), b.str(b.groups()[i].name));
    EXPECT_EQ(a.groups()[i].doors, b.groups()[i].doors);
    EXPECT_EQ(a.groups()[i].schedule, b.groups()[i].schedule);
  }
  ASSERT_EQ(a.ble_keys().size(), b.ble_keys().size());
  for (size_t i = 0; i < a.ble_keys().size(); ++i) {
    EXPECT_EQ(a.str(a.ble_keys()[i].key), b.str(b.ble_keys()[i].key));
    EXPECT_EQ(a.ble_keys()[i].door, b.ble_keys()[i].door);
  }
  // Every lookup by id and key finds the same row.
  for (size_t r = 0; r < a.credentials().size(); ++r) {
    const CredentialRec& c = a.credentials()[r];
    EXPECT_EQ(a.FindCredentialById(a.str(c.id)), b.FindCredentialById(a.str(c.id)));
    if (!c.key.empty()) {
      EXPECT_EQ(a.FindCredentialByKey(c.key), b.FindCredentialByKey(c.key));
    }
  }
  for (size_t r = 0; r < a.people().size(); ++r) {
    std::string_view id = a.str(a.people()[r].id);
    EXPECT_EQ(a.FindPerson(id), b.FindPerson(id));
  }
  for (size_t r = 0; r < a.leases().size(); ++r) {
    std::string_view id = a.str(a.leases()[r].id);
    EXPECT_EQ(a.FindLease(id), b.FindLease(id));
  }
}

void ExpectSameDecisions(const Index& a, const Index& b, const std::string& where) {
  testing::ForEachProbe(b, [&](const Request& req, const char* at) {
    Decision x = DecideWith(a, req, T(at), INT64_MIN, nullptr);
    Decision y = DecideWith(b, req, T(at), INT64_MIN, nullptr);
    ASSERT_EQ(x.granted, y.granted) << where << " door " << req.door << " at " << at;
    ASSERT_EQ(x.reason, y.reason) << where << " door " << req.door << " at " << at;
    ASSERT_EQ(x.credential, y.credential) << where << " door " << req.door << " at " << at;
  });
}

// A state large enough that every large array spans several chunks.
Records LargeState(int n) {
  Records r;
  r.schedules = {testing::WeekdaysNineToFive()};
  r.groups = {MakeGroup("g0", {"front"}), MakeGroup("g1", {"garage", "roof"}, "office")};
  for (int i = 0; i < n; ++i) {
    std::string p = "person-" + std::to_string(i);
    r.people.push_back(MakePerson(p));
    Lease l;
    l.id = "lease-" + std::to_string(i);
    l.unit = std::to_string(i);
    l.members = {p};
    l.groups = {i % 2 ? "g0" : "g1"};
    l.starts_at = T("2026-01-01T00:00:00Z");
    r.leases.push_back(l);
    r.credentials.push_back(Card("card-" + std::to_string(i), p, 7, static_cast<uint64_t>(i)));
    r.credentials.push_back(Pin("pin-" + std::to_string(i), p, std::to_string(100000 + i)));
  }
  return r;
}

const ImageStamp kStamp{2, 41, 7};

TEST(IndexImage, RoundTripIsTheSameIndexOverRandomStates) {
  const Site site = MapleCourt();
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    RandomState g(seed);
    Records state = g.State(site);
    std::shared_ptr<const Index> built = BuildIndex(site, state);
    // Also an index edited by deltas (dead rows, relinked chains, moved table entries).
    std::shared_ptr<const Index> edited = built;
    for (int d = 0; d < 10; ++d) {
      std::vector<Op> ops = {g.RandomOp()};
      Records after = state;
      ApplyOpsTo(after, ops);
      if (!Validate(site, after).empty()) continue;
      std::shared_ptr<const Index> next = ApplyOpsToIndex(*edited, ops);
      if (!next) continue;
      edited = next;
      state = std::move(after);
    }
    for (const auto& x : {built, edited}) {
      Image img = Write(*x, kStamp);
      Result<std::shared_ptr<const Index>> back = Read(img, site, kStamp);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      ExpectSameIndex(*x, **back);
      ExpectSameDecisions(*x, **back, "seed " + std::to_string(seed));
    }
  }
}

TEST(IndexImage, RoundTripOfAManyChunkIndexDecidesAsAFreshBuild) {
  const Site site = MapleCourt();
  Records state = LargeState(40000);
  std::shared_ptr<const Index> built = BuildIndex(site, state);
  ASSERT_GT(built->credentials().chunk_count(), 20u);
  Image img = Write(*built, kStamp);
  EXPECT_EQ(img.bytes % kIndexImageAlign, 16u);  // sections page aligned, then the trailer
  Result<std::shared_ptr<const Index>> back = Read(img, site, kStamp);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameIndex(*built, **back);
  for (int i : {0, 1, 17, 20000, 39999}) {
    Request card{"front", "", testing::CardAt(7, static_cast<uint64_t>(i))};
    Request pin{"garage", "", PinPresented(std::to_string(100000 + i))};
    for (const Request& req : {card, pin}) {
      for (const char* at :
           {"2025-12-31T10:00:00Z", "2026-03-04T10:00:00Z", "2026-03-07T10:00:00Z"}) {
        Decision a = DecideWith(*built, req, T(at), INT64_MIN, nullptr);
        Decision b = DecideWith(**back, req, T(at), INT64_MIN, nullptr);
        EXPECT_EQ(a.granted, b.granted) << i << " " << at;
        EXPECT_EQ(a.reason, b.reason) << i << " " << at;
        EXPECT_EQ(a.credential, b.credential) << i << " " << at;
      }
    }
  }
  // The arrays live in the image: the loaded index allocated no chunk of its own.
  EXPECT_EQ((*back)->credentials().chunks_copied(), 0u);
  const auto* lo = reinterpret_cast<const char*>(img.span().data());
  const auto* at = reinterpret_cast<const char*>(&(*back)->credentials()[0]);
  EXPECT_TRUE(at >= lo && at < lo + img.bytes) << "credentials are not read from the image";
}

TEST(IndexImage, EveryFlippedByteIsRefused) {
  const Site site = MapleCourt();
  std::shared_ptr<const Index> built = BuildIndex(site, LargeState(3000));
  Image good = Write(*built, kStamp);
  // Header fields, the small part, each array's first and last bytes, the trailer.
  std::vector<size_t> at = {0, 9, 20, 60, 100, 400, kIndexImageAlign, kIndexImageAlign + 5};
  for (size_t p = 2 * kIndexImageAlign; p < good.bytes - 16; p += 7919) at.push_back(p);
  for (size_t k = 1; k <= 16; ++k) at.push_back(good.bytes - k);
  for (size_t pos : at) {
    Image bad = good;
    bad.words = std::make_shared<std::vector<uint64_t>>(*good.words);
    bad.data()[pos] ^= std::byte{0x10};
    Result<std::shared_ptr<const Index>> r = Read(bad, site, kStamp);
    EXPECT_FALSE(r.ok()) << "a flipped byte at " << pos << " was accepted";
  }
}

TEST(IndexImage, TruncatedOrPaddedImageIsRefused) {
  const Site site = MapleCourt();
  Image good = Write(*BuildIndex(site, LargeState(3000)), kStamp);
  for (size_t n :
       {size_t{0}, size_t{100}, size_t{4096}, good.bytes / 2, good.bytes - 16, good.bytes - 1}) {
    Image cut = good;
    cut.bytes = n;
    Result<std::shared_ptr<const Index>> r = Read(cut, site, kStamp);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << n << ": " << r.status().ToString();
  }
  Image longer = good;
  longer.words = std::make_shared<std::vector<uint64_t>>(*good.words);
  longer.words->push_back(0);
  longer.bytes += 8;
  EXPECT_FALSE(Read(longer, site, kStamp).ok());
}

TEST(IndexImage, ImageOfAnotherStateIsRefusedAsStale) {
  const Site site = MapleCourt();
  Image img = Write(*BuildIndex(site, LargeState(100)), kStamp);
  for (ImageStamp other :
       {ImageStamp{3, 41, 7}, ImageStamp{2, 42, 7}, ImageStamp{2, 41, 8}, ImageStamp{0, 0, 0}}) {
    Result<std::shared_ptr<const Index>> r = Read(img, site, other);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(r.status().message().find("stale"), std::string::npos) << r.status().ToString();
  }
}

TEST(IndexImage, ImageOfAnotherSiteConfigIsRefused) {
  const Site site = MapleCourt();
  Image img = Write(*BuildIndex(site, LargeState(100)), kStamp);
  std::vector<Site> others(5, site);
  others[0].doors.push_back({"attic", false});
  std::swap(others[1].doors[0], others[1].doors[1]);
  others[2].doors[2].common = true;
  others[3].policy.rent_grace_days = 6;
  others[4].zone = LoadTimeZone("Europe/Paris").value();
  for (const Site& other : others) {
    Result<std::shared_ptr<const Index>> r = Read(img, other, kStamp);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("another site config"), std::string::npos)
        << r.status().ToString();
  }
  // What the index does not depend on may change: the loaded index takes the new policy.
  Site pins = site;
  pins.policy.lockout_failures = 9;
  Result<std::shared_ptr<const Index>> r = Read(img, pins, kStamp);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->site().policy.lockout_failures, 9);
}

TEST(IndexImage, AnIndexReadFromAnImageIsEditedWithoutWritingTheImage) {
  const Site site = MapleCourt();
  Records state = LargeState(20000);
  std::shared_ptr<const Index> built = BuildIndex(site, state);
  Image img = Write(*built, kStamp);
  const std::vector<uint64_t> before = *img.words;
  Result<std::shared_ptr<const Index>> loaded = Read(img, site, kStamp);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();

  // A new tenant (person, lease, card), a revoked card, a deleted person's credential.
  Person p = MakePerson("new-tenant");
  Lease l;
  l.id = "new-lease";
  l.unit = "9";
  l.members = {"new-tenant"};
  l.groups = {"g0"};
  l.starts_at = T("2026-01-01T00:00:00Z");
  Credential card = Card("new-card", "new-tenant", 8, 900);
  Credential revoked = Card("card-5", "person-5", 7, 5);
  revoked.status = CredentialStatus::kRevoked;
  std::vector<Op> ops = {PutOp(p), PutOp(l), PutOp(card), PutOp(revoked),
                         DeleteOp(RecordKind::kCredential, "pin-77")};
  Records after = state;
  ApplyOpsTo(after, ops);
  for (const std::string& e : Validate(site, after)) ADD_FAILURE() << e;
  std::string why;
  std::shared_ptr<const Index> edited = ApplyOpsToIndex(**loaded, ops, &why);
  ASSERT_TRUE(edited) << why;
  EXPECT_GT(edited->credentials().chunks_copied(), 0u);
  EXPECT_EQ(*img.words, before) << "the edit wrote into the image";

  std::shared_ptr<const Index> fresh = BuildIndex(site, after);
  for (const char* at : {"2026-03-04T10:00:00Z"}) {
    for (auto [door, presented] :
         std::vector<std::pair<const char*, Presented>>{{"front", testing::CardAt(8, 900)},
                                                        {"front", testing::CardAt(7, 5)},
                                                        {"front", testing::CardAt(7, 7)},
                                                        {"garage", PinPresented("100077")},
                                                        {"garage", PinPresented("100078")}}) {
      Request req{door, "", presented};
      Decision a = DecideWith(*edited, req, T(at), INT64_MIN, nullptr);
      Decision b = DecideWith(*fresh, req, T(at), INT64_MIN, nullptr);
      EXPECT_EQ(a.granted, b.granted) << door;
      EXPECT_EQ(a.reason, b.reason) << door;
      EXPECT_EQ(a.credential, b.credential) << door;
    }
  }
  EXPECT_TRUE(DecideWith(*edited, {"front", "", testing::CardAt(8, 900)}, T("2026-03-04T10:00:00Z"),
                         INT64_MIN, nullptr)
                  .granted);
  EXPECT_FALSE(DecideWith(*edited, {"front", "", testing::CardAt(7, 5)}, T("2026-03-04T10:00:00Z"),
                          INT64_MIN, nullptr)
                   .granted);
  // The loaded index itself still decides as before the edit.
  EXPECT_TRUE(DecideWith(**loaded, {"front", "", testing::CardAt(7, 5)}, T("2026-03-04T10:00:00Z"),
                         INT64_MIN, nullptr)
                  .granted);
}

// The gateway copies an index read from an image into chunks of its own (huge pages instead of
// the file's 4 KiB ones): the copy is the same index, reads nothing from the image, does not pin
// it, and is edited like any index.
TEST(IndexImage, AnIndexCopiedOutOfTheImageIsTheSameAndHoldsNoPartOfIt) {
  const Site site = MapleCourt();
  Records state = LargeState(20000);
  std::shared_ptr<const Index> built = BuildIndex(site, state);
  EXPECT_FALSE(built->AliasesMapping());
  Image img = Write(*built, kStamp);
  std::weak_ptr<std::vector<uint64_t>> image_alive = img.words;
  Result<std::shared_ptr<const Index>> loaded = Read(img, site, kStamp);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE((*loaded)->AliasesMapping());
  std::shared_ptr<const Index> copy = CopyToOwnedChunks(**loaded);
  EXPECT_FALSE(copy->AliasesMapping());
  ExpectSameIndex(**loaded, *copy);
  ExpectSameDecisions(**loaded, *copy, "copy");
  for (int i : {0, 17, 19999}) {
    Request req{"front", "", testing::CardAt(7, static_cast<uint64_t>(i))};
    Decision a = DecideWith(**loaded, req, T("2026-03-04T10:00:00Z"), INT64_MIN, nullptr);
    Decision b = DecideWith(*copy, req, T("2026-03-04T10:00:00Z"), INT64_MIN, nullptr);
    EXPECT_EQ(a.reason, b.reason) << i;
    EXPECT_EQ(a.credential, b.credential) << i;
    EXPECT_EQ(a.granted, b.granted) << i;
  }
  EXPECT_EQ(copy->SharedBytes(**loaded), 0u);
  EXPECT_EQ(copy->MemoryBytes(), (*loaded)->MemoryBytes());
  const auto* lo = reinterpret_cast<const char*>(img.span().data());
  for (const char* at : {reinterpret_cast<const char*>(&copy->credentials()[0]),
                         reinterpret_cast<const char*>(&copy->people()[0]),
                         copy->str(copy->credentials()[0].id).data()}) {
    EXPECT_FALSE(at >= lo && at < lo + img.bytes) << "the copy reads from the image";
  }
  // An index edited from the loaded one still aliases the image; one edited from the copy not.
  Credential card = Card("new-card", "person-3", 8, 901);
  std::vector<Op> ops = {PutOp(card)};
  std::shared_ptr<const Index> from_loaded = ApplyOpsToIndex(**loaded, ops);
  std::shared_ptr<const Index> from_copy = ApplyOpsToIndex(*copy, ops);
  ASSERT_TRUE(from_loaded && from_copy);
  EXPECT_TRUE(from_loaded->AliasesMapping());
  EXPECT_FALSE(from_copy->AliasesMapping());
  ExpectSameDecisions(*from_loaded, *from_copy, "edited");
  // With the loaded index and its edit gone, nothing holds the image any more.
  img.words.reset();
  loaded = Status::NotFound("dropped");
  from_loaded.reset();
  EXPECT_TRUE(image_alive.expired());
  ExpectSameDecisions(*built, *copy, "built");
}

TEST(IndexImage, ChecksumSeesEveryWord) {
  std::vector<uint64_t> w(1000, 0x0123456789abcdefULL);
  uint64_t base = ImageChecksum(w.data(), w.size() * 8);
  for (size_t i = 0; i < w.size(); i += 37) {
    std::vector<uint64_t> v = w;
    v[i] ^= 1;
    EXPECT_NE(ImageChecksum(v.data(), v.size() * 8), base) << i;
  }
  EXPECT_NE(ImageChecksum(w.data(), w.size() * 8 - 1), base);
}

}  // namespace
}  // namespace lintel::rules
