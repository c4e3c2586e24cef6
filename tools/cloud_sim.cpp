// cloud-sim: plays the property-management cloud of shared/contract/cloud-mqtt.md against a real
// MQTT broker, for the demo and the integration tests. It signs what the cloud signs (JWS EdDSA,
// gateway/cloud/jws.h), publishes snapshots, deltas, heads and commands, and (`serve`) answers the
// gateway's sync requests and acknowledges its events.
//
// State lives in a directory, so a long-running `serve` and one-shot publishers cooperate:
//   cloud.json     site, gateway, broker, kid, epoch, version, snapshot_page_size, tls?
//   <kid>.seed     base64 of the 32-byte Ed25519 seed (mode 0600; never printed)
//   records.json   the cloud's current records (a snapshot's "records" shape)
//   deltas.jsonl   {"epoch","version","jws"} per published delta, for sync/request
//   events.jsonl   the events `serve` received, deduplicated by seq, in the order received
//   lock           flock(2) around every read-modify-write of the files above
//
// Output: one JSON object per line on stdout (flushed per line), human messages on stderr.
// Exit codes: 0 done; 1 usage, files or input; 2 the broker (connect, subscribe, publish);
// 3 a wait ran out (`command` got no response; `serve --exit-after-events` saw too few events).
#include <fcntl.h>
#include <mqtt/async_client.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gateway/base/base64.h"
#include "gateway/base/ids.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/cloud/jws.h"
#include "gateway/cloud/outbound.h"
#include "gateway/codec/json_text.h"
#include "gateway/codec/records_json.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // keeps the contract's field order in what we print and send
using lintel::Result;
using lintel::Status;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitBroker = 2;
constexpr int kExitTimeout = 3;

constexpr int kQos = 1;
// The record arrays of a snapshot's `records`, in the contract's order.
constexpr std::array<const char*, 6> kRecordKinds = {"schedules", "groups",      "people",
                                                     "leases",    "credentials", "door_modes"};

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop = true; }

// ---- output ---------------------------------------------------------------------------------

void Emit(const json& line) {
  std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
}
void Note(std::string_view message) { std::cerr << "cloud-sim: " << message << '\n'; }
int Fail(const Status& status) {
  Note(status.message());
  return status.code() == lintel::StatusCode::kUnavailable ? kExitBroker : kExitError;
}

lintel::Instant Now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}
std::string NowText() { return lintel::FormatRfc3339(Now()); }

// ---- files ----------------------------------------------------------------------------------

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Reads stdin to the end.
std::string ReadStdin() {
  return std::string((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
}

// Writes through a temporary file and rename(2), so readers see the old or the new file, whole.
Status WriteFileAtomic(const fs::path& path, std::string_view text, mode_t mode = 0644) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::IoError("cannot write " + tmp.string() + ": " + strerror(errno));
  fchmod(fd, mode);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return Status::IoError("cannot write " + tmp.string() + ": " + strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  fsync(fd);
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("cannot rename " + tmp.string() + ": " + strerror(errno));
  }
  return Status::Ok();
}

Status AppendLine(const fs::path& path, std::string_view line) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << line << '\n';
  out.flush();
  if (!out) return Status::IoError("cannot append to " + path.string());
  return Status::Ok();
}

// Parses JSON text strictly (codec::ParseJsonText: no duplicate fields, errors with line and
// column), keeping the fields in the order written.
Result<json> ParseStrict(std::string_view text, std::string_view name) {
  auto checked = lintel::codec::ParseJsonText(text, name);
  if (!checked.ok()) return checked.status();
  return json::parse(text.begin(), text.end());
}

Result<json> ReadJsonFile(const fs::path& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseStrict(*text, path.string());
}

// Reads JSON lines; blank lines are skipped, a line that is not JSON is Corruption.
Result<std::vector<json>> ReadJsonLines(const fs::path& path) {
  std::vector<json> lines;
  std::ifstream in(path, std::ios::binary);
  if (!in) return lines;  // not there yet: empty
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      return Status::Corruption(path.string() + ":" + std::to_string(n) + ": not JSON");
    }
    lines.push_back(std::move(j));
  }
  return lines;
}

