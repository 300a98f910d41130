#include "rules/parse.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace linli::rules {
namespace {

std::string SourceDir() {
  const char* s = std::getenv("LINLI_SOURCE_DIR");
  return s != nullptr ? s : LINLI_SOURCE_DIR_FALLBACK;
}

const char* kGood = R"(
id: gas-demo
name: 燃气
trigger:
  event: gas.leak
scope: {device_kinds: [gas_sensor]}
where: "event.data.ch4_ppm > 500"
cooldown: 1m
actions:
  - alarm: {type: gas_leak, level: critical, title: "leak {device.name}", sla: {ack: 2m},
            escalation: [{after: 2m, contacts: [fire_brigade]}]}
  - parallel:
      - command: {target: {kinds: [door_controller], same: building}, name: unlock, wait: true}
      - notify: {roles: [operator]}
)";

TEST(ParseTest, ParsesAFullRule) {
  ParsedFile f = ParseRuleText(kGood, "demo.yaml");
  ASSERT_TRUE(f.errors.empty()) << f.errors.front().ToString();
  ASSERT_EQ(f.rules.size(), 1u);
  const Rule& r = f.rules[0];
  EXPECT_EQ(r.id, "gas-demo");
  EXPECT_EQ(r.line, 2);
  EXPECT_EQ(r.trigger.kind, TriggerKind::kEvent);
  EXPECT_EQ(r.trigger.event_type, "gas.leak");
  EXPECT_EQ(r.cooldown_ms, 60'000);
  ASSERT_EQ(r.steps.size(), 2u);
  EXPECT_FALSE(r.steps[0].parallel);
  EXPECT_TRUE(r.steps[1].parallel);
  ASSERT_EQ(r.steps[1].actions.size(), 2u);
  const auto& cmd = r.steps[1].actions[0].command;
  EXPECT_EQ(cmd.name, "unlock");
  EXPECT_EQ(cmd.target.same, "building");
  EXPECT_TRUE(cmd.wait);
  EXPECT_EQ(r.steps[0].actions[0].alarm.escalation.size(), 1u);
  EXPECT_EQ(r.steps[0].actions[0].alarm.escalation[0].unless, "acknowledged");
  EXPECT_EQ(r.steps[0].actions[0].alarm.ack_sla_ms, 120'000);
}

TEST(ParseTest, EveryBuiltinRuleIsValid) {
  const std::string dir = SourceDir() + "/src/rules/builtin";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    ParsedFile f = ParseRuleText(ss.str(), e.path().filename().string());
    EXPECT_TRUE(f.errors.empty()) << (f.errors.empty() ? "" : f.errors.front().ToString());
    ASSERT_EQ(f.rules.size(), 1u) << e.path();
    EXPECT_EQ(f.rules[0].id + ".yaml", e.path().filename().string()) << "one rule per file, named after its id";
    ++n;
  }
  EXPECT_GE(n, 10);
}

struct BadCase {
  const char* text;
  int line;
  const char* field;
  const char* message_part;
};

TEST(ParseTest, ErrorsNameTheLineAndTheField) {
  const BadCase cases[] = {
      {"id: a\ntrigger: {event: gas.leak}\nactions:\n  - command: {target: {kinds: [door_controller]}, name: open}\n", 4,
       "actions[0].command.name", "does not accept"},
      {"id: a\ntrigger: {event: gas.leak}\nactions:\n  - alarm: {type: x, level: huge}\n", 4, "actions[0].alarm.level",
       "not one of"},
      {"id: a\ntrigger: {event: gas.leak}\ncooldwn: 5m\nactions: [{notify: {}}]\n", 3, "cooldwn", "unknown key"},
      {"id: a\ntrigger: {event: 'Gas Leak'}\nactions: [{notify: {}}]\n", 2, "trigger.event", "not an event type"},
      {"id: a\ntrigger:\n  telemetry: {metric: ch4_ppm, when: 'value >', for: 10s}\nactions: [{notify: {}}]\n", 3,
       "trigger.telemetry.when", "expected a value"},
      {"id: a\ntrigger: {presence: {status: gone}}\nactions: [{notify: {}}]\n", 2, "trigger.presence.status", "not one of"},
      {"id: a\ntrigger: {event: x.y}\ncooldown: 10\nactions: [{notify: {}}]\n", 3, "cooldown", "duration"},
      {"id: a\ntrigger: {event: x.y}\nactions: []\n", 3, "actions", "non-empty"},
      {"id: a\ntrigger: {schedule: '61 * * * *'}\nactions: [{notify: {}}]\n", 2, "trigger.schedule", "minute"},
      {"id: a\ntrigger: {schedule: '0 8 * * *'}\nactions:\n  - command: {target: {kinds: [door_controller], same: building}, name: unlock}\n",
       4, "actions[0].command.target", "device trigger"},
      {"id: 'bad id!'\ntrigger: {event: x.y}\nactions: [{notify: {}}]\n", 1, "id", "A-Za-z0-9"},
      {"id: a\nid: b\n", 2, "id", "twice"},
  };
  for (const auto& c : cases) {
    ParsedFile f = ParseRuleText(c.text, "bad.yaml");
    ASSERT_EQ(f.rules.size(), 0u) << c.text;
    ASSERT_EQ(f.errors.size(), 1u) << c.text;
    const RuleError& e = f.errors[0];
    EXPECT_EQ(e.file, "bad.yaml");
    EXPECT_EQ(e.line, c.line) << e.ToString();
    EXPECT_EQ(e.field, c.field) << e.ToString();
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << e.ToString();
    EXPECT_NE(e.ToString().find("bad.yaml:" + std::to_string(c.line) + ":"), std::string::npos) << e.ToString();
  }
}

TEST(ParseTest, ABadRuleIsRefusedAndTheOthersKept) {
  const char* text = R"(rules:
  - id: good-1
    trigger: {event: door.forced}
    actions: [{alarm: {type: door_forced}}]
  - id: broken
    trigger: {event: door.forced}
    actions: [{alarm: {type: door_forced, level: purple}}]
  - id: good-2
    trigger: {presence: {status: offline, for: 10m}}
    actions: [{work_order: {kind: maintenance, close_on_clear: true}}]
  - id: good-1
    trigger: {event: door.forced}
    actions: [{notify: {}}]
)";
  ParsedFile f = ParseRuleText(text, "pack.yaml");
  ASSERT_EQ(f.rules.size(), 2u);
  EXPECT_EQ(f.rules[0].id, "good-1");
  EXPECT_EQ(f.rules[1].id, "good-2");
  EXPECT_EQ(f.rules[1].line, 8);
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_EQ(f.errors[0].rule_id, "broken");
  EXPECT_EQ(f.errors[0].line, 7);
  EXPECT_NE(f.errors[1].message.find("twice"), std::string::npos);
}

