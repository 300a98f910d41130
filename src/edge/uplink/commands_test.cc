#include "edge/uplink/commands.h"

#include <gtest/gtest.h>

#include "edge/uplink/telemetry.h"

namespace linli::edge {
namespace {

class CommandsTest : public ::testing::Test {
 protected:
  CommandsTest() : proc_(clock_) {
    proc_.Register("config.apply", ConfigApplyHandler([this](const std::string& yaml) -> Result<void> {
      applied_.push_back(yaml);
      if (yaml.find("bad") != std::string::npos) return InvalidArgument("cameras[0].url", "missing");
      return {};
    }));
  }
  static std::string Cmd(const std::string& id, const std::string& name, Json args,
                         std::optional<int64_t> expires = std::nullopt) {
    Json j = {{"id", id}, {"ts", 1}, {"name", name}, {"args", args}};
    if (expires) j["expires"] = *expires;
    return j.dump();
  }

  SimulatedClock clock_{1'000'000};
  CommandProcessor proc_;
  std::vector<std::string> applied_;
};

TEST_F(CommandsTest, ConfigApplyIsExecutedAndAcknowledged) {
  auto ack = proc_.Handle(Cmd("c1", "config.apply", {{"config", "cameras: []\n"}}, 2'000'000));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->command_id, "c1");
  EXPECT_TRUE(ack->ok);
  EXPECT_EQ(applied_, std::vector<std::string>{"cameras: []\n"});
  auto j = ParseJson(ack->ToJson());
  ASSERT_TRUE(j);
  EXPECT_EQ(*j, (Json{{"command_id", "c1"}, {"ok", true}, {"error", nullptr}}));
}

TEST_F(CommandsTest, AResultHandlersValueGoesIntoTheAck) {
  proc_.RegisterWithResult("roi.examples", [](const Command& c) -> Result<Json> {
    if (c.args.contains("camera_id")) return Json{{"cameras", Json::array()}};
    return InvalidArgument("args.camera_id", "is required");
  });
  auto ack = proc_.Handle(Cmd("r1", "roi.examples", {{"camera_id", "cam-1"}}));
  ASSERT_TRUE(ack);
  EXPECT_EQ(*ParseJson(ack->ToJson()), (Json{{"command_id", "r1"}, {"ok", true}, {"error", nullptr},
                                              {"result", {{"cameras", Json::array()}}}}));
  ack = proc_.Handle(Cmd("r2", "roi.examples", Json::object()));
  ASSERT_TRUE(ack);
  EXPECT_EQ(*ParseJson(ack->ToJson()),
            (Json{{"command_id", "r2"}, {"ok", false},
                  {"error", "invalid_argument: args.camera_id: is required"}}));
  // A repeated id gets the first answer, result included.
  ack = proc_.Handle(Cmd("r1", "roi.examples", Json::object()));
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->ok);
  EXPECT_EQ(ack->result, (Json{{"cameras", Json::array()}}));
}

TEST_F(CommandsTest, HandlerErrorsAreSentBack) {
  auto ack = proc_.Handle(Cmd("c2", "config.apply", {{"config", "bad"}}));
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->ok);
  EXPECT_NE(ack->error.find("cameras[0].url"), std::string::npos) << ack->error;
  auto no_yaml = proc_.Handle(Cmd("c3", "config.apply", {{"config", 5}}));
  ASSERT_TRUE(no_yaml);
  EXPECT_FALSE(no_yaml->ok);
  EXPECT_NE(no_yaml->error.find("args.config"), std::string::npos);
  EXPECT_EQ(applied_.size(), 1u);
}

TEST_F(CommandsTest, ExpiredCommandsAreRefusedNotExecuted) {
  auto ack = proc_.Handle(Cmd("c4", "config.apply", {{"config", "x: 1"}}, 999'999));
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->ok);
  EXPECT_EQ(ack->error, "expired");
  EXPECT_TRUE(applied_.empty());
}

TEST_F(CommandsTest, UnknownNamesAreRefused) {
  auto ack = proc_.Handle(Cmd("c5", "self_destruct", Json::object()));
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->ok);
  EXPECT_EQ(ack->error, "unknown command 'self_destruct'");
}

