// The uplink end to end against the real platform: mosquitto configured by `linlid broker init`,
// linlid serving its API, devices and an integrator API key registered through REST. Event
// steps go over MQTT with the box's own credentials, snapshots over HTTP to
// PUT /api/v1/media/{id}; what the platform refuses becomes a dead letter on the box without
// holding up the queue.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/ids.h"
#include "common/json.h"
#include "edge/uplink/edge_uplink.h"
#include "harness.h"

namespace linli::edge {
namespace {

using linli::testing::Broker;
using linli::testing::Http;
using linli::testing::HttpJson;
using linli::testing::HttpResponse;
using linli::testing::Linlid;
using linli::testing::TempDir;
using linli::testing::WaitFor;

class UplinkPlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<Broker>(dir_.path());
    ASSERT_TRUE(broker_->Start()) << broker_->LogTail();
    linlid_ = std::make_unique<Linlid>(dir_.path(), broker_->port());
    ASSERT_TRUE(linlid_->Start()) << linlid_->LogTail();
    token_ = linlid_->AdminToken();
    ASSERT_FALSE(token_.empty());
    ASSERT_EQ(Post("/api/v1/compounds", {{"id", "c1"}, {"name", "幸福里小区"}}).status, 201);
    box_password_ = CreateDevice("box-1", "edge_box");
    CreateDevice("cam-1", "camera");
    auto u = Post("/api/v1/users", {{"id", "edge-int"}, {"username", "edge-int"},
                                    {"role", "integrator"}, {"scopes", {"c1"}}});
    ASSERT_EQ(u.status, 201) << u.body;
    auto k = Post("/api/v1/users/edge-int/api-keys", {{"label", "box-1 media"}});
    ASSERT_EQ(k.status, 201) << k.body;
    api_key_ = k.json().value("key", "");
    ASSERT_FALSE(api_key_.empty());

    BoxUplinkConfig c;
    c.uplink.compound_id = "c1";
    c.uplink.box_id = "box-1";
    c.uplink.mqtt_port = broker_->port();
    c.uplink.mqtt_password = box_password_;
    c.uplink.backoff_min_ms = 20;
    c.uplink.backoff_max_ms = 500;
    c.uplink.telemetry_interval_ms = 1000;
    c.outbox.dir = dir_.path() + "/box-outbox";
    c.http = HttpUploaderOptions{"http://127.0.0.1:" + std::to_string(linlid_->http_port()),
                                 api_key_};
    auto up = EdgeUplink::Open(c);
    ASSERT_TRUE(up) << up.error().ToString();
    box_ = std::move(*up);
  }
  void TearDown() override {
    box_.reset();
    if (HasFailure()) {
      std::cerr << "---- linlid log ----\n" << linlid_->LogTail() << "\n---- mosquitto log ----\n"
                << broker_->LogTail() << "\n";
    }
  }