TEST(ParseTest, MalformedYamlIsAnErrorNotACrash) {
  for (const char* text : {"id: [unclosed", "\t- a: b\n  c", "a: *unknown_alias", "? [a]\n: b", "- - - 1"}) {
    ParsedFile f = ParseRuleText(text, "x.yaml");
    EXPECT_TRUE(f.rules.empty());
    EXPECT_FALSE(f.errors.empty()) << text;
  }
  EXPECT_TRUE(ParseRuleText("", "empty.yaml").errors.empty());
}

TEST(ParseTest, JsonFormRoundTripsThroughYaml) {
  ParsedFile f = ParseRuleText(kGood, "demo.yaml");
  ASSERT_EQ(f.rules.size(), 1u);
  std::string yaml = RuleSourceToYaml(f.rules[0].source);
  ParsedFile again = ParseRuleText(yaml, "again.yaml");
  ASSERT_TRUE(again.errors.empty()) << again.errors.front().ToString() << "\n" << yaml;
  EXPECT_EQ(again.rules[0].source, f.rules[0].source);
  ParsedFile json = ParseRuleJson(f.rules[0].source, "api");
  ASSERT_TRUE(json.errors.empty());
  EXPECT_EQ(json.rules[0].steps.size(), 2u);
}

TEST(ParseTest, CommandsAreKnownPerDeviceKind) {
  EXPECT_TRUE(KnownCommand("door_controller", "unlock"));
  EXPECT_FALSE(KnownCommand("door_controller", "raise"));
  for (const char* c : {"config.apply", "roi.enroll", "roi.examples", "roi.remove", "ping"})
    EXPECT_TRUE(KnownCommand("edge_box", c)) << c;
  EXPECT_FALSE(KnownCommand("edge_box", "unlock"));
  EXPECT_FALSE(KnownCommand("edge_box", "roi.delete"));
  EXPECT_FALSE(KnownCommand("gas_sensor", "roi.enroll"));
}

}  // namespace
}  // namespace linli::rules
