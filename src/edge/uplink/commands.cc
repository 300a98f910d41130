#include "edge/uplink/commands.h"

#include "common/log.h"

namespace linli::edge {
namespace {

constexpr size_t kMaxCommandIdLength = 128;
constexpr size_t kMaxConfigBytes = 1024 * 1024;

std::string Quote(std::string_view s, size_t max = 64) {
  std::string out(s.substr(0, max));
  if (s.size() > max) out += "…";
  return out;
}

}  // namespace

std::string CommandAck::ToJson() const {
  Json j = {{"command_id", command_id}, {"ok", ok}};
  j["error"] = ok ? Json(nullptr) : Json(error);
  if (!result.is_null()) j["result"] = result;
  return DumpJson(j);
}

Result<Command> ParseCommand(std::string_view payload) {
  LINLI_ASSIGN_OR_RETURN(Json j, ParseJson(payload, 16));
  if (!j.is_object()) return InvalidArgument("", "a command must be a JSON object");
  Command c;
  LINLI_ASSIGN_OR_RETURN(c.id, RequireString(j, "id"));
  if (c.id.empty() || c.id.size() > kMaxCommandIdLength) {
    return InvalidArgument("id", "must be 1.." + std::to_string(kMaxCommandIdLength) + " bytes");
  }
  LINLI_ASSIGN_OR_RETURN(c.name, RequireString(j, "name"));
  if (c.name.empty() || c.name.size() > 64) return InvalidArgument("name", "must be 1..64 bytes");
  if (j.contains("args") && !j["args"].is_null()) {
    if (!j["args"].is_object()) return InvalidArgument("args", "must be an object");
    c.args = j["args"];
  }
  if (j.contains("ts") && !j["ts"].is_null()) {
    if (!j["ts"].is_number_integer()) return InvalidArgument("ts", "must be an integer");
    c.ts = j["ts"].get<int64_t>();
  }
  if (j.contains("expires") && !j["expires"].is_null()) {
    if (!j["expires"].is_number_integer()) return InvalidArgument("expires", "must be an integer");
    c.expires = j["expires"].get<int64_t>();
  }
  if (j.contains("cause")) c.cause = j["cause"];
  return c;
}

CommandProcessor::CommandProcessor(Clock& clock, size_t remember)
    : clock_(clock),
      remember_(remember == 0 ? 1 : remember),
      executed_(metrics::Default().GetCounter("linli_edge_commands_total",
                                              "Device commands executed successfully")),
      failed_(metrics::Default().GetCounter("linli_edge_commands_failed_total",
                                            "Device commands whose handler failed")),
      expired_(metrics::Default().GetCounter("linli_edge_commands_expired_total",
                                             "Device commands refused because they expired")),
      unknown_(metrics::Default().GetCounter("linli_edge_commands_unknown_total",
                                             "Device commands with an unknown name")),
      malformed_(metrics::Default().GetCounter("linli_edge_commands_malformed_total",
                                               "Device command payloads that could not be read")),
      duplicate_(metrics::Default().GetCounter(
          "linli_edge_commands_duplicate_total",
          "Device commands received again (answered, not re-executed)")) {}

void CommandProcessor::Register(const std::string& name, Handler handler) {
  handlers_[name] = [h = std::move(handler)](const Command& c) -> Result<Json> {
    LINLI_RETURN_IF_ERROR(h(c));
    return Json();
  };
}

void CommandProcessor::RegisterWithResult(const std::string& name, ResultHandler handler) {
  handlers_[name] = std::move(handler);
}

std::optional<CommandAck> CommandProcessor::Handle(std::string_view payload) {
  auto parsed = ParseCommand(payload);
  if (!parsed) {
    malformed_.Inc();
    log::Warn("malformed device command",
              {{"error", parsed.error().ToString()}, {"payload", Quote(payload, 200)}});
    // Answer if an id can be read at all, so that the sender learns why.
    auto j = ParseJson(payload, 16);
    if (j && j->is_object() && (*j)["id"].is_string()) {
      std::string id = (*j)["id"].get<std::string>();
      if (!id.empty() && id.size() <= kMaxCommandIdLength) {
        return CommandAck{id, false, "malformed command: " + parsed.error().ToString()};
      }
    }
    return std::nullopt;
  }
  Command& c = *parsed;
  if (auto it = seen_.find(c.id); it != seen_.end()) {
    duplicate_.Inc();
    log::Info("device command received again; repeating its answer", {{"command_id", c.id}});
    return it->second;
  }
  CommandAck ack{c.id, false, ""};
  if (c.expires && clock_.NowMs() > *c.expires) {
    expired_.Inc();
    ack.error = "expired";
    log::Warn("device command expired; refused",
              {{"command_id", c.id}, {"name", Quote(c.name)},
               {"expires", std::to_string(*c.expires)}, {"now", std::to_string(clock_.NowMs())}});
  } else if (auto h = handlers_.find(c.name); h == handlers_.end()) {
    unknown_.Inc();
    ack.error = "unknown command '" + Quote(c.name) + "'";
    log::Warn("unknown device command", {{"command_id", c.id}, {"name", Quote(c.name)}});
  } else {
    auto r = h->second(c);
    if (r) {
      executed_.Inc();
      ack.ok = true;
      ack.result = std::move(*r);
      log::Info("device command executed", {{"command_id", c.id}, {"name", c.name}});
    } else {
      failed_.Inc();
      ack.error = r.error().ToString();
      log::Warn("device command failed",
                {{"command_id", c.id}, {"name", c.name}, {"error", ack.error}});
    }
  }
  seen_[c.id] = ack;
  seen_order_.push_back(c.id);
  while (seen_order_.size() > remember_) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return ack;
}

CommandProcessor::Handler ConfigApplyHandler(
    std::function<Result<void>(const std::string& yaml)> apply) {
  return [apply = std::move(apply)](const Command& c) -> Result<void> {
    if (!apply) {
      return Fail(ErrorCode::kFailedPrecondition, "this box does not accept pushed configs");
    }
    const Json& cfg = c.args.contains("config") ? c.args["config"] : Json();
    if (!cfg.is_string()) return InvalidArgument("args.config", "must be a YAML string");
    const auto& yaml = cfg.get_ref<const std::string&>();
    if (yaml.empty()) return InvalidArgument("args.config", "must not be empty");
    if (yaml.size() > kMaxConfigBytes) return InvalidArgument("args.config", "larger than 1 MiB");
    return apply(yaml);
  };
}

}  // namespace linli::edge
