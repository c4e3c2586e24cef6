// Cloud benchmark (issue 3, point 10): the gateway's cloud path end to end, in one process and one
// run, against a real mosquitto on loopback that the benchmark starts itself.
//
// The gateway side is the daemon's own wiring (gateway/main.cpp): core::Gateway with SystemClock,
// CloudSync and its state worker, the Paho MqttLink, an EventLoop running on its own thread as the
// core loop. The cloud side is Paho clients in this process that sign like tools/cloud-sim.
//
//  1. revocation latency: a building-sized state applied through a signed snapshot over MQTT, then
//     N times a signed delta revoking one card credential. Measured from just before the cloud's
//     publish to the first moment the core loop decides `credential_revoked` for that card (an
//     engine decision on the loop thread right after the posted task that swapped the index; also
//     the swap itself, through CloudSync's outcome observer). Interleaved with it, the bare MQTT
//     round trip of a payload of the same size on the same broker (cloud publisher -> a second
//     Paho subscriber here), and one durable commit (Store::ApplyOps of one op, durable_commits).
//     Target: revocation p99 <= 2 x bare p99 + one durable commit (p50).
//  2. snapshot: a generated state (tests/bench/gen.h, as foundation_bench) published as signed
//     pages on sync/snapshot; from the first page's publish to the index swap, with the worker's
//     breakdown; next to a bare SQLite bulk insert of the same rows. Target: <= 2 x bare.
//  3. drain: events journaled while the link is down, then the link connects and a cloud
//     subscriber acknowledges every batch (signed events/ack, upto = its last seq); events/s until
//     the outbox is empty. Target: >= 20,000 events/s.
//
// Prints one JSON line. Usage:
//   cloud_bench [--quick] [--credentials N] [--revocation-credentials N] [--revocations N]
//               [--large-revocation-credentials N (0: skip)] [--events N] [--page-size N]
//               [--scale-credentials N (0: skip)] [--scale-deltas N]
//               [--dir DIR] [--no-nagle-pass] [--skip-snapshot] [--skip-drain]
// --quick: 10,000-credential snapshot, 100,000 events, 50 revocations, no 100,000 pass, no scale
// pass.
//  4. scale (issue 13, points 1 and 2): on a gateway holding --scale-credentials (2,000,000),
//     --scale-deltas deltas each adding a tenant (person, lease, card, PIN), measured from the
//     publish to the first loop decision granting the new card (target p99 <= 20 ms); then
//     revocations published right behind such a tenant delta, and plain ones (target p99 <= 2 x
//     bare p99 + one durable commit); the resident size sampled every 2 ms during the passes
//     against the size before them (target peak <= 1.2 x steady).
//     Then the whole state again as a snapshot, and revocations while the worker applies it
//     (point 2, "during a snapshot apply"): each in force before the snapshot's swap, same target.
// Not part of the test run's pass/fail.
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "gateway/base/base64.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/ids.h"
#include "gateway/base/log.h"
#include "gateway/base/thread_priority.h"
#include "gateway/cloud/jws.h"
#include "gateway/cloud/mqtt_link.h"
#include "gateway/cloud/sync.h"
#include "gateway/codec/records_json.h"
#include "gateway/core/gateway.h"
#include "gateway/store/store.h"
#include "gateway/wiring/core_sync_host.h"
#include "mqtt/async_client.h"
#include "tests/bench/gen.h"
#include "tests/integration/mosquitto.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char kSiteId[] = "bench";
constexpr char kGatewayId[] = "gw-1";
constexpr char kKid[] = "cloud-1";

// The broker this run started, stopped by Die so that a failed run leaves no mosquitto behind.
std::atomic<testing::Mosquitto*> g_broker{nullptr};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "cloud_bench: %s\n", what.c_str());
  std::fflush(stderr);
  if (testing::Mosquitto* b = g_broker.exchange(nullptr)) b->Stop();
  _exit(1);
}

double Us(SteadyClock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};
Percentiles Summarize(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  p.n = v.size();
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.max = v.back();
  return p;
}
double Round1(double x) { return static_cast<double>(static_cast<int64_t>(x * 10 + 0.5)) / 10; }
double Round3(double x) { return static_cast<double>(static_cast<int64_t>(x * 1000 + 0.5)) / 1000; }

// ---- sockets
// --------------------------------------------------------------------------------------

// The TCP sockets this process has open (fd numbers), from /proc/self/fd.
std::set<int> TcpSocketFds() {
  std::set<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/self/fd", ec)) {
    std::error_code ec2;
    fs::path target = fs::read_symlink(e.path(), ec2);
    if (ec2 || target.string().rfind("socket:", 0) != 0) continue;
    int fd = std::atoi(e.path().filename().c_str());
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) continue;
    if (domain == AF_INET || domain == AF_INET6) out.insert(fd);
  }
  return out;
}

// ---- the cloud's side: Paho clients
// ---------------------------------------------------------------

// One Paho async client, clean session, MQTT 3.1.1, QoS 1. Messages on its subscriptions go to
// `on_message` on Paho's thread.
class CloudClient {
 public:
  using OnMessage = std::function<void(const std::string& topic, const std::string& payload)>;

  CloudClient(const std::string& uri, const std::string& id)
      : client_(uri, id, mqtt::create_options(MQTTVERSION_3_1_1), nullptr) {}
  ~CloudClient() {
    try {
      if (client_.is_connected()) client_.disconnect()->wait_for(5s);
    } catch (const mqtt::exception&) {
    }
  }

  // Connects and subscribes. The sockets this connect opened are remembered (SetNoDelay).
  void Connect(const std::vector<std::string>& subs, OnMessage on_message) {
    if (on_message) {
      client_.set_message_callback([f = std::move(on_message)](mqtt::const_message_ptr m) {
        f(m->get_topic(), m->get_payload_str());
      });
    }
    std::set<int> before = TcpSocketFds();
    try {
      auto opts = mqtt::connect_options_builder()
                      .clean_session(true)
                      .keep_alive_interval(60s)
                      .connect_timeout(10s)
                      .mqtt_version(MQTTVERSION_3_1_1)
                      .finalize();
      if (!client_.connect(opts)->wait_for(30s)) Die("cloud client connect timed out");
      for (const std::string& t : subs) {
        if (!client_.subscribe(t, 1)->wait_for(10s)) Die("subscribe timed out");
      }
    } catch (const mqtt::exception& e) {
      Die(std::string("cloud client: ") + e.what());
    }
    for (int fd : TcpSocketFds()) {
      if (!before.contains(fd)) own_fds_.push_back(fd);
    }
  }

  // TCP_NODELAY on this client's socket(s) (Paho C never sets it). Returns how many were set.
  int SetNoDelay(bool on) {
    int n = 0, v = on ? 1 : 0;
    for (int fd : own_fds_) n += setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) == 0;
    return n;
  }

  // QoS 1 publish; at most `window` unacknowledged; never waits when below it.
  void Publish(const std::string& topic, const std::string& payload, size_t window = 32) {
    try {
      while (pending_.size() >= window) WaitOldest();
      pending_.push_back(client_.publish(topic, payload.data(), payload.size(), 1, false));
    } catch (const mqtt::exception& e) {
      Die(std::string("publish: ") + e.what());
    }
  }
  // From a message callback (Paho's thread): queue and forget.
  void PublishNoWait(const std::string& topic, const std::string& payload) {
    try {
      client_.publish(topic, payload.data(), payload.size(), 1, false);
    } catch (const mqtt::exception& e) {
      Die(std::string("publish: ") + e.what());
    }
  }
  void Flush() {
    while (!pending_.empty()) WaitOldest();
  }

 private:
  void WaitOldest() {
    auto t = pending_.front();
    pending_.pop_front();
    if (!t->wait_for(120s)) Die("no PUBACK within 120 s");
  }

  mqtt::async_client client_;
  std::deque<mqtt::delivery_token_ptr> pending_;
  std::vector<int> own_fds_;
};

