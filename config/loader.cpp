#include "config/loader.h"

namespace lintel::config::internal {

void Claim(Loader& l, const std::string& what, const std::string& who, Pos pos) {
  auto [it, inserted] = l.claims.emplace(what, std::make_pair(who, pos));
  if (!inserted) {
    l.problems.Add(pos, what + " is already used by " + it->second.first + " (at " +
                            PosText(it->second.second) + ")");
  }
}

void CheckUnique(Loader& l, std::map<std::string, Pos, std::less<>>& seen, std::string_view what,
                 const Field<std::string>& id) {
  auto [it, inserted] = seen.emplace(id.value, id.pos);
  if (!inserted) {
    l.problems.Add(id.pos, "duplicate " + std::string(what) + " " + Quote(id.value) +
                               " (first at " + PosText(it->second) + ")");
  }
}

bool IsPointRef(std::string_view s) {
  // Module ids may hold dots; the point name is after the last one.
  size_t dot = s.rfind('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < s.size() && IsId(s.substr(0, dot)) &&
         IsId(s.substr(dot + 1));
}

std::optional<std::string> PointRefKey(Loader& l, MapWalker& w, std::string_view key, Need need,
                                       const std::string& from, bool output) {
  auto v = w.Id(key, need, kPointRefExpected, IsPointRef);
  if (!v) return std::nullopt;
  l.point_refs.push_back({from, v->value, output, v->pos});
  return v->value;
}

}  // namespace lintel::config::internal
