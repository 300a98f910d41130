#include "ingest/topic.h"

#include <vector>

#include "model/registry.h"

namespace linli::ingest {

std::string_view ChannelName(Channel c) {
  switch (c) {
    case Channel::kTelemetry: return "telemetry";
    case Channel::kEvent: return "event";
    case Channel::kStatus: return "status";
    case Channel::kAck: return "ack";
    case Channel::kCommand: return "command";
  }
  return "unknown";
}

Result<Topic> ParseTopic(std::string_view topic) {
  if (topic.size() > 512) return InvalidArgument("topic", "longer than 512 bytes");
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = topic.find('/', start);
    parts.push_back(topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
    if (parts.size() > 8) return InvalidArgument("topic", "too many levels");
  }
  if (parts.size() != 6 || parts[0] != "linli" || parts[1] != "v1") {
    return InvalidArgument("topic", "expected linli/v1/{compound}/{device}/up|down/{channel}");
  }
  if (!model::ValidateId(parts[2])) return InvalidArgument("topic", "invalid compound id");
  if (!model::ValidateId(parts[3])) return InvalidArgument("topic", "invalid device id");
  Topic t;
  t.compound_id = std::string(parts[2]);
  t.device_id = std::string(parts[3]);
  if (parts[4] == "up") {
    if (parts[5] == "telemetry") t.channel = Channel::kTelemetry;
    else if (parts[5] == "event") t.channel = Channel::kEvent;
    else if (parts[5] == "status") t.channel = Channel::kStatus;
    else if (parts[5] == "ack") t.channel = Channel::kAck;
    else return InvalidArgument("topic", "unknown uplink channel");
  } else if (parts[4] == "down" && parts[5] == "command") {
    t.channel = Channel::kCommand;
  } else {
    return InvalidArgument("topic", "expected up/{telemetry|event|status|ack} or down/command");
  }
  return t;
}

std::string DevicePrefix(std::string_view compound_id, std::string_view device_id) {
  std::string s = "linli/v1/";
  s += compound_id;
  s += '/';
  s += device_id;
  s += '/';
  return s;
}

std::string CommandTopic(std::string_view compound_id, std::string_view device_id) {
  return DevicePrefix(compound_id, device_id) + "down/command";
}

}  // namespace linli::ingest
