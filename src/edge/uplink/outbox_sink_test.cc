// OutboxSink: real JPEG encoding (cv::imencode) into a real outbox.
#include "edge/uplink/outbox_sink.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/ids.h"
#include "common/json.h"
#include "edge/uplink/edge_uplink.h"

namespace linli::edge {
namespace {

namespace fs = std::filesystem;

class OutboxSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "outbox-sink-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    OutboxOptions o;
    o.dir = dir_ + "/outbox";
    auto ob = Outbox::Open(o, clock_);
    ASSERT_TRUE(ob) << ob.error().ToString();
    outbox_ = std::move(*ob);
    sink_ = std::make_unique<OutboxSink>(*outbox_, OutboxSinkOptions{}, clock_);
  }
  void TearDown() override {
    sink_.reset();
    outbox_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static cv::Mat Scene() {
    cv::Mat img(240, 320, CV_8UC3, cv::Scalar(90, 90, 90));
    cv::circle(img, {160, 120}, 30, cv::Scalar(200, 180, 20), -1);
    return img;
  }
  EdgeEvent Event(EventPhase phase, int64_t snapshot_pts) {
    EdgeEvent e;
    e.id = id_;
    e.type = "vision.zone_intrusion";
    e.camera_id = "cam-1";
    e.phase = phase;
    e.start_ms = 100;
    e.end_ms = 900;
    e.score = 0.8f;
    e.boxes.push_back({0.25f, 0.25f, 0.5f, 0.5f, "person", 0.8f});
    if (snapshot_pts >= 0) {
      e.snapshot = Scene();
      e.snapshot_pts_ms = snapshot_pts;
    }
    return e;
  }
  static std::string ReadFile(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  SimulatedClock clock_{1'800'000'000'000};
  std::string dir_;
  std::string id_ = NewUuid();
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<OutboxSink> sink_;
};

TEST_F(OutboxSinkTest, EmitStoresCleanAndAnnotatedJpegs) {
  sink_->Emit(Event(EventPhase::kBegin, 400));
  auto all = outbox_->Next(0, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  const OutboxEntry& e = (*all)[0];
  EXPECT_EQ(e.phase, "begin");
  EXPECT_EQ(e.camera_id, "cam-1");
  ASSERT_EQ(e.media.size(), 2u);
  cv::Mat clean, annotated;
  for (const auto& m : e.media) {
    EXPECT_EQ(m.content_type, "image/jpeg");
    std::string bytes = ReadFile(m.path);
    cv::Mat img = cv::imdecode(std::vector<uchar>(bytes.begin(), bytes.end()), cv::IMREAD_COLOR);
    ASSERT_FALSE(img.empty()) << m.role;
    EXPECT_EQ(img.size(), cv::Size(320, 240));
    (m.role == "snapshot" ? clean : annotated) = img;
  }
  ASSERT_FALSE(clean.empty());
  ASSERT_FALSE(annotated.empty());
  // The clean JPEG is the scene; the annotated one has the box's border drawn at x = 80.
  cv::Mat diff;
  cv::absdiff(clean, Scene(), diff);
  EXPECT_LT(cv::mean(diff)[0], 4.0);
  cv::Mat border_clean = clean(cv::Rect(78, 100, 5, 40)), border_ann = annotated(cv::Rect(78, 100, 5, 40));
  cv::absdiff(border_clean, border_ann, diff);
  EXPECT_GT(cv::mean(diff)[0] + cv::mean(diff)[1] + cv::mean(diff)[2], 30.0);
  auto body = ParseJson(e.body);
  ASSERT_TRUE(body);
  const Json& d = (*body)["data"];
  EXPECT_EQ(d["snapshot_pts_ms"], 400);
  EXPECT_TRUE(d["snapshot"].is_string());
  EXPECT_TRUE(d["snapshot_annotated"].is_string());
  EXPECT_EQ((*body)["ts"], 1'800'000'000'000);
}

TEST_F(OutboxSinkTest, UnchangedSnapshotIsNotStoredAgain) {
  sink_->Emit(Event(EventPhase::kBegin, 400));
  sink_->Emit(Event(EventPhase::kUpdate, 400));
  sink_->Emit(Event(EventPhase::kUpdate, 800));
  sink_->Emit(Event(EventPhase::kEnd, 800));
  sink_->Emit(Event(EventPhase::kEnd, -1));
  auto all = outbox_->Next(0, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  std::vector<size_t> media;
  for (const auto& e : *all) media.push_back(e.media.size());
  EXPECT_EQ(media, (std::vector<size_t>{2, 0, 2, 0, 0}));
  EXPECT_FALSE(ParseJson((*all)[1].body)->at("data").contains("snapshot"));
}

TEST_F(OutboxSinkTest, InvalidEventsAreCountedNotStored) {
  auto& rejected = metrics::Default().GetCounter("linli_edge_sink_rejected_total", "");
  int64_t before = rejected.Value();
  EdgeEvent e = Event(EventPhase::kBegin, 1);
  e.type = "NOT A TYPE";
  sink_->Emit(e);
  e = Event(EventPhase::kBegin, 1);
  e.id = "";
  auto r = sink_->Enqueue(e, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field(), "id");
  EXPECT_EQ(rejected.Value() - before, 2);
  EXPECT_EQ(outbox_->Stats().entries, 0);
}

TEST_F(OutboxSinkTest, DeliverTakesOverTheClip) {
  std::string clip = dir_ + "/" + id_ + ".avi";
  std::ofstream(clip) << "RIFF0000AVI LIST";
  EventMedia m;
  m.clean_jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3};
  m.clip_path = clip;
  sink_->Deliver(Event(EventPhase::kEnd, 700), m);
  EXPECT_FALSE(fs::exists(clip));
  auto all = outbox_->Next(0, 10);
  ASSERT_EQ(all->size(), 1u);
  ASSERT_EQ((*all)[0].media.size(), 2u);
  EXPECT_EQ((*all)[0].media[1].role, "clip");
  EXPECT_EQ((*all)[0].media[1].content_type, "video/x-msvideo");
  auto body = ParseJson((*all)[0].body);
  EXPECT_TRUE((*body)["data"]["clip"].is_string());
  EXPECT_FALSE((*body)["data"].contains("snapshot_annotated"));
}

TEST(UplinkConfig, ParsesTheSectionAndNamesBadKeys) {
  BoxIdentity box;
  box.device_id = "box-1";
  box.compound_id = "c1";
  box.state_dir = "/var/lib/linli-edge";
  ::setenv("UPLINK_TEST_KEY", "k-123", 1);
  auto c = ParseUplinkConfig(YAML::Load(R"(
mqtt: {host: broker.local, port: 8883, password: pw}
api: {base_url: "http://platform:8080/", api_key_env: UPLINK_TEST_KEY}
outbox: {quota_mb: 10}
telemetry_interval_s: 15
)"), box);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->uplink.box_id, "box-1");
  EXPECT_EQ(c->uplink.mqtt_host, "broker.local");
  EXPECT_EQ(c->uplink.mqtt_port, 8883);
  EXPECT_EQ(c->uplink.telemetry_interval_ms, 15000);
  ASSERT_TRUE(c->http);
  EXPECT_EQ(c->http->api_key, "k-123");
  EXPECT_EQ(c->http->api_base, "http://platform:8080");
  EXPECT_EQ(c->outbox.dir, "/var/lib/linli-edge/outbox");
  EXPECT_EQ(c->outbox.quota_bytes, 10 * 1024 * 1024);

  auto field = [&](const char* yaml) {
    auto r = ParseUplinkConfig(YAML::Load(yaml), box);
    return r ? std::string("ok") : r.error().field();
  };
  EXPECT_EQ(field("mqtt: {port: 70000, password: x}"), "uplink.mqtt.port");
  EXPECT_EQ(field("mqtt: {}"), "uplink.mqtt.password");
  EXPECT_EQ(field("mqtt: {password: x, pasword: y}"), "uplink.mqtt.pasword");
  EXPECT_EQ(field("mqtt: {password: x, password_env: Y}"), "uplink.mqtt.password");
  EXPECT_EQ(field("mqtt: {password_env: NOT_SET_ANYWHERE_123}"), "uplink.mqtt.password_env");
  EXPECT_EQ(field("mqtt: {password: x}\napi: {base_url: ftp://x, api_key: k}"), "uplink.api.base_url");
  EXPECT_EQ(field("mqtt: {password: x}\noutbox: {quota_mb: many}"), "uplink.outbox.quota_mb");
  EXPECT_EQ(field("mqtt: {password: x}\nextra: 1"), "uplink.extra");
  box.compound_id = "";
  EXPECT_EQ(field("mqtt: {password: x}"), "box.compound_id");
}

}  // namespace
}  // namespace linli::edge
