// Index: the engine's immutable, compact view of one state, built once and then only read.
//
// An Index is never modified once published; a new state makes a new Index that is swapped in
// (shared_ptr), so a decision never waits on sync or on the store, and any number of threads may
// read one Index at once. A new Index comes from Build() (a whole state) or from ApplyOpsToIndex()
// (a delta on the previous Index, O(change): issue 13). The large arrays are CowVectors: the new
// Index shares every 64 KiB chunk the delta did not touch with the previous one. Lookups by
// credential key, credential id, person id and door id are O(1) (open-addressing hash tables over
// 32-bit row numbers; ids and names live in one string arena) so that 2,000,000 credentials with
// their people and leases fit in about 150 bytes per credential.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/cow_vector.h"
#include "rules/model.h"
#include "rules/ops.h"
#include "rules/presented.h"

namespace lintel::rules {

inline constexpr uint32_t kNone = 0xffffffffu;
// Rows are numbered below 2^24: an index holds at most 16,777,214 credentials and as many people.
inline constexpr uint32_t kRowBits = 24;
inline constexpr uint32_t kRowMask = (1u << kRowBits) - 1;
inline constexpr uint32_t kMaxRows = kRowMask - 1;

// A string in the index's arena.
struct Str {
  uint32_t offset = 0;
  uint32_t size = 0;
};

struct ScheduleRec {
  Str id;
  std::vector<Window> windows;
  std::vector<ScheduleException> exceptions;  // sorted by date
};
struct GroupRec {
  Str id;
  Str name;
  std::vector<uint16_t> doors;  // sorted door numbers
  uint32_t schedule = 0;
};
struct PersonRec {
  Str id;
  Str name;
  uint32_t primary = kNone;
  uint32_t groups = 0;  // offset into refs: `groups_count` group numbers
  uint32_t leases = 0;  // offset into refs: `leases_count` lease numbers (leases naming the person)
  uint16_t groups_count = 0;
  uint16_t leases_count = 0;
  Role role = Role::kTenant;
  PersonStatus status = PersonStatus::kActive;
  bool inherit = false;
  bool dead = false;  // deleted by a delta (the row stays; FindPerson no longer finds it)
};
struct LeaseRec {
  Str id;
  Str unit;
  int64_t starts_at = 0;
  int64_t ends_at = INT64_MAX;     // exclusive
  int64_t paid_until = INT64_MAX;  // paid_through + grace, exclusive; INT64_MAX when not tracked
  uint32_t groups = 0;             // offset into refs
  uint32_t members = 0;            // offset into refs: `members_count` person rows
  uint16_t groups_count = 0;
  uint16_t members_count = 0;
  bool dead = false;  // deleted by a delta
};
struct CredentialRec {
  CredentialKey key;
  Str id;
  uint32_t person = kNone;         // kNone: dropped at build, or deleted by a delta
  uint32_t next_same_key = kNone;  // other credentials of this card/PIN, by valid_from
  int64_t valid_from = INT64_MIN;
  int64_t valid_until = INT64_MAX;  // exclusive
  CredentialType type = CredentialType::kCard;
  CredentialStatus status = CredentialStatus::kActive;
};
// The lock data of a ble_key credential, in a side table of the Index (only ble_key credentials
// have one, so a card or PIN costs nothing more). Used by rules/lock_sync.h.
inline constexpr uint16_t kNoDoor = 0xffff;
struct BleKeyRec {
  uint32_t credential = kNone;  // the credential's row
  uint16_t door = kNoDoor;      // the lock's door number; kNoDoor when not a door of this site
  Str key;                      // base64 of 32 bytes, as stored
  Str name;
};
struct DoorRec {
  std::string id;
  bool common = false;
  DoorModeKind mode = DoorModeKind::kNormal;  // from the state's door_modes
  int64_t mode_until = INT64_MAX;
};

class Index;

// Builds an Index from records streamed in any order (the store streams rows; a state file gives
// Records). Tolerant: a dangling reference (a group naming a door that the YAML no longer has, a
// credential of an unknown person) is dropped with a warning rather than failing the build, so a
// stored state keeps loading after an installer edits the YAML. Strict checking is Validate()'s job
// before anything is stored. Single-threaded.
class IndexBuilder {
 public:
  explicit IndexBuilder(Site site);
  ~IndexBuilder();
  // Optional: how many credentials/people/leases to expect (avoids regrowth).
  void Reserve(size_t credentials, size_t people, size_t leases);
  void Add(const Schedule& s);
  void Add(const Group& g);
  void Add(const Person& p);
  void Add(const Lease& l);
  void Add(const Credential& c);
  void Add(const DoorMode& m);
  void AddAll(const Records& r);
  // Consumes the builder. `warnings` (optional) receives the dropped references.
  std::shared_ptr<const Index> Build(std::vector<std::string>* warnings = nullptr);

