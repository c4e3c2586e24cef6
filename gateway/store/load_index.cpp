#include "gateway/store/load_index.h"

namespace lintel::store {
namespace {

class BuilderVisitor final : public RecordVisitor {
 public:
  explicit BuilderVisitor(rules::IndexBuilder& b) : b_(b) {}
  void OnSchedule(const rules::Schedule& x) override { b_.Add(x); }
  void OnGroup(const rules::Group& x) override { b_.Add(x); }
  void OnPerson(const rules::Person& x) override { b_.Add(x); }
  void OnLease(const rules::Lease& x) override { b_.Add(x); }
  void OnCredential(const rules::Credential& x) override { b_.Add(x); }
  void OnDoorMode(const rules::DoorMode& x) override { b_.Add(x); }

 private:
  rules::IndexBuilder& b_;
};

}  // namespace

Result<std::shared_ptr<const rules::Index>> LoadIndex(Store& store, const rules::Site& site,
                                                      std::vector<std::string>* warnings) {
  rules::IndexBuilder builder(site);
  BuilderVisitor visitor(builder);
  LINTEL_RETURN_IF_ERROR(store.LoadState(visitor));
  return builder.Build(warnings);
}

}  // namespace lintel::store
