// CoreSyncHost: lends core::Gateway to the cloud sync as its cloud::SyncHost.
//
// The layering (DESIGN.md, issue 10 point 19): the core does not implement an interface the cloud
// layer owns, and neither layer includes the other. The daemon (gateway/main.cpp), the tests and
// the benchmarks that run a CloudSync on a Gateway put this adapter between them. Each member
// forwards to the Gateway member of the same name; the contracts are cloud::SyncHost's
// (gateway/cloud/sync.h).
//
// Thread rule: as both sides: the core loop's thread only. The Gateway must outlive the adapter,
// and the adapter the CloudSync that holds it.
#pragma once

#include "gateway/cloud/sync.h"
#include "gateway/core/gateway.h"

namespace lintel::wiring {

class CoreSyncHost final : public cloud::SyncHost {
 public:
  explicit CoreSyncHost(core::Gateway& gateway) : gw_(gateway) {}

  store::Store& store() override { return gw_.store(); }
  rules::Engine& engine() override { return gw_.engine(); }
  void InstallIndex(std::shared_ptr<const rules::Index> index,
                    std::optional<rules::ImageStamp> stamp) override {
    gw_.InstallIndex(std::move(index), stamp);
  }
  Instant WallNow() override { return gw_.WallNow(); }
  bool ClockSynced() override { return gw_.ClockSynced(); }
  void NoteSignedTime(Instant issued_at, std::optional<Instant> expires_at) override {
    gw_.NoteSignedTime(issued_at, expires_at);
  }
  Status JournalNow(nlohmann::json event) override { return gw_.JournalNow(std::move(event)); }
  void JournalLater(nlohmann::json event) override { gw_.JournalLater(std::move(event)); }
  Status FlushJournal() override { return gw_.FlushJournal(); }
  Status DeleteEventsUpTo(uint64_t seq) override { return gw_.DeleteEventsUpTo(seq); }
  void RecordCommandLater(std::string id, Instant at, std::string response,
                          std::function<void(Status)> done) override {
    gw_.WriteLater([id = std::move(id), at, response = std::move(response)](
                       store::Store& s) { return s.RecordCommand(id, at, response); },
                   std::move(done));
  }
  void PruneCommandsLater(Instant before, std::function<void(Status)> done) override {
    gw_.WriteLater([before](store::Store& s) { return s.PruneCommands(before); }, std::move(done));
  }
  Status SetMetaLater(std::string key, std::string value) override {
    return gw_.SetMetaLater(std::move(key), std::move(value));
  }
  Status Unlock(std::string_view door, std::chrono::milliseconds duration) override {
    return gw_.Unlock(door, duration);
  }
  uint64_t UnwrittenEvents() override { return gw_.UnwrittenEvents(); }
  uint64_t LostEvents() override { return gw_.LostEvents(); }

 private:
  core::Gateway& gw_;
};

}  // namespace lintel::wiring
