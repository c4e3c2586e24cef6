// tools/cloud-sim as the demo and the gateway's integration tests use it: the real program against
// a real mosquitto, checked by a peer that reads the broker (Paho in this test, mosquitto_sub and
// mosquitto_pub as separate processes) and verifies every signed message the way the gateway does
// (VerifyJws, ParseCloudMessage) with the key `init` printed.
#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/base64.h"
#include "gateway/cloud/jws.h"
#include "gateway/cloud/messages.h"
#include "gateway/cloud/outbound.h"
#include "tests/integration/mosquitto.h"
#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BinaryDir;
using testing::Child;
using testing::Mosquitto;
using testing::RunProgram;
using testing::RunResult;
using testing::SourceDir;
using namespace std::chrono_literals;

constexpr char kSite[] = "maple-court";
constexpr char kGateway[] = "gw-1";
constexpr char kRoot[] = "lintel/v1/maple-court/gw-1";

struct Msg {
  std::string topic;
  std::string payload;
};

// The test's own MQTT client: subscribed (and confirmed) before anything is published.
class Peer {
 public:
  Peer(const std::string& uri, const std::vector<std::string>& topics)
      : client_(uri, "cloud-sim-test-" + std::to_string(getpid()) + "-" + std::to_string(++count_),
                nullptr) {
    client_.start_consuming();
    client_.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    for (const auto& t : topics) client_.subscribe(std::string(kRoot) + "/" + t, 1)->wait();
  }
  ~Peer() {
    try {
      client_.disconnect()->wait_for(5s);
    } catch (const mqtt::exception&) {
    }
  }
  // Up to `n` messages, waiting at most `timeout` in all.
  std::vector<Msg> Take(size_t n, std::chrono::milliseconds timeout) {
    std::vector<Msg> out;
    auto end = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      mqtt::const_message_ptr m;
      if (!client_.try_consume_message_until(&m, end) || !m) break;
      out.push_back({m->get_topic(), m->to_string()});
    }
    return out;
  }

 private:
  static inline int count_ = 0;
  mqtt::async_client client_;
};