struct Signer {
  cloud::Ed25519KeyPair key;
  std::string Sign(const json& payload) const {
    return cloud::SignJws(payload.dump(), kKid, std::span<const uint8_t, 64>(key.secret_key));
  }
};

Signer MakeSigner() {
  std::array<uint8_t, 32> seed;
  seed.fill(42);
  return {cloud::Ed25519KeyPairFromSeed(seed)};
}

json Base(const char* type) { return {{"type", type}, {"site", kSiteId}, {"gateway", kGatewayId}}; }

constexpr std::array<const char*, 6> kRecordKinds = {"schedules", "groups",      "people",
                                                     "leases",    "credentials", "door_modes"};

// The records as signed snapshot pages of `page_size` records at (epoch, version).
std::vector<std::string> SignedPages(const rules::Records& r, uint64_t epoch, uint64_t version,
                                     size_t page_size, const Signer& signer) {
  auto empty = [] {
    json e = json::object();
    for (const char* k : kRecordKinds) e[k] = json::array();
    return e;
  };
  std::vector<json> pages(1, empty());
  size_t in_page = 0;
  auto add = [&](const char* kind, json rec) {
    if (in_page == page_size) {
      pages.push_back(empty());
      in_page = 0;
    }
    pages.back()[kind].push_back(std::move(rec));
    ++in_page;
  };
  for (const auto& x : r.schedules) add("schedules", codec::ToJson(x));
  for (const auto& x : r.groups) add("groups", codec::ToJson(x));
  for (const auto& x : r.people) add("people", codec::ToJson(x));
  for (const auto& x : r.leases) add("leases", codec::ToJson(x));
  for (const auto& x : r.credentials) add("credentials", codec::ToJson(x));
  for (const auto& x : r.door_modes) add("door_modes", codec::ToJson(x));
  std::string id = NewUuid();
  std::vector<std::string> out;
  out.reserve(pages.size());
  for (size_t i = 0; i < pages.size(); ++i) {
    json p = Base("snapshot");
    p.update({{"epoch", epoch},
              {"version", version},
              {"snapshot_id", id},
              {"page", i + 1},
              {"pages", pages.size()},
              {"records", std::move(pages[i])}});
    pages[i] = json();
    out.push_back(signer.Sign(p));
  }
  return out;
}

// ---- the gateway's side: the daemon's wiring, in process
// -------------------------------------------

std::string ConfigYaml(const std::string& store_path, const Signer& signer) {
  std::string y = "site: {id: " + std::string(kSiteId) +
                  ", time_zone: Europe/Berlin}\n"
                  "gateway: {id: " +
                  kGatewayId + "}\nstore: {path: " + store_path +
                  "}\npolicy: {rent_grace_days: 5}\ndoors:\n";
  for (int i = 0; i < bench::kDoors; ++i) {
    y += "  - {id: door-" + std::to_string(i) + (i < 4 ? ", common: true" : "") + "}\n";
  }
  y += "cloud:\n  trusted_keys:\n    - {kid: " + std::string(kKid) +
       ", public_key: " + Base64Encode(std::span<const uint8_t>(signer.key.public_key)) + "}\n";
  // The parser's queue keeps the daemon's default (64 MiB): a snapshot streamed faster than the
  // store takes it waits in the broker (flow control, issue 13 point 5), not in the gateway.
  return y;
}

class GatewayUnderTest {
 public:
  // Called on the loop thread after every task the link or the state worker posted: `started` is
  // when that task began.
  using AfterTask = std::function<void(SteadyClock::time_point started)>;

  GatewayUnderTest(const std::string& dir, const std::string& broker_uri, const Signer& signer) {
    fs::create_directories(dir);
    Result<config::Config> c =
        config::LoadConfigText(ConfigYaml(dir + "/lintel.db", signer), "bench.yaml");
    if (!c.ok()) Die("config: " + c.status().message());
    config_ = *c;
    broker_uri_ = broker_uri;
    Result<std::unique_ptr<core::Gateway>> g = core::Gateway::Open(config_, clock_);
    if (!g.ok()) Die("gateway: " + g.status().ToString());
    gw_ = std::move(*g);
    Result<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    if (!loop.ok()) Die("loop: " + loop.status().ToString());
    loop_ = std::move(*loop);
  }

  ~GatewayUnderTest() { Stop(); }

  core::Gateway& gw() { return *gw_; }
  cloud::CloudSync& sync() { return *sync_; }
  const cloud::Topics& topics() const { return topics_; }

  void SetAfterTask(AfterTask f) { after_task_ = std::move(f); }
  void SetOutcomeObserver(std::function<void(const cloud::StateOutcome&)> f) { observer_ = f; }

  // As gateway/main.cpp: CloudSync on the loop, the Paho link's callbacks posted to it, the
  // periodic ticks; then the loop thread starts and the link connects. Waits until connected
  // when `wait_connected`.
  void Start(bool wait_connected = true) {
    auto post = [this](std::function<void()> f) {
      loop_->Post([this, f = std::move(f)] {
        auto started = SteadyClock::now();
        f();
        if (after_task_) after_task_(started);
      });
    };
    // As gateway/main.cpp: the journal on a thread of its own (its commits checkpoint the WAL).
    gw_->StartJournalWriter([this](std::function<void()> f) { loop_->Post(std::move(f)); });
    host_ = std::make_unique<wiring::CoreSyncHost>(*gw_);
    sync_ = std::make_unique<cloud::CloudSync>(config_, *host_, NewUuid(), clock_);
    topics_ = sync_->topics();
    if (observer_) sync_->SetOutcomeObserver(observer_);
    Status started = sync_->Start(post);
    if (!started.ok()) Die("sync: " + started.ToString());
    cloud::MqttOptions o;
    o.uri = broker_uri_;
    o.client_id = "lintel-" + config_.site_id + "-" + config_.gateway_id;
    o.will_topic = sync_->topics().state;
    o.will_payload = [boot = sync_->boot_id()](uint32_t session) {
      return cloud::StateWillPayload(boot, session);
    };
    for (const std::string& t : sync_->topics().Subscriptions()) o.subscriptions.push_back(t);
    Result<std::unique_ptr<cloud::MqttLink>> made = cloud::MakePahoLink(o, *sync_, post);
    if (!made.ok()) Die("link: " + made.status().ToString());
    link_ = std::move(*made);
    sync_->SetLink(link_.get());
    gw_->SetJournalListener([this] { sync_->OnJournal(); });
    loop_->AddPeriodic(1s, [this] { sync_->Tick(); });
    loop_->AddPeriodic(5s, [this] {
      Status s = gw_->Tick();
      if (!s.ok()) LogError("core", "housekeeping failed: " + s.ToString());
    });
    thread_ = std::thread([this] {
      Status ran = loop_->Run();
      if (!ran.ok()) Die("loop: " + ran.ToString());
    });
    Call([this] { link_->Start(); });
    if (wait_connected) {
      for (int i = 0; i < 3000 && !Call([this] { return sync_->connected(); }); ++i) {
        std::this_thread::sleep_for(10ms);
      }
      if (!Call([this] { return sync_->connected(); })) Die("gateway did not connect");
    }
  }

