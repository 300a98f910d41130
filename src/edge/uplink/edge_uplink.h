// EdgeUplink: the uplink side of a box, wired from the box config's `uplink:` section — the
// Outbox, the OutboxSink the pipelines deliver to, and the Uplink that sends to the platform.
//
//   auto up = EdgeUplink::Open(config);              // BoxConfig with an `uplink:` section
//   Pipeline pipeline(registry, detectors, (*up)->sink(), clock, options);
//   (*up)->SetStatsProvider(pipeline.StatsFn());
//   (*up)->SetConfigApplier(pipeline.Applier());
//   (*up)->Start();
//   ...
//   (*up)->Stop();   // before the pipeline goes away (the hooks point into it)
//
// The `uplink:` section (every key optional except mqtt.password* and, for media, api.*):
//   mqtt:   {host: 127.0.0.1, port: 1883, keepalive_s: 30,
//            password: "..." | password_file: PATH | password_env: VAR}
//   api:    {base_url: http://host:8080, api_key: "..." | api_key_file: PATH | api_key_env: VAR,
//            connect_timeout_ms: 5000, stall_timeout_ms: 30000}
//   outbox: {dir: <box.state_dir>/outbox, quota_mb: 2048, max_entries: 1000000}
//   telemetry_interval_s: 30, inflight_window: 32, backoff_min_ms: 200, backoff_max_ms: 30000
//   snapshot: {jpeg_quality: 85, max_width: 0}
// The box's MQTT identity is box.device_id / box.compound_id. Without `api:` media cannot be
// uploaded and become dead letters (events still go out).
// Ownership: EdgeUplink owns all three. Thread-safety: Open/Start/Stop from one owner thread;
// sink() is thread-safe (see OutboxSink).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "common/clock.h"
#include "common/result.h"
#include "edge/config.h"
#include "edge/uplink/media_uploader.h"
#include "edge/uplink/outbox.h"
#include "edge/uplink/outbox_sink.h"
#include "edge/uplink/uplink.h"

namespace linli::edge {

struct BoxUplinkConfig {
  UplinkOptions uplink;
  OutboxOptions outbox;
  std::optional<HttpUploaderOptions> http;  // absent: no media upload
  OutboxSinkOptions sink;
};

// Parses the `uplink:` mapping. InvalidArgument naming the key ("uplink.mqtt.port").
Result<BoxUplinkConfig> ParseUplinkConfig(const YAML::Node& uplink, const BoxIdentity& box);

class EdgeUplink {
 public:
  static Result<std::unique_ptr<EdgeUplink>> Open(const BoxUplinkConfig& config,
                                                  Clock& clock = SystemClock());
  // Parses config.uplink (ParseUplinkConfig) and opens.
  static Result<std::unique_ptr<EdgeUplink>> Open(const BoxConfig& config,
                                                  Clock& clock = SystemClock());
  ~EdgeUplink();

  OutboxSink& sink() { return *sink_; }
  Outbox& outbox() { return *outbox_; }
  Uplink* uplink() { return uplink_.get(); }  // null before Start()

  // Hooks for telemetry and config.apply; set before Start().
  void SetStatsProvider(StatsProvider stats) { hooks_.camera_stats = std::move(stats); }
  void SetConfigApplier(ConfigApplier apply) { hooks_.apply_config = std::move(apply); }
  // A further device command (edge/box.h BoxCommand) answered on up/ack; before Start().
  void AddCommand(const std::string& name, BoxCommand command) {
    hooks_.commands[name] = [command = std::move(command)](const Command& c) {
      return command(c.args);
    };
  }
  // Starts sending. FailedPrecondition if already started.
  Result<void> Start();
  Result<void> Start(UplinkHooks hooks);
  void Stop();
  // "mqtt://host:port as <box> (outbox DIR)", for logs; no secrets.
  std::string Describe() const;

 private:
  EdgeUplink(BoxUplinkConfig config, Clock& clock) : config_(std::move(config)), clock_(clock) {}
  BoxUplinkConfig config_;
  UplinkHooks hooks_;
  Clock& clock_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<OutboxSink> sink_;
  std::unique_ptr<Uplink> uplink_;
};

}  // namespace linli::edge
