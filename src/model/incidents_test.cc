#include "model/incidents.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace linli::model {
namespace {

Command Sample() {
  Command c;
  c.id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  c.compound_id = "c1";
  c.device_id = "door-1";
  c.name = "unlock";
  c.args = Json{{"seconds", 30}, {"reason", "燃气泄漏"}};
  c.cause = Json{{"kind", "event"}, {"id", "ev-1"}, {"rule", "gas-leak"}};
  c.actor = "rule:gas-leak";
  c.state = CommandState::kSent;
  c.attempts = 1;
  c.created_ms = c.sent_ms = c.updated_ms = 1'700'000'000'000;
  c.expires_ms = 1'700'000'060'000;
  c.deadline_ms = 1'700'000'010'000;
  c.rule_id = "gas-leak";
  return c;
}

TEST(CommandTextTest, IsDumpJsonOfToJson) {
  Command c = Sample();
  EXPECT_EQ(CommandText(c), DumpJson(ToJson(c)));
  c.state = CommandState::kFailed;
  c.error = "refused: \"busy\"\n\xff";  // escaping and invalid UTF-8
  c.alarm_id = "a-1";
  c.args = Json::object();
  EXPECT_EQ(CommandText(c), DumpJson(ToJson(c)));
  auto back = CommandFromJson(*ParseJson(DumpJson(ToJson(Sample()))));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(CommandText(*back), CommandText(Sample()));
}

TEST(CommandTextTest, PayloadIsTheProtocolObject) {
  Command c = Sample();
  Json expected{{"id", c.id}, {"ts", 5}, {"name", "unlock"}, {"args", c.args}, {"cause", c.cause},
                {"expires", c.expires_ms}};
  EXPECT_EQ(CommandPayload(c, 5), DumpJson(expected));
  c.expires_ms = 0;
  expected.erase("expires");
  EXPECT_EQ(CommandPayload(c, 5), DumpJson(expected));
}

}  // namespace
}  // namespace linli::model