 private:
  struct Pending;
  std::unique_ptr<Pending> p_;
};

inline std::shared_ptr<const Index> BuildIndex(const Site& site, const Records& r,
                                               std::vector<std::string>* warnings = nullptr) {
  IndexBuilder b(site);
  b.AddAll(r);
  return b.Build(warnings);
}

// The revocation fast path: a copy of `base` in which existing card and PIN credentials take a new
// status and validity end, everything else equal. It returns nullptr (rebuild instead) unless every
// update names a credential of `base` with the same holder, type, card or PIN and valid_from, and
// the change cannot make two credentials of one card or PIN overlap: valid_until may only move
// earlier (staying after valid_from) and a revoked credential may not come back. Such an update
// passes Validate whenever the state it changes did. Copying costs O(size of the index), a
// fraction of a rebuild (no hashing, no sorting, no string interning). A ble_key update is never
// patched (it returns nullptr), so the copy's ble_key side table (Index::ble_keys) stays exact.
std::shared_ptr<const Index> PatchCredentials(const Index& base,
                                              const std::vector<Credential>& updates);

// Restrictions ahead of their commit (issue 13, point 2): what a signed delta that only touches
// existing cards and PINs takes away from them, put in force while the delta still waits for its
// turn and its durable commit (gateway/cloud/sync.cpp). Only the narrowing is kept: a stricter
// status, an earlier end, or the credential gone.
struct CredentialRestriction {
  std::string id;
  bool deleted = false;
  CredentialStatus status = CredentialStatus::kActive;
  int64_t valid_until = INT64_MAX;  // exclusive
};
// The restrictions of `ops` when every op deletes a card or PIN credential that `base` holds, or
// puts it again with the same holder, type, card or PIN and start (only its status and end may
// differ); nullopt otherwise. A put's narrowing is taken (a stricter status, an earlier end), not
// what it lifts, so the narrowed index never grants what the state before or after the delta
// denies. Puts that narrow nothing are left out (an empty result: nothing to put in force early).
std::optional<std::vector<CredentialRestriction>> CredentialRestrictionsOf(
    const Index& base, const std::vector<Op>& ops);
// A copy of `base` narrowed by `restrictions`, sharing every chunk it does not change: each
// credential found (by id, card or PIN) takes the stricter status (revoked, then suspended, then
// active), the earlier end, and no holder when deleted; the others are skipped. It never grants:
// each decision of the copy is the decision of `base` or a denial. nullptr when nothing changes.
std::shared_ptr<const Index> RestrictCredentials(
    const Index& base, const std::vector<CredentialRestriction>& restrictions);

// A delta on an index (issue 13, point 1): the Index of the state `base` was built from with `ops`
// applied (rules::ApplyOpsTo order semantics), sharing every chunk the delta does not touch, in
// O(ops x their references). For a state that passes Validate() before and after, the new index
// decides exactly as a Build() of the new state would (tests/unit/rules/index_edit_test.cpp).
// Returns nullptr, with the reason in `why`, where a rebuild is needed instead: a delete of a
// schedule or group, more rows than the hash tables were sized for, or edits past a quarter of the
// index's built size (the rebuild compacts what edits left behind).
std::shared_ptr<const Index> ApplyOpsToIndex(const Index& base, const std::vector<Op>& ops,
                                             std::string* why = nullptr);

// The same index with every large array in chunks of its own, fresh from the huge-page slabs
// (CowVector::Owned): an index read from a mapped image (rules/index_image.h) reads through the
// file's 4 KiB pages, one TLB miss per random access; its owned copy reads through 2 MiB pages and
// no longer pins the mapping. O(size of the index) (~0.1 s at 2,000,000 credentials); the copy
// decides exactly as `x`.
std::shared_ptr<const Index> CopyToOwnedChunks(const Index& x);

class Index {
 public:
  const Site& site() const { return site_; }
  std::string_view str(Str s) const {
    return s.size == 0 ? std::string_view() : std::string_view(arena_.data_at(s.offset), s.size);
  }

