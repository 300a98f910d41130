#include "ingest/topic.h"

#include <gtest/gtest.h>

namespace linli::ingest {
namespace {

TEST(TopicTest, ParsesEveryUplinkChannel) {
  struct Case {
    const char* topic;
    Channel channel;
  } cases[] = {{"linli/v1/c1/d-1/up/telemetry", Channel::kTelemetry},
               {"linli/v1/c1/d-1/up/event", Channel::kEvent},
               {"linli/v1/c1/d-1/up/status", Channel::kStatus},
               {"linli/v1/c1/d-1/up/ack", Channel::kAck},
               {"linli/v1/c1/d-1/down/command", Channel::kCommand}};
  for (const auto& c : cases) {
    auto t = ParseTopic(c.topic);
    ASSERT_TRUE(t) << c.topic << ": " << t.error().ToString();
    EXPECT_EQ(t->compound_id, "c1");
    EXPECT_EQ(t->device_id, "d-1");
    EXPECT_EQ(t->channel, c.channel) << c.topic;
  }
}

TEST(TopicTest, RejectsMalformedTopics) {
  for (const char* bad : {"", "linli", "linli/v1/c1/d1/up", "linli/v2/c1/d1/up/event",
                          "linli/v1/c1/d1/up/event/extra", "linli/v1//d1/up/event", "linli/v1/c1/d1/up/unknown",
                          "linli/v1/c1/d1/down/event", "linli/v1/c 1/d1/up/event", "linli/v1/c1/+/up/event",
                          "other/v1/c1/d1/up/event", "linli/v1/c1/d1/sideways/event"}) {
    auto t = ParseTopic(bad);
    EXPECT_FALSE(t) << "accepted: '" << bad << "'";
    if (!t) {
      EXPECT_EQ(t.error().field(), "topic");
    }
  }
  EXPECT_FALSE(ParseTopic(std::string(600, 'a')));
}

TEST(TopicTest, BuildsPrefixAndCommandTopic) {
  EXPECT_EQ(DevicePrefix("c1", "d1"), "linli/v1/c1/d1/");
  EXPECT_EQ(CommandTopic("c1", "d1"), "linli/v1/c1/d1/down/command");
  auto t = ParseTopic(CommandTopic("c9", "door-7"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->channel, Channel::kCommand);
}

}  // namespace
}  // namespace linli::ingest