  // Runs `f` on the loop thread and returns its result.
  template <class F>
  auto Call(F f) -> decltype(f()) {
    using R = decltype(f());
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<std::conditional_t<std::is_void_v<R>, int, R>> result;
    loop_->Post([&] {
      if constexpr (std::is_void_v<R>) {
        f();
        result = 0;
      } else {
        result = f();
      }
      std::lock_guard l(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock l(mu);
    cv.wait(l, [&] { return done; });
    if constexpr (!std::is_void_v<R>) return std::move(*result);
  }

  // Waits until the worker has reported every job (polls the loop).
  void Settle(std::chrono::seconds limit = 600s) {
    auto until = SteadyClock::now() + limit;
    while (Call([this] { return sync_->pending_jobs(); }) > 0) {
      if (SteadyClock::now() > until) Die("state worker did not settle");
      std::this_thread::sleep_for(5ms);
    }
  }

  void Stop() {
    if (!thread_.joinable()) return;
    Call([this] {
      sync_->OnStopping();
      link_->Stop();
    });
    loop_->Stop();
    thread_.join();
    (void)gw_->Tick();
    (void)gw_->Stop();  // the journal writer drained and joined, as at the daemon's SIGTERM
    gw_->SetJournalListener(nullptr);
    link_.reset();
    sync_.reset();
    loop_.reset();
    gw_.reset();
  }

 private:
  config::Config config_;
  std::string broker_uri_;
  SystemClock clock_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<wiring::CoreSyncHost> host_;  // *gw_ as the sync's SyncHost
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<cloud::CloudSync> sync_;
  std::unique_ptr<cloud::MqttLink> link_;
  cloud::Topics topics_;
  std::thread thread_;
  AfterTask after_task_;
  std::function<void(const cloud::StateOutcome&)> observer_;
};

// Publishes a snapshot of `records` at (1, 1) to the gateway and waits until it is applied.
// Returns {first publish, outcome} timings through the observer the caller installed.
void PublishPages(CloudClient& cloud, const cloud::Topics& t,
                  const std::vector<std::string>& pages) {
  for (const std::string& p : pages) cloud.Publish(t.sync_snapshot, p, 8);
  cloud.Flush();
}

// ---- 1. revocation ------------------------------------------------------------------------------

// What each measured delta of a pass changes (issue 13, points 1 and 2).
enum class Change {
  kRevoke,              // revokes one card: measured until a decision says credential_revoked
  kTenant,              // adds a tenant (person, lease, card, PIN): until the new card is granted
  kRevokeBehindTenant,  // a tenant delta, then at once a revocation: the revocation is measured
  // The whole state again as a snapshot (regenerated, at the next version), then revocations one
  // after another while the worker applies it: measured as kRevoke, without waiting for the worker
  // between them. Last pass only (the snapshot drops what the passes before changed).
  kRevokeDuringSnapshot,
};
struct Pass {
  bool nodelay = true;
  Change change = Change::kRevoke;
  size_t n = 0;
};

struct RevocationResult {
  size_t credentials = 0;
  Change change = Change::kRevoke;
  double steady_rss_mb = 0;    // before the pass (the state applied, the bench's copy freed)
  double peak_rss_mb = 0;      // the highest resident size sampled during the pass
  Percentiles denied_us;       // publish -> the loop's first decision says credential_revoked
  Percentiles swap_us;         // publish -> the index swap (outcome observer)
  Percentiles bare_us;         // publish -> a bare subscriber has the message
  Percentiles bare_behind_us;  // the same, published right behind a message of a tenant's size
  Percentiles worker_apply_ms, worker_index_ms, worker_commit_ms;
  // Each change's denied_us less its own durable commit (the worker's fsync): the gateway's own
  // share, which the disk's slow fsyncs do not move.
  Percentiles less_commit_us;
  double snapshot_setup_s = 0;
  double sync_before_s = 0;         // sync(2) before the pass: the writeback it waited for
  double checkpoint_wait_s = 0;     // waiting for the worker's WAL checkpoint before the pass
  double disk_settle_s = 0;         // DiskSettle before the pass
  size_t before_snapshot_swap = 0;  // kRevokeDuringSnapshot: revocations denied before its swap
  double snapshot_apply_s = 0;      // kRevokeDuringSnapshot: last page in -> its swap
  std::string reason_before;
  int nodelay_sockets = 0;
};

struct Probe {
  std::mutex mu;
  std::condition_variable cv;
  bool active = false;
  rules::Request request;
  bool want_grant = false;  // waiting for a grant (a new tenant), else for credential_revoked
  bool Seen(const rules::Decision& d) const {
    return want_grant ? d.granted : d.reason == rules::Reason::kCredentialRevoked;
  }
  SteadyClock::time_point swap_at{}, denied_at{};
  SteadyClock::time_point snapshot_at{};  // the last snapshot outcome
  double apply_ms = 0, index_ms = 0, commit_ms = 0;
  bool done = false;
};

// The bare MQTT round trip's receiving end.
struct BareSink {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t expect = 0;  // the id of the message awaited
  SteadyClock::time_point at{};
  bool got = false;
};

rules::Request CardRequest(const rules::Credential& c) {
  rules::Presented p;
  p.kind = rules::PresentedKind::kCard;
  p.format = c.card.format;
  p.facility = c.card.facility;
  p.number = c.card.number;
  return rules::Request{"door-0", "", p};
}

// This process's resident size in MiB (/proc/self/statm).
double RssMb() {
  std::ifstream f("/proc/self/statm");
  size_t size = 0, resident = 0;
  f >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// Samples RssMb() every 2 ms until destroyed; peak() is the highest seen.
class RssSampler {
 public:
  RssSampler()
      : thread_([this] {
          while (!stop_) {
            double now = RssMb();
            double seen = peak_.load();
            while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
            }
            std::this_thread::sleep_for(2ms);
          }
        }) {}
  ~RssSampler() {
    stop_ = true;
    thread_.join();
  }
  double peak() const { return peak_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<double> peak_{0};
  std::thread thread_;
};

// The ops adding tenant `k`: a person, a lease of theirs on the common doors and a group, a card
// and a PIN that no generated credential has. `card` receives the card credential.
json TenantOps(size_t k, rules::Credential* card) {
  rules::Person p;
  p.id = "new-p-" + std::to_string(k);
  p.name = "New resident " + std::to_string(k);
  rules::Lease l;
  l.id = "new-l-" + std::to_string(k);
  l.unit = "new-" + std::to_string(k);
  l.members = {p.id};
  l.groups = {"default", "g-" + std::to_string(k % bench::kGroups)};
  l.starts_at = bench::At("2025-01-01T00:00:00Z");
  rules::Credential c;
  c.id = "new-c-" + std::to_string(2 * k);
  c.person = p.id;
  c.type = rules::CredentialType::kCard;
  c.card.format = rules::CardFormat::kH10301;
  c.card.facility = 250;  // generated cards use facilities below 250 up to 16M credentials
  c.card.number = k & 0xffff;
  rules::Credential pin;
  pin.id = "new-c-" + std::to_string(2 * k + 1);
  pin.person = p.id;
  pin.type = rules::CredentialType::kPin;
  pin.pin = std::to_string(80000000 + k);  // generated PINs stay below 80,000,000; no leading 9
  *card = c;
  return json::array({{{"op", "put"}, {"kind", "person"}, {"data", codec::ToJson(p)}},
                      {{"op", "put"}, {"kind", "lease"}, {"data", codec::ToJson(l)}},
                      {{"op", "put"}, {"kind", "credential"}, {"data", codec::ToJson(c)}},
                      {{"op", "put"}, {"kind", "credential"}, {"data", codec::ToJson(pin)}}});
}

// Runs `passes` of measured deltas on a gateway holding `credentials` credentials. Each pass turns
// the cloud publisher's TCP_NODELAY on or off and says what its deltas change.
// Waits until the disk under `dir` is back to its steady speed: a 16 KiB write and fdatasync
// every 10 ms until 100 in a row (a second) took under 5 ms each, at most 30 s. Returns the
// seconds waited.
double DiskSettle(const std::string& dir) {
  const std::string path = dir + "/disk-settle.probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die("cannot create " + path);
  const std::string block(16384, 'x');
  auto t0 = SteadyClock::now();
  int fast = 0;
  for (int i = 0; fast < 100 && SteadyClock::now() - t0 < 30s; ++i) {
    auto w0 = SteadyClock::now();
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(i % 64) * 16384) < 0 ||
        ::fdatasync(fd) != 0) {
      Die("cannot write " + path);
    }
    fast = SteadyClock::now() - w0 < 5ms ? fast + 1 : 0;
    std::this_thread::sleep_for(10ms);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return bench::Seconds(t0, SteadyClock::now());
}

std::vector<RevocationResult> RunRevocation(const std::string& dir, testing::Mosquitto& broker,
                                            size_t credentials, const std::vector<Pass>& passes,
                                            const Signer& signer) {
  rules::Records records = bench::Generate(credentials);
  GatewayUnderTest gut(dir, broker.uri(), signer);
  Probe probe;
  gut.SetOutcomeObserver([&](const cloud::StateOutcome& o) {
    std::lock_guard l(probe.mu);
    if (o.job == cloud::JobKind::kSnapshot) probe.snapshot_at = SteadyClock::now();
    probe.apply_ms = o.apply_ms;
    probe.commit_ms = o.commit_ms;
    probe.index_ms = o.index_ms;
    if (!probe.active || probe.swap_at != SteadyClock::time_point{}) return;
    rules::Decision d = gut.gw().engine().Evaluate(probe.request, gut.gw().WallNow());
    if (probe.Seen(d)) probe.swap_at = SteadyClock::now();
  });
  const bool trace = std::getenv("LINTEL_BENCH_TRACE") != nullptr;
  // The core loop's tasks over 0.5 ms (start, end), for LINTEL_BENCH_TRACE's attribution of the
  // revocations during a snapshot.
  std::vector<std::pair<SteadyClock::time_point, SteadyClock::time_point>> long_tasks;
  gut.SetAfterTask([&](SteadyClock::time_point started) {
    std::lock_guard l(probe.mu);
    auto ended = SteadyClock::now();
    if (trace && ended - started > 500us && long_tasks.size() < 100000) {
      long_tasks.emplace_back(started, ended);
    }
    if (!probe.active) return;
    // An actual decision, as a reader's event would get it on this thread.
    rules::Decision d = gut.gw().engine().Decide(probe.request, gut.gw().WallNow());
    if (!probe.Seen(d)) return;
    probe.denied_at = SteadyClock::now();
    probe.active = false;
    probe.done = true;
    probe.cv.notify_all();
  });
  gut.Start();

  CloudClient cloud(broker.uri(), "bench-cloud-" + std::to_string(getpid()));
  cloud.Connect({}, nullptr);
  BareSink sink;
  CloudClient bare(broker.uri(), "bench-bare-" + std::to_string(getpid()));
  const std::string bare_topic = "bench/rtt";
  bare.Connect({bare_topic}, [&](const std::string&, const std::string& payload) {
    auto now = SteadyClock::now();
    uint64_t id = std::strtoull(payload.c_str(), nullptr, 10);
    std::lock_guard l(sink.mu);
    if (id != sink.expect) return;
    sink.at = now;
    sink.got = true;
    sink.cv.notify_all();
  });

  // The cards to revoke, spread over the building (cards are the even credential indexes); then
  // the bench's copy of the state goes, so that the resident size is the gateway's.
  size_t revoke_count = 0;
  for (const Pass& p : passes) revoke_count += p.change == Change::kTenant ? 0 : p.n;
  std::vector<rules::Credential> to_revoke;
  const size_t cards = (records.credentials.size() + 1) / 2;
  if (revoke_count > cards) Die("more revocations than cards");
  for (size_t k = 0; k < revoke_count; ++k) {
    to_revoke.push_back(records.credentials[2 * ((k * 7919) % cards)]);
  }
  auto t_snap = SteadyClock::now();
  PublishPages(cloud, gut.topics(), SignedPages(records, 1, 1, 5000, signer));
  records = {};
  malloc_trim(0);
  for (int i = 0; i < 60000 && gut.Call([&] { return gut.sync().applied(); }) != Position{1, 1};
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  if (gut.Call([&] { return gut.sync().applied(); }) != Position{1, 1}) {
    Die("the revocation state snapshot was not applied");
  }
  gut.Settle();
  double setup_s = bench::Seconds(t_snap, SteadyClock::now());

  std::vector<RevocationResult> results;
  uint64_t version = 1;
  uint64_t bare_id = 0;
  size_t next_card = 0, next_tenant = 0;
  auto signed_delta = [&](const json& ops) {
    ++version;
    json delta = Base("delta");
    delta.update({{"epoch", 1},
                  {"version", version},
                  {"prev", version - 1},
                  {"issued_at", FormatRfc3339(gut.gw().WallNow())},
                  {"ops", ops}});
    return signer.Sign(delta);
  };
  for (const Pass& pass : passes) {
    RevocationResult r;
    r.credentials = credentials;
    r.change = pass.change;
    r.snapshot_setup_s = setup_s;
    r.nodelay_sockets = cloud.SetNoDelay(pass.nodelay);
    bare.SetNoDelay(pass.nodelay);
    // What the setup (or the pass before) left behind is done before the pass starts, so the pass
    // measures the steady state, not the setup's aftermath (each reported in seconds):
    //  - the state worker's idle WAL checkpoint, kIdleCheckpointAfter after its last job (a pass
    //    started before it puts its first deltas' fsyncs behind that I/O: 110-150 ms each): the
    //    worker's next idle upkeep is waited for, which has done any checkpoint that was due;
    //  - the kernel's writeback (sync): gigabytes after a 2,000,000-credential snapshot, up to 30 s
    //    (each delta's commit p99 was 69 ms against a bare commit's 0.8 ms);
    //  - the disk itself (DiskSettle): on a mount with `discard` (this machine's), the trim of a
    //    snapshot's freed WAL (~600 MiB) left a single 64 KiB write taking ~20 ms every ~2 s for
    //    several seconds after it, with nothing else writing.
    if (pass.change != Change::kRevokeDuringSnapshot) {
      auto s0 = SteadyClock::now();
      const uint64_t upkeeps = gut.Call([&] { return gut.sync().idle_upkeeps(); });
      while (gut.Call([&] { return gut.sync().idle_upkeeps(); }) == upkeeps &&
             SteadyClock::now() - s0 < cloud::kIdleCheckpointAfter + 10s) {
        std::this_thread::sleep_for(10ms);
      }
      r.checkpoint_wait_s = bench::Seconds(s0, SteadyClock::now());
      s0 = SteadyClock::now();
      ::sync();
      r.sync_before_s = bench::Seconds(s0, SteadyClock::now());
      r.disk_settle_s = DiskSettle(dir);
    }
    malloc_trim(0);
    r.steady_rss_mb = RssMb();
    RssSampler rss;
    std::vector<double> denied, swapped, rtt, rtt_behind, apply, index, commit;
    std::vector<SteadyClock::time_point> denied_at, published_at;
    SteadyClock::time_point snapshot_published{};
    const bool during = pass.change == Change::kRevokeDuringSnapshot;
    if (during) {
      // The same generated state again (bench::Generate is deterministic; the cards this pass
      // revokes are active in both), signed at the next version, every page published at once.
      std::vector<std::string> pages =
          SignedPages(bench::Generate(credentials), 1, ++version, 5000, signer);
      malloc_trim(0);
      {
        std::lock_guard l(probe.mu);
        probe.snapshot_at = {};
      }
      if (trace) std::fprintf(stderr, "trace: snapshot publishing\n");
      for (const std::string& page : pages) cloud.Publish(gut.topics().sync_snapshot, page, 8);
      cloud.Flush();
      // The revocations start once the gateway has every page (a delta published earlier waits
      // behind the pages in MQTT's order, which no gateway can overtake): from then on the worker
      // completes the snapshot (validation, the swap of the staged tables, the index).
      const Position snap{1, version};
      for (int i = 0; i < 600000 && gut.Call([&] { return gut.sync().pending(); }) != snap; ++i) {
        std::this_thread::sleep_for(1ms);
      }
      if (gut.Call([&] { return gut.sync().pending(); }) != snap) Die("the snapshot never came in");
      snapshot_published = SteadyClock::now();
    }
    for (size_t k = 0; k < pass.n; ++k) {
      std::string before_jws;  // a tenant delta published right before the measured one
      rules::Request request;
      std::string jws;
      if (pass.change == Change::kTenant) {
        rules::Credential card;
        jws = signed_delta(TenantOps(next_tenant++, &card));
        request = CardRequest(card);
      } else {
        if (pass.change == Change::kRevokeBehindTenant) {
          rules::Credential unused;
          before_jws = signed_delta(TenantOps(next_tenant++, &unused));
        }
        rules::Credential c = to_revoke[next_card++];
        request = CardRequest(c);
        c.status = rules::CredentialStatus::kRevoked;
        jws = signed_delta(
            json::array({{{"op", "put"}, {"kind", "credential"}, {"data", codec::ToJson(c)}}}));
      }

      // The bare round trip first, with a payload of the same size.
      // The bare round trip of a payload of `size` (after `filler` bytes when not 0, published
      // first and not timed), publish to the bare subscriber, in microseconds.
      auto bare_round_trip = [&](size_t size, size_t filler) {
        std::string payload = std::to_string(++bare_id);
        payload.resize(size, ' ');
        {
          std::lock_guard l(sink.mu);
          sink.expect = bare_id;
          sink.got = false;
        }
        if (filler > 0) cloud.Publish(bare_topic, "0" + std::string(filler - 1, ' '));
        auto b0 = SteadyClock::now();
        cloud.Publish(bare_topic, payload);
        double us = 0;
        {
          std::unique_lock l(sink.mu);
          if (!sink.cv.wait_for(l, 10s, [&] { return sink.got; })) Die("bare message lost");
          us = Us(sink.at - b0);
        }
        cloud.Flush();
        std::this_thread::sleep_for(5ms);
        return us;
      };
      rtt.push_back(bare_round_trip(jws.size(), 0));
      if (!before_jws.empty()) {
        // The same pattern bare: a message of the tenant delta's size, then at once the measured
        // one. The second waits behind the first in the broker and the client as the revocation
        // waits behind the tenant delta: the transport's share, not the gateway's.
        rtt_behind.push_back(bare_round_trip(jws.size(), before_jws.size()));
      }

      if (k == 0 && r.reason_before.empty()) {
        r.reason_before = std::string(rules::ReasonName(
            gut.Call([&] { return gut.gw().engine().Evaluate(request, gut.gw().WallNow()); })
                .reason));
      }
      {
        std::lock_guard l(probe.mu);
        probe.request = request;
        probe.want_grant = pass.change == Change::kTenant;
        probe.swap_at = {};
        probe.denied_at = {};
        probe.done = false;
        probe.active = true;
      }
      if (!before_jws.empty()) cloud.Publish(gut.topics().sync_delta, before_jws);
      auto t0 = SteadyClock::now();
      cloud.Publish(gut.topics().sync_delta, jws);
      {
        std::unique_lock l(probe.mu);
        if (!probe.cv.wait_for(l, 60s, [&] { return probe.done; })) {
          Die("delta " + std::to_string(version) + " not seen within 60 s");
        }
        denied.push_back(Us(probe.denied_at - t0));
        published_at.push_back(t0);
        denied_at.push_back(probe.denied_at);
        if (probe.swap_at != SteadyClock::time_point{}) swapped.push_back(Us(probe.swap_at - t0));
        apply.push_back(probe.apply_ms);
        commit.push_back(probe.commit_ms);
        index.push_back(probe.index_ms);
      }
      cloud.Flush();
      if (during) continue;  // the next revocation while the snapshot still applies
      gut.Settle();
      // Let the gateway's own publishes (sync/ack, state) and journal settle.
      std::this_thread::sleep_for(20ms);
    }
    if (during) {
      gut.Settle();
      std::lock_guard l(probe.mu);
      if (probe.snapshot_at == SteadyClock::time_point{})
        Die("the pass's snapshot was not applied");
      for (SteadyClock::time_point at : denied_at) r.before_snapshot_swap += at < probe.snapshot_at;
      if (trace) {
        for (size_t i = 0; i < denied.size(); ++i) {
          std::fprintf(stderr,
                       "during %zu: %.0f us, at %.1f ms, swap at %.1f ms (monotonic %.6f)\n", i,
                       denied[i], bench::Seconds(snapshot_published, denied_at[i]) * 1000,
                       bench::Seconds(snapshot_published, probe.snapshot_at) * 1000,
                       std::chrono::duration<double>(published_at[i].time_since_epoch()).count());
          for (const auto& [from, to] : long_tasks) {
            if (to < published_at[i] || from > denied_at[i]) continue;
            std::fprintf(stderr, "  loop task %.0f us, from %.0f us after the publish\n",
                         Us(to - from), Us(from - published_at[i]));
          }
        }
      }
      r.snapshot_apply_s = bench::Seconds(snapshot_published, probe.snapshot_at);
    }
    r.peak_rss_mb = rss.peak();
    r.denied_us = Summarize(denied);
    r.swap_us = Summarize(swapped);
    r.bare_us = Summarize(rtt);
    if (!rtt_behind.empty()) r.bare_behind_us = Summarize(rtt_behind);
    r.worker_apply_ms = Summarize(apply);
    r.worker_commit_ms = Summarize(commit);
    std::vector<double> less_commit;
    for (size_t i = 0; i < denied.size() && i < commit.size(); ++i) {
      less_commit.push_back(denied[i] - commit[i] * 1000);
    }
    r.less_commit_us = Summarize(less_commit);
    r.worker_index_ms = Summarize(index);
    results.push_back(r);
  }
  auto applied = gut.Call([&] { return gut.sync().applied(); });
  if (applied != Position{1, version}) Die("revocations not all applied");
  gut.Stop();
  return results;
}

// One durable commit: Store::ApplyOps of one op with durable_commits (the default), on a fresh
// store in `dir`. Returns the commit times in microseconds.
Percentiles DurableCommit(const std::string& dir, size_t n) {
  fs::create_directories(dir);
  std::string path = dir + "/commit.db";
  auto store = store::Store::Open(path, {});
  if (!store.ok()) Die("store: " + store.status().ToString());
  rules::Records r = bench::Generate(1000);
  if (!(*store)->ReplaceState(r, store::Position{1, 1}).ok()) Die("replace");
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    rules::Credential c = r.credentials[2 * (i % 500)];
    c.status = i % 2 ? rules::CredentialStatus::kActive : rules::CredentialStatus::kRevoked;
    auto a = SteadyClock::now();
    Status s = (*store)->ApplyOps({rules::PutOp(c)}, store::Position{1, 2 + i});
    auto b = SteadyClock::now();
    if (!s.ok()) Die("apply: " + s.ToString());
    us.push_back(Us(b - a));
  }
  return Summarize(us);
}

// ---- 2. snapshot --------------------------------------------------------------------------------

struct SnapshotResult {
  size_t credentials = 0, records = 0, pages = 0;
  double sign_s = 0;     // building and signing the pages (the cloud's work, not timed below)
  double publish_s = 0;  // first publish -> the last page's PUBACK
  double staged_s = 0;   // first publish -> the last page parsed and staged (job submitted)
  double applied_s = 0;  // first publish -> the index swapped in
  double worker_apply_ms = 0, worker_index_ms = 0;
  double bare_insert_s = 0;
  double longest_loop_task_ms = 0;  // the core loop's longest task from first publish to swap
  // Resident memory of this process (the gateway; the cloud side streams its pages from a file
  // and holds at most 8 in flight): before the first page, the peak until the index is swapped in
  // (VmHWM, reset before the first page), and steady afterwards (settled, malloc_trim).
  size_t rss_before = 0, rss_peak = 0, rss_steady = 0;
  bool peak_exact = false;  // VmHWM could be reset (else: sampled every 2 ms)
  std::string decision;     // a decision after the swap, for a card of the snapshot
};

// /proc/self/status field `key` ("VmRSS", "VmHWM") in bytes; 0 when absent.
size_t StatusBytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1)) * 1024;
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0: "5" to clear_refs). False when not allowed.
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

