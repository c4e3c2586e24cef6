// Issue 10: how long the core loop stalls while a big state is imported. A 2 ms periodic timer on
// the daemon's loop records the longest gap between its ticks (what a door's event would wait)
// during (a) an inline `state.import` handled on the loop, as before issue 10, and (b) `import
// {path}` through core::StateImporter, as the daemon now does it. Prints one JSON line.
//
//   import_bench [--people N] [--dir DIR]      (default 200000 people, each with a card)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "config/config.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/log.h"
#include "gateway/core/gateway.h"
#include "gateway/core/state_import.h"

namespace {

using namespace lintel;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

int Fail(const std::string& what) {
  std::fprintf(stderr, "import_bench: %s\n", what.c_str());
  return 1;
}

json MakeRecords(int people) {
  json r = {{"people", json::array()}, {"credentials", json::array()}};
  for (int i = 0; i < people; ++i) {
    std::string n = std::to_string(i);
    r["people"].push_back({{"id", "p" + n}, {"name", "Person " + n}, {"role", "staff"}});
    r["credentials"].push_back(
        {{"id", "c" + n},
         {"person", "p" + n},
         {"type", "card"},
         {"status", "active"},
         {"card", {{"format", "h10301"}, {"facility", (i >> 16) & 255}, {"number", i & 65535}}}});
  }
  return r;
}

// The longest gap between ticks of the 2 ms timer during one import, the ticks seen, the wall time.
struct Stall {
  double max_gap_ms = 0;
  double total_ms = 0;
  int ticks = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int people = 200000;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--people" && i + 1 < argc) {
      people = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      return Fail("usage: import_bench [--people N] [--dir DIR]");
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/lintel-ibench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return Fail("mkdtemp failed");
    dir = tmpl;
  }
  SetLogLevel(LogLevel::kWarning);
  auto config = config::LoadConfigText(
      "site: {id: bench, time_zone: UTC}\ngateway: {id: g}\n"
      "store: {path: " +
          dir + "/l.db}\ndoors:\n  - {id: a, common: true}\n",
      "bench.yaml");
  if (!config.ok()) return Fail(config.status().message());
  SystemClock clock;
  auto gw_or = core::Gateway::Open(*config, clock);
  if (!gw_or.ok()) return Fail(gw_or.status().ToString());
  core::Gateway& gw = **gw_or;
  auto loop_or = EventLoop::Create();
  if (!loop_or.ok()) return Fail(loop_or.status().ToString());
  EventLoop& loop = **loop_or;

  json records = MakeRecords(people);
  std::string path = dir + "/state.json";
  {
    std::ofstream out(path);
    out << records.dump();
  }
  uint64_t file_bytes = std::filesystem::file_size(path);

  // Measurement: the tick timer runs throughout; `measuring` brackets one import.
  std::atomic<bool> measuring{false};
  SteadyClock::time_point last_tick = SteadyClock::now();
  Stall current;
  loop.AddPeriodic(std::chrono::milliseconds(2), [&] {
    auto now = SteadyClock::now();
    if (measuring) {
      current.max_gap_ms = std::max(
          current.max_gap_ms, std::chrono::duration<double, std::milli>(now - last_tick).count());
      ++current.ticks;
    }
    last_tick = now;
  });
  std::thread loop_thread([&] { (void)loop.Run(); });

  core::StateImporter importer(gw, [&loop](std::function<void()> f) { loop.Post(std::move(f)); });
  auto run = [&](std::function<void(std::promise<Result<json>>&)> start) {
    std::promise<Result<json>> done;
    auto finished = done.get_future();
    auto started = SteadyClock::now();
    loop.Post([&] {
      current = Stall{};
      last_tick = SteadyClock::now();
      measuring = true;
      start(done);
    });
    Result<json> r = finished.get();
    std::promise<void> read;
    Stall s;
    // Read on the loop, after the round's timers: the tick that follows a stalled callback counts.
    loop.Post([&] {
      loop.AddTimer(std::chrono::milliseconds(2), [&] {
        measuring = false;
        s = current;
        read.set_value();
      });
    });
    read.get_future().wait();
    s.total_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
    return std::make_pair(std::move(r), s);
  };

  // (a) Before issue 10: the whole import inside one loop callback.
  auto [inline_result, inline_stall] = run([&](std::promise<Result<json>>& done) {
    done.set_value(gw.Handle({{"cmd", "state.import"}, {"records", records}}));
  });
  if (!inline_result.ok()) return Fail(inline_result.status().ToString());
  records = json();
  // (b) Now: by path, on the importer's worker; the loop only swaps the index.
  auto [path_result, path_stall] = run([&](std::promise<Result<json>>& done) {
    importer.Start({{"cmd", "import"}, {"path", path}}, core::ImportCaller{getuid(), getgid()},
                   [&done](Result<json> r) { done.set_value(std::move(r)); });
  });
  if (!path_result.ok()) return Fail(path_result.status().ToString());

  loop.Stop();
  loop_thread.join();
  json out = {{"bench", "import"},
              {"people", people},
              {"file_bytes", file_bytes},
              {"inline_on_loop",
               {{"total_ms", inline_stall.total_ms},
                {"loop_max_stall_ms", inline_stall.max_gap_ms},
                {"ticks", inline_stall.ticks}}},
              {"by_path_worker",
               {{"total_ms", path_stall.total_ms},
                {"loop_max_stall_ms", path_stall.max_gap_ms},
                {"ticks", path_stall.ticks}}}};
  std::printf("%s\n", out.dump().c_str());
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
