// Topic routing for the device protocol (docs/protocol.md):
//   linli/v1/{compound}/{device}/up/{telemetry|event|status|ack}
//   linli/v1/{compound}/{device}/down/command
// Pure functions; no I/O. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace linli::ingest {

enum class Channel { kTelemetry, kEvent, kStatus, kAck, kCommand };
std::string_view ChannelName(Channel c);

struct Topic {
  std::string compound_id;
  std::string device_id;
  Channel channel = Channel::kTelemetry;
};

// Parses a topic. InvalidArgument (field "topic") for anything that is not exactly one of the
// shapes above with valid ids (model::ValidateId).
Result<Topic> ParseTopic(std::string_view topic);

// The topic prefix of a device: "linli/v1/{compound}/{device}/".
std::string DevicePrefix(std::string_view compound_id, std::string_view device_id);
std::string CommandTopic(std::string_view compound_id, std::string_view device_id);

// The subscription linlid uses for everything devices send.
inline constexpr std::string_view kUplinkSubscription = "linli/v1/+/+/up/#";

}  // namespace linli::ingest