  // O(1) lookups; kNone when absent (or deleted).
  uint32_t FindDoor(std::string_view id) const;
  uint32_t FindCredentialByKey(const CredentialKey& k) const;  // first of its chain
  uint32_t FindCredentialById(std::string_view id) const;
  uint32_t FindPerson(std::string_view id) const;
  uint32_t FindLease(std::string_view id) const;

  // Records in force (the row arrays also hold rows deleted by deltas).
  size_t credential_count() const { return live_credentials_; }
  size_t person_count() const { return live_people_; }
  size_t lease_count() const { return live_leases_; }

  const std::vector<DoorRec>& doors() const { return doors_; }
  const std::vector<ScheduleRec>& schedules() const { return schedules_; }
  const std::vector<GroupRec>& groups() const { return groups_; }
  // The large arrays: chunked, shared with the indexes made from this one by deltas.
  template <typename T>
  using BigVector = CowVector<T>;
  using Arena = CowVector<char>;

  const BigVector<PersonRec>& people() const { return people_; }
  const BigVector<LeaseRec>& leases() const { return leases_; }
  const BigVector<CredentialRec>& credentials() const { return credentials_; }
  const uint32_t* refs(uint32_t offset) const { return refs_.data_at(offset); }
  // The ble_key credentials' lock data, ascending by credential row.
  const std::vector<BleKeyRec>& ble_keys() const { return *ble_keys_; }
  // The lock data of credential row `credential`; nullptr unless it is a ble_key credential.
  // O(log ble_keys).
  const BleKeyRec* FindBleKey(uint32_t credential) const;

  // Is schedule `s` open at `t` (site time zone, exceptions first)?
  bool ScheduleOpen(uint32_t s, Instant t) const { return ScheduleOpen(s, site_.zone->ToLocal(t)); }
  // The same for a local time already computed (a decision converts `now` once).
  bool ScheduleOpen(uint32_t s, const LocalTime& local) const;
  // Whether any large array aliases a mapped image (read from one, or edited from such an index).
  bool AliasesMapping() const;
  // Heap bytes held by this index (for the benchmark and `lintelctl status`).
  size_t MemoryBytes() const;
  // Bytes of the large arrays this index shares with `other` (an index made from it by a delta
  // shares all but the chunks the delta touched).
  size_t SharedBytes(const Index& other) const;

 private:
  friend class IndexBuilder;
  friend class IndexEditor;
  friend class IndexImage;  // rules/index_image.h: writes and maps the arrays as they are
  friend std::shared_ptr<const Index> CopyToOwnedChunks(const Index&);
  friend std::shared_ptr<const Index> PatchCredentials(const Index&,
                                                       const std::vector<Credential>&);
  friend std::shared_ptr<const Index> RestrictCredentials(
      const Index&, const std::vector<CredentialRestriction>&);
  Index() = default;
  Index(const Index&) = default;
  // Rows by id including deleted ones (a put of a deleted id takes its row again).
  uint32_t RowOfCredential(std::string_view id) const;
  uint32_t RowOfPerson(std::string_view id) const;
  uint32_t RowOfLease(std::string_view id) const;

  Site site_;
  Arena arena_;
  std::vector<DoorRec> doors_;
  std::vector<ScheduleRec> schedules_;
  std::vector<GroupRec> groups_;
  BigVector<PersonRec> people_;
  BigVector<LeaseRec> leases_;
  BigVector<CredentialRec> credentials_;
  BigVector<uint32_t> refs_;
  std::shared_ptr<const std::vector<BleKeyRec>> ble_keys_ =
      std::make_shared<const std::vector<BleKeyRec>>();
  // Open-addressing tables of tagged row numbers (kNone = empty), sized 1.5x their rows.
  BigVector<uint32_t> cred_by_key_;
  BigVector<uint32_t> cred_by_id_;
  BigVector<uint32_t> person_by_id_;
  BigVector<uint32_t> lease_by_id_;
  std::vector<uint32_t> door_by_id_;
  size_t live_credentials_ = 0;
  size_t live_people_ = 0;
  size_t live_leases_ = 0;
  size_t built_bytes_ = 0;   // MemoryBytes() when built
  size_t edited_bytes_ = 0;  // arena, refs and dead rows left behind by deltas since
};

}  // namespace lintel::rules
