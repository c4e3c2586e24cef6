// Shared by the benchmarks: the generated building state (people, leases, credentials at a
// realistic mix), its site, and the bare SQLite bulk-insert baseline the targets compare against.
// Header-only; each benchmark is one translation unit.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gateway/base/time.h"
#include "gateway/base/timezone.h"
#include "rules/model.h"
#include "rules/presented.h"

namespace lintel::bench {

inline double Seconds(std::chrono::steady_clock::time_point a,
                      std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

constexpr int kDoors = 40;
constexpr int kGroups = 200;

inline rules::Site BenchSite() {
  rules::Site s;
  s.id = "bench";
  for (int i = 0; i < kDoors; ++i) s.doors.push_back({"door-" + std::to_string(i), i < 4});
  s.policy.rent_grace_days = 5;
  s.zone = LoadTimeZone("Europe/Berlin").value();
  return s;
}

inline Instant At(const char* t) { return ParseRfc3339(t).value(); }

// Half the credentials are cards, half PINs; two per person; one lease per two people (a tenant
// and a family member who inherits).
inline rules::Records Generate(size_t credentials) {
  rules::Records r;
  size_t people = credentials / 2, leases = people / 2;
  r.schedules.push_back({"office", {rules::Window{0x1f, 7 * 60, 19 * 60}}, {}});
  r.schedules.push_back({"late", {rules::Window{0x7f, 5 * 60, 23 * 60 + 30}}, {}});
  for (int g = 0; g < kGroups; ++g) {
    rules::Group grp{"g-" + std::to_string(g), "Group " + std::to_string(g), {}, "always"};
    grp.doors.push_back("door-" + std::to_string(4 + g % (kDoors - 4)));
    if (g % 3 == 0) grp.doors.push_back("door-" + std::to_string(4 + (g * 7) % (kDoors - 4)));
    if (g % 10 == 0) grp.schedule = g % 20 == 0 ? "office" : "late";
    r.groups.push_back(std::move(grp));
  }
  r.people.reserve(people);
  for (size_t i = 0; i < people; ++i) {
    rules::Person p;
    p.id = "p-" + std::to_string(i);
    p.name = "Resident " + std::to_string(i);
    if (i % 2 == 1) {
      p.role = rules::Role::kFamily;
      p.primary = "p-" + std::to_string(i - 1);
      p.inherit = true;
    }
    r.people.push_back(std::move(p));
  }
  r.leases.reserve(leases);
  for (size_t i = 0; i < leases; ++i) {
    rules::Lease l;
    l.id = "l-" + std::to_string(i);
    l.unit = std::to_string(100 + i % 5000);
    l.members = {"p-" + std::to_string(2 * i)};
    l.groups = {"default", "g-" + std::to_string(i % kGroups)};
    l.starts_at = At("2025-01-01T00:00:00Z");
    if (i % 4 == 0) l.ends_at = At("2027-12-31T23:00:00Z");
    if (i % 2 == 0) l.paid_through = At("2027-06-30T22:00:00Z");
    r.leases.push_back(std::move(l));
  }
  r.credentials.reserve(credentials);
  for (size_t i = 0; i < credentials; ++i) {
    rules::Credential c;
    c.id = "c-" + std::to_string(i);
    c.person = "p-" + std::to_string(i / 2);
    if (i % 2 == 0) {
      c.type = rules::CredentialType::kCard;
      c.card.format = rules::CardFormat::kH10301;
      c.card.facility = static_cast<uint32_t>(i >> 16);
      c.card.number = i & 0xffff;
    } else {
      c.type = rules::CredentialType::kPin;
      c.pin = std::to_string(10000000 + i);  // 8 digits, never a leading 9 below 80M
    }
    if (i % 16 == 0) c.valid_until = At("2028-01-01T00:00:00Z");
    r.credentials.push_back(std::move(c));
  }
  return r;
}

inline void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The baseline: the same people, leases and credentials rows into plain tables, one transaction,
// prepared statements, the same journal mode and synchronous setting as the store.
inline double BareInsert(const rules::Records& r, const std::string& path) {
  std::filesystem::remove(path);
  sqlite3* db;
  Check(sqlite3_open(path.c_str(), &db), db, "open");
  Check(sqlite3_exec(
            db,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
            "CREATE TABLE people(id TEXT PRIMARY KEY, name TEXT, role INT, primary_id TEXT,"
            " inherit INT, groups TEXT, status INT);"
            "CREATE TABLE leases(id TEXT PRIMARY KEY, unit TEXT, members TEXT, groups TEXT,"
            " starts_at INT, ends_at INT, paid_through INT, grace_days INT);"
            "CREATE TABLE credentials(id TEXT PRIMARY KEY, person TEXT, type INT, status INT,"
            " valid_from INT, valid_until INT, card_format INT, facility INT, number INT,"
            " uid TEXT, pin TEXT);",
            nullptr, nullptr, nullptr),
        db, "schema");
  auto t0 = std::chrono::steady_clock::now();
  Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  sqlite3_stmt *p, *l, *c;
  sqlite3_prepare_v2(db, "INSERT INTO people VALUES(?,?,?,?,?,?,?)", -1, &p, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO leases VALUES(?,?,?,?,?,?,?,?)", -1, &l, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO credentials VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &c, nullptr);
  auto text = [](sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  };
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) (s.empty() ? s : s += '\x1f') += x;
    return s;
  };
  for (const auto& x : r.people) {
    text(p, 1, x.id);
    text(p, 2, x.name);
    sqlite3_bind_int(p, 3, static_cast<int>(x.role));
    if (x.primary)
      text(p, 4, *x.primary);
    else
      sqlite3_bind_null(p, 4);
    sqlite3_bind_int(p, 5, x.inherit);
    std::string g = join(x.groups);
    text(p, 6, g);
    sqlite3_bind_int(p, 7, static_cast<int>(x.status));
    Check(sqlite3_step(p), db, "people");
    sqlite3_reset(p);
  }
  for (const auto& x : r.leases) {
    text(l, 1, x.id);
    text(l, 2, x.unit);
    std::string m = join(x.members), g = join(x.groups);
    text(l, 3, m);
    text(l, 4, g);
    sqlite3_bind_int64(l, 5, ToUnix(x.starts_at));
    if (x.ends_at)
      sqlite3_bind_int64(l, 6, ToUnix(*x.ends_at));
    else
      sqlite3_bind_null(l, 6);
    if (x.paid_through)
      sqlite3_bind_int64(l, 7, ToUnix(*x.paid_through));
    else
      sqlite3_bind_null(l, 7);
    sqlite3_bind_null(l, 8);
    Check(sqlite3_step(l), db, "leases");
    sqlite3_reset(l);
  }
  for (const auto& x : r.credentials) {
    text(c, 1, x.id);
    text(c, 2, x.person);
    sqlite3_bind_int(c, 3, static_cast<int>(x.type));
    sqlite3_bind_int(c, 4, static_cast<int>(x.status));
    if (x.valid_from)
      sqlite3_bind_int64(c, 5, ToUnix(*x.valid_from));
    else
      sqlite3_bind_null(c, 5);
    if (x.valid_until)
      sqlite3_bind_int64(c, 6, ToUnix(*x.valid_until));
    else
      sqlite3_bind_null(c, 6);
    sqlite3_bind_int(c, 7, static_cast<int>(x.card.format));
    sqlite3_bind_int64(c, 8, x.card.facility);
    sqlite3_bind_int64(c, 9, static_cast<int64_t>(x.card.number));
    text(c, 10, x.card.uid);
    text(c, 11, x.pin);
    Check(sqlite3_step(c), db, "credentials");
    sqlite3_reset(c);
  }
  Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  double s = Seconds(t0, std::chrono::steady_clock::now());
  sqlite3_finalize(p);
  sqlite3_finalize(l);
  sqlite3_finalize(c);
  sqlite3_close(db);
  std::filesystem::remove(path);
  return s;
}

inline rules::Presented PresentationFor(size_t i) {
  if (i % 2 == 0) {
    rules::Presented p;
    p.kind = rules::PresentedKind::kCard;
    p.format = rules::CardFormat::kH10301;
    p.facility = static_cast<uint32_t>(i >> 16);
    p.number = i & 0xffff;
    return p;
  }
  return rules::PinPresented(std::to_string(10000000 + i));
}

}  // namespace lintel::bench
