// MqttLink: the gateway's one MQTT connection to the cloud broker, behind an interface so the sync
// layer is tested without a network and the Paho client stays an implementation detail.
//
// What a link does on its own (shared/contract/cloud-mqtt.md, "Transport"; issue 3, point 1):
//   - connects with a clean session over plain TCP (tcp://) or TLS (ssl://, CA file, client
//     certificate and key), MQTT 3.1.1 or 5;
//   - sets the Last Will (`will_topic`, QoS 1, retained) on every connect attempt, its payload
//   built
//     for that attempt's session number;
//   - subscribes to `subscriptions` (QoS 1) on every connect, and only then reports the connection;
//   - reconnects after any failure or loss with exponential backoff and jitter (backoff_min
//     doubling to backoff_max, each delay scaled by a random factor in [1 - jitter, 1 + jitter]);
//     the delay goes back to backoff_min after a connection that lasted;
//   - logs one line per connection change ("mqtt: connected to ... (session 3)", "mqtt: connection
//     to ... lost: ...; retrying in 1.9 s", "mqtt: cannot connect to ...: ...; retrying in 3.8 s").
//
// Threads: the client library's threads never call the Listener directly (except TakeOffLoop,
// which is thread-safe by contract). Every other Listener call is
// handed to `post` (normally EventLoop::Post of the core loop) and so runs on the core thread, in
// the order the link saw the events. No member blocks on the network: Start() begins connecting and
// returns; Publish() queues for the link's sender thread and returns (it never takes the client
// library's mutex, which the library holds while a message callback runs). Members are called from
// the core thread. Stop() (also run by the destructor) waits for the client's threads; calls
// already posted but not yet run stay queued on the loop, so the Listener must outlive the loop's
// queue (the daemon destroys the loop, which drops them, before the Listener). Such leftover tasks
// own what they touch (not the link), so they may run after the link is destroyed; once Stop() has
// been called they no longer call the Listener.
//
// Reconnecting is the link's own (Paho's automatic reconnect is off): a small retry thread sleeps
// on a condition variable until the next attempt is due, then starts a non-blocking connect.
//
// TCP_NODELAY: Paho C 1.3 never calls setsockopt on its sockets and exposes no socket hook, so
// Nagle stays on for the client socket. Each MQTT packet is written in one call and the broker
// acknowledges QoS 1 at once (its ACK carries the TCP ACK), so this costs latency only when
// several small publishes are sent back to back; the broker side sets TCP_NODELAY itself
// (mosquitto `set_tcp_nodelay true`).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/status.h"

namespace lintel::cloud {

struct MqttOptions {
  // tcp://host:port or ssl://host:port (also mqtt:// and mqtts://, as Paho accepts them).
  std::string uri;
  std::string client_id;  // non-empty; the gateway uses "lintel-{site}-{gateway}"
  int mqtt_version = 4;   // 4 = MQTT 3.1.1 (the contract's default), 5 = MQTT 5
  std::chrono::seconds keep_alive{30};
  std::chrono::seconds connect_timeout{10};

  // TLS (ssl:// only). ca_file: the CA that signed the broker's certificate (empty: the system's
  // trust store). cert_file + key_file: this gateway's client certificate and its private key
  // (PEM). verify_server: check the broker's certificate and host name (only tests turn it off).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify_server = true;

  std::string username;  // optional
  std::string password;  // optional; never logged

  // The Last Will: set on every connect attempt with the payload `will_payload(session)`, where
  // `session` is the number the connection will have if it succeeds (1 for the first in a process).
  // will_payload runs on the link's retry thread: it must be a pure function of `session` (and of
  // values fixed before Start(), such as the boot id). Empty will_topic: no Will.
  std::string will_topic;
  std::function<std::string(uint32_t session)> will_payload;

  // Subscribed (QoS 1) on every connect, before Listener::OnConnected.
  std::vector<std::string> subscriptions;

  // Reconnect delays: the first retry after a failure waits backoff_min, each further failed
  // attempt doubles the delay up to backoff_max, and every delay is scaled by a random factor in
  // [1 - jitter, 1 + jitter] (so a delay may exceed backoff_max by up to `jitter`). The delay goes
  // back to backoff_min when a connection that lasted at least 10 s is lost; a connection lost
  // sooner (a broker that accepts and then drops us) keeps doubling. Requires
  // 0 < backoff_min <= backoff_max and 0 <= jitter < 1.
  std::chrono::milliseconds backoff_min{1000};
  std::chrono::milliseconds backoff_max{60000};
  double jitter = 0.2;  // +-20 %

  // Flow control: Publish() of a QoS 1 message returns false while this many QoS 1 publishes are
  // not yet acknowledged (in_flight()). At least 1.
  size_t max_in_flight = 1000;

