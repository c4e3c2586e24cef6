// Thin RAII helpers over the SQLite C API, internal to lintel_store: no SQLite type appears in a
// public header. Single-threaded like the Store that uses them.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/status.h"
#include "gateway/base/time.h"

namespace lintel::store::internal {

// Maps a SQLite (extended) result code to the Status vocabulary:
//   SQLITE_CORRUPT, SQLITE_NOTADB -> kCorruption; SQLITE_CONSTRAINT, SQLITE_TOOBIG,
//   SQLITE_MISMATCH, SQLITE_RANGE -> kInvalidArgument; SQLITE_BUSY, SQLITE_LOCKED -> kUnavailable;
//   SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM, SQLITE_AUTH ->
//   kIoError; anything else -> kInternal.
inline StatusCode CodeFromSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::kCorruption;
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return StatusCode::kInvalidArgument;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::kUnavailable;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return StatusCode::kIoError;
    default:
      return StatusCode::kInternal;
  }
}

// A prepared statement; finalized on destruction. Text bound with BindText is not copied: it must
// stay unchanged until the statement is reset (Run() and the Reader below reset it).
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      sqlite3_finalize(s_);
      s_ = o.s_;
      o.s_ = nullptr;
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  sqlite3_stmt* get() const { return s_; }
  explicit operator bool() const { return s_ != nullptr; }

  void BindText(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindInt(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(s_, i); }
  void BindInstant(int i, Instant t) { BindInt(i, ToUnix(t)); }
  void BindOptInstant(int i, const std::optional<Instant>& t) {
    if (t) {
      BindInstant(i, *t);
    } else {
      BindNull(i);
    }
  }

  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string_view Text(int col) const {
    const unsigned char* p = sqlite3_column_text(s_, col);
    if (p == nullptr) return {};
    return {reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, col))};
  }
  void TextInto(int col, std::string* out) const { out->assign(Text(col)); }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets a statement when it goes out of scope (after a read loop, or an early return).
class ResetOnExit {
 public:
  explicit ResetOnExit(Stmt& s) : s_(s) {}
  ~ResetOnExit() { sqlite3_reset(s_.get()); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Stmt& s_;
};

}  // namespace lintel::store::internal
