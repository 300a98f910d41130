// linli-bench-uplink: what the store-and-forward path costs on this machine (not a test).
//
//   linli-bench-uplink [--steps 5000] [--media-steps 300] [--window 32] [--appenders 4]
//
// 1. Outbox appends (SQLite WAL, synchronous=FULL, fsync'd media files): steps/s and latency
//    percentiles, without media and with the two snapshot JPEGs of a real 768x576 frame
//    (opencv-doc's vtest.avi) — the cost a camera thread pays per event step (Emit).
// 2. Draining after an outage: the outbox holds --steps steps (no media) that piled up while
//    the uplink was away; an Uplink starts and connects to a real mosquitto (started here on a
//    free port) and the clock runs until the outbox is empty (every step PUBACKed and removed).
//    Against the limit measured in the same run: the same number of QoS 1 publishes of the same
//    payloads from a bare libmosquitto client with the same in-flight window, nothing stored.
//    Prints the ratio.
// 3. The same with --media-steps steps carrying two snapshot JPEGs each (~180 KiB/step): the
//    media go over HTTP (curl, keep-alive) to a loopback server that answers 201
//    (testing/media_server.h), each step published after its media were stored.
// 4. Concurrent appends: --appenders threads (cameras emitting at once) append --steps steps
//    between them to a fresh outbox, no media; total steps/s and per-append latency. What group
//    commit is for: appends that arrive together share one fsync'd commit.
#include <mosquitto.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "common/log.h"
#include "edge/uplink/outbox.h"
#include "edge/uplink/outbox_sink.h"
#include "edge/uplink/testing/media_server.h"
#include "edge/uplink/uplink.h"
#include "mqtt/credentials.h"
#include "mqtt/testing/broker_fixture.h"

using namespace linli;
using namespace linli::edge;
using Clk = std::chrono::steady_clock;