TEST_F(CommandsTest, MalformedPayloadsAreCountedAndAnsweredWhenPossible) {
  auto& malformed = metrics::Default().GetCounter("linli_edge_commands_malformed_total", "");
  int64_t before = malformed.Value();
  EXPECT_FALSE(proc_.Handle("not json at all"));
  EXPECT_FALSE(proc_.Handle("[1,2,3]"));
  EXPECT_FALSE(proc_.Handle(R"({"name":"config.apply"})"));
  EXPECT_FALSE(proc_.Handle(std::string("\xff\xfe{", 3)));
  auto with_id = proc_.Handle(R"({"id":"c6","name":42})");
  ASSERT_TRUE(with_id);
  EXPECT_FALSE(with_id->ok);
  EXPECT_NE(with_id->error.find("malformed"), std::string::npos);
  auto bad_expires = proc_.Handle(R"({"id":"c7","name":"config.apply","expires":"soon"})");
  ASSERT_TRUE(bad_expires);
  EXPECT_NE(bad_expires->error.find("expires"), std::string::npos);
  EXPECT_EQ(malformed.Value() - before, 6);
  EXPECT_TRUE(applied_.empty());
}

TEST_F(CommandsTest, RedeliveryRepeatsTheAnswerWithoutRunningAgain) {
  std::string c = Cmd("c8", "config.apply", {{"config", "y: 2"}});
  auto a1 = proc_.Handle(c);
  auto a2 = proc_.Handle(c);
  ASSERT_TRUE(a1 && a2);
  EXPECT_TRUE(a2->ok);
  EXPECT_EQ(applied_.size(), 1u);
}

TEST(Telemetry, MetricsPerCameraAndBoxWithinLimits) {
  std::vector<CameraStats> cams;
  for (int i = 0; i < 60; ++i) {
    CameraStats s;
    s.camera_id = "cam-" + std::to_string(i);
    s.state = i == 0 ? CameraState::kReconnecting : CameraState::kRunning;
    s.decoded_fps = 25.04;
    s.analysed_fps = 5;
    s.lag_ms = 120.6;
    s.frames_dropped = 7;
    cams.push_back(s);
  }
  CameraStats long_id;
  long_id.camera_id = std::string(50, 'c');
  cams.push_back(long_id);
  OutboxStats ob;
  ob.entries = 3;
  ob.bytes = 4096;
  ob.oldest_ms = 10'000;
  std::vector<std::string> skipped;
  auto msgs = BuildTelemetryMessages(70'000, 12, cams, ob, UplinkCounters{5, 4, 3, 2, 1, 0}, &skipped);
  EXPECT_EQ(skipped, std::vector<std::string>{std::string(50, 'c')});
  ASSERT_EQ(msgs.size(), 2u);  // 13 box + 60*8 camera metrics = 493 → 256 + 237
  Json all = Json::object();
  for (const auto& m : msgs) {
    auto j = ParseJson(m);
    ASSERT_TRUE(j);
    EXPECT_EQ((*j)["ts"], 70'000);
    EXPECT_LE((*j)["metrics"].size(), 256u);
    for (auto& [k, v] : (*j)["metrics"].items()) {
      EXPECT_LE(k.size(), 64u);
      all[k] = v;
    }
  }
  EXPECT_EQ(all["heartbeat"], 1);
  EXPECT_EQ(all["outbox.entries"], 3);
  EXPECT_EQ(all["outbox.oldest_age_s"], 60);
  EXPECT_EQ(all["uplink.confirmed"], 4);
  EXPECT_DOUBLE_EQ(all["cam.cam-3.fps"].get<double>(), 25.04);
  EXPECT_EQ(all["cam.cam-3.lag_ms"], 121);
  EXPECT_EQ(all["cam.cam-3.dropped_frames"], 7);
  EXPECT_EQ(all["cam.cam-3.online"], true);
  EXPECT_EQ(all["cam.cam-0.online"], false);
  EXPECT_EQ(all["cam.cam-0.state"], "reconnecting");
}

}  // namespace
}  // namespace linli::edge