  HttpResponse Post(const std::string& path, const Json& body) {
    return HttpJson(linlid_->http_port(), "POST", path, body, token_);
  }
  HttpResponse Get(const std::string& path) {
    return Http(linlid_->http_port(), "GET", path, "", token_);
  }
  std::string CreateDevice(const std::string& id, const std::string& kind) {
    auto r = Post("/api/v1/devices", {{"id", id}, {"compound_id", "c1"}, {"kind", kind}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["mqtt"].value("password", "");
  }
  std::vector<Json> Events() {
    auto r = Get("/api/v1/events?device=box-1&limit=10000");
    std::vector<Json> out;
    if (r.status != 200) return out;
    const Json body = r.json();  // (not a temporary: the loop would dangle)
    for (const auto& e : body["items"]) out.push_back(e);
    return out;
  }
  static cv::Mat Scene(int shade) {
    cv::Mat img(240, 320, CV_8UC3, cv::Scalar(shade, 100, 60));
    cv::rectangle(img, cv::Rect(100, 60, 60, 120), cv::Scalar(20, 20, 220), -1);
    return img;
  }
  EdgeEvent Event(const std::string& camera, int shade) {
    EdgeEvent e;
    e.id = NewUuid();
    e.type = "vision.zone_intrusion";
    e.camera_id = camera;
    e.phase = EventPhase::kBegin;
    e.start_ms = 1000;
    e.end_ms = 3000;
    e.score = 0.8f;
    e.zone = "yard";
    e.boxes.push_back({0.3f, 0.25f, 0.2f, 0.5f, "person", 0.8f});
    e.snapshot = Scene(shade);
    e.snapshot_pts_ms = 2000;
    return e;
  }

  TempDir dir_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<Linlid> linlid_;
  std::string token_, box_password_, api_key_;
  std::unique_ptr<EdgeUplink> box_;
};

TEST_F(UplinkPlatformTest, EventsReachThePlatformWithSnapshotsAndRefusedMediaAreDeadLettered) {
  std::vector<EdgeEvent> good;
  for (int i = 0; i < 3; ++i) {
    good.push_back(Event("cam-1", 40 * i));
    box_->sink().Emit(good.back());
  }
  // The platform refuses this one's media (bytes that are not a JPEG: 400) ...
  EdgeEvent bad_bytes = Event("cam-1", 0);
  bad_bytes.snapshot = cv::Mat();
  ASSERT_TRUE(box_->sink().Enqueue(bad_bytes, {{"snapshot", "image/jpeg", "GIF89a not a jpeg", "", false}}));
  // ... and this one's, for a camera it does not know (in the box config, not registered: 404).
  EdgeEvent unknown_camera = Event("cam-unregistered", 90);
  box_->sink().Emit(unknown_camera);
  // A step after them shows that the queue went on.
  EdgeEvent last = Event("cam-1", 200);
  last.phase = EventPhase::kEnd;
  box_->sink().Emit(last);

  ASSERT_TRUE(box_->Start());
  ASSERT_TRUE(WaitFor([&] { return Events().size() == 6; }, std::chrono::seconds(30)))
      << Events().size() << " events; outbox " << box_->outbox().Stats().entries
      << ", confirmed " << box_->uplink()->Counters().confirmed;
  ASSERT_TRUE(WaitFor([&] { return box_->outbox().Stats().entries == 0; }));

  std::map<std::string, Json> by_event;
  for (const auto& e : Events()) by_event[e["data"]["event_id"]] = e;
  ASSERT_EQ(by_event.size(), 6u);
  for (const auto* ev : {&good[0], &good[1], &good[2], &last}) {
    const Json& e = by_event[ev->id];
    EXPECT_EQ(e["device_id"], "box-1");
    EXPECT_EQ(e["compound_id"], "c1");
    EXPECT_EQ(e["type"], "vision.zone_intrusion");
    EXPECT_EQ(e["data"]["camera_id"], "cam-1");
    EXPECT_EQ(e["data"]["zone"], "yard");
    const std::string prefix = ev->id + ":" + std::string(EventPhaseName(ev->phase)) + ":";
    EXPECT_EQ(e["id"].get<std::string>().rfind(prefix, 0), 0u) << e["id"];
    for (const char* role : {"snapshot", "snapshot_annotated"}) {
      ASSERT_TRUE(e["data"][role].is_string()) << role << " " << e.dump();
      const std::string media = e["data"][role];
      auto r = Get("/api/v1/media/" + media);
      ASSERT_EQ(r.status, 200) << r.body.substr(0, 200);
      EXPECT_EQ(r.headers["Content-Type"], "image/jpeg");
      cv::Mat img = cv::imdecode(std::vector<uchar>(r.body.begin(), r.body.end()), cv::IMREAD_COLOR);
      ASSERT_FALSE(img.empty());
      EXPECT_EQ(img.size(), cv::Size(320, 240));
    }
    auto listed = Get("/api/v1/media?event=" + ev->id);
    ASSERT_EQ(listed.status, 200) << listed.body;
    EXPECT_EQ(listed.json()["items"].size(), 2u);
  }
  EXPECT_FALSE(by_event[bad_bytes.id]["data"].contains("snapshot"));
  EXPECT_FALSE(by_event[unknown_camera.id]["data"].contains("snapshot"));
  EXPECT_FALSE(by_event[unknown_camera.id]["data"].contains("snapshot_annotated"));

  auto dl = box_->outbox().DeadLetters();
  ASSERT_TRUE(dl);
  ASSERT_EQ(dl->size(), 3u);
  std::map<std::string, int> status_by_event;
  for (const auto& d : *dl) status_by_event[d.event_id] = d.http_status;
  EXPECT_EQ(status_by_event[bad_bytes.id], 400);
  EXPECT_GE(status_by_event[unknown_camera.id], 400);
  EXPECT_LT(status_by_event[unknown_camera.id], 500);
  EXPECT_EQ(box_->uplink()->Counters().media_uploaded, 8);
  EXPECT_EQ(box_->uplink()->Counters().media_dead, 3);

  // The box is present and reports telemetry.
  ASSERT_TRUE(WaitFor([&] {
    return Get("/api/v1/devices/box-1").json()["presence"].value("status", "") == "online";
  }));
  ASSERT_TRUE(WaitFor([&] {
    auto r = Get("/api/v1/devices/box-1/telemetry?metric=outbox.dead_letters");
    if (r.status != 200) return false;
    const Json body = r.json();
    for (const auto& p : body["items"]) {
      if (p["value"].is_number() && p["value"].get<double>() == 3) return true;
    }
    return false;
  }));
}

TEST_F(UplinkPlatformTest, UploadsAreIdempotentByMediaId) {
  HttpUploaderOptions h{"http://127.0.0.1:" + std::to_string(linlid_->http_port()), api_key_};
  auto up = MakeCurlMediaUploader(h);
  ASSERT_TRUE(up);
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", Scene(10), jpeg);
  std::string path = dir_.path() + "/snap.jpg";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
  }
  MediaUpload m{NewUuid(), "cam-1", "ev-1", "image/jpeg", path};
  UploadResult first = (*up)->Upload(m);
  EXPECT_EQ(first.outcome, UploadOutcome::kStored) << first.error;
  EXPECT_EQ(first.http_status, 201);
  UploadResult again = (*up)->Upload(m);  // a retry after a lost answer
  EXPECT_EQ(again.outcome, UploadOutcome::kStored) << again.error;
  EXPECT_EQ(again.http_status, 200);
  // A wrong key is permanent (the caller dead-letters the item).
  HttpUploaderOptions wrong = h;
  wrong.api_key = "lk_wrong";
  auto bad = MakeCurlMediaUploader(wrong);
  UploadResult refused = (*bad)->Upload({NewUuid(), "cam-1", "ev-2", "image/jpeg", path});
  EXPECT_EQ(refused.outcome, UploadOutcome::kRejected);
  EXPECT_EQ(refused.http_status, 401);
}

}  // namespace
}  // namespace linli::edge
