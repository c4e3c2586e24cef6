#include "gateway/devices/readers.h"

#include "gateway/base/log.h"
#include "gateway/devices/wiegand_driver.h"

namespace lintel::devices {

namespace {

constexpr ReaderType kReaderTypes[] = {
    {"wiegand", MakeWiegandDriver},
};

bool SamePinPolicy(const rules::Policy& a, const rules::Policy& b) {
  return a.pin_min_length == b.pin_min_length && a.pin_max_length == b.pin_max_length;
}

}  // namespace

std::span<const ReaderType> ReaderTypes() { return kReaderTypes; }

void Readers::Apply(const config::Config& config) {
  std::map<std::string, const config::ReaderConfig*, std::less<>> wanted;
  for (const config::ReaderConfig& r : config.readers) {
    if (!r.type.empty()) wanted[r.id] = &r;
  }
  // Stop what is gone or changed.
  for (auto it = drivers_.begin(); it != drivers_.end();) {
    auto w = wanted.find(it->first);
    if (w != wanted.end() && *w->second == it->second.config &&
        SamePinPolicy(config.policy, it->second.policy)) {
      ++it;
      continue;
    }
    LogInfo("readers",
            "reader " + it->first + ": stopped" +
                (w == wanted.end() ? std::string() : std::string(" (settings changed)")));
    it = drivers_.erase(it);
  }
  // Start what is new or changed.
  for (const auto& [id, reader] : wanted) {
    if (drivers_.count(id) != 0) continue;
    ReaderFactory make = nullptr;
    for (const ReaderType& t : kReaderTypes) {
      if (t.type == reader->type) make = t.make;
    }
    if (make == nullptr) {  // the config loader only accepts types from the table
      LogError("readers", "reader " + id + ": no driver for type " + reader->type);
      continue;
    }
    drivers_[id] = Running{*reader, config.policy, make(context_, *reader, config.policy)};
  }
}

nlohmann::json Readers::Status() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [id, running] : drivers_) out[id] = running.driver->Status();
  return out;
}

Result<nlohmann::json> Readers::LastFrames(std::string_view id, size_t n) const {
  auto it = drivers_.find(id);
  if (it == drivers_.end()) {
    std::string known;
    for (const auto& [rid, running] : drivers_) known += (known.empty() ? "" : ", ") + rid;
    return Status::NotFound("reader \"" + std::string(id) + "\" has no driver (readers with one: " +
                            (known.empty() ? "none" : known) + ")");
  }
  nlohmann::json last = it->second.driver->LastFrames(n);
  if (last.is_null()) {
    return Status::FailedPrecondition("reader \"" + std::string(id) + "\" (type " +
                                      it->second.config.type + ") keeps no frames");
  }
  last["reader"] = it->first;
  last["door"] = it->second.config.door;
  return last;
}

}  // namespace lintel::devices
