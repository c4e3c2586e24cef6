// Foundation benchmark: 2,000,000 credentials with realistic people and leases.
//
// Prints one JSON line:
//   generate_s, validate_s, bare_sqlite_insert_s, store_replace_s, index_build_s,
//   apply_over_bare (= (store_replace + index_build) / bare insert, same rows, same run),
//   cold_start_s (fresh process: open store, load, build index, first decision), and the same
//   start from the index image (issue 13, point 4): cold_start_image_s,
//   process_start_to_first_decision[_image]_s (fork to first decision),
//   cold_start_rebuild_over_image, decide_p50_ns / decide_p99_ns / decide_max_ns (1,000,000
//   decisions, 90 % known credentials), rss_bytes_per_credential (resident growth of the cold-start
//   process, people and leases included), index_bytes_per_credential (what the index itself
//   accounts for), tenant_delta_validate_commit_ms p50/p99 (a delta adding a person, lease, card
//   and PIN: rules::ValidateDelta through the store's indexes + its durable commit, 50 times) next
//   to whole_state_validate_ms (one rules::Validate of the whole state, what each general delta did
//   twice before) and index_rebuild_streamed_ms (store::LoadIndex, what followed each burst
//   before), tenant_index_edit_ms p50/p99 (rules::ApplyOpsToIndex of the same delta, what
//   follows it now) and tenant_edit_copied_bytes_p50 (the chunks that edit copied; the rest is
//   shared with the index before it), revocation_restrict_us p50/p99 (rules::RestrictCredentials
//   of one card and the drop of the narrowed copy: the core loop's share of a revocation, 200
//   times) and its ratio to the tenant edit.
// Usage: foundation_bench [--credentials N] [--dir DIR] [--keep] (--keep leaves the store and its
// image in DIR); foundation_bench --cold-start DB --credentials N --image PATH (the cold-start
// child alone, on a kept store); foundation_bench --write-image DB --image PATH. Not part of the
// test run's pass/fail.
#include <malloc.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "gateway/base/timezone.h"
#include "gateway/store/index_image_file.h"
#include "gateway/store/load_index.h"
#include "gateway/store/store.h"
#include "rules/engine.h"
#include "rules/validate.h"
#include "rules/validate_delta.h"
#include "tests/bench/gen.h"

namespace lintel {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

size_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

using bench::At;
using bench::BareInsert;
using bench::BenchSite;
using bench::Generate;
using bench::kDoors;
using bench::PresentationFor;

struct DecideFigures {
  uint32_t p50 = 0, p99 = 0, max = 0;  // on `a`
  uint32_t p50_b = 0, p99_b = 0;       // on `b` (0 without)
  double granted_share = 0;
  bool differ = false;  // `b` decided differently from `a` (reported on stderr)
};

// 1,000,000 decisions on `a`: 90 % known credentials at random doors, 10 % unknown. With `b` (the
// same state in another memory layout), the same decisions on `b` too, in alternating blocks of
// 1,000, so that both see the same machine (the two other builders make single runs noisy).
DecideFigures DecideAB(const rules::Index& a, const rules::Index* b, size_t credentials,
                       Instant now) {
  std::mt19937_64 rng(42);
  const size_t n = 1'000'000;
  std::vector<rules::Presented> presented;
  std::vector<std::string> doors;
  presented.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    size_t k = rng() % credentials;
    presented.push_back(PresentationFor(i % 10 == 9 ? credentials + k : k));
    doors.push_back("door-" + std::to_string(rng() % kDoors));
  }
  std::vector<uint32_t> ns(n), ns_b(b ? n : 0);
  std::vector<char> grants(n);
  auto decide = [&](const rules::Index& x, size_t i, std::vector<uint32_t>& into) {
    auto t0 = Clock::now();
    rules::Decision d = rules::DecideWith(x, {doors[i], "", presented[i]}, now, INT64_MIN, nullptr);
    auto t1 = Clock::now();
    into[i] = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    return d.granted;
  };
  DecideFigures f;
  for (size_t from = 0; from < n; from += 1000) {
    const size_t to = std::min(n, from + 1000);
    for (size_t i = from; i < to; ++i) grants[i] = decide(a, i, ns);
    if (!b) continue;
    for (size_t i = from; i < to; ++i) {
      if (decide(*b, i, ns_b) != static_cast<bool>(grants[i])) {
        std::fprintf(stderr, "decision %zu differs between the two layouts\n", i);
        f.differ = true;
        return f;
      }
    }
  }
  size_t granted = 0;
  for (char g : grants) granted += g != 0;
  std::sort(ns.begin(), ns.end());
  std::sort(ns_b.begin(), ns_b.end());
  f.p50 = ns[n / 2];
  f.p99 = ns[n * 99 / 100];
  f.max = ns.back();
  if (b) {
    f.p50_b = ns_b[n / 2];
    f.p99_b = ns_b[n * 99 / 100];
  }
  f.granted_share = static_cast<double>(granted) / n;
  return f;
}