SnapshotResult RunSnapshot(const std::string& dir, testing::Mosquitto& broker, size_t credentials,
                           size_t page_size, const Signer& signer) {
  SnapshotResult r;
  r.credentials = credentials;
  fs::create_directories(dir);
  const std::string pages_path = dir + "/pages.bin";
  rules::Request probe;
  {
    rules::Records records = bench::Generate(credentials);
    {
      auto a = SteadyClock::now();
      std::vector<std::string> pages = SignedPages(records, 1, 1, page_size, signer);
      r.sign_s = bench::Seconds(a, SteadyClock::now());
      r.pages = pages.size();
      std::ofstream out(pages_path, std::ios::binary);
      for (const std::string& p : pages) {
        uint64_t n = p.size();
        out.write(reinterpret_cast<const char*>(&n), sizeof n);
        out.write(p.data(), static_cast<std::streamsize>(n));
      }
      if (!out) Die("cannot write " + pages_path);
    }
    r.records = records.schedules.size() + records.groups.size() + records.people.size() +
                records.leases.size() + records.credentials.size();
    r.bare_insert_s = bench::BareInsert(records, dir + "/bare.db");
    probe = CardRequest(records.credentials[2 * (credentials / 4)]);
  }
  malloc_trim(0);

  GatewayUnderTest gut(dir + "/gw", broker.uri(), signer);
  std::mutex mu;
  std::condition_variable cv;
  bool applied = false;
  SteadyClock::time_point t0{}, staged_at{}, applied_at{};
  std::atomic<bool> sampling{true};
  std::atomic<size_t> sampled_peak{0};
  gut.SetOutcomeObserver([&](const cloud::StateOutcome& o) {
    if (o.job != cloud::JobKind::kSnapshot) return;
    std::lock_guard l(mu);
    applied_at = SteadyClock::now();
    sampling = false;
    r.rss_peak = StatusBytes("VmHWM");
    r.worker_apply_ms = o.apply_ms;
    r.worker_index_ms = o.index_ms;
    if (o.result != cloud::StateOutcome::Result::kApplied) Die("snapshot not applied: " + o.error);
    r.decision = rules::ReasonName(gut.gw().engine().Decide(probe, gut.gw().WallNow()).reason);
    applied = true;
    cv.notify_all();
  });
  double longest_ms = 0;  // loop thread only
  gut.SetAfterTask([&](SteadyClock::time_point started) {
    // Every task that started between the first publish and the swap (the swap's own included).
    if (t0 == SteadyClock::time_point{} || started < t0) return;
    if (applied_at != SteadyClock::time_point{} && started > applied_at) return;
    longest_ms =
        std::max(longest_ms,
                 std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count());
    if (staged_at != SteadyClock::time_point{}) return;
    if (gut.sync().pending_jobs() > 0) staged_at = SteadyClock::now();
  });
  gut.Start();
  CloudClient cloud(broker.uri(), "bench-snap-" + std::to_string(getpid()));
  cloud.Connect({}, nullptr);
  cloud.SetNoDelay(true);
  gut.Settle();
  malloc_trim(0);
  r.rss_before = StatusBytes("VmRSS");
  r.peak_exact = ResetPeakRss() && StatusBytes("VmHWM") <= r.rss_before + (64u << 20);
  std::thread sampler([&] {  // the fallback when VmHWM cannot be reset
    while (sampling) {
      size_t now = StatusBytes("VmRSS");
      if (now > sampled_peak) sampled_peak = now;
      std::this_thread::sleep_for(2ms);
    }
  });
  gut.Call([&] { t0 = SteadyClock::now(); });
  {
    std::ifstream in(pages_path, std::ios::binary);
    std::string page;
    for (uint64_t n = 0; in.read(reinterpret_cast<char*>(&n), sizeof n);) {
      page.resize(n);
      in.read(page.data(), static_cast<std::streamsize>(n));
      cloud.Publish(gut.topics().sync_snapshot, page, 8);
    }
    cloud.Flush();
  }
  auto t_pub = SteadyClock::now();
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, 1800s, [&] { return applied; })) Die("snapshot not applied in 30 min");
  }
  sampling = false;
  sampler.join();
  if (!r.peak_exact) r.rss_peak = sampled_peak;
  gut.Settle();
  gut.Call([] { malloc_trim(0); });
  r.rss_steady = StatusBytes("VmRSS");
  fs::remove(pages_path);
  r.publish_s = bench::Seconds(t0, t_pub);
  r.staged_s = gut.Call([&] { return bench::Seconds(t0, staged_at); });
  r.applied_s = bench::Seconds(t0, applied_at);
  r.longest_loop_task_ms = gut.Call([&] { return longest_ms; });
  gut.Stop();
  return r;
}

