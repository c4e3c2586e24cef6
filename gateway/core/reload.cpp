#include "gateway/core/reload.h"

namespace lintel::core {

Status ReloadAll(std::span<const ReloadPart> parts) {
  for (const ReloadPart& part : parts) {
    if (!part.prepare) continue;
    Status s = part.prepare();
    if (!s.ok()) return Status(s.code(), part.name + ": " + s.message());
  }
  for (const ReloadPart& part : parts) {
    if (part.commit) part.commit();
  }
  return Status::Ok();
}

}  // namespace lintel::core