std::vector<json> ReadJsonLines(const fs::path& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

class CloudSim : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("lintel-cloudsim");
    state_ = (dir_ / "cloud").string();
    broker_ = std::make_unique<Mosquitto>((dir_ / "broker").string());
    ASSERT_TRUE(broker_->Start()) << "mosquitto did not start";
    RunResult init = Sim({"init", "--dir", state_, "--site", kSite, "--gateway", kGateway,
                          "--broker", broker_->uri(), "--page-size", "4"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    json key = json::parse(init.out);
    kid_ = key.at("kid").get<std::string>();
    auto bytes = Base64Decode(key.at("key").get<std::string>());
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    ASSERT_EQ(bytes->size(), 32u);
    config::TrustedKey trusted;
    trusted.kid = kid_;
    std::copy(bytes->begin(), bytes->end(), trusted.public_key.begin());
    expect_ = {kSite, kGateway, {trusted}};
  }
  void TearDown() override {
    serve_.reset();
    broker_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  static std::string Bin() { return BinaryDir() + "/tools/cloud-sim"; }
  static std::string DemoState() { return SourceDir() + "/config/examples/demo-state.json"; }
  static size_t DemoRecordCount() {
    size_t n = 0;
    json state = json::parse(std::ifstream(DemoState()));
    for (auto& [kind, records] : state.items()) n += records.size();
    return n;
  }

  RunResult Sim(std::vector<std::string> args) {
    args.insert(args.begin(), Bin());
    return RunProgram(args);
  }
  json SimJson(std::vector<std::string> args) {
    RunResult r = Sim(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.empty() ? json() : json::parse(r.out);
  }
  void Pub(const std::string& topic, const std::string& payload) {
    RunResult r = RunProgram({"/usr/bin/mosquitto_pub", "-p", std::to_string(broker_->port()), "-q",
                              "1", "-t", std::string(kRoot) + "/" + topic, "-m", payload});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The retained message on `topic`, read by a fresh mosquitto_sub.
  std::string Retained(const std::string& topic) {
    RunResult r = RunProgram({"/usr/bin/mosquitto_sub", "-p", std::to_string(broker_->port()), "-t",
                              std::string(kRoot) + "/" + topic, "-C", "1", "-W", "5"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  // Runs `cloud-sim ARGS` in the background with stdout in `out` (a file under dir_).
  std::unique_ptr<Child> Background(const std::vector<std::string>& args, const std::string& out) {
    std::string command = "exec '" + Bin() + "'";
    for (const auto& a : args) command += " '" + a + "'";
    command += " > '" + (dir_ / out).string() + "'";
    return std::make_unique<Child>(std::vector<std::string>{"/bin/sh", "-c", command},
                                   (dir_ / (out + ".err")).string());
  }
  // Waits until the JSON lines in `out` hold one for which `pred` is true; returns all lines.
  template <typename Pred>
  std::vector<json> WaitFor(const std::string& out, Pred pred,
                            std::chrono::milliseconds timeout = 5s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    std::vector<json> lines;
    do {
      lines = ReadJsonLines(dir_ / out);
      for (const json& l : lines) {
        if (pred(l)) return lines;
      }
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < end);
    ADD_FAILURE() << "no expected line in " << out << "; it holds " << lines.size() << " lines";
    return lines;
  }
  // Starts `cloud-sim serve` with stdout in serve-N.out (a new file each time, so a restart never
  // reads the previous run's "ready") and waits until it has subscribed.
  void StartServe(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"serve", "--dir", state_};
    args.insert(args.end(), extra.begin(), extra.end());
    serve_out_ = "serve-" + std::to_string(++serves_) + ".out";
    serve_ = Background(args, serve_out_);
    WaitFor(serve_out_, [](const json& l) { return l.contains("ready"); });
  }
  std::vector<json> StopServe() {
    serve_->Signal(SIGTERM);
    EXPECT_EQ(serve_->Wait(10s), 0);
    serve_.reset();
    return ServeLines();
  }
  std::vector<json> ServeLines() { return ReadJsonLines(dir_ / serve_out_); }
  static size_t Count(const std::vector<json>& lines, const char* key, const json& value) {
    size_t n = 0;
    for (const json& l : lines) n += l.contains(key) && l[key] == value;
    return n;
  }

  template <typename T>
  T Parsed(cloud::Topic topic, const std::string& jws) {
    auto m = cloud::ParseCloudMessage(topic, jws, expect_);
    EXPECT_TRUE(m.ok()) << m.status().message();
    if (!m.ok()) return T{};
    return std::get<T>(*m);
  }
  json Payload(const std::string& jws) {
    auto v = cloud::VerifyJws(jws, expect_.keys);
    EXPECT_TRUE(v.ok()) << v.status().message();
    return v.ok() ? json::parse(v->payload) : json();
  }

  fs::path dir_;
  std::string state_, kid_;
  cloud::Expect expect_;
  std::unique_ptr<Mosquitto> broker_;
  std::unique_ptr<Child> serve_;
  std::string serve_out_;
  int serves_ = 0;
};

TEST_F(CloudSim, InitPrintsTheKeyOfTheSeedItWroteWithMode0600) {
  fs::path seed = fs::path(state_) / (kid_ + ".seed");
  struct stat st {};
  ASSERT_EQ(stat(seed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(seed);
  std::string text;
  in >> text;
  auto bytes = Base64Decode(text);
  ASSERT_TRUE(bytes.ok());
  ASSERT_EQ(bytes->size(), 32u);
  auto pair = cloud::Ed25519KeyPairFromSeed(std::span<const uint8_t, 32>(bytes->data(), 32));
  EXPECT_EQ(pair.public_key, expect_.keys[0].public_key);
  EXPECT_EQ(kid_, "cloud-1");
  json cloud_json = json::parse(std::ifstream(fs::path(state_) / "cloud.json"));
  EXPECT_EQ(cloud_json["version"], 0);
  EXPECT_EQ(cloud_json["epoch"], 1);
  // A second init on the same directory refuses rather than replacing the key.
  RunResult again = Sim({"init", "--dir", state_, "--site", kSite, "--gateway", kGateway,
                         "--broker", broker_->uri()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.out.find(text), std::string::npos);
  EXPECT_EQ(again.err.find(text), std::string::npos);
}

TEST_F(CloudSim, SnapshotPagesVerifyRespectThePageSizeAndReassembleTheRecords) {
  Peer peer(broker_->uri(), {"sync/snapshot", "sync/head"});
  json out = SimJson({"snapshot", "--dir", state_, "--records", DemoState()});
  json state = json::parse(std::ifstream(DemoState()));
  const size_t total = DemoRecordCount();
  ASSERT_EQ(out["records"], total);
  const size_t pages = (total + 3) / 4;
  EXPECT_EQ(out["pages"], pages);
  EXPECT_EQ(out["epoch"], 1);
  EXPECT_EQ(out["version"], 1);

  std::vector<Msg> got = peer.Take(pages + 1, 10s);
  ASSERT_EQ(got.size(), pages + 1);
  json reassembled = json::object();
  std::string snapshot_id;
  for (size_t i = 0; i < pages; ++i) {
    ASSERT_EQ(got[i].topic, std::string(kRoot) + "/sync/snapshot");
    auto page = Parsed<cloud::SnapshotPage>(cloud::Topic::kSyncSnapshot, got[i].payload);
    EXPECT_EQ(page.page, i + 1);
    EXPECT_EQ(page.pages, pages);
    EXPECT_EQ(page.epoch, 1u);
    EXPECT_EQ(page.version, 1u);
    if (i == 0) snapshot_id = page.snapshot_id;
    EXPECT_EQ(page.snapshot_id, snapshot_id);
    json records = Payload(got[i].payload)["records"];
    size_t in_page = 0;
    for (auto& [kind, array] : records.items()) {
      in_page += array.size();
      for (const json& r : array) reassembled[kind].push_back(r);
    }
    EXPECT_LE(in_page, 4u) << "page " << i + 1;
    EXPECT_GE(in_page, 1u) << "page " << i + 1;
  }
  for (auto& [kind, records] : state.items()) {
    EXPECT_EQ(reassembled.value(kind, json::array()), records) << kind;
  }

  ASSERT_EQ(got[pages].topic, std::string(kRoot) + "/sync/head");
  auto head = Parsed<cloud::Head>(cloud::Topic::kSyncHead, got[pages].payload);
  EXPECT_EQ(head.version, 1u);
  EXPECT_EQ(head.expires_at - head.issued_at, std::chrono::seconds(3600));
  // The head is retained: a subscriber arriving later reads it.
  EXPECT_EQ(Parsed<cloud::Head>(cloud::Topic::kSyncHead, Retained("sync/head")).version, 1u);

  // --page-size overrides D's; --new-epoch starts epoch 2 at version 1.
  Peer again(broker_->uri(), {"sync/snapshot"});
  out = SimJson({"snapshot", "--dir", state_, "--records", DemoState(), "--page-size", "1000",
                 "--new-epoch"});
  EXPECT_EQ(out["pages"], 1);
  EXPECT_EQ(out["epoch"], 2);
  EXPECT_EQ(out["version"], 1);
  got = again.Take(1, 5s);
  ASSERT_EQ(got.size(), 1u);
  auto page = Parsed<cloud::SnapshotPage>(cloud::Topic::kSyncSnapshot, got[0].payload);
  EXPECT_EQ(page.epoch, 2u);
  EXPECT_EQ(page.pages, 1u);
}

TEST_F(CloudSim, DeltaPublishesTheNextVersionThenTheRetainedHead) {
  SimJson({"snapshot", "--dir", state_, "--records", DemoState()});
  Peer peer(broker_->uri(), {"sync/delta", "sync/head"});
  ASSERT_EQ(peer.Take(1, 5s).size(), 1u);  // the retained head of the snapshot
  json op = {{"op", "put"},
             {"kind", "person"},
             {"data", {{"id", "p-new"}, {"name", "New Person"}, {"role", "guest"}}}};
  json out = SimJson({"delta", "--dir", state_, "--ops-json", json::array({op}).dump()});
  EXPECT_EQ(out, json({{"published", "delta"}, {"epoch", 1}, {"version", 2}, {"ops", 1}}));
  std::vector<Msg> got = peer.Take(2, 5s);
  ASSERT_EQ(got.size(), 2u);
  auto delta = Parsed<cloud::Delta>(cloud::Topic::kSyncDelta, got[0].payload);
  EXPECT_EQ(delta.version, 2u);
  EXPECT_EQ(delta.prev, 1u);
  EXPECT_EQ(delta.ops.size(), 1u);
  EXPECT_EQ(Parsed<cloud::Head>(cloud::Topic::kSyncHead, got[1].payload).version, 2u);
  EXPECT_EQ(Parsed<cloud::Head>(cloud::Topic::kSyncHead, Retained("sync/head")).version, 2u);
  json records = json::parse(std::ifstream(fs::path(state_) / "records.json"));
  EXPECT_EQ(records["people"].back()["id"], "p-new");

  // A delete read from a file, then a forged gap that changes nothing stored.
  fs::path ops = dir_ / "ops.json";
  std::ofstream(ops) << R"([{"op":"delete","kind":"person","id":"p-new"}])";
  EXPECT_EQ(SimJson({"delta", "--dir", state_, "--ops", ops.string()})["version"], 3);
  out = SimJson({"delta", "--dir", state_, "--ops-json", "[]", "--version", "9"});
  EXPECT_EQ(out["version"], 9);
  EXPECT_EQ(out["prev"], 8);
  EXPECT_EQ(out["stored"], false);
  got = peer.Take(3, 5s);
  ASSERT_EQ(got.size(), 3u);  // delta 3, head 3, forged delta 9 (no head after it)
  EXPECT_EQ(Parsed<cloud::Delta>(cloud::Topic::kSyncDelta, got[2].payload).version, 9u);
  json cloud_json = json::parse(std::ifstream(fs::path(state_) / "cloud.json"));
  EXPECT_EQ(cloud_json["version"], 3);
  EXPECT_EQ(ReadJsonLines(fs::path(state_) / "deltas.jsonl").size(), 2u);
  EXPECT_EQ(Parsed<cloud::Head>(cloud::Topic::kSyncHead, Retained("sync/head")).version, 3u);
  // An op the codec rejects is refused before anything is published.
  RunResult bad = Sim({"delta", "--dir", state_, "--ops-json", R"([{"op":"put","kind":"x"}])"});
  EXPECT_EQ(bad.exit_code, 1);
}

TEST_F(CloudSim, ServeAnswersADeltasRequestWithTheMissingDeltasAndAnOldOneWithASnapshot) {
  SimJson({"snapshot", "--dir", state_, "--records", DemoState()});                     // version 1
  for (int i = 0; i < 3; ++i) SimJson({"delta", "--dir", state_, "--ops-json", "[]"});  // 2..4
  StartServe();
  Peer peer(broker_->uri(), {"sync/delta", "sync/snapshot"});

  Pub("sync/request", R"({"want":"deltas","from":{"epoch":1,"version":2}})");
  std::vector<Msg> got = peer.Take(2, 5s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(peer.Take(1, 500ms).empty()) << "more than the two missing deltas";
  EXPECT_EQ(Parsed<cloud::Delta>(cloud::Topic::kSyncDelta, got[0].payload).version, 3u);
  EXPECT_EQ(Parsed<cloud::Delta>(cloud::Topic::kSyncDelta, got[1].payload).version, 4u);
  WaitFor(serve_out_, [](const json& l) { return l.value("answered", "") == "deltas"; });

  // Version 1 was a snapshot, not a delta: from 0 only a snapshot brings the gateway up to date.
  Pub("sync/request", R"({"want":"deltas","from":{"epoch":1,"version":0}})");
  const size_t pages = (DemoRecordCount() + 3) / 4;  // init's --page-size 4
  got = peer.Take(pages, 5s);
  ASSERT_EQ(got.size(), pages);
  for (const Msg& m : got) {
    auto page = Parsed<cloud::SnapshotPage>(cloud::Topic::kSyncSnapshot, m.payload);
    EXPECT_EQ(page.version, 4u);
    EXPECT_EQ(page.pages, pages);
  }
  // Another epoch, and an explicit snapshot request: snapshots too.
  Pub("sync/request", R"({"want":"deltas","from":{"epoch":0,"version":4}})");
  EXPECT_EQ(peer.Take(pages, 5s).size(), pages);
  Pub("sync/request", R"({"want":"snapshot","reason":"test"})");
  EXPECT_EQ(peer.Take(pages, 5s).size(), pages);
  // Up to date: no delta to send.
  Pub("sync/request", R"({"want":"deltas","from":{"epoch":1,"version":4}})");
  EXPECT_TRUE(peer.Take(1, 500ms).empty());

  std::vector<json> lines = StopServe();
  EXPECT_EQ(Count(lines, "seen", "sync_request"), 5u);
  EXPECT_EQ(Count(lines, "answered", "snapshot"), 3u);
  EXPECT_EQ(Count(lines, "answered", "deltas"), 2u);
  EXPECT_TRUE(lines.back().value("stopped", false));
}

TEST_F(CloudSim, ServeDedupesEventsAndAcksTheContiguousPrefixAcrossRestarts) {
  StartServe();
  Peer peer(broker_->uri(), {"events/ack"});
  auto batch = [](std::vector<int> seqs) {
    json events = json::array();
    for (int s : seqs) events.push_back({{"seq", s}, {"type", "door.opened"}, {"door", "main"}});
    return json({{"boot_id", "b-1"}, {"events", events}}).dump();
  };
  auto next_ack = [&]() -> uint64_t {
    std::vector<Msg> got = peer.Take(1, 5s);
    if (got.size() != 1) {
      ADD_FAILURE() << "no events/ack";
      return 0;
    }
    return Parsed<cloud::EventsAck>(cloud::Topic::kEventsAck, got[0].payload).upto;
  };
  Pub("events", batch({3, 4}));  // the first seq seen is 3: below it counts as handled
  EXPECT_EQ(next_ack(), 4u);
  Pub("events", batch({4, 5}));  // 4 again
  EXPECT_EQ(next_ack(), 5u);
  Pub("events", batch({7}));  // a hole at 6
  EXPECT_EQ(next_ack(), 5u);
  Pub("events", batch({6}));
  EXPECT_EQ(next_ack(), 7u);
  std::vector<json> lines = StopServe();
  EXPECT_EQ(Count(lines, "duplicate_seq", 4), 1u);
  EXPECT_EQ(Count(lines, "duplicate", false), 5u);
  EXPECT_EQ(lines.back()["events"], 5);

  // A restarted serve still knows what it holds.
  StartServe({"--exit-after-events", "1", "--timeout", "20"});
  Pub("events", batch({5, 6, 8}));
  EXPECT_EQ(next_ack(), 8u);
  EXPECT_EQ(serve_->Wait(10s), 0);
  lines = ServeLines();
  EXPECT_EQ(Count(lines, "duplicate_seq", 5), 1u);
  EXPECT_EQ(Count(lines, "duplicate_seq", 6), 1u);
  EXPECT_EQ(lines.back()["reason"], "events");

  RunResult events = Sim({"events", "--dir", state_});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  std::vector<json> out;
  std::istringstream in(events.out);
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  ASSERT_EQ(out.size(), 7u);
  std::vector<int> seqs;
  for (size_t i = 0; i + 1 < out.size(); ++i) seqs.push_back(out[i]["event"]["seq"].get<int>());
  EXPECT_EQ(seqs, (std::vector<int>{3, 4, 5, 7, 6, 8}));
  EXPECT_EQ(out.back(),
            json({{"count", 6}, {"first_seq", 3}, {"last_seq", 8}, {"missing", json::array()}}));
}

TEST_F(CloudSim, CommandWaitsForItsResponseAndPrintsIt) {
  Peer gateway(broker_->uri(), {"cmd/request"});
  auto command = Background({"command", "--dir", state_, "--name", "unlock", "--args",
                             R"({"door":"main","seconds":5})", "--wait", "10"},
                            "command.out");
  std::vector<Msg> got = gateway.Take(1, 5s);
  ASSERT_EQ(got.size(), 1u);
  auto cmd = Parsed<cloud::Command>(cloud::Topic::kCmdRequest, got[0].payload);
  EXPECT_EQ(cmd.name, cloud::CommandName::kUnlock);
  EXPECT_EQ(cmd.expires_at - cmd.issued_at, std::chrono::seconds(60));
  // Another command's response first: ignored.
  Pub("cmd/response", R"({"id":"someone-else","ok":false,"error":"x"})");
  json response = {{"id", cmd.id}, {"ok", true}, {"result", {{"door", "main"}}}};
  Pub("cmd/response", response.dump());
  ASSERT_EQ(command->Wait(10s), 0);
  std::vector<json> lines = ReadJsonLines(dir_ / "command.out");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], json({{"response", response}}));

  // Nobody answers: exit 3 after --wait.
  RunResult r = Sim({"command", "--dir", state_, "--name", "ping", "--id", "c-1", "--wait", "1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(json::parse(r.out), json({{"timeout", true}, {"id", "c-1"}}));
}

TEST_F(CloudSim, PublishSendsForgedMessagesAndABrokerThatIsDownIsExitCode2) {
  Peer gateway(broker_->uri(), {"sync/head"});
  json head = {{"type", "head"},
               {"site", "other-site"},
               {"gateway", kGateway},
               {"epoch", 1},
               {"version", 1},
               {"issued_at", "2026-11-23T10:00:00Z"},
               {"expires_at", "2026-11-23T11:00:00Z"}};
  json out = SimJson({"publish", "--dir", state_, "--topic", "sync/head", "--payload-json",
                      head.dump(), "--sign"});
  EXPECT_EQ(out["signed"], true);
  std::vector<Msg> got = gateway.Take(1, 5s);
  ASSERT_EQ(got.size(), 1u);
  cloud::Rejection why;
  auto m = cloud::ParseCloudMessage(cloud::Topic::kSyncHead, got[0].payload, expect_, &why);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(why.reason, cloud::RejectReason::kWrongSite);  // signed, but for another building
  SimJson({"publish", "--dir", state_, "--topic", "sync/head", "--raw", "not a jws"});
  got = gateway.Take(1, 5s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "not a jws");

  RunResult down = Sim({"head", "--dir", state_, "--broker", "tcp://127.0.0.1:1"});
  EXPECT_EQ(down.exit_code, 2);
  EXPECT_NE(down.err.find("cannot connect"), std::string::npos) << down.err;
  EXPECT_TRUE(down.out.empty());
}

// TLS with a client certificate, as in production: the flags reach Paho, and a certificate from
// another CA is refused by the broker (exit code 2).
TEST(CloudSimTls, PublishesOverTlsWithAClientCertificate) {
  fs::path dir = fs::temp_directory_path() / ("lintel-cloudsim-tls-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto pki = testing::MakeTestPki((dir / "pki").string());
  ASSERT_TRUE(pki) << "openssl failed";
  Mosquitto broker((dir / "broker").string(), pki);
  ASSERT_TRUE(broker.Start());
  const std::string bin = BinaryDir() + "/tools/cloud-sim";
  const std::string state = (dir / "cloud").string();
  RunResult init = RunProgram({bin, "init", "--dir", state, "--site", kSite, "--gateway", kGateway,
                               "--broker", broker.uri(), "--ca", pki->ca_cert, "--cert",
                               pki->client_cert, "--key", pki->client_key});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  RunResult head = RunProgram({bin, "head", "--dir", state});
  EXPECT_EQ(head.exit_code, 0) << head.err;
  EXPECT_EQ(json::parse(head.out)["published"], "head");
  RunResult rogue =
      RunProgram({bin, "head", "--dir", state, "--cert", pki->rogue_cert, "--key", pki->rogue_key});
  EXPECT_EQ(rogue.exit_code, 2) << rogue.err;
  broker.Stop();
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace lintel