// ---- 3. drain -----------------------------------------------------------------------------------

struct DrainResult {
  size_t events = 0;
  double journal_s = 0;
  double drain_s = 0;
  uint64_t batches = 0;
  uint64_t events_received = 0;
  double count_us = 0;  // one Store::Count() with the whole backlog queued
};

DrainResult RunDrain(const std::string& dir, testing::Mosquitto& broker, size_t events,
                     const Signer& signer) {
  DrainResult r;
  r.events = events;
  GatewayUnderTest gut(dir, broker.uri(), signer);
  // Journaled while there is no link: the daemon's journal rows (Gateway::Journal's shape).
  {
    auto a = SteadyClock::now();
    Instant ts = gut.gw().WallNow();
    std::vector<store::JournalEvent> batch;
    for (size_t i = 0; i < events;) {
      batch.clear();
      for (size_t j = 0; j < 10000 && i < events; ++j, ++i) {
        store::JournalEvent e;
        e.ts = ts;
        bool granted = i % 10 != 0;
        e.type = granted ? "access.granted" : "access.denied";
        json body = {{"type", e.type},
                     {"result", granted ? "granted" : "denied"},
                     {"reason", granted ? "granted" : "outside_schedule"},
                     {"door", "door-" + std::to_string(i % bench::kDoors)},
                     {"reader", "reader-" + std::to_string(i % bench::kDoors)},
                     {"credential", "c-" + std::to_string(i * 13 % 2000000)},
                     {"person", "p-" + std::to_string(i * 13 % 2000000 / 2)},
                     {"source", "wiegand"},
                     {"id", NewUuid()},
                     {"ts", FormatRfc3339(ts)},
                     {"clock_synced", true}};
        e.body = body.dump();
        batch.push_back(std::move(e));
      }
      Result<uint64_t> last = gut.gw().store().Append(batch);
      if (!last.ok()) Die("append: " + last.status().ToString());
    }
    r.journal_s = bench::Seconds(a, SteadyClock::now());
  }
  (void)gut.gw().store().Count();  // warm
  auto c0 = SteadyClock::now();
  uint64_t queued = gut.gw().store().Count().value();
  r.count_us = Us(SteadyClock::now() - c0);  // CloudSync calls it in every state publish

  // The cloud: acknowledges every batch it receives (upto = the batch's last seq).
  std::atomic<uint64_t> batches{0}, received{0};
  CloudClient* acker_ptr = nullptr;
  std::string events_topic, ack_topic;
  {
    auto t = cloud::Topics::Make(kSiteId, kGatewayId).value();
    events_topic = t.events;
    ack_topic = t.events_ack;
  }
  CloudClient acker(broker.uri(), "bench-acker-" + std::to_string(getpid()));
  acker_ptr = &acker;
  acker.Connect({events_topic}, [&](const std::string&, const std::string& payload) {
    // The last event's seq: the events are in increasing seq order and each holds one "seq".
    size_t n = 0;
    for (size_t at = payload.find("\"seq\":"); at != std::string::npos;
         at = payload.find("\"seq\":", at + 6)) {
      ++n;
    }
    size_t last = payload.rfind("\"seq\":");
    if (last == std::string::npos) return;
    uint64_t upto = std::strtoull(payload.c_str() + last + 6, nullptr, 10);
    ++batches;
    received += n;
    json ack = Base("events_ack");
    ack["upto"] = upto;
    acker_ptr->PublishNoWait(ack_topic, signer.Sign(ack));
  });
  acker.SetNoDelay(true);

  std::mutex mu;
  std::condition_variable cv;
  bool drained = false;
  SteadyClock::time_point t0{}, t_end{};
  gut.SetAfterTask([&](SteadyClock::time_point started) {
    if (drained) return;  // loop thread only, except under mu below
    if (t0 == SteadyClock::time_point{}) {
      if (!gut.sync().connected()) return;
      t0 = started;  // the task that connected (OnConnected starts the pump)
    }
    // Not Count(): the first row of the outbox, an O(log n) look-up whatever Count() costs.
    Result<std::vector<store::JournalEvent>> first = gut.gw().store().ReadFrom(0, 1);
    if (!first.ok() || !first->empty()) return;
    std::lock_guard l(mu);
    t_end = SteadyClock::now();
    drained = true;
    cv.notify_all();
  });
  gut.Start(false);
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, 1800s, [&] { return drained; })) Die("outbox not drained in 30 min");
  }
  r.drain_s = bench::Seconds(t0, t_end);
  r.batches = batches;
  r.events_received = received;
  // The outbox also holds the gateway's own `gateway.started`.
  if (queued < events)
    Die("journaled " + std::to_string(queued) + " events, wanted " + std::to_string(events));
  r.events = queued;
  gut.Stop();
  return r;
}

