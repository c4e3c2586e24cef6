// lintel: the access gateway daemon. Parses flags, loads the config, opens the store, serves the
// control socket, and runs the one core event loop until SIGTERM/SIGINT. SIGHUP reloads the config
// (a bad new config is refused and the old one keeps running). Signals arrive through signalfd on
// the loop; no work happens in a signal handler.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <vector>

#include "config/config.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/ids.h"
#include "gateway/base/log.h"
#include "gateway/base/systemd.h"
#include "gateway/base/thread_priority.h"
#include "gateway/cloud/mqtt_link.h"
#include "gateway/cloud/sync.h"
#include "gateway/control/control_server.h"
#include "gateway/core/gateway.h"
#include "gateway/core/reload.h"
#include "gateway/core/state_import.h"
#include "gateway/devices/ble_locks.h"
#include "gateway/devices/doors.h"
#include "gateway/devices/panels.h"
#include "gateway/devices/readers.h"
#include "gateway/wiring/core_sync_host.h"

namespace {

struct Overrides {
  std::string store;
  std::string socket;
};

// systemd notifications are best effort: a failure is logged, never fatal.
void Report(const lintel::Status& s) {
  if (!s.ok()) lintel::LogWarning("systemd", "notify failed: " + s.ToString());
}

lintel::Result<lintel::config::Config> Load(const std::string& path, const Overrides& o) {
  lintel::Result<lintel::config::Config> c = lintel::config::LoadConfigFile(path);
  if (!c.ok()) return c;
  if (!o.store.empty()) c->store_path = o.store;
  if (!o.socket.empty()) c->control_socket = o.socket;
  return c;
}

int CheckConfig(const std::string& path) {
  lintel::Result<lintel::config::Config> c = lintel::config::LoadConfigFile(path);
  if (!c.ok()) {
    std::cerr << c.status().message() << "\n";
    return 1;
  }
  std::cout << lintel::config::Summarize(*c) << "\n";
  return 0;
}

int Run(const std::string& config_path, const Overrides& overrides) {
  using namespace lintel;
  // Before any thread exists, so that every thread starts with it: the doors' threads (this one,
  // the core loop; the door I/O modules') keep short slices, bulk work gives them back
  // (gateway/base/thread_priority.h).
  UseShortSlicesOnThisThread();
  Status blocked = BlockSignals({SIGTERM, SIGINT, SIGHUP, SIGPIPE});
  if (!blocked.ok()) {
    LogError("main", "cannot start: " + blocked.ToString());
    return 1;
  }
  Result<config::Config> config = Load(config_path, overrides);
  if (!config.ok()) {
    LogError("main",
             "cannot start, config " + config_path + " is invalid:\n" + config.status().message());
    return 1;
  }
  SetLogLevel(config->log_level);
  SystemClock clock;
  Result<std::unique_ptr<core::Gateway>> gateway = core::Gateway::Open(*config, clock);
  if (!gateway.ok()) {
    LogError("main", "cannot start: " + gateway.status().ToString());
    return 1;
  }
  core::Gateway& gw = **gateway;
  Result<std::unique_ptr<EventLoop>> loop_or = EventLoop::Create();
  if (!loop_or.ok()) {
    LogError("main", "cannot start: " + loop_or.status().ToString());
    return 1;
  }
  EventLoop& loop = **loop_or;
  // The journal is written by a thread of its own: no decision waits for a commit (issue 13).
  gw.StartJournalWriter([&loop](std::function<void()> f) { loop.Post(std::move(f)); });
  ControlServerOptions control_options;
  control_options.idle_timeout = std::chrono::seconds(config->control_idle_timeout_s);
  auto control = ControlServer::Create(
      loop, config->control_socket,
      [&gw](const nlohmann::json& request) { return gw.Handle(request); }, control_options);
  if (!control.ok()) {
    LogError("main", "cannot start: " + control.status().ToString());
    return 1;
  }
  // State imports are parsed, validated and stored on a worker; the loop only swaps the index.
  core::StateImporter importer(gw, [&loop](std::function<void()> f) { loop.Post(std::move(f)); });
  auto import = [&importer](nlohmann::json request, const ControlPeer& peer, ControlReply reply) {
    importer.Start(std::move(request), core::ImportCaller{peer.uid, peer.gid}, std::move(reply));
  };
  (*control)->SetDeferredHandler("import", import);
  (*control)->SetDeferredHandler("state.import", import);
  // The others never make the loop (the doors' thread) wait for the journal's writer.
  for (const char* cmd : {"status", "present", "explain", "events.tail", "events.since"}) {
    (*control)->SetDeferredHandler(
        cmd, [&gw](nlohmann::json request, const ControlPeer&, ControlReply reply) {
          gw.HandleLater(std::move(request), std::move(reply));
        });
  }

  // Door I/O (io_modules, doors[].io, io, automations): the doors' lock actuators, before the
  // readers so the first grant already moves a lock.
  devices::DoorIo door_io(loop, clock, gw);
  door_io.Apply(gw.config());
  gw.SetStatusExtra("door_io", [&door_io] { return door_io.Status(); });
  // `lintelctl door test DOOR`: one pulse of the door's lock, journaled with source "lintelctl".
  (*control)->SetDeferredHandler(
      "door.test", [&door_io](nlohmann::json request, const ControlPeer&, ControlReply reply) {
        if (!request.contains("door") || !request["door"].is_string()) {
          reply(Status::InvalidArgument("door.test needs \"door\": the id of the door to test"));
          return;
        }
        reply(door_io.TestUnlock(request["door"].get<std::string>()));
      });

  // BLE locks (locks:): the actuators of their doors, their state, their codes kept in sync; every
  // BLE operation on the adapter's worker thread, results posted back to this loop.
  devices::BleLocks ble_locks(loop, clock, gw, devices::BluezGattLinks(), devices::BluezScanners());
  ble_locks.Apply(gw.config());
  gw.SetStatusExtra("locks", [&ble_locks] { return ble_locks.Status(); });
  (*control)->SetDeferredHandler(
      "lock.pair", [&ble_locks](nlohmann::json request, const ControlPeer&, ControlReply reply) {
        if (!request.contains("door") || !request["door"].is_string()) {
          reply(Status::InvalidArgument("lock.pair needs \"door\": the id of the lock's door"));
          return;
        }
        ble_locks.Pair(request["door"].get<std::string>(), std::move(reply));
      });
  (*control)->SetDeferredHandler(
      "lock.status", [&ble_locks](nlohmann::json, const ControlPeer&, ControlReply reply) {
        reply(nlohmann::json{{"locks", ble_locks.Status()}});
      });
  (*control)->SetDeferredHandler(
      "lock.sync", [&ble_locks](nlohmann::json, const ControlPeer&, ControlReply reply) {
        ble_locks.SyncAll();
        reply(nlohmann::json{{"locks", ble_locks.Status()}});
      });

  // Intercom panels (panels:, intercom:): readers and the actuators of their doors; the HTTP
  // calls on the drivers' threads, their events posted back to this loop.
  devices::Panels panels(loop, clock, gw);
  panels.Apply(gw.config());
  gw.SetStatusExtra("panels", [&panels] { return panels.Status(); });
  gw.SetStatusExtra("intercom", [&panels] { return panels.ListenerStatus(); });

  // Reader drivers (readers with a type:): their events go to gw.Admit on this loop.
  devices::Readers readers({loop, clock, gw});
  readers.Apply(gw.config());
  gw.SetStatusExtra("readers", [&readers] { return readers.Status(); });
  // `lintelctl reader last READER -n N`: the reader's last frames and their decodings.
  (*control)->SetDeferredHandler(
      "reader.last", [&readers](nlohmann::json request, const ControlPeer&, ControlReply reply) {
        if (!request.contains("reader") || !request["reader"].is_string()) {
          reply(Status::InvalidArgument("reader.last needs \"reader\": a reader id"));
          return;
        }
        size_t n = SIZE_MAX;  // all it keeps
        if (request.contains("n")) {
          if (!request["n"].is_number_integer() || request["n"].get<int64_t>() < 0) {
            reply(Status::InvalidArgument("\"n\" must be an integer >= 0"));
            return;
          }
          n = request["n"].get<size_t>();
        }
        reply(readers.LastFrames(request["reader"].get<std::string>(), n));
      });

  // Cloud sync (when cloud.broker is set): the sync state machine on this loop, the MQTT link's
  // callbacks posted to it. Declared after the loop's users so it is destroyed before them.
  wiring::CoreSyncHost sync_host(gw);  // the core lent to the sync (outlives it)
  std::unique_ptr<cloud::CloudSync> sync;
  std::unique_ptr<cloud::MqttLink> link;
  auto post = [&loop](std::function<void()> f) { loop.Post(std::move(f)); };
  if (!config->cloud.broker.empty()) {
    sync = std::make_unique<cloud::CloudSync>(*config, sync_host, NewUuid(), clock);
    Status started = sync->Start(post);
    if (!started.ok()) {
      LogError("main", "cannot start cloud sync: " + started.ToString());
      return 1;
    }
    const config::CloudConfig& cc = config->cloud;
    cloud::MqttOptions o;
    o.uri = cc.broker;
    o.client_id = cc.client_id.empty() ? "lintel-" + config->site_id + "-" + config->gateway_id
                                       : cc.client_id;
    o.mqtt_version = cc.mqtt_version;
    o.keep_alive = std::chrono::seconds(cc.keep_alive_s);
    o.ca_file = cc.ca_file;
    o.cert_file = cc.cert_file;
    o.key_file = cc.key_file;
    o.will_topic = sync->topics().state;
    o.will_payload = [boot = sync->boot_id()](uint32_t session) {
      return cloud::StateWillPayload(boot, session);
    };
    for (const std::string& t : sync->topics().Subscriptions()) o.subscriptions.push_back(t);
    // What a broker may push (cloud.limits): dropped in the link before it is copied or posted.
    const config::CloudLimits& lim = cc.limits;
    const cloud::Topics& tp = sync->topics();
    o.topic_max_bytes = {{tp.sync_head, static_cast<size_t>(lim.head_bytes)},
                         {tp.sync_delta, static_cast<size_t>(lim.delta_bytes)},
                         {tp.sync_snapshot, static_cast<size_t>(lim.snapshot_page_bytes)},
                         {tp.events_ack, static_cast<size_t>(lim.events_ack_bytes)},
                         {tp.cmd_request, static_cast<size_t>(lim.command_bytes)}};
    o.max_payload_bytes = static_cast<size_t>(lim.head_bytes);  // anything else is small
    o.max_queued_messages = static_cast<size_t>(lim.queue_messages);
    o.max_queued_bytes = static_cast<size_t>(lim.queue_bytes);
    Result<std::unique_ptr<cloud::MqttLink>> made = cloud::MakePahoLink(o, *sync, post);
    if (!made.ok()) {
      LogError("main", "cannot start cloud sync: " + made.status().ToString());
      return 1;
    }
    link = std::move(*made);
    sync->SetLink(link.get());
    gw.SetJournalListener([&sync] { sync->OnJournal(); });
    gw.SetIndexCopiedListener(
        [&sync](std::shared_ptr<const rules::Index> from, std::shared_ptr<const rules::Index> to) {
          sync->OnIndexCopied(std::move(from), std::move(to));
        });
    gw.SetStatusExtra("cloud", [&sync] { return sync->StatusJson(); });
    loop.AddPeriodic(std::chrono::seconds(1), [&sync] { sync->Tick(); });
    link->Start();
  }

  Status watched = loop.WatchSignals({SIGTERM, SIGINT, SIGHUP}, [&](int sig) {
    if (sig == SIGHUP) {
      Report(systemd::NotifyReloading());
      LogInfo("main", "SIGHUP: reloading " + config_path);
      Result<config::Config> next = Load(config_path, overrides);
      Status s = next.status();
      if (s.ok()) {
        // All or nothing: every part checks the new config before any part switches to it.
        std::optional<core::Gateway::PreparedReload> prepared;
        const std::vector<core::ReloadPart> parts = {
            {"core",
             [&] {
               Result<core::Gateway::PreparedReload> p = gw.PrepareReload(*next);
               if (!p.ok()) return p.status();
               prepared = std::move(*p);
               return Status::Ok();
             },
             [&] { gw.CommitReload(std::move(*prepared)); }},
            {"cloud sync", [&] { return sync ? sync->CheckReload(*next) : Status::Ok(); },
             [&] {
               if (sync) (void)sync->Reload(*next);  // checked above: cannot refuse now
             }},
            {"devices", nullptr,
             [&] {
               SetLogLevel(gw.config().log_level);
               door_io.Apply(gw.config());
               ble_locks.Apply(gw.config());
               panels.Apply(gw.config());
               readers.Apply(gw.config());
             }},
        };
        s = core::ReloadAll(parts);
      }
      if (s.ok()) {
        LogInfo("main", "config reloaded");
      } else {
        LogError("main",
                 "config reload refused, the running config stays in force:\n" + s.message());
      }
      Report(systemd::NotifyReady());
      return;
    }
    LogInfo("main", std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    Report(systemd::NotifyStopping());
    loop.Stop();
  });
  if (!watched.ok()) {
    LogError("main", "cannot start: " + watched.ToString());
    return 1;
  }
  // A store that cannot be written fails every tick until it can: logged when the failure starts
  // or changes and when it ends, not every 5 s (the core logs the journal's side itself).
  std::string housekeeping_error;
  loop.AddPeriodic(std::chrono::seconds(5), [&gw, &housekeeping_error] {
    Status s = gw.Tick();
    std::string now = s.ok() ? "" : s.ToString();
    if (now == housekeeping_error) return;
    if (s.ok()) {
      LogInfo("core", "housekeeping works again");
    } else {
      LogError("core", "housekeeping failed (retried every 5 s): " + now);
    }
    housekeeping_error = now;
  });
  if (std::optional<std::chrono::microseconds> wd = systemd::WatchdogInterval()) {
    loop.AddPeriodic(*wd / 2, [] { Report(systemd::NotifyWatchdog()); });
  }
  Report(systemd::NotifyReady());
  Report(systemd::NotifyStatus("deciding " + std::to_string(gw.config().doors.size()) + " doors"));
  LogInfo("main", "lintel ready: site " + gw.config().site_id + ", gateway " +
                      gw.config().gateway_id + ", control socket " + gw.config().control_socket);
  Status ran = loop.Run();
  if (!ran.ok()) LogError("main", "event loop failed: " + ran.ToString());
  if (sync) sync->OnStopping();  // retained state {"online":false}: a clean stop sends no will
  if (link) link->Stop();
  // A last write of the journal; what the store still cannot take is logged with its count.
  Status flushed = gw.Stop();
  if (!flushed.ok()) LogError("core", "final flush failed: " + flushed.ToString());
  gw.SetJournalListener(nullptr);
  gw.SetIndexCopiedListener(nullptr);
  gw.SetStatusExtra("cloud", nullptr);
  gw.SetStatusExtra("readers", nullptr);
  gw.SetStatusExtra("door_io", nullptr);
  gw.SetStatusExtra("locks", nullptr);
  gw.SetStatusExtra("panels", nullptr);
  gw.SetStatusExtra("intercom", nullptr);
  LogInfo("main", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lintel: on-premises access gateway"};
  std::string config_path = "/etc/lintel/lintel.yaml";
  std::string check_path;
  Overrides overrides;
  bool timestamps = false;
  app.add_option("-c,--config", config_path, "the site's YAML config")->capture_default_str();
  app.add_option("--check-config", check_path,
                 "check FILE, print a summary or every problem as file:line:column, and exit");
  app.add_option("--store", overrides.store, "override store.path (the SQLite file)");
  app.add_option("--socket", overrides.socket, "override control.socket");
  app.add_flag("--log-timestamps", timestamps, "prefix log lines with the time (not for journald)");
  app.set_version_flag("--version", "lintel 0.1.0");
  CLI11_PARSE(app, argc, argv);
  lintel::SetLogTimestamps(timestamps);
  if (!check_path.empty()) return CheckConfig(check_path);
  return Run(config_path, overrides);
}
