#include "gateway/store/load_index.h"

namespace lintel::store {
namespace {

class BuilderVisitor final : public RecordVisitor {
 public:
  explicit BuilderVisitor(rules::IndexBuilder& b, const std::function<void()>* first = nullptr)
      : b_(b), first_(first) {}
  void OnSchedule(const rules::Schedule& x) override { Row(x); }
  void OnGroup(const rules::Group& x) override { Row(x); }
  void OnPerson(const rules::Person& x) override { Row(x); }
  void OnLease(const rules::Lease& x) override { Row(x); }
  void OnCredential(const rules::Credential& x) override { Row(x); }
  void OnDoorMode(const rules::DoorMode& x) override { Row(x); }
  void First() {
    if (first_ != nullptr && *first_) (*first_)();
    first_ = nullptr;
  }

 private:
  template <typename R>
  void Row(const R& r) {
    if (first_ != nullptr) First();
    b_.Add(r);
  }
  rules::IndexBuilder& b_;
  const std::function<void()>* first_;
};

}  // namespace

Result<std::shared_ptr<const rules::Index>> LoadIndex(Store& store, const rules::Site& site,
                                                      std::vector<std::string>* warnings) {
  rules::IndexBuilder builder(site);
  BuilderVisitor visitor(builder);
  LINTEL_RETURN_IF_ERROR(store.LoadState(visitor));
  return builder.Build(warnings);
}

Result<std::shared_ptr<const rules::Index>> LoadStagedIndex(Store& store, const rules::Site& site,
                                                            std::vector<std::string>* warnings,
                                                            const std::function<void()>& reading) {
  rules::IndexBuilder builder(site);
  BuilderVisitor visitor(builder, &reading);
  Status loaded = store.StageLoad(visitor);
  visitor.First();  // no row (or a failure): the caller need not wait any longer
  LINTEL_RETURN_IF_ERROR(loaded);
  return builder.Build(warnings);
}

}  // namespace lintel::store