// AnonHugePages of this process (bytes), from /proc/self/smaps_rollup.
size_t AnonHugeBytes() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("AnonHugePages:", 0) == 0) return std::stoul(line.substr(14)) * 1024;
  }
  return 0;
}

// Runs in a fresh process so that resident memory is the gateway's, not the generator's.
// `image_path`: the index image the start-up path tries first (store::LoadIndexPreferImage, as
// gateway/core/gateway.cpp); a path with no file there means the rebuild from SQLite.
int ColdStart(const std::string& db_path, size_t credentials, const std::string& image_path) {
  rules::Site site = BenchSite();  // loads the zone before the baseline is taken
  malloc_trim(0);
  size_t rss0 = RssBytes();
  auto t0 = Clock::now();
  Clock::time_point t_open, t_loaded;
  std::shared_ptr<const rules::Index> index;
  bool from_image = false;
  {
    store::StoreOptions options;
    options.verify_on_open = false;  // as the daemon opens it (gateway/core/gateway.cpp)
    auto store = store::Store::Open(db_path, options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    t_open = Clock::now();
    // Exactly the daemon's start-up path: the image when it matches, else a rebuild.
    auto loaded = store::LoadIndexPreferImage(**store, image_path, site, nullptr);
    t_loaded = Clock::now();
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
      return 1;
    }
    index = loaded->index;
    from_image = loaded->from_image;
  }
  rules::Engine engine(index);
  Instant now = At("2026-11-23T11:00:00Z");
  rules::Decision first = engine.Decide({"door-0", "", PresentationFor(0)}, now);
  auto t_first = Clock::now();
  double cold = Seconds(t0, t_first);
  malloc_trim(0);
  size_t rss1 = RssBytes();

  // The share of the cold start that is SQLite reading and decoding rows alone (a second, warm
  // pass with a visitor that only counts).
  double scan_s = 0;
  {
    struct Counter final : store::RecordVisitor {
      size_t n = 0;
      void OnPerson(const rules::Person&) override { ++n; }
      void OnLease(const rules::Lease&) override { ++n; }
      void OnCredential(const rules::Credential&) override { ++n; }
    } counter;
    store::StoreOptions options;
    options.verify_on_open = false;
    auto store = store::Store::Open(db_path, options);
    auto a = Clock::now();
    if (!store.ok() || !(*store)->LoadState(counter).ok()) return 1;
    scan_s = Seconds(a, Clock::now());
  }

  // 1,000,000 decisions; from an image, the same decisions also on its copy in chunks of its own
  // (rules::CopyToOwnedChunks: huge pages instead of the file's 4 KiB pages, what the gateway
  // installs after starting from an image), interleaved so that both see the same machine.
  double owned_copy_s = 0;
  std::shared_ptr<const rules::Index> owned;
  size_t owned_huge = 0;
  if (from_image) {
    const size_t huge0 = AnonHugeBytes();
    auto c0 = Clock::now();
    owned = rules::CopyToOwnedChunks(*index);
    owned_copy_s = Seconds(c0, Clock::now());
    owned_huge = AnonHugeBytes() - huge0;
  }
  DecideFigures df = DecideAB(*index, owned.get(), credentials, now);
  if (df.differ) return 1;
  // Then the copy alone, the mapping let go: the daemon's steady state after a start from the
  // image (interleaved, each index also evicts the other's lines from the caches).
  DecideFigures alone;
  if (owned) {
    engine.SwapIndex(owned);
    index = owned;  // the mapping is unmapped here
    alone = DecideAB(*owned, nullptr, credentials, now);
  }
  json out = {
      {"cold_start_s", cold},
      {"index_source", from_image ? "image" : "store"},
      // steady_clock is CLOCK_MONOTONIC, shared with the parent: it subtracts its fork time.
      {"first_decision_mono_ns",
       std::chrono::duration_cast<std::chrono::nanoseconds>(t_first.time_since_epoch()).count()},
      {"cold_open_s", Seconds(t0, t_open)},
      {"cold_load_and_index_s", Seconds(t_open, t_loaded)},
      {"warm_row_scan_only_s", scan_s},
      {"first_decision", rules::ReasonName(first.reason)},
      {"decide_p50_ns", df.p50},
      {"decide_p99_ns", df.p99},
      {"decide_max_ns", df.max},
      {"decide_granted_share", df.granted_share},
      {"owned_copy_s", owned_copy_s},
      {"owned_copy_huge_page_share",
       owned ? static_cast<double>(owned_huge) / static_cast<double>(owned->MemoryBytes()) : 0},
      {"decide_p50_ns_owned", df.p50_b},
      {"decide_p99_ns_owned", df.p99_b},
      {"decide_p50_ns_owned_alone", alone.p50},
      {"decide_p99_ns_owned_alone", alone.p99},
      {"rss_bytes_per_credential", static_cast<double>(rss1 - rss0) / credentials},
      {"index_bytes_per_credential", static_cast<double>(index->MemoryBytes()) / credentials}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// Writes the index image of the store at `db_path` to `image_path` (for comparing builds on one
// kept store: --keep, then --write-image and --cold-start of each build).
int WriteImage(const std::string& db_path, const std::string& image_path) {
  auto store = store::Store::Open(db_path);
  if (!store.ok()) return 1;
  Result<store::StartIndex> built = store::BuildIndexStamped(**store, BenchSite(), nullptr);
  if (!built.ok() || !built->stamp) return 1;
  Result<uint64_t> n = store::SaveIndexImage(image_path, *built->index, *built->stamp);
  if (!n.ok()) {
    std::fprintf(stderr, "%s\n", n.status().ToString().c_str());
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  size_t credentials = 2'000'000;
  std::string dir = std::filesystem::temp_directory_path().string();
  std::string cold_db;
  std::string cold_image;
  std::string write_image_db;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--credentials" && i + 1 < argc)
      credentials = std::stoul(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--cold-start" && i + 1 < argc)
      cold_db = argv[++i];
    else if (a == "--image" && i + 1 < argc)
      cold_image = argv[++i];
    else if (a == "--write-image" && i + 1 < argc)
      write_image_db = argv[++i];
    else if (a == "--keep")
      keep = true;
  }
  if (!cold_db.empty()) return ColdStart(cold_db, credentials, cold_image);
  if (!write_image_db.empty()) return WriteImage(write_image_db, cold_image);

  std::string db_path = dir + "/lintel-bench-" + std::to_string(getpid()) + ".db";
  auto t0 = Clock::now();
  rules::Records records = Generate(credentials);
  auto t1 = Clock::now();
  rules::Site site = BenchSite();
  std::vector<std::string> errors = rules::Validate(site, records);
  auto t2 = Clock::now();
  if (!errors.empty()) {
    std::fprintf(stderr, "generated state invalid: %s\n", errors[0].c_str());
    return 1;
  }
  double bare = BareInsert(records, dir + "/lintel-bench-bare-" + std::to_string(getpid()) + ".db");

  double replace_s, build_s;
  double delta_p50_ms = 0, delta_p99_ms = 0, whole_validate_ms = 0, stream_index_ms = 0;
  double edit_p50_ms = 0, edit_p99_ms = 0, copied_p50 = 0, index_bytes = 0;
  double restrict_p50_us = 0, restrict_p99_us = 0;
  size_t huge_after_build = 0, huge_after_edits = 0;
  DecideFigures edited;
  {
    auto store = store::Store::Open(db_path, {});
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    auto a = Clock::now();
    Status s = (*store)->ReplaceState(records, store::Position{1, 1});
    auto b = Clock::now();
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    auto index = rules::BuildIndex(site, records);
    auto c = Clock::now();
    huge_after_build = AnonHugeBytes();
    replace_s = Seconds(a, b);
    build_s = Seconds(b, c);

    // Issue 13, point 1: a delta adding a tenant (person, lease, card, PIN), validated by what it
    // touches through the store's indexes (rules::ValidateDelta) and committed durably, 50 times;
    // next to whole-state validation of the same state (what every general delta cost before),
    // and the index rebuild streamed from the store that still follows each burst.
    std::vector<double> delta_ms, edit_ms, copied_bytes, restrict_us;
    for (int k = 0; k < 50; ++k) {
      const std::string n = std::to_string(k);
      rules::Person p;
      p.id = "p-new-" + n;
      p.name = "New tenant " + n;
      rules::Lease l;
      l.id = "l-new-" + n;
      l.unit = "9" + n;
      l.members = {p.id};
      l.groups = {"default"};
      l.starts_at = At("2026-12-01T00:00:00Z");
      rules::Credential card;
      card.id = "c-new-card-" + n;
      card.person = p.id;
      card.card.format = rules::CardFormat::kH10301;
      card.card.facility = 250;
      card.card.number = static_cast<uint64_t>(k);
      rules::Credential pin = card;
      pin.id = "c-new-pin-" + n;
      pin.type = rules::CredentialType::kPin;
      pin.card = {};
      pin.pin = std::to_string(20000000 + k);
      std::vector<rules::Op> ops = {rules::PutOp(p), rules::PutOp(l), rules::PutOp(card),
                                    rules::PutOp(pin)};
      auto d0 = Clock::now();
      std::unique_ptr<store::StoredStateReader> reader = (*store)->ReadState();
      std::optional<std::vector<std::string>> problems = rules::ValidateDelta(site, *reader, ops);
      if (!problems || !problems->empty() || !reader->status().ok()) {
        std::fprintf(stderr, "tenant delta refused\n");
        return 1;
      }
      if (!(*store)->ApplyOps(ops, store::Position{1, 2 + static_cast<uint64_t>(k)}).ok()) return 1;
      delta_ms.push_back(Seconds(d0, Clock::now()) * 1000);
      // The index edited with it (what the state worker now does instead of a rebuild).
      auto e0 = Clock::now();
      std::shared_ptr<const rules::Index> next = rules::ApplyOpsToIndex(*index, ops);
      edit_ms.push_back(Seconds(e0, Clock::now()) * 1000);
      if (!next) {
        std::fprintf(stderr, "tenant delta not edited into the index\n");
        return 1;
      }
      copied_bytes.push_back(static_cast<double>(next->MemoryBytes() - next->SharedBytes(*index)));
      index = std::move(next);
    }
    // Issue 13, point 2: a revocation put in force ahead of its commit, what the core loop does
    // with it (rules::RestrictCredentials: a copy of the index narrowed on one card) and the drop
    // of that copy when the worker's index replaces it, 200 times, on cards spread over the state.
    for (int k = 0; k < 200; ++k) {
      const rules::Credential& c = records.credentials[(records.credentials.size() / 200) * k];
      std::vector<rules::CredentialRestriction> r(1);
      r[0].id = c.id;
      r[0].status = rules::CredentialStatus::kRevoked;
      auto r0 = Clock::now();
      std::shared_ptr<const rules::Index> narrowed = rules::RestrictCredentials(*index, r);
      const bool changed = narrowed != nullptr;
      narrowed.reset();
      restrict_us.push_back(Seconds(r0, Clock::now()) * 1e6);
      if (!changed && c.status == rules::CredentialStatus::kActive) {
        std::fprintf(stderr, "revocation of %s changed nothing\n", c.id.c_str());
        return 1;
      }
    }
    std::sort(restrict_us.begin(), restrict_us.end());
    restrict_p50_us = restrict_us[restrict_us.size() / 2];
    restrict_p99_us = restrict_us[restrict_us.size() * 99 / 100];
    std::sort(edit_ms.begin(), edit_ms.end());
    std::sort(copied_bytes.begin(), copied_bytes.end());
    edit_p50_ms = edit_ms[edit_ms.size() / 2];
    edit_p99_ms = edit_ms[edit_ms.size() * 99 / 100];
    copied_p50 = copied_bytes[copied_bytes.size() / 2];
    index_bytes = static_cast<double>(index->MemoryBytes());
    // Decisions on the index after those 50 edits (its chunks freed by the edits were given back
    // to the kernel), next to a fresh copy of it (every chunk in whole huge pages), interleaved.
    huge_after_edits = AnonHugeBytes();
    {
      std::shared_ptr<const rules::Index> fresh = rules::CopyToOwnedChunks(*index);
      edited = DecideAB(*index, fresh.get(), credentials, At("2026-11-23T11:00:00Z"));
      if (edited.differ) return 1;
    }
    std::sort(delta_ms.begin(), delta_ms.end());
    delta_p50_ms = delta_ms[delta_ms.size() / 2];
    delta_p99_ms = delta_ms[delta_ms.size() * 99 / 100];
    auto w0 = Clock::now();
    if (!rules::Validate(site, records).empty()) return 1;
    whole_validate_ms = Seconds(w0, Clock::now()) * 1000;
    auto r0 = Clock::now();
    if (!store::LoadIndex(**store, site, nullptr).ok()) return 1;
    stream_index_ms = Seconds(r0, Clock::now()) * 1000;
  }
  records = {};

  // Cold start in a fresh process (this binary, --cold-start), twice: a rebuild from SQLite (no
  // image yet), then from the index image written here (issue 13, point 4). Both warm: the store
  // and the image were just written, so both are in the page cache.
  const std::string image_path = store::IndexImagePath(db_path);
  std::filesystem::remove(image_path);
  auto run_child = [&](json& cold) -> bool {
    int fds[2];
    if (pipe(fds) != 0) return false;
    auto forked = Clock::now();
    pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      std::string n = std::to_string(credentials);
      execl("/proc/self/exe", argv[0], "--cold-start", db_path.c_str(), "--credentials", n.c_str(),
            "--image", image_path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    std::string child_out;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
      child_out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    cold = json::parse(child_out, nullptr, false);
    if (cold.is_discarded() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "cold start failed: %s\n", child_out.c_str());
      return false;
    }
    int64_t fork_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(forked.time_since_epoch()).count();
    cold["process_start_to_first_decision_s"] =
        static_cast<double>(cold["first_decision_mono_ns"].get<int64_t>() - fork_ns) / 1e9;
    cold.erase("first_decision_mono_ns");
    return true;
  };
  json cold, cold_img;
  if (!run_child(cold)) return 1;
  double image_write_s = 0;
  uint64_t image_bytes = 0;
  {
    auto store = store::Store::Open(db_path);
    if (!store.ok()) return 1;
    Result<store::StartIndex> built = store::BuildIndexStamped(**store, site, nullptr);
    if (!built.ok() || !built->stamp) return 1;
    auto w0 = Clock::now();
    Result<uint64_t> n = store::SaveIndexImage(image_path, *built->index, *built->stamp);
    image_write_s = Seconds(w0, Clock::now());
    if (!n.ok()) {
      std::fprintf(stderr, "%s\n", n.status().ToString().c_str());
      return 1;
    }
    image_bytes = *n;
  }
  if (!run_child(cold_img)) return 1;
  if (keep) {
    std::fprintf(stderr, "kept %s and %s\n", db_path.c_str(), image_path.c_str());
  } else {
    std::filesystem::remove(image_path);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db_path + suffix);
  }
  if (cold["index_source"] != "store" || cold_img["index_source"] != "image" ||
      cold["first_decision"] != cold_img["first_decision"]) {
    std::fprintf(stderr, "image cold start differs: %s / %s\n", cold.dump().c_str(),
                 cold_img.dump().c_str());
    return 1;
  }
  json image = {
      {"image_bytes", image_bytes},
      {"image_write_s", image_write_s},
      {"cold_start_image_s", cold_img["cold_start_s"]},
      {"process_start_to_first_decision_image_s", cold_img["process_start_to_first_decision_s"]},
      {"cold_load_image_s", cold_img["cold_load_and_index_s"]},
      {"decide_p99_ns_image", cold_img["decide_p99_ns"]},
      {"decide_p50_ns_image", cold_img["decide_p50_ns"]},
      {"decide_p99_ns_image_owned", cold_img["decide_p99_ns_owned"]},
      {"decide_p50_ns_image_owned", cold_img["decide_p50_ns_owned"]},
      {"decide_p50_ns_image_owned_alone", cold_img["decide_p50_ns_owned_alone"]},
      {"decide_p99_ns_image_owned_alone", cold_img["decide_p99_ns_owned_alone"]},
      {"image_owned_copy_s", cold_img["owned_copy_s"]},
      {"image_owned_copy_huge_page_share", cold_img["owned_copy_huge_page_share"]},
      {"decide_p99_image_owned_over_mapped",
       cold_img["decide_p99_ns_owned"].get<double>() / cold_img["decide_p99_ns"].get<double>()},
      {"rss_bytes_per_credential_image", cold_img["rss_bytes_per_credential"]},
      {"cold_start_rebuild_over_image",
       cold["process_start_to_first_decision_s"].get<double>() /
           cold_img["process_start_to_first_decision_s"].get<double>()}};
  json out = {{"bench", "foundation"},
              {"credentials", credentials},
              {"people", credentials / 2},
              {"leases", credentials / 4},
              {"generate_s", Seconds(t0, t1)},
              {"validate_s", Seconds(t1, t2)},
              {"bare_sqlite_insert_s", bare},
              {"store_replace_s", replace_s},
              {"index_build_s", build_s},
              {"apply_over_bare", (replace_s + build_s) / bare},
              {"tenant_delta_validate_commit_ms", {{"p50", delta_p50_ms}, {"p99", delta_p99_ms}}},
              {"whole_state_validate_ms", whole_validate_ms},
              {"whole_validate_over_delta_p50", whole_validate_ms / delta_p50_ms},
              {"index_rebuild_streamed_ms", stream_index_ms},
              {"tenant_index_edit_ms", {{"p50", edit_p50_ms}, {"p99", edit_p99_ms}}},
              {"rebuild_over_edit_p50", stream_index_ms / edit_p50_ms},
              {"revocation_restrict_us", {{"p50", restrict_p50_us}, {"p99", restrict_p99_us}}},
              {"revocation_restrict_over_tenant_edit_p50", restrict_p50_us / 1000 / edit_p50_ms},
              {"tenant_edit_copied_bytes_p50", copied_p50},
              {"tenant_edit_copied_over_index", copied_p50 / index_bytes},
              {"anon_huge_mib_after_build", huge_after_build >> 20},
              {"anon_huge_mib_after_edits", huge_after_edits >> 20},
              {"decide_after_edits_ns", {{"p50", edited.p50}, {"p99", edited.p99}}},
              {"decide_after_edits_fresh_copy_ns", {{"p50", edited.p50_b}, {"p99", edited.p99_b}}},
              {"decide_p99_after_edits_over_fresh",
               static_cast<double>(edited.p99) / static_cast<double>(edited.p99_b)}};
  out.update(cold);
  out.update(image);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace lintel

int main(int argc, char** argv) { return lintel::Main(argc, argv); }