namespace {

double Ms(Clk::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

EdgeEvent Step(int i) {
  EdgeEvent e;
  e.id = NewUuid();
  e.type = "vision.zone_intrusion";
  e.camera_id = "cam-1";
  e.phase = EventPhase::kBegin;
  e.start_ms = i * 100;
  e.end_ms = i * 100 + 2000;
  e.score = 0.8f;
  e.zone = "yard";
  e.boxes.push_back({0.3f, 0.25f, 0.2f, 0.5f, "person", 0.8f});
  return e;
}

// Bare QoS 1 publisher with a bounded window: the limit the uplink is compared with.
struct BarePublisher {
  std::mutex mu;
  std::condition_variable cv;
  std::set<int> pending;
  bool connected = false;
  static void OnConnect(mosquitto*, void* s, int rc) {
    auto* self = static_cast<BarePublisher*>(s);
    std::lock_guard<std::mutex> l(self->mu);
    self->connected = rc == 0;
    self->cv.notify_all();
  }
  static void OnPublish(mosquitto*, void* s, int mid) {
    auto* self = static_cast<BarePublisher*>(s);
    std::lock_guard<std::mutex> l(self->mu);
    self->pending.erase(mid);
    self->cv.notify_all();
  }
};

double BarePublish(int port, const std::string& user, const std::string& pw,
                   const std::string& topic, const std::vector<std::string>& payloads,
                   size_t window) {
  BarePublisher bp;
  mosquitto* m = mosquitto_new(user.c_str(), true, &bp);  // the broker pins id = username
  mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_username_pw_set(m, user.c_str(), pw.c_str());
  mosquitto_max_inflight_messages_set(m, 0);
  mosquitto_connect_callback_set(m, &BarePublisher::OnConnect);
  mosquitto_publish_callback_set(m, &BarePublisher::OnPublish);
  if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) return -1;
  mosquitto_loop_start(m);
  {
    std::unique_lock<std::mutex> l(bp.mu);
    if (!bp.cv.wait_for(l, std::chrono::seconds(10), [&] { return bp.connected; })) return -1;
  }
  auto t0 = Clk::now();
  for (const auto& p : payloads) {
    std::unique_lock<std::mutex> l(bp.mu);
    bp.cv.wait(l, [&] { return bp.pending.size() < window; });
    int mid = 0;
    mosquitto_publish(m, &mid, topic.c_str(), static_cast<int>(p.size()), p.data(), 1, false);
    bp.pending.insert(mid);
  }
  {
    std::unique_lock<std::mutex> l(bp.mu);
    bp.cv.wait(l, [&] { return bp.pending.empty(); });
  }
  double s = std::chrono::duration<double>(Clk::now() - t0).count();
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  return s;
}

// Starts an Uplink on `outbox` and waits until the outbox is empty; seconds, or < 0 on timeout.
double Drain(Outbox& outbox, const UplinkOptions& uo, std::unique_ptr<MediaUploader> uploader) {
  Uplink up(uo, outbox, std::move(uploader));
  auto t0 = Clk::now();
  if (!up.Start()) return -1;
  while (outbox.Stats().entries > 0) {
    if (Clk::now() - t0 > std::chrono::seconds(300)) return -1;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  double s = std::chrono::duration<double>(Clk::now() - t0).count();
  up.Stop();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 5000, media_steps = 300, window = 32, appenders = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--appenders") appenders = std::max(1, std::atoi(argv[i + 1]));
    if (a == "--steps") steps = std::atoi(argv[i + 1]);
    if (a == "--media-steps") media_steps = std::atoi(argv[i + 1]);
    if (a == "--window") window = std::atoi(argv[i + 1]);
  }
  log::Init(log::Level::kError, log::Format::kText);
  std::string dir = mqtt::testing::MakeTempDir("bench-uplink");

  // A real frame for the snapshots.
  cv::Mat frame;
  cv::VideoCapture cap("/usr/share/doc/opencv-doc/examples/data/vtest.avi");
  for (int i = 0; i < 50 && cap.read(frame); ++i) {
  }
  if (frame.empty()) frame = cv::Mat(576, 768, CV_8UC3, cv::Scalar(80, 90, 100));

  OutboxOptions oo;
  oo.dir = dir + "/outbox";
  auto ob = Outbox::Open(oo);
  if (!ob) {
    std::fprintf(stderr, "outbox: %s\n", ob.error().ToString().c_str());
    return 1;
  }
  OutboxSink sink(**ob);
  auto broker = mqtt::testing::StartBroker(dir + "/broker");
  if (!broker) {
    std::fprintf(stderr, "broker: %s\n", broker.error().ToString().c_str());
    return 1;
  }
  auto admin = mqtt::MakeDynsecAuthority((*broker)->AdminOptions());
  std::string pw = RandomPassword(24);
  if (!admin->UpsertDevices({{"box-1", "c1", pw}, {"bare-1", "c1", pw}})) return 1;
  UplinkOptions uo;
  uo.compound_id = "c1";
  uo.box_id = "box-1";
  uo.mqtt_port = (*broker)->Port();
  uo.mqtt_password = pw;
  uo.inflight_window = window;
  uo.telemetry_interval_ms = 3'600'000;

  std::printf("linli-bench-uplink: %d steps without media, %d with two snapshot JPEGs (%dx%d), "
              "window %d\n", steps, media_steps, frame.cols, frame.rows, window);
  // 1a. Appends without media.
  std::vector<double> lat;
  auto t0 = Clk::now();
  for (int i = 0; i < steps; ++i) {
    auto s = Clk::now();
    if (!sink.Enqueue(Step(i), {})) return 1;
    lat.push_back(Ms(Clk::now() - s));
  }
  double secs = std::chrono::duration<double>(Clk::now() - t0).count();
  std::printf("  outbox append, no media:      %8.0f steps/s   p50 %.2f ms  p99 %.2f ms\n",
              steps / secs, Pct(lat, 0.5), Pct(lat, 0.99));
  std::vector<std::string> payloads;
  {
    auto all = (*ob)->Next(0, steps + 10);
    for (const auto& e : *all) payloads.push_back(e.body);
  }
  // 2. Drain after the outage, no media.
  const int64_t n = (*ob)->Stats().entries;
  double drain = Drain(**ob, uo, nullptr);
  if (drain < 0) {
    std::fprintf(stderr, "drain did not finish\n");
    return 1;
  }
  std::printf("  drain to mosquitto, no media:  %8.0f steps/s   (%lld steps incl. connect)\n",
              static_cast<double>(n) / drain, static_cast<long long>(n));
  double bare = BarePublish((*broker)->Port(), "bare-1", pw, "linli/v1/c1/bare-1/up/event",
                            payloads, static_cast<size_t>(window));
  if (bare <= 0) {
    std::fprintf(stderr, "bare publisher could not connect\n");
    return 1;
  }
  std::printf("  bare QoS 1 publisher, same payloads/window: %8.0f msgs/s\n",
              static_cast<double>(payloads.size()) / bare);
  std::printf("  ratio uplink/bare cost per step: %.2f\n",
              (drain / static_cast<double>(n)) / (bare / static_cast<double>(payloads.size())));

  // 1b. Emit with snapshot: JPEG encoding of clean + annotated, then the append.
  lat.clear();
  int64_t media_bytes = (*ob)->Stats().bytes;
  t0 = Clk::now();
  for (int i = 0; i < media_steps; ++i) {
    EdgeEvent e = Step(i);
    e.snapshot = frame;
    e.snapshot_pts_ms = i;
    auto s = Clk::now();
    sink.Emit(e);
    lat.push_back(Ms(Clk::now() - s));
  }
  secs = std::chrono::duration<double>(Clk::now() - t0).count();
  media_bytes = (*ob)->Stats().bytes - media_bytes;
  std::printf("  Emit with 2 JPEGs (encode+store): %5.0f steps/s   p50 %.2f ms  p99 %.2f ms  (%.0f KiB/step)\n",
              media_steps / secs, Pct(lat, 0.5), Pct(lat, 0.99),
              static_cast<double>(media_bytes) / media_steps / 1024.0);
  // 3. Drain after the outage, with media over HTTP.
  testing::MediaServer server;
  int http_port = server.Start();
  HttpUploaderOptions h;
  h.api_base = "http://127.0.0.1:" + std::to_string(http_port);
  h.api_key = "bench";
  auto uploader = MakeCurlMediaUploader(h);
  if (!uploader) return 1;
  const int64_t nm = (*ob)->Stats().entries;
  drain = Drain(**ob, uo, std::move(*uploader));
  if (drain < 0) {
    std::fprintf(stderr, "media drain did not finish\n");
    return 1;
  }
  std::printf("  drain with 2 JPEGs per step:   %8.0f steps/s   (%lld steps, %.1f MiB/s of media)\n",
              static_cast<double>(nm) / drain, static_cast<long long>(nm),
              static_cast<double>(media_bytes) / drain / 1048576.0);
  if (server.Count() != static_cast<size_t>(2 * nm)) {
    std::fprintf(stderr, "expected %lld media items stored, got %zu\n",
                 static_cast<long long>(2 * nm), server.Count());
    return 1;
  }
  server.Stop();

  // 4. Concurrent appends (a fresh outbox).
  {
    OutboxOptions co;
    co.dir = dir + "/outbox-concurrent";
    auto cob = Outbox::Open(co);
    if (!cob) return 1;
    OutboxSink csink(**cob);
    std::vector<std::vector<double>> per(static_cast<size_t>(appenders));
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    const int each = std::max(1, steps / appenders);
    t0 = Clk::now();
    for (int a = 0; a < appenders; ++a) {
      threads.emplace_back([&, a] {
        for (int i = 0; i < each; ++i) {
          auto s = Clk::now();
          if (!csink.Enqueue(Step(i), {})) failed = true;
          per[static_cast<size_t>(a)].push_back(Ms(Clk::now() - s));
        }
      });
    }
    for (auto& t : threads) t.join();
    secs = std::chrono::duration<double>(Clk::now() - t0).count();
    if (failed) return 1;
    lat.clear();
    for (const auto& v : per) lat.insert(lat.end(), v.begin(), v.end());
    std::printf("  outbox append, %d threads, no media: %6.0f steps/s   p50 %.2f ms  p99 %.2f ms\n",
                appenders, static_cast<double>(lat.size()) / secs, Pct(lat, 0.5), Pct(lat, 0.99));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
