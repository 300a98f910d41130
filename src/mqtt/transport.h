// Transport: linlid's connection to the MQTT broker.
//
// Durability contract (the reason this is not a thin wrapper): received QoS 1 messages are
// handed to a MessageHandler in bursts; after each burst the transport calls Commit(), and
// only when Commit() succeeded are the PUBACKs for that burst written to the broker. If linlid
// dies before that, the broker still holds the messages in linlid's persistent session and
// redelivers them. If Commit() fails, the transport drops the connection without acknowledging
// and reconnects with back-off, so the broker redelivers. Consumers must therefore be
// idempotent (event ids, telemetry primary keys).
//
// Ownership: the transport owns its thread and its libmosquitto handle; the handler must
// outlive it. Thread-safety: Publish() may be called from any thread; handler callbacks run on
// the transport thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace linli::mqtt {

struct Message {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  bool duplicate = false;  // not tracked by libmosquitto; always false for now
};

class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  // One received message; buffer the work, do not block.
  virtual void OnMessage(const Message& m) = 0;
  // Make everything buffered since the last Commit() durable.
  virtual Result<void> Commit() = 0;
  // True when what is buffered should be committed now rather than after more of the burst
  // (an event a rule may act on should not wait behind a thousand telemetry messages).
  virtual bool CommitSoon() const { return false; }
  // True when something buffered should not wait for a lingering burst to fill up (see
  // MosquittoOptions::linger_us): events, command acknowledgements.
  virtual bool Urgent() const { return false; }
  // Connection state changes (for health and metrics).
  virtual void OnConnectionChange(bool connected) { (void)connected; }
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts the transport thread; it connects (retrying with back-off) and subscribes.
  // Returns an error only for unusable options.
  virtual Result<void> Start() = 0;
  // Stops the thread after committing and acknowledging what was received. Idempotent.
  virtual void Stop() = 0;
  // Queues a message for publishing (QoS as given). Unavailable while disconnected.
  virtual Result<void> Publish(const std::string& topic, const std::string& payload, int qos,
                               bool retain) = 0;
  virtual bool Connected() const = 0;
};

struct MosquittoOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id = "linlid";
  std::string username;
  std::string password;
  std::vector<std::string> subscriptions;  // subscribed with QoS 1
  bool clean_session = false;              // persistent session: messages queue while we are away
  int keepalive_s = 30;
  int max_burst = 1000;                    // messages per Commit() at most
  // Group commit under load: when a burst of fewer than linger_min_burst messages finds the socket
  // empty, wait up to linger_us (from the burst's first message) for more before committing,
  // unless the handler says the burst is Urgent(). Fewer, larger transactions cost less CPU per
  // message; the price is at most linger_us of latency for non-urgent messages. 0 = off.
  int linger_us = 0;
  int linger_min_burst = 256;
  int max_payload_bytes = 256 * 1024;      // larger messages are still delivered (handler decides)
};

std::unique_ptr<Transport> MakeMosquittoTransport(const MosquittoOptions& options,
                                                  MessageHandler* handler);

}  // namespace linli::mqtt
