// Device commands for the edge box (docs/protocol.md "Commands and acknowledgements" and
// "Edge boxes"): parsing, expiry, de-duplication and dispatch by name, without any I/O. The
// Uplink feeds it the payloads it receives on `down/command` and publishes the acks it returns
// on `up/ack`.
//
//   {"id": "c0b6…", "ts": ms, "name": "config.apply", "args": {"config": "<YAML>"},
//    "expires": ms, "cause": {...}}  →  {"command_id": "c0b6…", "ok": true, "error": null}
//
// A handler may return a result object, sent as the ack's `result` (roi.examples lists what
// it found); acks without one have no `result` key.
//
// Rules: a command whose `expires` is in the past (box clock) is refused with ok=false and
// error "expired"; an unknown name gets ok=false and "unknown command '<name>'"; a handler's
// Error becomes ok=false with its text. A payload that is not a JSON object with a string `id`
// and `name` is malformed: counted (linli_edge_commands_malformed_total), logged at WARN, and
// answered with ok=false only if an id could be read. A command id seen again (QoS 1
// redelivery) is answered with the first answer and not executed again.
// Thread-safety: Handle() may be called from one thread at a time; Register() before use.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/json.h"
#include "common/metrics.h"
#include "common/result.h"

namespace linli::edge {

struct Command {
  std::string id;
  std::string name;
  Json args = Json::object();
  int64_t ts = 0;                  // 0 if absent
  std::optional<int64_t> expires;  // ms since epoch
  Json cause;                      // null if absent
};

struct CommandAck {
  std::string command_id;
  bool ok = false;
  std::string error;  // empty when ok
  Json result;        // the handler's result; null: no `result` key in the ack
  std::string ToJson() const;
};

// Parses a command payload. InvalidArgument naming the field otherwise.
Result<Command> ParseCommand(std::string_view payload);

class CommandProcessor {
 public:
  using Handler = std::function<Result<void>(const Command&)>;
  // A handler whose value goes into the ack's `result` (null: none).
  using ResultHandler = std::function<Result<Json>(const Command&)>;
  explicit CommandProcessor(Clock& clock = SystemClock(), size_t remember = 512);

  void Register(const std::string& name, Handler handler);
  void RegisterWithResult(const std::string& name, ResultHandler handler);
  // The acknowledgement to publish, or nullopt when the payload carried no usable id.
  std::optional<CommandAck> Handle(std::string_view payload);

 private:
  Clock& clock_;
  size_t remember_;
  std::map<std::string, ResultHandler> handlers_;
  std::unordered_map<std::string, CommandAck> seen_;
  std::deque<std::string> seen_order_;
  metrics::Counter& executed_;
  metrics::Counter& failed_;
  metrics::Counter& expired_;
  metrics::Counter& unknown_;
  metrics::Counter& malformed_;
  metrics::Counter& duplicate_;
};

// The config.apply handler: args.config must be a YAML string (<= 1 MiB); `apply` gets it.
CommandProcessor::Handler ConfigApplyHandler(
    std::function<Result<void>(const std::string& yaml)> apply);

}  // namespace linli::edge