  // What a broker may push (issue 10, point 1). A message on a topic listed in `topic_max_bytes`
  // whose payload is longer than the topic's limit, or on another topic longer than
  // `max_payload_bytes`, is dropped in the client library's callback, before it is copied or
  // posted, and counted (LinkHealth::dropped_too_large). 0: no limit. With MQTT 5 the largest of
  // these limits (+ 64 KiB for the packet's topic and header) is advertised in CONNECT as the
  // Maximum Packet Size, so a conforming broker does not send larger packets at all.
  std::vector<std::pair<std::string, size_t>> topic_max_bytes;
  size_t max_payload_bytes = 0;
  // Messages received and not yet handed to the Listener wait in the link's own queue: at most
  // `max_queued_messages` and `max_queued_bytes` (payload bytes); a message that finds it full is
  // dropped and counted (LinkHealth::dropped_overload): the client library's thread never blocks
  // and the queue never grows past these. One task at a time is posted to drain it, handing at
  // most `max_messages_per_turn` messages to the Listener per loop turn, so a flood of broker
  // messages never holds up the loop's other work (readers, doors) for more than one such batch.
  size_t max_queued_messages = 1000;
  size_t max_queued_bytes = size_t{64} << 20;
  size_t max_messages_per_turn = 32;
  // Observer, for tests and metrics: called with each reconnect delay as it is chosen (before the
  // log line). Runs on a client library thread or the link's retry thread, with the link's lock
  // held: it must be quick, thread-safe and must not call the link. Empty: not called.
  std::function<void(std::chrono::milliseconds delay)> on_retry_scheduled;
};

// What a link dropped or caught, cumulative since it was made (for status and the coalesced
// `sync.rejected` journal events).
struct LinkHealth {
  uint64_t dropped_too_large = 0;  // above their topic's limit
  uint64_t dropped_overload = 0;   // the inbound queue was full
  // Exceptions caught at the client library's callbacks (a bug or an allocation failure). The
  // link logs each, goes on, and reports the last one here: status shows the link as failed.
  uint64_t callback_errors = 0;
  std::string last_error;
};

// Receives what happens on the link, always through `post` (so on the core thread).
class MqttListener {
 public:
  virtual ~MqttListener() = default;
  // Connected and subscribed. `session` counts successful connections in this process from 1.
  virtual void OnConnected(uint32_t session) = 0;
  // The connection was lost or closed (not called for failed connect attempts, which are only
  // logged). The link is already retrying.
  virtual void OnDisconnected(const std::string& reason) = 0;
  // A message on one of the subscribed topics.
  virtual void OnMessage(const std::string& topic, const std::string& payload) = 0;
  // The one exception to "always through `post`": called on a client library thread for each
  // message within the link's size limit, before it is queued for the core loop. Returning true
  // means the listener took the message (it is then not queued, and OnMessage is not called for
  // it); false queues it as usual. Must be thread-safe and quick: a listener that hands the
  // message to a bounded queue of its own keeps a broker flood off the core loop (issue 10,
  // point 1). A bounded wait here (room in that queue) holds back the broker's next messages and
  // the client library's own work, publishes included, but never the core thread: Publish() only
  // queues for the link's sender thread. Called only while the link runs (Stop() waits for it).
  // Default: false.
  virtual bool TakeOffLoop(const std::string& topic, const std::string& payload) {
    (void)topic;
    (void)payload;
    return false;
  }
};

class MqttLink {
 public:
  using Poster = std::function<void(std::function<void()>)>;

  virtual ~MqttLink() = default;

  // Begins connecting (and keeps reconnecting until Stop()). Returns at once.
  virtual void Start() = 0;

  // Disconnects cleanly (the broker does not send the Will), stops reconnecting and waits for the
  // client library's callbacks and the retry thread (bounded: about 1.5 s at most, also while a
  // connect attempt is pending or the broker is down). After Stop() returns nothing more is posted
  // and the Listener is not called again. Idempotent; Start() after Stop() does nothing.
  virtual void Stop() = 0;

  // Queues a publish (QoS 0 or 1). Returns false, publishing nothing, when not connected, when
  // `qos` is neither 0 nor 1, when a QoS 1 publish would exceed `max_in_flight`, or when the
  // client refuses it (the connection just dropped): the caller keeps what it wanted to send (the
  // outbox, the state) and sends it again on the next OnConnected. Never blocks, never throws.
  virtual bool Publish(const std::string& topic, const std::string& payload, int qos,
                       bool retain) = 0;

  // Connected and subscribed (as last reported on the core thread).
  virtual bool connected() const = 0;

  // QoS 1 publishes started on the current connection and not yet acknowledged by the broker
  // (PUBACK) nor failed, for flow control. Back to 0 when the connection is lost (with a clean
  // session the broker forgets them; the caller resends what it still needs).
  virtual size_t in_flight() const = 0;
  // Drops and caught exceptions so far. Thread-safe.
  virtual LinkHealth health() const { return {}; }
};

// The Paho MQTT C++ implementation. Creating it does no I/O beyond checking that the TLS files can
// be read. `listener` must outlive the link (and, see above, the loop's queue); `post` must accept
// tasks from any thread until Stop() returns.
// Errors: InvalidArgument for options Paho refuses or that make no sense: a bad URI, an empty
// client id, mqtt_version other than 4 or 5, a will_topic without will_payload, bad backoff or
// jitter, TLS files with a tcp:// URI, a TLS file that cannot be read ("mqtt: cannot read
// tls.cert_file /etc/lintel/gw.crt: No such file or directory").
Result<std::unique_ptr<MqttLink>> MakePahoLink(MqttOptions options, MqttListener& listener,
                                               MqttLink::Poster post);

}  // namespace lintel::cloud