// ---- main ---------------------------------------------------------------------------------------

int Main(int argc, char** argv) {
  // As gateway/main.cpp, before any thread: the gateway's threads start with short slices (the
  // bench's own, the bare round trip's included).
  UseShortSlicesOnThisThread();
  size_t snapshot_credentials = 2'000'000;
  size_t revocation_credentials = 10'000;
  size_t large_revocation_credentials = 100'000;
  size_t revocations = 200;
  size_t scale_credentials = 2'000'000, scale_deltas = 100;
  size_t events = 1'000'000;
  size_t page_size = 5000;
  bool nagle_pass = true, do_snapshot = true, do_drain = true;
  std::string dir = fs::temp_directory_path().string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&]() -> size_t {
      if (i + 1 >= argc) Die(a + " needs a number");
      return std::stoul(argv[++i]);
    };
    if (a == "--quick") {
      snapshot_credentials = 10'000;
      events = 100'000;
      revocations = 50;
      large_revocation_credentials = 0;
      scale_credentials = 0;
    } else if (a == "--scale-credentials") {
      scale_credentials = num();
    } else if (a == "--scale-deltas") {
      scale_deltas = num();
    } else if (a == "--credentials") {
      snapshot_credentials = num();
    } else if (a == "--revocation-credentials") {
      revocation_credentials = num();
    } else if (a == "--large-revocation-credentials") {
      large_revocation_credentials = num();
    } else if (a == "--revocations") {
      revocations = num();
    } else if (a == "--events") {
      events = num();
    } else if (a == "--page-size") {
      page_size = num();
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--no-nagle-pass") {
      nagle_pass = false;
    } else if (a == "--skip-snapshot") {
      do_snapshot = false;
    } else if (a == "--skip-drain") {
      do_drain = false;
    } else {
      Die("unknown argument " + a);
    }
  }
  SetLogLevel(LogLevel::kWarning);
  std::string root = dir + "/lintel-cloud-bench-" + std::to_string(getpid());
  fs::create_directories(root);
  testing::Mosquitto broker(root + "/broker");
  if (!broker.Start()) Die("mosquitto did not start (see " + broker.log_path() + ")");
  g_broker = &broker;
  Signer signer = MakeSigner();
  json out = {{"bench", "cloud"}};

  // 1. revocation
  std::vector<Pass> passes = {{true, Change::kRevoke, revocations}};
  if (nagle_pass) passes.push_back({false, Change::kRevoke, revocations});
  std::vector<RevocationResult> rev =
      RunRevocation(root + "/rev", broker, revocation_credentials, passes, signer);
  Percentiles commit = DurableCommit(root + "/commit", 200);
  const RevocationResult& r0 = rev[0];
  double target = 2 * r0.bare_us.p99 + commit.p50;
  out.update({{"revocation_credentials", r0.credentials},
              {"revocations", r0.denied_us.n},
              {"revocation_reason_before", r0.reason_before},
              {"revocation_p50_us", Round1(r0.denied_us.p50)},
              {"revocation_p99_us", Round1(r0.denied_us.p99)},
              {"revocation_max_us", Round1(r0.denied_us.max)},
              {"revocation_swap_p50_us", Round1(r0.swap_us.p50)},
              {"revocation_swap_p99_us", Round1(r0.swap_us.p99)},
              {"revocation_worker_apply_p50_ms", Round3(r0.worker_apply_ms.p50)},
              {"revocation_worker_index_p50_ms", Round3(r0.worker_index_ms.p50)},
              {"bare_rtt_p50_us", Round1(r0.bare_us.p50)},
              {"bare_rtt_p99_us", Round1(r0.bare_us.p99)},
              {"bare_rtt_max_us", Round1(r0.bare_us.max)},
              {"revocation_p99_over_bare_p99", Round3(r0.denied_us.p99 / r0.bare_us.p99)},
              {"durable_commit_us", Round1(commit.p50)},
              {"durable_commit_p99_us", Round1(commit.p99)},
              {"durable_commit_p99_us", Round1(commit.p99)},
              {"revocation_target_us", Round1(target)},
              {"revocation_over_target", Round3(r0.denied_us.p99 / target)},
              {"publisher_nodelay", r0.nodelay_sockets > 0}});
  if (rev.size() > 1) {
    const RevocationResult& r1 = rev[1];
    out.update({{"nagle_revocation_p50_us", Round1(r1.denied_us.p50)},
                {"nagle_revocation_p99_us", Round1(r1.denied_us.p99)},
                {"nagle_bare_rtt_p50_us", Round1(r1.bare_us.p50)},
                {"nagle_bare_rtt_p99_us", Round1(r1.bare_us.p99)}});
  }
  if (large_revocation_credentials > 0) {
    size_t n = std::min<size_t>(revocations, 50);
    std::vector<RevocationResult> big =
        RunRevocation(root + "/rev-large", broker, large_revocation_credentials,
                      {{true, Change::kRevoke, n}}, signer);
    const RevocationResult& b = big[0];
    out.update({{"large_revocation_credentials", b.credentials},
                {"large_revocations", b.denied_us.n},
                {"large_revocation_p50_us", Round1(b.denied_us.p50)},
                {"large_revocation_p99_us", Round1(b.denied_us.p99)},
                {"large_revocation_max_us", Round1(b.denied_us.max)},
                {"large_revocation_worker_apply_p50_ms", Round3(b.worker_apply_ms.p50)},
                {"large_revocation_worker_index_p50_ms", Round3(b.worker_index_ms.p50)},
                {"large_bare_rtt_p99_us", Round1(b.bare_us.p99)},
                {"large_revocation_over_target",
                 Round3(b.denied_us.p99 / (2 * b.bare_us.p99 + commit.p50))}});
  }

  // Issue 13, points 1 and 2, at scale: tenants added (publish -> the first decision granting the
  // new card), revocations right behind a tenant delta, plain revocations; resident size.
  if (scale_credentials > 0) {
    std::vector<RevocationResult> sc =
        RunRevocation(root + "/scale", broker, scale_credentials,
                      {{true, Change::kTenant, scale_deltas},
                       {true, Change::kRevokeBehindTenant, scale_deltas / 2},
                       {true, Change::kRevoke, scale_deltas / 2},
                       {true, Change::kRevokeDuringSnapshot, scale_deltas / 4}},
                      signer);
    const RevocationResult &t = sc[0], &behind = sc[1], &plain = sc[2], &during = sc[3];
    const double target_us = 2 * plain.bare_us.p99 + commit.p50;
    // The target with the bare round trip of the same pattern (a message right behind another).
    const double behind_target_us = 2 * behind.bare_behind_us.p99 + commit.p50;
    double peak = std::max({t.peak_rss_mb, behind.peak_rss_mb, plain.peak_rss_mb});
    out.update(
        {{"scale_credentials", scale_credentials},
         {"scale_setup_s", Round3(t.snapshot_setup_s)},
         {"scale_setup_sync_s", Round3(t.sync_before_s)},
         {"scale_setup_checkpoint_wait_s", Round3(t.checkpoint_wait_s)},
         {"scale_setup_disk_settle_s", Round3(t.disk_settle_s)},
         {"scale_tenants", t.denied_us.n},
         {"scale_tenant_p50_ms", Round3(t.denied_us.p50 / 1000)},
         {"scale_tenant_p99_ms", Round3(t.denied_us.p99 / 1000)},
         {"scale_tenant_max_ms", Round3(t.denied_us.max / 1000)},
         {"scale_tenant_worker_apply_p50_ms", Round3(t.worker_apply_ms.p50)},
         {"scale_tenant_worker_apply_p99_ms", Round3(t.worker_apply_ms.p99)},
         {"scale_tenant_worker_apply_max_ms", Round3(t.worker_apply_ms.max)},
         {"scale_tenant_worker_commit_p99_ms", Round3(t.worker_commit_ms.p99)},
         {"scale_tenant_worker_commit_max_ms", Round3(t.worker_commit_ms.max)},
         {"scale_tenant_swap_p99_ms", Round3(t.swap_us.p99 / 1000)},
         {"scale_tenant_worker_index_p50_ms", Round3(t.worker_index_ms.p50)},
         {"scale_tenant_reason_before", t.reason_before},
         {"scale_tenant_p99_over_20ms", Round3(t.denied_us.p99 / 20000)},
         // The same without each delta's own commit (its fsync, the disk's time): what the
         // gateway's work costs.
         {"scale_tenant_less_commit_p99_ms", Round3(t.less_commit_us.p99 / 1000)},
         {"scale_revocation_behind_tenant_p50_us", Round1(behind.denied_us.p50)},
         {"scale_revocation_behind_tenant_p99_us", Round1(behind.denied_us.p99)},
         {"scale_revocation_behind_tenant_max_us", Round1(behind.denied_us.max)},
         {"scale_revocation_p50_us", Round1(plain.denied_us.p50)},
         {"scale_revocation_p99_us", Round1(plain.denied_us.p99)},
         {"scale_bare_rtt_p99_us", Round1(plain.bare_us.p99)},
         {"scale_revocation_target_us", Round1(target_us)},
         {"scale_revocation_behind_over_target", Round3(behind.denied_us.p99 / target_us)},
         {"scale_bare_rtt_behind_p99_us", Round1(behind.bare_behind_us.p99)},
         {"scale_revocation_behind_target_same_pattern_us", Round1(behind_target_us)},
         {"scale_revocation_behind_over_same_pattern_target",
          Round3(behind.denied_us.p99 / behind_target_us)},
         {"scale_revocation_over_target", Round3(plain.denied_us.p99 / target_us)},
         {"scale_revocations_during_snapshot", during.denied_us.n},
         {"scale_revocations_denied_before_snapshot_swap", during.before_snapshot_swap},
         {"scale_snapshot_last_page_to_swap_s", Round3(during.snapshot_apply_s)},
         {"scale_revocation_during_snapshot_p50_us", Round1(during.denied_us.p50)},
         {"scale_revocation_during_snapshot_p99_us", Round1(during.denied_us.p99)},
         {"scale_revocation_during_snapshot_max_us", Round1(during.denied_us.max)},
         {"scale_revocation_during_snapshot_over_target", Round3(during.denied_us.p99 / target_us)},
         // The bare round trip measured between those revocations, while the snapshot applies:
         // what the machine's load costs any MQTT message then; and the target again with it as
         // the baseline (the same load, as the behind pass's same-pattern target).
         {"scale_bare_rtt_during_snapshot_p99_us", Round1(during.bare_us.p99)},
         {"scale_revocation_during_snapshot_over_same_load_target",
          Round3(during.denied_us.p99 / (2 * during.bare_us.p99 + commit.p50))},
         {"scale_steady_rss_mb", Round1(t.steady_rss_mb)},
         {"scale_peak_rss_mb", Round1(peak)},
         {"scale_peak_over_steady_rss", Round3(peak / t.steady_rss_mb)}});
  }

  // 2. snapshot
  if (do_snapshot) {
    SnapshotResult s = RunSnapshot(root + "/snap", broker, snapshot_credentials, page_size, signer);
    out.update({{"snapshot_credentials", s.credentials},
                {"snapshot_records", s.records},
                {"snapshot_pages", s.pages},
                {"snapshot_sign_s", Round3(s.sign_s)},
                {"snapshot_publish_s", Round3(s.publish_s)},
                {"snapshot_staged_s", Round3(s.staged_s)},
                {"snapshot_apply_s", Round3(s.applied_s)},
                {"snapshot_worker_apply_ms", Round1(s.worker_apply_ms)},
                {"snapshot_index_ms", Round1(s.worker_index_ms)},
                {"snapshot_decision_after", s.decision},
                {"bare_sqlite_insert_s", Round3(s.bare_insert_s)},
                {"snapshot_over_bare", Round3(s.applied_s / s.bare_insert_s)},
                {"snapshot_worker_over_bare",
                 Round3((s.worker_apply_ms + s.worker_index_ms) / 1000 / s.bare_insert_s)},
                {"snapshot_longest_loop_task_ms", Round1(s.longest_loop_task_ms)},
                {"snapshot_rss_before_mib", Round1(s.rss_before / 1048576.0)},
                {"snapshot_rss_peak_mib", Round1(s.rss_peak / 1048576.0)},
                {"snapshot_rss_steady_mib", Round1(s.rss_steady / 1048576.0)},
                {"snapshot_rss_peak_exact", s.peak_exact},
                {"snapshot_peak_over_steady",
                 Round3(static_cast<double>(s.rss_peak) / static_cast<double>(s.rss_steady))}});
  }

  // 3. drain
  if (do_drain) {
    DrainResult d = RunDrain(root + "/drain", broker, events, signer);
    out.update({{"drain_events", d.events},
                {"drain_journal_s", Round3(d.journal_s)},
                {"drain_s", Round3(d.drain_s)},
                {"drain_events_per_s", static_cast<int64_t>(d.events / d.drain_s)},
                {"drain_batches", d.batches},
                {"drain_events_received", d.events_received},
                {"outbox_count_us_at_backlog", Round1(d.count_us)}});
  }

  g_broker = nullptr;
  broker.Stop();
  std::error_code ec;
  fs::remove_all(root, ec);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace lintel

int main(int argc, char** argv) { return lintel::Main(argc, argv); }
