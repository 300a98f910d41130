// How `linli-edge run` delivers events: through the uplink (outbox → MQTT/HTTP) when the config
// has an `uplink:` section and the uplink library is built, else to a JSONL file only.
// Thread-safety: sink() is used from the camera renderers' threads; the rest from main().
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "edge/box.h"
#include "edge/config.h"
#include "edge/media.h"

namespace linli::edge {

class BoxUplink {
 public:
  virtual ~BoxUplink() = default;
  virtual MediaEventSink& sink() = 0;
  virtual void SetStatsProvider(StatsProvider stats) = 0;
  virtual void SetConfigApplier(ConfigApplier apply) = 0;
  // A device command answered on up/ack (without an uplink there are no commands: ignored).
  virtual void AddCommand(const std::string& name, BoxCommand command) = 0;
  virtual Result<void> Start() = 0;
  virtual void Stop() = 0;
  virtual std::string Describe() const = 0;
};

// `events_jsonl`: an extra (or, without uplink, the only) JSONL copy of every event step;
// empty = <state_dir>/events.jsonl when there is no uplink, none otherwise.
// InvalidArgument naming the key for a bad uplink section.
Result<std::unique_ptr<BoxUplink>> MakeUplinkSink(const BoxConfig& config,
                                                  const std::string& events_jsonl, Clock& clock);

}  // namespace linli::edge
