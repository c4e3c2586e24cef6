#include "gateway/store/encoding.h"

#include <charconv>

namespace lintel::store::internal {
namespace {

// Parses a decimal integer of type T at the start of *text and consumes it.
template <typename T>
bool Take(std::string_view* text, T* value) {
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, *value);
  if (ec != std::errc() || ptr == text->data()) return false;
  text->remove_prefix(static_cast<size_t>(ptr - text->data()));
  return true;
}

bool TakeChar(std::string_view* text, char c) {
  if (text->empty() || text->front() != c) return false;
  text->remove_prefix(1);
  return true;
}

// Splits `text` at `sep` and calls f(piece) for each; "" yields no pieces.
template <typename F>
bool ForEachPiece(std::string_view text, char sep, F&& f) {
  if (text.empty()) return true;
  while (true) {
    size_t at = text.find(sep);
    if (!f(text.substr(0, at))) return false;
    if (at == std::string_view::npos) return true;
    text.remove_prefix(at + 1);
  }
}

bool DecodeWindow(std::string_view text, rules::Window* w) {
  return Take(&text, &w->days) && TakeChar(&text, ':') && Take(&text, &w->from_min) &&
         TakeChar(&text, '-') && Take(&text, &w->to_min) && text.empty();
}

}  // namespace

bool JoinIds(const std::vector<std::string>& ids, std::string* out) {
  out->clear();
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    if (id.empty() || id.find(kIdSeparator) != std::string::npos) return false;
    if (i > 0) out->push_back(kIdSeparator);
    out->append(id);
  }
  return true;
}

void SplitIds(std::string_view text, std::vector<std::string>* ids) {
  size_t n = 0;
  ForEachPiece(text, kIdSeparator, [&](std::string_view piece) {
    if (n < ids->size()) {
      (*ids)[n].assign(piece);
    } else {
      ids->emplace_back(piece);
    }
    ++n;
    return true;
  });
  ids->resize(n);
}

void EncodeWindows(const std::vector<rules::Window>& windows, std::string* out) {
  out->clear();
  for (size_t i = 0; i < windows.size(); ++i) {
    const rules::Window& w = windows[i];
    if (i > 0) out->push_back(',');
    out->append(std::to_string(w.days));
    out->push_back(':');
    out->append(std::to_string(w.from_min));
    out->push_back('-');
    out->append(std::to_string(w.to_min));
  }
}

bool DecodeWindows(std::string_view text, std::vector<rules::Window>* windows) {
  windows->clear();
  return ForEachPiece(text, ',', [&](std::string_view piece) {
    rules::Window w;
    if (!DecodeWindow(piece, &w)) return false;
    windows->push_back(w);
    return true;
  });
}

void EncodeExceptions(const std::vector<rules::ScheduleException>& exceptions, std::string* out) {
  out->clear();
  std::string windows;
  for (size_t i = 0; i < exceptions.size(); ++i) {
    if (i > 0) out->push_back(';');
    out->append(std::to_string(exceptions[i].date));
    out->push_back('=');
    EncodeWindows(exceptions[i].windows, &windows);
    out->append(windows);
  }
}

bool DecodeExceptions(std::string_view text, std::vector<rules::ScheduleException>* exceptions) {
  exceptions->clear();
  return ForEachPiece(text, ';', [&](std::string_view piece) {
    rules::ScheduleException e;
    if (!Take(&piece, &e.date) || !TakeChar(&piece, '=')) return false;
    if (!DecodeWindows(piece, &e.windows)) return false;
    exceptions->push_back(std::move(e));
    return true;
  });
}

}  // namespace lintel::store::internal