// An exclusive flock(2) on D/lock for the life of the object.
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) {
    fd_ = open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~DirLock() {
    if (fd_ >= 0) close(fd_);  // releases the lock
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// ---- the cloud's state ----------------------------------------------------------------------

struct Tls {
  std::string ca, cert, key;
  bool empty() const { return ca.empty() && cert.empty() && key.empty(); }
};

struct Cloud {
  std::string site, gateway, broker, kid;
  uint64_t epoch = 1;
  uint64_t version = 0;
  uint64_t page_size = 1000;
  Tls tls;
};

fs::path CloudPath(const fs::path& dir) { return dir / "cloud.json"; }
fs::path RecordsPath(const fs::path& dir) { return dir / "records.json"; }
fs::path DeltasPath(const fs::path& dir) { return dir / "deltas.jsonl"; }
fs::path EventsPath(const fs::path& dir) { return dir / "events.jsonl"; }
fs::path SeedPath(const fs::path& dir, std::string_view kid) {
  return dir / (std::string(kid) + ".seed");
}

Result<Cloud> LoadCloud(const fs::path& dir) {
  auto j = ReadJsonFile(CloudPath(dir));
  if (!j.ok()) {
    return Status(j.status().code(),
                  j.status().message() + " (is " + dir.string() + " made by `cloud-sim init`?)");
  }
  Cloud c;
  std::string where = CloudPath(dir).string();
  auto str = [&](const char* key, std::string* out) -> Status {
    if (!j->contains(key) || !(*j)[key].is_string()) {
      return Status::Corruption(where + ": \"" + key + "\" must be a string");
    }
    *out = (*j)[key].get<std::string>();
    return Status::Ok();
  };
  auto num = [&](const char* key, uint64_t* out) -> Status {
    if (!j->contains(key) || !(*j)[key].is_number_unsigned()) {
      return Status::Corruption(where + ": \"" + key + "\" must be an unsigned integer");
    }
    *out = (*j)[key].get<uint64_t>();
    return Status::Ok();
  };
  for (Status s : {str("site", &c.site), str("gateway", &c.gateway), str("broker", &c.broker),
                   str("kid", &c.kid), num("epoch", &c.epoch), num("version", &c.version),
                   num("snapshot_page_size", &c.page_size)}) {
    if (!s.ok()) return s;
  }
  if (j->contains("tls") && (*j)["tls"].is_object()) {
    const json& t = (*j)["tls"];
    c.tls.ca = t.value("ca", "");
    c.tls.cert = t.value("cert", "");
    c.tls.key = t.value("key", "");
  }
  if (c.page_size == 0) return Status::Corruption(where + ": snapshot_page_size must be >= 1");
  return c;
}

Status SaveCloud(const fs::path& dir, const Cloud& c) {
  json j = {{"site", c.site},
            {"gateway", c.gateway},
            {"broker", c.broker},
            {"kid", c.kid},
            {"epoch", c.epoch},
            {"version", c.version},
            {"snapshot_page_size", c.page_size}};
  if (!c.tls.empty()) j["tls"] = {{"ca", c.tls.ca}, {"cert", c.tls.cert}, {"key", c.tls.key}};
  return WriteFileAtomic(CloudPath(dir), j.dump(2) + "\n");
}

json EmptyRecords() {
  json r = json::object();
  for (const char* kind : kRecordKinds) r[kind] = json::array();
  return r;
}

Result<json> LoadRecords(const fs::path& dir) {
  if (!fs::exists(RecordsPath(dir))) return EmptyRecords();
  return ReadJsonFile(RecordsPath(dir));
}

Status SaveRecords(const fs::path& dir, const json& records) {
  return WriteFileAtomic(RecordsPath(dir), records.dump() + "\n");
}

size_t CountRecords(const json& records) {
  size_t n = 0;
  for (const char* kind : kRecordKinds) {
    if (records.contains(kind) && records[kind].is_array()) n += records[kind].size();
  }
  return n;
}

// The records object of a file: the object itself, or its "records" member when the file is a
// whole snapshot payload. Checked with codec::ParseRecords unless `validate` is false.
Result<json> RecordsFromFile(const json& file, bool validate, std::string_view name) {
  json records = file;
  if (file.is_object() && file.contains("records") && file["records"].is_object()) {
    records = file["records"];
  }
  if (!records.is_object()) return Status::InvalidArgument(std::string(name) + ": not an object");
  if (validate) {
    auto parsed = lintel::codec::ParseRecords(nlohmann::json(records));
    if (!parsed.ok()) {
      return Status::InvalidArgument(std::string(name) + ": " + parsed.status().message() +
                                     "\n(--no-validate publishes it anyway)");
    }
  }
  json full = EmptyRecords();
  for (auto& [key, value] : records.items()) full[key] = value;
  return full;
}

// ---- keys -----------------------------------------------------------------------------------

struct Signer {
  std::string kid;
  lintel::cloud::Ed25519KeyPair keys;
  std::string Sign(std::string_view payload) const {
    return lintel::cloud::SignJws(payload, kid, keys.secret_key);
  }
};

Result<Signer> LoadSigner(const fs::path& seed_path, std::string kid) {
  auto text = ReadFile(seed_path);
  if (!text.ok()) return text.status();
  std::string b64 = *text;
  while (!b64.empty() && std::isspace(static_cast<unsigned char>(b64.back()))) b64.pop_back();
  auto seed = lintel::Base64Decode(b64);
  if (!seed.ok() || seed->size() != 32) {
    return Status::Corruption(seed_path.string() + ": not base64 of a 32-byte Ed25519 seed");
  }
  Signer s;
  s.kid = std::move(kid);
  s.keys = lintel::cloud::Ed25519KeyPairFromSeed(std::span<const uint8_t, 32>(seed->data(), 32));
  sodium_memzero(seed->data(), seed->size());
  return s;
}

// ---- the broker -----------------------------------------------------------------------------

struct BrokerOptions {
  std::string uri;
  Tls tls;
  std::chrono::seconds connect_timeout{5};
};

struct Received {
  std::string topic;
  std::string payload;
};

// One MQTT connection (Paho's async client, used synchronously): clean session, QoS 1, MQTT 3.1.1.
// Paho throws; every call here catches and returns a Status (Unavailable for the broker).
class Broker {
 public:
  Broker(BrokerOptions options, const std::string& client_id, std::vector<std::string> subs)
      : options_(std::move(options)),
        subs_(std::move(subs)),
        client_(options_.uri, client_id, nullptr) {}
  ~Broker() { Disconnect(); }

  // Connects and subscribes to the topics given at construction (consuming from a queue).
  Status Connect() {
    try {
      if (!subs_.empty() && !consuming_) {
        client_.start_consuming();
        consuming_ = true;
      }
      auto builder = mqtt::connect_options_builder()
                         .clean_session(true)
                         .keep_alive_interval(std::chrono::seconds(30))
                         .connect_timeout(options_.connect_timeout)
                         .mqtt_version(MQTTVERSION_3_1_1);
      if (!options_.tls.empty() || options_.uri.rfind("ssl://", 0) == 0 ||
          options_.uri.rfind("mqtts://", 0) == 0) {
        auto ssl = mqtt::ssl_options_builder();
        if (!options_.tls.ca.empty()) ssl.trust_store(options_.tls.ca);
        if (!options_.tls.cert.empty()) ssl.key_store(options_.tls.cert);
        if (!options_.tls.key.empty()) ssl.private_key(options_.tls.key);
        ssl.enable_server_cert_auth(true);
        builder.ssl(ssl.finalize());
      }
      auto token = client_.connect(builder.finalize());
      if (!token->wait_for(options_.connect_timeout + std::chrono::seconds(5))) {
        return Status::Unavailable("cannot connect to " + options_.uri + ": timed out");
      }
      for (const std::string& topic : subs_) {
        auto sub = client_.subscribe(topic, kQos);
        if (!sub->wait_for(std::chrono::seconds(10))) {
          return Status::Unavailable("subscribing to " + topic + " timed out");
        }
      }
      return Status::Ok();
    } catch (const mqtt::exception& e) {
      return Status::Unavailable("cannot connect to " + options_.uri + ": " + e.what());
    }
  }

  // Queues one QoS 1 message; at most kWindow are in flight, Flush() waits for all PUBACKs.
  Status Publish(const std::string& topic, std::string_view payload, bool retain) {
    try {
      while (pending_.size() >= kWindow) {
        Status s = WaitOldest();
        if (!s.ok()) return s;
      }
      pending_.push_back(client_.publish(topic, payload.data(), payload.size(), kQos, retain));
      return Status::Ok();
    } catch (const mqtt::exception& e) {
      return Status::Unavailable("publishing to " + topic + ": " + e.what());
    }
  }
  Status Flush() {
    while (!pending_.empty()) {
      Status s = WaitOldest();
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  // The next message within `wait`, or nullopt. Unavailable when the connection was lost.
  Result<std::optional<Received>> Receive(std::chrono::milliseconds wait) {
    mqtt::const_message_ptr msg;
    if (!client_.try_consume_message_for(&msg, wait)) {
      if (!client_.is_connected()) return Status::Unavailable("connection lost");
      return std::optional<Received>();
    }
    if (!msg) {  // Paho queues an empty message when the connection drops
      if (client_.is_connected()) return std::optional<Received>();  // stale: already back
      return Status::Unavailable("connection lost");
    }
    return std::optional<Received>(Received{msg->get_topic(), msg->to_string()});
  }

  void Disconnect() {
    try {
      if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const mqtt::exception&) {
      // Leaving anyway.
    }
  }

 private:
  static constexpr size_t kWindow = 32;

  Status WaitOldest() {
    auto token = pending_.front();
    pending_.pop_front();
    try {
      if (!token->wait_for(std::chrono::seconds(30))) {
        return Status::Unavailable("no PUBACK from " + options_.uri + " within 30 s");
      }
      return Status::Ok();
    } catch (const mqtt::exception& e) {
      return Status::Unavailable("publishing: " + std::string(e.what()));
    }
  }

  BrokerOptions options_;
  std::vector<std::string> subs_;
  mqtt::async_client client_;
  std::deque<mqtt::delivery_token_ptr> pending_;
  bool consuming_ = false;
};

std::string ClientId(std::string_view role) {
  return "cloud-sim-" + std::to_string(getpid()) + "-" + std::string(role);
}

// ---- payloads -------------------------------------------------------------------------------

json HeadPayload(const Cloud& c, std::chrono::seconds ttl, bool expired) {
  lintel::Instant now = Now();
  lintel::Instant issued = expired ? now - ttl - std::chrono::seconds(60) : now;
  return {{"type", "head"},
          {"site", c.site},
          {"gateway", c.gateway},
          {"epoch", c.epoch},
          {"version", c.version},
          {"issued_at", lintel::FormatRfc3339(issued)},
          {"expires_at", lintel::FormatRfc3339(issued + ttl)}};
}

json DeltaPayload(const Cloud& c, uint64_t epoch, uint64_t version, uint64_t prev,
                  const json& ops) {
  return {{"type", "delta"},    {"site", c.site}, {"gateway", c.gateway},   {"epoch", epoch},
          {"version", version}, {"prev", prev},   {"issued_at", NowText()}, {"ops", ops}};
}

// Splits `records` into pages of at most `page_size` records in all, kinds in the contract's
// order, each array split across pages as needed. Always at least one page.
std::vector<json> PageRecords(const json& records, uint64_t page_size) {
  std::vector<json> pages;
  json page = EmptyRecords();
  uint64_t in_page = 0;
  for (const char* kind : kRecordKinds) {
    if (!records.contains(kind) || !records[kind].is_array()) continue;
    for (const json& record : records[kind]) {
      if (in_page == page_size) {
        pages.push_back(std::move(page));
        page = EmptyRecords();
        in_page = 0;
      }
      page[kind].push_back(record);
      ++in_page;
    }
  }
  pages.push_back(std::move(page));
  return pages;
}

// ---- publishing -----------------------------------------------------------------------------

struct Session {
  Cloud cloud;
  lintel::cloud::Topics topics;
  Signer signer;
  std::unique_ptr<Broker> broker;
};

// Loads D's state and key, connects (subscribing to `subs`, relative topics resolved by caller).
struct BrokerFlags {
  std::string broker, ca, cert, key;
  int connect_timeout = 5;

  void AddTo(CLI::App* cmd) {
    cmd->add_option("--broker", broker, "broker URI (default: cloud.json's)");
    cmd->add_option("--ca", ca, "TLS: CA file that signed the broker's certificate");
    cmd->add_option("--cert", cert, "TLS: client certificate (PEM)");
    cmd->add_option("--key", key, "TLS: the client certificate's private key (PEM)");
    cmd->add_option("--connect-timeout", connect_timeout, "seconds")->capture_default_str();
  }
  BrokerOptions Resolve(const Cloud& c) const {
    BrokerOptions o;
    o.uri = broker.empty() ? c.broker : broker;
    o.tls = c.tls;
    if (!ca.empty()) o.tls.ca = ca;
    if (!cert.empty()) o.tls.cert = cert;
    if (!key.empty()) o.tls.key = key;
    o.connect_timeout = std::chrono::seconds(std::max(1, connect_timeout));
    return o;
  }
};

Result<lintel::cloud::Topics> TopicsOf(const Cloud& c) {
  return lintel::cloud::Topics::Make(c.site, c.gateway);
}

// Connects as `role`, subscribed to `subs` (full topic names).
Result<std::unique_ptr<Broker>> ConnectBroker(const BrokerOptions& options, std::string_view role,
                                              std::vector<std::string> subs) {
  auto broker = std::make_unique<Broker>(options, ClientId(role), std::move(subs));
  Status s = broker->Connect();
  if (!s.ok()) return s;
  return broker;
}

Status PublishHead(Broker& broker, const lintel::cloud::Topics& topics, const Signer& signer,
                   const Cloud& c, std::chrono::seconds ttl, bool expired) {
  Status s = broker.Publish(topics.sync_head, signer.Sign(HeadPayload(c, ttl, expired).dump()),
                            /*retain=*/true);
  if (!s.ok()) return s;
  return broker.Flush();
}

// Publishes `records` as a paged snapshot at c's position; returns the number of pages.
Result<size_t> PublishSnapshot(Broker& broker, const lintel::cloud::Topics& topics,
                               const Signer& signer, const Cloud& c, const json& records,
                               uint64_t page_size) {
  std::vector<json> pages = PageRecords(records, page_size);
  const std::string snapshot_id = lintel::NewUuid();
  for (size_t i = 0; i < pages.size(); ++i) {
    json payload = {
        {"type", "snapshot"}, {"site", c.site},        {"gateway", c.gateway},
        {"epoch", c.epoch},   {"version", c.version},  {"snapshot_id", snapshot_id},
        {"page", i + 1},      {"pages", pages.size()}, {"records", std::move(pages[i])}};
    Status s = broker.Publish(topics.sync_snapshot, signer.Sign(payload.dump()), false);
    if (!s.ok()) return s;
  }
  Status s = broker.Flush();
  if (!s.ok()) return s;
  return pages.size();
}

// ---- init -----------------------------------------------------------------------------------

struct InitArgs {
  std::string dir, site, gateway, broker, kid = "cloud-1", ca, cert, key;
  uint64_t epoch = 1;
  uint64_t page_size = 1000;
  bool force = false;
};

bool PlainName(std::string_view s) {
  if (s.empty() || s.size() > 128 || s[0] == '.') return false;
  for (char ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') {
      return false;
    }
  }
  return true;
}

int RunInit(const InitArgs& a) {
  if (!PlainName(a.kid)) return Fail(Status::InvalidArgument("--kid must be [A-Za-z0-9._-]+"));
  if (auto t = lintel::cloud::Topics::Make(a.site, a.gateway); !t.ok()) return Fail(t.status());
  if (a.page_size == 0) return Fail(Status::InvalidArgument("--page-size must be at least 1"));
  fs::path dir = a.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(Status::IoError("cannot create " + dir.string() + ": " + ec.message()));
  DirLock lock(dir);
  if (!lock.ok()) return Fail(Status::IoError("cannot lock " + (dir / "lock").string()));
  if (fs::exists(CloudPath(dir)) && !a.force) {
    return Fail(Status::FailedPrecondition(CloudPath(dir).string() +
                                           " exists (--force starts over with a new key)"));
  }
  if (sodium_init() < 0) return Fail(Status::Internal("libsodium could not be initialised"));
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto keys = lintel::cloud::Ed25519KeyPairFromSeed(seed);
  std::string seed_text = lintel::Base64Encode(seed) + "\n";
  sodium_memzero(seed.data(), seed.size());
  Status s = WriteFileAtomic(SeedPath(dir, a.kid), seed_text, 0600);
  sodium_memzero(seed_text.data(), seed_text.size());
  if (!s.ok()) return Fail(s);

  Cloud c;
  c.site = a.site;
  c.gateway = a.gateway;
  c.broker = a.broker;
  c.kid = a.kid;
  c.epoch = a.epoch;
  c.version = 0;
  c.page_size = a.page_size;
  c.tls = Tls{a.ca, a.cert, a.key};
  for (Status st : {SaveCloud(dir, c), SaveRecords(dir, EmptyRecords()),
                    WriteFileAtomic(DeltasPath(dir), ""), WriteFileAtomic(EventsPath(dir), "")}) {
    if (!st.ok()) return Fail(st);
  }
  std::string key = lintel::Base64Encode(keys.public_key);
  Note("the gateway's YAML trusts this key as: cloud: trusted_keys: [{kid: " + a.kid +
       ", public_key: \"" + key + "\"}]");
  Emit({{"kid", a.kid}, {"key", key}});
  return kExitOk;
}

// ---- snapshot -------------------------------------------------------------------------------

struct SnapshotArgs {
  std::string dir, records;
  bool new_epoch = false;
  bool no_validate = false;
  uint64_t page_size = 0;  // 0: cloud.json's
  int head_ttl = 3600;
  BrokerFlags broker;
};

// Loads D (cloud.json and the key) without changing anything.
Result<Session> OpenSession(const fs::path& dir) {
  Session s;
  {
    DirLock lock(dir);
    auto c = LoadCloud(dir);
    if (!c.ok()) return c.status();
    s.cloud = std::move(*c);
  }
  auto topics = TopicsOf(s.cloud);
  if (!topics.ok()) return topics.status();
  s.topics = std::move(*topics);
  auto signer = LoadSigner(SeedPath(dir, s.cloud.kid), s.cloud.kid);
  if (!signer.ok()) return signer.status();
  s.signer = std::move(*signer);
  return s;
}

int RunSnapshot(const SnapshotArgs& a) {
  fs::path dir = a.dir;
  auto file = a.records == "-" ? ParseStrict(ReadStdin(), "stdin") : ReadJsonFile(a.records);
  if (!file.ok()) return Fail(file.status());
  auto records = RecordsFromFile(*file, !a.no_validate, a.records);
  if (!records.ok()) return Fail(records.status());
  auto session = OpenSession(dir);
  if (!session.ok()) return Fail(session.status());
  // Connect before changing anything: a broker that is down leaves the state as it was.
  auto broker = ConnectBroker(a.broker.Resolve(session->cloud), "snapshot", {});
  if (!broker.ok()) return Fail(broker.status());

  Cloud c;
  {
    DirLock lock(dir);
    auto loaded = LoadCloud(dir);
    if (!loaded.ok()) return Fail(loaded.status());
    c = std::move(*loaded);
    if (a.new_epoch) {
      c.epoch += 1;
      c.version = 1;
      if (Status s = WriteFileAtomic(DeltasPath(dir), ""); !s.ok()) return Fail(s);
    } else {
      c.version += 1;
    }
    if (Status s = SaveRecords(dir, *records); !s.ok()) return Fail(s);
    if (Status s = SaveCloud(dir, c); !s.ok()) return Fail(s);
  }
  uint64_t page_size = a.page_size ? a.page_size : c.page_size;
  auto pages = PublishSnapshot(**broker, session->topics, session->signer, c, *records, page_size);
  if (!pages.ok()) return Fail(pages.status());
  Status s = PublishHead(**broker, session->topics, session->signer, c,
                         std::chrono::seconds(a.head_ttl), false);
  if (!s.ok()) return Fail(s);
  Emit({{"published", "snapshot"},
        {"epoch", c.epoch},
        {"version", c.version},
        {"pages", *pages},
        {"records", CountRecords(*records)}});
  return kExitOk;
}

// ---- delta ----------------------------------------------------------------------------------

const std::map<std::string, std::string, std::less<>> kKindArrays = {
    {"schedule", "schedules"}, {"group", "groups"},           {"person", "people"},
    {"lease", "leases"},       {"credential", "credentials"}, {"door_mode", "door_modes"}};

// Applies ops to `records`: a put replaces the record with the same id (or appends it), a delete
// removes it. Errors: InvalidArgument for an op it cannot read (only with --no-validate).
Status ApplyOps(json& records, const json& ops) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const json& op = ops[i];
    std::string where = "ops[" + std::to_string(i) + "]";
    if (!op.is_object() || !op.contains("kind") || !op["kind"].is_string() || !op.contains("op") ||
        !op["op"].is_string()) {
      return Status::InvalidArgument(where + ": cannot be applied (no op or kind)");
    }
    auto kind = kKindArrays.find(op["kind"].get<std::string>());
    if (kind == kKindArrays.end()) {
      return Status::InvalidArgument(where + ": cannot be applied (unknown kind)");
    }
    std::string op_name = op["op"].get<std::string>();
    const json* id = nullptr;
    if (op_name == "put" && op.contains("data") && op["data"].is_object() &&
        op["data"].contains("id")) {
      id = &op["data"]["id"];
    } else if (op_name == "delete" && op.contains("id")) {
      id = &op["id"];
    } else {
      return Status::InvalidArgument(where + ": cannot be applied (no id)");
    }
    json& array = records[kind->second];
    if (!array.is_array()) array = json::array();
    auto it = std::find_if(array.begin(), array.end(), [&](const json& r) {
      return r.is_object() && r.contains("id") && r["id"] == *id;
    });
    if (op_name == "put") {
      if (it != array.end()) {
        *it = op["data"];
      } else {
        array.push_back(op["data"]);
      }
    } else if (it != array.end()) {
      array.erase(it);
    } else {
      Note(where + ": delete of " + id->dump() + ", which the cloud does not hold");
    }
  }
  return Status::Ok();
}

struct DeltaArgs {
  std::string dir, ops_file, ops_json;
  std::optional<uint64_t> epoch, version, prev;
  bool no_store = false;
  bool no_validate = false;
  int head_ttl = 3600;
  BrokerFlags broker;
};

int RunDelta(const DeltaArgs& a) {
  fs::path dir = a.dir;
  Result<json> ops = Status::InvalidArgument("give --ops FILE|- or --ops-json '[...]'");
  if (!a.ops_json.empty()) {
    ops = ParseStrict(a.ops_json, "--ops-json");
  } else if (a.ops_file == "-") {
    ops = ParseStrict(ReadStdin(), "stdin");
  } else if (!a.ops_file.empty()) {
    ops = ReadJsonFile(a.ops_file);
  }
  if (!ops.ok()) return Fail(ops.status());
  if (!ops->is_array()) return Fail(Status::InvalidArgument("ops must be a JSON array"));
  if (!a.no_validate) {
    for (size_t i = 0; i < ops->size(); ++i) {
      auto op = lintel::codec::ParseOp(nlohmann::json((*ops)[i]), "ops[" + std::to_string(i) + "]");
      if (!op.ok()) {
        return Fail(Status::InvalidArgument(op.status().message() +
                                            " (--no-validate publishes it anyway)"));
      }
    }
  }
  // Forging a position (--epoch/--version/--prev) never changes the stored state.
  const bool store = !a.no_store && !a.epoch && !a.version && !a.prev;
  auto session = OpenSession(dir);
  if (!session.ok()) return Fail(session.status());
  auto broker = ConnectBroker(a.broker.Resolve(session->cloud), "delta", {});
  if (!broker.ok()) return Fail(broker.status());

  Cloud c;
  std::string jws;
  uint64_t epoch = 0, version = 0, prev = 0;
  {
    DirLock lock(dir);
    auto loaded = LoadCloud(dir);
    if (!loaded.ok()) return Fail(loaded.status());
    c = std::move(*loaded);
    epoch = a.epoch.value_or(c.epoch);
    version = a.version.value_or(c.version + 1);
    prev = a.prev.value_or(version - 1);
    jws = session->signer.Sign(DeltaPayload(c, epoch, version, prev, *ops).dump());
    if (store) {
      auto records = LoadRecords(dir);
      if (!records.ok()) return Fail(records.status());
      if (Status s = ApplyOps(*records, *ops); !s.ok()) {
        return Fail(Status::InvalidArgument(s.message() + " (--no-store publishes it anyway)"));
      }
      c.version = version;
      json line = {{"epoch", epoch}, {"version", version}, {"jws", jws}};
      for (Status s : {SaveRecords(dir, *records), AppendLine(DeltasPath(dir), line.dump()),
                       SaveCloud(dir, c)}) {
        if (!s.ok()) return Fail(s);
      }
    }
  }
  Status s = (*broker)->Publish(session->topics.sync_delta, jws, false);
  if (s.ok()) s = (*broker)->Flush();
  if (s.ok() && store) {
    s = PublishHead(**broker, session->topics, session->signer, c, std::chrono::seconds(a.head_ttl),
                    false);
  }
  if (!s.ok()) return Fail(s);
  json out = {{"published", "delta"}, {"epoch", epoch}, {"version", version}, {"ops", ops->size()}};
  if (!store) {
    out["prev"] = prev;
    out["stored"] = false;
  }
  Emit(out);
  return kExitOk;
}

// ---- head -----------------------------------------------------------------------------------

struct HeadArgs {
  std::string dir;
  int head_ttl = 3600;
  bool expired = false;
  BrokerFlags broker;
};

int RunHead(const HeadArgs& a) {
  auto session = OpenSession(a.dir);
  if (!session.ok()) return Fail(session.status());
  auto broker = ConnectBroker(a.broker.Resolve(session->cloud), "head", {});
  if (!broker.ok()) return Fail(broker.status());
  json payload = HeadPayload(session->cloud, std::chrono::seconds(a.head_ttl), a.expired);
  Status s =
      (*broker)->Publish(session->topics.sync_head, session->signer.Sign(payload.dump()), true);
  if (s.ok()) s = (*broker)->Flush();
  if (!s.ok()) return Fail(s);
  Emit({{"published", "head"},
        {"epoch", session->cloud.epoch},
        {"version", session->cloud.version},
        {"issued_at", payload["issued_at"]},
        {"expires_at", payload["expires_at"]}});
  return kExitOk;
}

// ---- command --------------------------------------------------------------------------------

struct CommandArgs {
  std::string dir, name, args = "{}", id, issued_at, expires_at;
  int expires_in = 60;
  double wait = 5;
  BrokerFlags broker;
};

int RunCommand(const CommandArgs& a) {
  auto args = ParseStrict(a.args, "--args");
  if (!args.ok()) return Fail(args.status());
  auto session = OpenSession(a.dir);
  if (!session.ok()) return Fail(session.status());
  const std::string id = a.id.empty() ? lintel::NewUuid() : a.id;
  lintel::Instant now = Now();
  json payload = {
      {"type", "command"},
      {"site", session->cloud.site},
      {"gateway", session->cloud.gateway},
      {"id", id},
      {"name", a.name},
      {"args", *args},
      {"issued_at", a.issued_at.empty() ? lintel::FormatRfc3339(now) : a.issued_at},
      {"expires_at", a.expires_at.empty()
                         ? lintel::FormatRfc3339(now + std::chrono::seconds(a.expires_in))
                         : a.expires_at}};
  const bool waiting = a.wait > 0;
  std::vector<std::string> subs;
  if (waiting) subs.push_back(session->topics.cmd_response);
  auto broker = ConnectBroker(a.broker.Resolve(session->cloud), "command", subs);
  if (!broker.ok()) return Fail(broker.status());
  Status s =
      (*broker)->Publish(session->topics.cmd_request, session->signer.Sign(payload.dump()), false);
  if (s.ok()) s = (*broker)->Flush();
  if (!s.ok()) return Fail(s);
  if (!waiting) {
    Emit({{"published", "command"}, {"id", id}, {"name", a.name}});
    return kExitOk;
  }
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(a.wait * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto msg = (*broker)->Receive(std::max(left, std::chrono::milliseconds(1)));
    if (!msg.ok()) return Fail(msg.status());
    if (!msg->has_value()) continue;
    json response = json::parse((*msg)->payload, nullptr, false);
    if (response.is_discarded() || !response.is_object()) {
      Note("cmd/response that is not a JSON object, ignored");
      continue;
    }
    if (!response.contains("id") || response["id"] != id) continue;  // another command's
    Emit({{"response", response}});
    return kExitOk;
  }
  std::ostringstream waited;
  waited << a.wait;
  Note("no cmd/response for command " + id + " within " + waited.str() + " s");
  Emit({{"timeout", true}, {"id", id}});
  return kExitTimeout;
}

// ---- publish --------------------------------------------------------------------------------

struct PublishArgs {
  std::string dir, topic, payload_json, kid, seed;
  std::optional<std::string> raw;
  bool retain = false;
  bool sign = false;
  BrokerFlags broker;
};

int RunPublish(const PublishArgs& a) {
  auto session = OpenSession(a.dir);
  if (!session.ok()) return Fail(session.status());
  std::string payload;
  if (a.raw) {
    payload = *a.raw;
  } else {
    if (!json::accept(a.payload_json)) {
      return Fail(Status::InvalidArgument("--payload-json is not JSON (use --raw for any bytes)"));
    }
    payload = a.payload_json;
  }
  if (a.sign) {
    Signer signer = session->signer;
    if (!a.seed.empty() || !a.kid.empty()) {
      auto other =
          LoadSigner(a.seed.empty() ? SeedPath(a.dir, session->cloud.kid) : fs::path(a.seed),
                     a.kid.empty() ? session->cloud.kid : a.kid);
      if (!other.ok()) return Fail(other.status());
      signer = std::move(*other);
    }
    payload = signer.Sign(payload);
  }
  std::string topic = session->topics.root + "/" + a.topic;
  auto broker = ConnectBroker(a.broker.Resolve(session->cloud), "publish", {});
  if (!broker.ok()) return Fail(broker.status());
  Status s = (*broker)->Publish(topic, payload, a.retain);
  if (s.ok()) s = (*broker)->Flush();
  if (!s.ok()) return Fail(s);
  Emit({{"published", "raw"},
        {"topic", topic},
        {"bytes", payload.size()},
        {"signed", a.sign},
        {"retain", a.retain}});
  return kExitOk;
}

// ---- serve ----------------------------------------------------------------------------------

// The events serve holds, deduplicated by seq, and the contiguous prefix it acknowledges.
class EventLog {
 public:
  explicit EventLog(fs::path path) : path_(std::move(path)) {}

  Status Load() {
    auto lines = ReadJsonLines(path_);
    if (!lines.ok()) return lines.status();
    for (const json& e : *lines) {
      if (!e.is_object() || !e.contains("seq") || !e["seq"].is_number_unsigned()) {
        return Status::Corruption(path_.string() + ": an event without an unsigned seq");
      }
      Remember(e["seq"].get<uint64_t>());
    }
    return Status::Ok();
  }
  bool Seen(uint64_t seq) const { return seen_.count(seq) != 0; }
  // Appends a new event (the caller checked !Seen) to the file and the set.
  Status Add(const json& event, uint64_t seq) {
    Status s = AppendLine(path_, event.dump(-1, ' ', false, json::error_handler_t::replace));
    if (!s.ok()) return s;
    Remember(seq);
    return Status::Ok();
  }
  // The highest seq with every seq from the first one seen up to it held; nullopt before any.
  std::optional<uint64_t> upto() const { return upto_; }

 private:
  void Remember(uint64_t seq) {
    seen_.insert(seq);
    if (!first_) first_ = seq;  // seqs below the first batch's are treated as already handled
    uint64_t next = upto_ ? *upto_ + 1 : *first_;
    while (seen_.count(next) != 0) {
      upto_ = next;
      if (next == UINT64_MAX) break;
      ++next;
    }
  }

  fs::path path_;
  std::set<uint64_t> seen_;
  std::optional<uint64_t> first_;
  std::optional<uint64_t> upto_;
};

struct ServeArgs {
  std::string dir;
  bool no_ack = false;
  uint64_t exit_after_events = 0;
  double timeout = 0;
  double head_every = 0;
  int head_ttl = 3600;
  BrokerFlags broker;
};

class Server {
 public:
  Server(const ServeArgs& args, Session session)
      : args_(args), dir_(args.dir), s_(std::move(session)), events_(EventsPath(dir_)) {}

  int Run() {
    if (Status st = events_.Load(); !st.ok()) return Fail(st);
    const auto& t = s_.topics;
    std::vector<std::string> subs = {t.state, t.sync_request, t.sync_ack, t.events, t.cmd_response};
    s_.broker = std::make_unique<Broker>(args_.broker.Resolve(s_.cloud), ClientId("serve"), subs);
    if (Status st = s_.broker->Connect(); !st.ok()) return Fail(st);
    Emit({{"ready", true}, {"topics", subs}});
    Note("serving " + t.root + " on " + args_.broker.Resolve(s_.cloud).uri);

    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto next_head = start + Seconds(args_.head_every);
    std::string reason = "signal";
    int code = kExitOk;
    while (!g_stop) {
      auto now = Clock::now();
      if (args_.timeout > 0 && now >= start + Seconds(args_.timeout)) {
        reason = "timeout";
        if (args_.exit_after_events > 0) code = kExitTimeout;
        break;
      }
      if (args_.exit_after_events > 0 && new_events_ >= args_.exit_after_events) {
        reason = "events";
        break;
      }
      if (args_.head_every > 0 && now >= next_head) {
        RepublishHead();
        next_head = now + Seconds(args_.head_every);
      }
      auto msg = s_.broker->Receive(std::chrono::milliseconds(100));
      if (!msg.ok()) {
        Emit({{"disconnected", msg.status().message()}});
        Reconnect();
        continue;
      }
      if (!msg->has_value()) continue;
      try {
        Handle(**msg);
      } catch (const std::exception& e) {  // nlohmann on an odd payload: report, keep serving
        Note("handling a message on " + (*msg)->topic + ": " + e.what());
      }
    }
    s_.broker->Disconnect();
    Emit({{"stopped", true}, {"reason", reason}, {"events", new_events_}});
    return code;
  }

 private:
  static std::chrono::steady_clock::duration Seconds(double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(s));
  }

  void Reconnect() {
    for (int delay_ms = 250; !g_stop; delay_ms = std::min(delay_ms * 2, 5000)) {
      Status st = s_.broker->Connect();
      if (st.ok()) {
        Emit({{"ready", true}, {"reconnected", true}});
        return;
      }
      Note(st.message() + "; retrying");
      for (int waited = 0; waited < delay_ms && !g_stop; waited += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  // The current cloud.json (one-shot publishers change it while serve runs).
  std::optional<Cloud> Current() {
    DirLock lock(dir_);
    auto c = LoadCloud(dir_);
    if (!c.ok()) {
      Note(c.status().message());
      return std::nullopt;
    }
    return *c;
  }

  void RepublishHead() {
    auto c = Current();
    if (!c) return;
    Status st = PublishHead(*s_.broker, s_.topics, s_.signer, *c,
                            std::chrono::seconds(args_.head_ttl), false);
    if (!st.ok()) {
      Note(st.message());
      return;
    }
    Emit({{"published", "head"}, {"epoch", c->epoch}, {"version", c->version}});
  }

  void Handle(const Received& m) {
    const auto& t = s_.topics;
    json payload = json::parse(m.payload, nullptr, false);
    const char* seen = m.topic == t.state          ? "state"
                       : m.topic == t.sync_request ? "sync_request"
                       : m.topic == t.sync_ack     ? "sync_ack"
                       : m.topic == t.events       ? "events"
                       : m.topic == t.cmd_response ? "cmd_response"
                                                   : nullptr;
    if (seen == nullptr) return;
    if (payload.is_discarded()) {
      Emit({{"seen", seen}, {"raw", m.payload}, {"error", "not JSON"}});
      return;
    }
    if (m.topic == t.events) {
      HandleEvents(payload);
      return;
    }
    Emit({{"seen", seen}, {"payload", payload}});
    if (m.topic == t.sync_request) AnswerRequest(payload);
  }

  // Answers sync/request: the stored deltas when they cover everything after `from`, else a
  // snapshot of the current state at the current position.
  void AnswerRequest(const json& request) {
    std::string want =
        request.is_object() && request.contains("want") && request["want"].is_string()
            ? request["want"].get<std::string>()
            : "";
    if (want != "deltas" && want != "snapshot") {
      Emit({{"answered", "nothing"}, {"error", "want must be \"deltas\" or \"snapshot\""}});
      return;
    }
    Cloud c;
    json records;
    std::vector<std::string> deltas;  // JWS, in version order
    bool have_deltas = false;
    {
      DirLock lock(dir_);
      auto loaded = LoadCloud(dir_);
      auto r = LoadRecords(dir_);
      auto lines = ReadJsonLines(DeltasPath(dir_));
      if (!loaded.ok() || !r.ok() || !lines.ok()) {
        Note("cannot read the cloud's state to answer sync/request");
        return;
      }
      c = std::move(*loaded);
      records = std::move(*r);
      if (want == "deltas") {
        const json& from = request.contains("from") ? request["from"] : json();
        if (from.is_object() && from.contains("epoch") && from["epoch"].is_number_unsigned() &&
            from.contains("version") && from["version"].is_number_unsigned()) {
          uint64_t fe = from["epoch"].get<uint64_t>();
          uint64_t fv = from["version"].get<uint64_t>();
          std::map<uint64_t, std::string> by_version;
          for (const json& l : *lines) {
            if (l.is_object() && l.contains("epoch") && l["epoch"] == c.epoch &&
                l.contains("version") && l["version"].is_number_unsigned() && l.contains("jws") &&
                l["jws"].is_string()) {
              by_version[l["version"].get<uint64_t>()] = l["jws"].get<std::string>();
            }
          }
          if (fe == c.epoch && fv <= c.version) {
            have_deltas = true;
            for (uint64_t v = fv + 1; v <= c.version && v != 0; ++v) {
              auto it = by_version.find(v);
              if (it == by_version.end()) {
                have_deltas = false;
                break;
              }
              deltas.push_back(it->second);
            }
          }
        }
      }
    }
    if (have_deltas) {
      Status st;
      for (const std::string& jws : deltas) {
        st = s_.broker->Publish(s_.topics.sync_delta, jws, false);
        if (!st.ok()) break;
      }
      if (st.ok()) st = s_.broker->Flush();
      if (!st.ok()) {
        Note(st.message());
        return;
      }
      Emit({{"answered", "deltas"}, {"count", deltas.size()}});
      return;
    }
    auto pages = PublishSnapshot(*s_.broker, s_.topics, s_.signer, c, records, c.page_size);
    if (!pages.ok()) {
      Note(pages.status().message());
      return;
    }
    Emit({{"answered", "snapshot"}, {"pages", *pages}, {"epoch", c.epoch}, {"version", c.version}});
  }

  void HandleEvents(const json& batch) {
    if (!batch.is_object() || !batch.contains("events") || !batch["events"].is_array()) {
      Emit({{"seen", "events"}, {"payload", batch}, {"error", "no \"events\" array"}});
      return;
    }
    uint64_t added = 0, duplicates = 0;
    for (const json& event : batch["events"]) {
      if (!event.is_object() || !event.contains("seq") || !event["seq"].is_number_unsigned()) {
        Emit({{"invalid_event", event}, {"error", "no unsigned seq"}});
        continue;
      }
      uint64_t seq = event["seq"].get<uint64_t>();
      if (events_.Seen(seq)) {
        ++duplicates;
        Emit({{"duplicate_seq", seq}});
        continue;
      }
      Status st;
      {
        DirLock lock(dir_);
        st = events_.Add(event, seq);
      }
      if (!st.ok()) {
        Note(st.message());
        continue;
      }
      ++added;
      ++new_events_;
      Emit({{"event", event}, {"duplicate", false}});
    }
    json boot_id = batch.contains("boot_id") ? batch["boot_id"] : json();
    json summary = {
        {"events_batch", {{"boot_id", boot_id}, {"new", added}, {"duplicates", duplicates}}},
        {"upto", events_.upto() ? json(*events_.upto()) : json()},
        {"acked", false}};
    if (!args_.no_ack && events_.upto()) {
      json ack = {{"type", "events_ack"},
                  {"site", s_.cloud.site},
                  {"gateway", s_.cloud.gateway},
                  {"upto", *events_.upto()}};
      Status st = s_.broker->Publish(s_.topics.events_ack, s_.signer.Sign(ack.dump()), false);
      if (st.ok()) st = s_.broker->Flush();
      if (st.ok()) {
        summary["acked"] = true;
      } else {
        Note(st.message());
      }
    }
    Emit(summary);
  }

  const ServeArgs& args_;
  fs::path dir_;
  Session s_;
  EventLog events_;
  uint64_t new_events_ = 0;
};

int RunServe(const ServeArgs& a) {
  auto session = OpenSession(a.dir);
  if (!session.ok()) return Fail(session.status());
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  Server server(a, std::move(*session));
  return server.Run();
}

// ---- events ---------------------------------------------------------------------------------

int RunEvents(const std::string& dir) {
  std::vector<json> lines;
  {
    DirLock lock(dir);
    auto read = ReadJsonLines(EventsPath(dir));
    if (!read.ok()) return Fail(read.status());
    lines = std::move(*read);
  }
  std::set<uint64_t> seqs;
  for (const json& e : lines) {
    Emit({{"event", e}});
    if (e.is_object() && e.contains("seq") && e["seq"].is_number_unsigned()) {
      seqs.insert(e["seq"].get<uint64_t>());
    }
  }
  json summary = {{"count", lines.size()}, {"first_seq", nullptr}, {"last_seq", nullptr}};
  json missing = json::array();
  if (!seqs.empty()) {
    summary["first_seq"] = *seqs.begin();
    summary["last_seq"] = *seqs.rbegin();
    uint64_t prev = *seqs.begin();
    for (uint64_t seq : seqs) {
      for (uint64_t m = prev + 1; m < seq && missing.size() < 10000; ++m) missing.push_back(m);
      prev = seq;
    }
  }
  summary["missing"] = missing;
  Emit(summary);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"cloud-sim: plays the property-management cloud against a real MQTT broker"};
  app.require_subcommand(1);

  InitArgs init_args;
  auto* init = app.add_subcommand("init", "create D with a new signing key; prints the key");
  init->add_option("--dir", init_args.dir, "state directory")->required();
  init->add_option("--site", init_args.site, "site id (the gateway YAML's site.id)")->required();
  init->add_option("--gateway", init_args.gateway, "gateway id")->required();
  init->add_option("--broker", init_args.broker, "broker URI, tcp://host:port or ssl://")
      ->required();
  init->add_option("--kid", init_args.kid, "key id")->capture_default_str();
  init->add_option("--epoch", init_args.epoch, "first epoch")->capture_default_str();
  init->add_option("--page-size", init_args.page_size, "records per snapshot page")
      ->capture_default_str();
  init->add_option("--ca", init_args.ca, "TLS CA file to keep in cloud.json");
  init->add_option("--cert", init_args.cert, "TLS client certificate to keep in cloud.json");
  init->add_option("--key", init_args.key, "TLS client key to keep in cloud.json");
  init->add_flag("--force", init_args.force, "start over when D already holds a cloud");

  SnapshotArgs snap_args;
  auto* snapshot =
      app.add_subcommand("snapshot", "replace the records and publish them as a paged snapshot");
  snapshot->add_option("--dir", snap_args.dir, "state directory")->required();
  snapshot->add_option("--records", snap_args.records, "records JSON file, or - for stdin")
      ->required();
  snapshot->add_flag("--new-epoch", snap_args.new_epoch, "epoch + 1, version 1, deltas forgotten");
  snapshot->add_option("--page-size", snap_args.page_size, "records per page (default: D's)");
  snapshot->add_option("--head-ttl", snap_args.head_ttl, "seconds")->capture_default_str();
  snapshot->add_flag("--no-validate", snap_args.no_validate, "publish records the codec rejects");
  snap_args.broker.AddTo(snapshot);

  DeltaArgs delta_args;
  auto* delta = app.add_subcommand("delta", "apply ops and publish them as the next delta");
  delta->add_option("--dir", delta_args.dir, "state directory")->required();
  auto* ops_file = delta->add_option("--ops", delta_args.ops_file, "JSON array of ops, - = stdin");
  auto* ops_json = delta->add_option("--ops-json", delta_args.ops_json, "JSON array of ops");
  ops_file->excludes(ops_json);
  delta->add_option("--epoch", delta_args.epoch, "forge: this epoch (nothing stored)");
  delta->add_option("--version", delta_args.version, "forge: this version (nothing stored)");
  delta->add_option("--prev", delta_args.prev, "forge: this prev (nothing stored)");
  delta->add_flag("--no-store", delta_args.no_store, "publish without changing D or the head");
  delta->add_flag("--no-validate", delta_args.no_validate, "publish ops the codec rejects");
  delta->add_option("--head-ttl", delta_args.head_ttl, "seconds")->capture_default_str();
  delta_args.broker.AddTo(delta);

  HeadArgs head_args;
  auto* head = app.add_subcommand("head", "re-sign and publish the retained head");
  head->add_option("--dir", head_args.dir, "state directory")->required();
  head->add_option("--head-ttl", head_args.head_ttl, "seconds")->capture_default_str();
  head->add_flag("--expired", head_args.expired, "a head that expired a minute ago");
  head_args.broker.AddTo(head);

  CommandArgs cmd_args;
  auto* command = app.add_subcommand("command", "send a signed command, print its response");
  command->add_option("--dir", cmd_args.dir, "state directory")->required();
  command->add_option("--name", cmd_args.name, "unlock, set_door_mode, resync, ...")->required();
  command->add_option("--args", cmd_args.args, "JSON object")->capture_default_str();
  command->add_option("--id", cmd_args.id, "command id (default: a new UUID)");
  command->add_option("--expires-in", cmd_args.expires_in, "seconds")->capture_default_str();
  command->add_option("--issued-at", cmd_args.issued_at, "RFC 3339, sent as given");
  command->add_option("--expires-at", cmd_args.expires_at, "RFC 3339, sent as given");
  command->add_option("--wait", cmd_args.wait, "seconds to wait for cmd/response (0: none)")
      ->capture_default_str();
  cmd_args.broker.AddTo(command);

  PublishArgs pub_args;
  auto* publish = app.add_subcommand("publish", "publish anything under the gateway's root");
  publish->add_option("--dir", pub_args.dir, "state directory")->required();
  publish->add_option("--topic", pub_args.topic, "topic relative to lintel/v1/SITE/GATEWAY")
      ->required();
  publish->add_flag("--retain", pub_args.retain, "retained");
  auto* pj = publish->add_option("--payload-json", pub_args.payload_json, "JSON payload");
  auto* raw = publish->add_option("--raw", pub_args.raw, "payload bytes as given");
  pj->excludes(raw);
  publish->add_flag("--sign", pub_args.sign, "sign the payload exactly as given (JWS)");
  publish->add_option("--kid", pub_args.kid, "with --sign: this kid instead of D's");
  publish->add_option("--seed", pub_args.seed, "with --sign: this seed file instead of D's");
  pub_args.broker.AddTo(publish);

  ServeArgs serve_args;
  auto* serve = app.add_subcommand("serve", "answer sync requests, collect and ack events");
  serve->add_option("--dir", serve_args.dir, "state directory")->required();
  serve->add_flag("--no-ack", serve_args.no_ack, "never publish events/ack");
  serve->add_option("--exit-after-events", serve_args.exit_after_events,
                    "stop after this many new events");
  serve->add_option("--timeout", serve_args.timeout, "stop after this many seconds");
  serve->add_option("--head-every", serve_args.head_every, "republish the head every S seconds");
  serve->add_option("--head-ttl", serve_args.head_ttl, "seconds")->capture_default_str();
  serve_args.broker.AddTo(serve);

  std::string events_dir;
  bool from_file = false;
  auto* events = app.add_subcommand("events", "print the events serve collected, and a summary");
  events->add_option("--dir", events_dir, "state directory")->required();
  events->add_flag("--from-file", from_file, "read D/events.jsonl (the only source; default)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  if (*publish && !pub_args.raw && pub_args.payload_json.empty()) {
    Note("publish needs --payload-json or --raw");
    return kExitError;
  }
  try {
    if (*init) return RunInit(init_args);
    if (*snapshot) return RunSnapshot(snap_args);
    if (*delta) return RunDelta(delta_args);
    if (*head) return RunHead(head_args);
    if (*command) return RunCommand(cmd_args);
    if (*publish) return RunPublish(pub_args);
    if (*serve) return RunServe(serve_args);
    if (*events) return RunEvents(events_dir);
  } catch (const std::exception& e) {  // nlohmann or Paho beyond the places that catch them
    return Fail(Status::Internal(e.what()));
  }
  return kExitError;
}
