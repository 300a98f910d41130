// The uplink against a real mosquitto (dynamic security, the box's own device credentials) and a
// real outbox: ordering, PUBACK-gated removal, a broker that goes away and comes back, presence,
// telemetry, commands (config.apply, expiry, unknown, malformed, queued while offline), media
// upload over real HTTP with retries and dead letters, and kill -9 of an uplink process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "edge/uplink/outbox.h"
#include "edge/uplink/outbox_sink.h"
#include "edge/uplink/uplink.h"
#include "mqtt/credentials.h"
#include "mqtt/testing/broker_fixture.h"
#include "mqtt/testing/test_client.h"

extern char** environ;

namespace linli::edge {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using mqtt::testing::TestClient;

// Polls `pred` until true or the deadline (tests wait on conditions, never on time).
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// What an observer saw on up/event: per message id its payload, and first-arrival order.
struct Delivered {
  std::vector<std::string> first_order;         // message ids in first-arrival order
  std::map<std::string, std::string> payloads;  // message id → payload
  std::map<std::string, int> copies;            // message id → how many times it arrived
  std::set<std::string> event_ids;              // data.event_id of every message
  std::vector<std::string> mismatches;          // same id, different payload

  void Add(const std::string& payload) {
    auto j = ParseJson(payload);
    if (!j || !j->is_object()) return;
    std::string id = j->value("id", "");
    if (auto it = payloads.find(id); it != payloads.end()) {
      if (it->second != payload) mismatches.push_back(id);
    } else {
      payloads[id] = payload;
      first_order.push_back(id);
    }
    ++copies[id];
    if ((*j)["data"].is_object()) event_ids.insert((*j)["data"].value("event_id", ""));
  }
  // The outbox seq at the end of "<event id>:<phase>:<seq>".
  static int64_t Seq(const std::string& id) { return std::stoll(id.substr(id.rfind(':') + 1)); }
  bool InOrder() const {
    for (size_t i = 1; i < first_order.size(); ++i) {
      if (Seq(first_order[i - 1]) >= Seq(first_order[i])) return false;
    }
    return true;
  }
  int Duplicates() const {
    int n = 0;
    for (const auto& [id, c] : copies) n += c - 1;
    return n;
  }
};

class UplinkMqttTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = mqtt::testing::MakeTempDir("uplink-it");
    ASSERT_FALSE(dir_.empty());
    auto b = mqtt::testing::StartBroker(dir_ + "/broker");
    ASSERT_TRUE(b) << b.error().ToString();
    broker_ = std::move(*b);
    auto admin = mqtt::MakeDynsecAuthority(broker_->AdminOptions());
    box_password_ = RandomPassword(24);
    ASSERT_TRUE(admin->UpsertDevices({{"box-1", "c1", box_password_}}));
    ConnectObserver();
    OutboxOptions o;
    o.dir = dir_ + "/outbox";
    auto ob = Outbox::Open(o);
    ASSERT_TRUE(ob) << ob.error().ToString();
    outbox_ = std::move(*ob);
    sink_ = std::make_unique<OutboxSink>(*outbox_);
  }
  void TearDown() override {
    if (uplink_) uplink_->Stop();
    uplink_.reset();
    observer_.reset();
    sink_.reset();
    outbox_.reset();
    if (HasFailure()) std::cerr << "---- mosquitto log ----\n" << broker_->LogTail() << "\n";
    broker_.reset();
    std::error_code ec;
    if (std::getenv("LINLI_KEEP_TMP") == nullptr) fs::remove_all(dir_, ec);
  }

  // The platform side: linlid's service account, persistent session, everything of the box.
  void ConnectObserver() {
    observer_.reset();
    TestClient::Options o;
    o.port = broker_->Port();
    o.client_id = "observer";
    o.username = broker_->Config().service_username;
    o.password = broker_->Config().service_password;
    o.clean_session = false;
    auto c = TestClient::Connect(o);
    ASSERT_TRUE(c) << c.error().ToString();
    observer_ = std::move(*c);
    auto g = observer_->Subscribe("linli/v1/c1/box-1/up/#", 1);
    ASSERT_TRUE(g);
    ASSERT_EQ(*g, 1);
  }

  UplinkOptions Options() const {
    UplinkOptions o;
    o.compound_id = "c1";
    o.box_id = "box-1";
    o.mqtt_port = broker_->Port();
    o.mqtt_password = box_password_;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 300;
    o.inflight_window = 8;
    return o;
  }
  void StartUplink(UplinkHooks hooks = {}, std::unique_ptr<MediaUploader> uploader = nullptr,
                   UplinkOptions o = {}) {
    if (o.box_id.empty()) o = Options();
    uplink_ = std::make_unique<Uplink>(o, *outbox_, std::move(uploader), std::move(hooks));
    ASSERT_TRUE(uplink_->Start());
  }

  EdgeEvent Event(const std::string& id, EventPhase phase = EventPhase::kBegin) {
    EdgeEvent e;
    e.id = id;
    e.type = "vision.zone_intrusion";
    e.camera_id = "cam-1";
    e.phase = phase;
    e.start_ms = 1000;
    e.end_ms = 2000;
    e.score = 0.75f;
    e.zone = "gate";
    e.boxes.push_back({0.1f, 0.2f, 0.3f, 0.4f, "person", 0.75f});
    return e;
  }
  void Store(const std::string& prefix, int from, int n) {
    for (int i = from; i < from + n; ++i) {
      char id[40];
      std::snprintf(id, sizeof id, "%s-%04d", prefix.c_str(), i);
      ASSERT_TRUE(sink_->Enqueue(Event(id), {}));
    }
  }

  // Drains the observer's inbox into `out` (events) and `other` (everything else).
  void Drain(Delivered& out, std::vector<mqtt::Message>* other = nullptr,
             std::chrono::milliseconds wait = 50ms) {
    while (auto m = observer_->NextMessage(wait)) {
      if (m->topic == "linli/v1/c1/box-1/up/event") {
        out.Add(m->payload);
      } else if (other != nullptr) {
        other->push_back(*m);
      }
      wait = 0ms;
    }
  }
  bool WaitEvents(Delivered& d, size_t n, std::vector<mqtt::Message>* other = nullptr,
                  std::chrono::milliseconds timeout = 20s) {
    return WaitUntil(
        [&] {
          Drain(d, other);
          return d.event_ids.size() >= n;
        },
        timeout);
  }
  // The next message on `topic` (others are kept in `seen`).
  std::optional<mqtt::Message> Next(const std::string& topic, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = observer_->NextMessage(50ms);
      if (!m) continue;
      if (m->topic == topic) return m;
      seen_.push_back(*m);
    }
    return std::nullopt;
  }
  void SendCommand(const Json& cmd) {
    ASSERT_TRUE(observer_->Publish("linli/v1/c1/box-1/down/command", cmd.dump(), 1));
  }

  std::string dir_;
  std::unique_ptr<mqtt::testing::BrokerProcess> broker_;
  std::string box_password_;
  std::unique_ptr<TestClient> observer_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<OutboxSink> sink_;
  std::unique_ptr<Uplink> uplink_;
  std::vector<mqtt::Message> seen_;
};

TEST_F(UplinkMqttTest, SendsInOrderAndRemovesOnlyConfirmedEntries) {
  Store("ev", 0, 60);
  EXPECT_EQ(outbox_->Stats().entries, 60);
  StartUplink();
  Delivered d;
  ASSERT_TRUE(WaitEvents(d, 60));
  ASSERT_TRUE(WaitUntil([&] { return outbox_->Stats().entries == 0; }));
  EXPECT_TRUE(d.InOrder());
  EXPECT_TRUE(d.mismatches.empty());
  EXPECT_EQ(d.Duplicates(), 0) << "no reconnect, so no resend";
  // The step as published: id "<event>:<phase>:<seq>", the event data, the camera.
  auto j = ParseJson(d.payloads[d.first_order[0]]);
  ASSERT_TRUE(j);
  EXPECT_EQ(d.first_order[0].substr(0, 14), "ev-0000:begin:");
  EXPECT_EQ((*j)["type"], "vision.zone_intrusion");
  EXPECT_EQ((*j)["data"]["camera_id"], "cam-1");
  EXPECT_EQ((*j)["data"]["event_id"], "ev-0000");
  EXPECT_EQ((*j)["data"]["zone"], "gate");
  EXPECT_TRUE((*j)["ts"].is_number_integer());
  EXPECT_EQ(uplink_->Counters().confirmed, 60);
  // Live events keep flowing.
  Store("live", 0, 5);
  ASSERT_TRUE(WaitEvents(d, 65));
  EXPECT_TRUE(d.InOrder());
}

TEST_F(UplinkMqttTest, PresenceIsRetainedOnlineWithAnOfflineWill) {
  StartUplink();
  auto online = Next("linli/v1/c1/box-1/up/status");
  ASSERT_TRUE(online);
  EXPECT_EQ(online->payload, "online");
  uplink_->Stop();
  auto offline = Next("linli/v1/c1/box-1/up/status");
  ASSERT_TRUE(offline);
  EXPECT_EQ(offline->payload, "offline");
  // Retained: a new subscriber learns the state at once.
  TestClient::Options o;
  o.port = broker_->Port();
  o.client_id = "late";
  o.username = broker_->Config().service_username;
  o.password = broker_->Config().service_password;
  auto late = TestClient::Connect(o);
  ASSERT_TRUE(late);
  ASSERT_TRUE((*late)->Subscribe("linli/v1/c1/box-1/up/status", 1));
  auto m = (*late)->NextMessage(5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "offline");
  EXPECT_TRUE(m->retain);
}

TEST_F(UplinkMqttTest, BrokerOutagesLoseNothingAndKeepOrder) {
  StartUplink();
  Delivered d;
  Store("a", 0, 20);
  ASSERT_TRUE(WaitEvents(d, 20));

  for (int round = 0; round < 2; ++round) {
    // Events keep coming while the broker is down; they wait in the outbox.
    std::atomic<bool> producing{true};
    std::thread producer([&] {
      int i = 0;
      while (producing.load()) {
        char id[40];
        std::snprintf(id, sizeof id, "r%d-%04d", round, i++);
        EXPECT_TRUE(sink_->Enqueue(Event(id), {}));
        std::this_thread::sleep_for(2ms);  // a paced producer, not a synchronisation
      }
    });
    Drain(d);  // what the observer already received must not be lost with it
    observer_.reset();
    ASSERT_TRUE(broker_->Stop());
    ASSERT_TRUE(WaitUntil([&] { return !uplink_->Connected(); }));
    int64_t queued_before = outbox_->Stats().entries;
    ASSERT_TRUE(WaitUntil([&] { return outbox_->Stats().entries >= queued_before + 30; }));
    ASSERT_TRUE(broker_->Restart()) << broker_->LogTail();
    ConnectObserver();
    ASSERT_TRUE(WaitUntil([&] { return uplink_->Connected(); }));
    // Let the producer overlap the reconnect, then stop it.
    ASSERT_TRUE(WaitUntil([&] { return uplink_->Counters().confirmed > 25 * (round + 1); }));
    producing = false;
    producer.join();
  }
  Store("z", 0, 10);
  // Everything stored reaches the platform side: wait until the outbox is empty, then drain.
  ASSERT_TRUE(WaitUntil([&] {
    Drain(d);
    return outbox_->Stats().entries == 0;
  }, 30s));
  Drain(d, nullptr, 300ms);
  const auto counters = uplink_->Counters();
  EXPECT_EQ(static_cast<int64_t>(d.payloads.size()), counters.confirmed)
      << "every confirmed step arrived exactly once in effect";
  EXPECT_TRUE(d.InOrder());
  EXPECT_TRUE(d.mismatches.empty());
  for (const char* must : {"a-0000", "a-0019", "r0-0000", "r1-0000", "z-0009"}) {
    EXPECT_TRUE(d.event_ids.contains(must)) << must;
  }
}

// The broker goes away while a large window is in flight (the sender is held right after its
// N-th publish, so the outage lands there deterministically): what the broker had not
// acknowledged is sent again after the reconnect; first deliveries stay in outbox order and
// every repeat is a byte-identical copy of an id already delivered.
TEST_F(UplinkMqttTest, ManyStepsInFlightSurviveBrokerRestartsInOrder) {
  constexpr int kSteps = 500;
  Store("f", 0, kSteps);
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  int published = 0;
  bool held = false, release = false, disarmed = false;
  const std::set<int> hold_at = {120, 330};  // the outages: after these publishes
  UplinkHooks hooks;
  hooks.fault_point = [&](std::string_view point, int64_t) {
    if (point != "published") return;
    std::unique_lock<std::mutex> lock(gate_mu);
    if (disarmed || !hold_at.contains(++published)) return;
    held = true;
    gate_cv.notify_all();
    gate_cv.wait(lock, [&] { return release; });
    held = false;
    release = false;
  };
  UplinkOptions o = Options();
  o.inflight_window = 256;
  StartUplink(hooks, nullptr, o);
  // The hook refers to this test's locals: stop the uplink before they go, and never leave
  // the sender held (an ASSERT may return early).
  struct StopFirst {
    std::function<void()> f;
    ~StopFirst() { f(); }
  } stop_first{[&] {
    {
      std::lock_guard<std::mutex> lock(gate_mu);
      disarmed = release = true;
    }
    gate_cv.notify_all();
    uplink_->Stop();
  }};
  Delivered d;
  for (int outage = 0; outage < 2; ++outage) {
    {
      std::unique_lock<std::mutex> lock(gate_mu);
      ASSERT_TRUE(gate_cv.wait_for(lock, 30s, [&] { return held; })) << "outage " << outage;
    }
    EXPECT_GT(outbox_->Stats().entries, 0);
    ASSERT_TRUE(broker_->Stop());
    ASSERT_TRUE(observer_->WaitDisconnected(10s));
    Drain(d);  // everything the observer received before the broker went
    observer_.reset();
    ASSERT_TRUE(WaitUntil([&] { return !uplink_->Connected(); }));
    {
      std::lock_guard<std::mutex> lock(gate_mu);
      release = true;
    }
    gate_cv.notify_all();
    ASSERT_TRUE(broker_->Restart()) << broker_->LogTail();
    ConnectObserver();
  }
  ASSERT_TRUE(WaitUntil([&] {
    Drain(d);
    return outbox_->Stats().entries == 0;
  }, 60s));
  ASSERT_TRUE(WaitUntil([&] {
    Drain(d);
    return d.event_ids.size() >= static_cast<size_t>(kSteps);
  }, 30s));
  EXPECT_EQ(d.payloads.size(), static_cast<size_t>(kSteps)) << "one message id per step";
  EXPECT_TRUE(d.InOrder()) << "first deliveries in outbox order";
  EXPECT_TRUE(d.mismatches.empty()) << "a repeat is a byte-identical redelivery";
  EXPECT_GE(uplink_->Counters().published, kSteps);
  for (int i = 0; i < kSteps; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "f-%04d", i);
    EXPECT_TRUE(d.event_ids.contains(id)) << id;
  }
}

TEST_F(UplinkMqttTest, TelemetryCarriesCameraAndOutboxMetrics) {
  UplinkHooks hooks;
  hooks.camera_stats = [] {
    CameraStats s;
    s.camera_id = "cam-1";
    s.state = CameraState::kRunning;
    s.decoded_fps = 25;
    s.analysed_fps = 5;
    s.lag_ms = 40;
    s.frames_dropped = 3;
    return std::vector<CameraStats>{s};
  };
  UplinkOptions o = Options();
  o.telemetry_interval_ms = 1000;
  StartUplink(hooks, nullptr, o);
  auto t1 = Next("linli/v1/c1/box-1/up/telemetry");
  ASSERT_TRUE(t1);
  auto j = ParseJson(t1->payload);
  ASSERT_TRUE(j);
  const Json& m = (*j)["metrics"];
  EXPECT_EQ(m["heartbeat"], 1);
  EXPECT_EQ(m["cam.cam-1.fps"], 25.0);
  EXPECT_EQ(m["cam.cam-1.analysed_fps"], 5.0);
  EXPECT_EQ(m["cam.cam-1.lag_ms"], 40);
  EXPECT_EQ(m["cam.cam-1.dropped_frames"], 3);
  EXPECT_EQ(m["cam.cam-1.online"], true);
  EXPECT_TRUE(m.contains("outbox.entries"));
  EXPECT_TRUE(m.contains("outbox.evicted_events"));
  // And again after the interval.
  auto t2 = Next("linli/v1/c1/box-1/up/telemetry");
  ASSERT_TRUE(t2);
  EXPECT_GE(ParseJson(t2->payload)->at("ts").get<int64_t>(), (*j)["ts"].get<int64_t>() + 900);
}

TEST_F(UplinkMqttTest, ConfigApplyRoundTripWithAck) {
  std::mutex mu;
  std::vector<std::string> applied;
  UplinkHooks hooks;
  hooks.apply_config = [&](const std::string& yaml) -> Result<void> {
    std::lock_guard<std::mutex> lock(mu);
    applied.push_back(yaml);
    if (yaml.find("url: ''") != std::string::npos) {
      return InvalidArgument("cameras[0].url", "must not be empty");
    }
    return {};
  };
  StartUplink(hooks);
  ASSERT_TRUE(WaitUntil([&] { return uplink_->Connected(); }));
  ASSERT_TRUE(Next("linli/v1/c1/box-1/up/status"));  // online: subscribed by now
  const int64_t now = SystemClock().NowMs();
  const std::string yaml = "cameras:\n  - id: cam-1\n    url: /data/a.mp4\n";
  SendCommand({{"id", "cmd-1"}, {"ts", now}, {"name", "config.apply"},
               {"args", {{"config", yaml}}}, {"expires", now + 60000},
               {"cause", {{"kind", "operator"}, {"id", "admin"}}}});
  auto ack = Next("linli/v1/c1/box-1/up/ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(*ParseJson(ack->payload), (Json{{"command_id", "cmd-1"}, {"ok", true}, {"error", nullptr}}));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(applied, std::vector<std::string>{yaml});
  }
  SendCommand({{"id", "cmd-2"}, {"ts", now}, {"name", "config.apply"},
               {"args", {{"config", "cameras:\n  - id: cam-1\n    url: ''\n"}}}});
  ack = Next("linli/v1/c1/box-1/up/ack");
  ASSERT_TRUE(ack);
  auto j = ParseJson(ack->payload);
  EXPECT_EQ((*j)["command_id"], "cmd-2");
  EXPECT_EQ((*j)["ok"], false);
  EXPECT_NE((*j)["error"].get<std::string>().find("cameras[0].url"), std::string::npos);
}

TEST_F(UplinkMqttTest, ExpiredUnknownAndMalformedCommandsAreRefusedWithoutHarm) {
  std::atomic<int> applied{0};
  UplinkHooks hooks;
  hooks.apply_config = [&](const std::string&) -> Result<void> {
    ++applied;
    return {};
  };
  StartUplink(hooks);
  ASSERT_TRUE(Next("linli/v1/c1/box-1/up/status"));
  const int64_t now = SystemClock().NowMs();
  SendCommand({{"id", "old"}, {"ts", now - 120000}, {"name", "config.apply"},
               {"args", {{"config", "x: 1"}}}, {"expires", now - 60000}});
  auto ack = Next("linli/v1/c1/box-1/up/ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(*ParseJson(ack->payload), (Json{{"command_id", "old"}, {"ok", false}, {"error", "expired"}}));
  EXPECT_EQ(applied.load(), 0);

  ASSERT_TRUE(observer_->Publish("linli/v1/c1/box-1/down/command", "{not json", 1));
  ASSERT_TRUE(observer_->Publish("linli/v1/c1/box-1/down/command", std::string("\0\1\2", 3), 1));
  SendCommand({{"id", "u1"}, {"name", "reboot"}});
  ack = Next("linli/v1/c1/box-1/up/ack");
  ASSERT_TRUE(ack);
  auto j = ParseJson(ack->payload);
  EXPECT_EQ((*j)["command_id"], "u1") << "malformed payloads got no ack; the next command did";
  EXPECT_EQ((*j)["ok"], false);
  EXPECT_EQ((*j)["error"], "unknown command 'reboot'");
  // Still working.
  SendCommand({{"id", "ok1"}, {"name", "config.apply"}, {"args", {{"config", "x: 2"}}}});
  ack = Next("linli/v1/c1/box-1/up/ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ((*ParseJson(ack->payload))["ok"], true);
  EXPECT_EQ(applied.load(), 1);
}

TEST_F(UplinkMqttTest, CommandsSentWhileTheBoxIsOfflineArriveWhenItReconnects) {
  std::atomic<int> applied{0};
  UplinkHooks hooks;
  hooks.apply_config = [&](const std::string&) -> Result<void> {
    ++applied;
    return {};
  };
  StartUplink(hooks);
  ASSERT_TRUE(Next("linli/v1/c1/box-1/up/status"));
  uplink_->Stop();
  ASSERT_TRUE(Next("linli/v1/c1/box-1/up/status"));  // offline
  SendCommand({{"id", "while-away"}, {"name", "config.apply"}, {"args", {{"config", "y: 1"}}}});
  StartUplink(hooks);  // persistent session: the broker kept the command for the box
  auto ack = Next("linli/v1/c1/box-1/up/ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ((*ParseJson(ack->payload))["command_id"], "while-away");
  EXPECT_EQ(applied.load(), 1);
}

TEST_F(UplinkMqttTest, WrongPasswordIsRetriedWithoutLosingEvents) {
  Store("ev", 0, 3);
  UplinkOptions o = Options();
  o.mqtt_password = "wrong-password";
  StartUplink({}, nullptr, o);
  auto& reconnects = metrics::Default().GetCounter("linli_edge_uplink_reconnects_total", "");
  int64_t r0 = reconnects.Value();
  ASSERT_TRUE(WaitUntil([&] { return reconnects.Value() >= r0 + 2; }));
  EXPECT_FALSE(uplink_->Connected());
  EXPECT_EQ(outbox_->Stats().entries, 3);
  uplink_->Stop();
  StartUplink();
  Delivered d;
  ASSERT_TRUE(WaitEvents(d, 3));
}

// ---- media over HTTP ----

// A real HTTP/1.1 server on loopback (Boost.Beast) that answers media PUTs by a script:
// the first `fail_first` uploads get 503, uploads for event `reject_event` get 400, the rest
// 201. Records what it received.
class MediaServer {
 public:
  struct Upload {
    std::string target, media_id, device, event, content_type, auth;
    std::string body;
  };
  explicit MediaServer(int fail_first = 0, std::string reject_event = "")
      : fail_first_(fail_first), reject_event_(std::move(reject_event)) {}
  ~MediaServer() { Stop(); }

  int Start(int port = 0) {
    namespace net = boost::asio;
    acceptor_ = std::make_unique<net::ip::tcp::acceptor>(ioc_);
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
    acceptor_->open(ep.protocol());
    acceptor_->set_option(net::socket_base::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
    return port_;
  }
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (active_fd_ >= 0) ::shutdown(active_fd_, SHUT_RDWR);  // unblocks a keep-alive read
    }
    boost::system::error_code ec;
    // Wake accept() with a connection of our own.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)}, ec);
    thread_.join();
  }
  std::vector<Upload> Uploads() {
    std::lock_guard<std::mutex> lock(mu_);
    return uploads_;
  }
  bool Stored(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return stored_.contains(id);
  }
  int attempts() {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_;
  }

 private:
  static std::string Query(const std::string& target, const std::string& key) {
    auto q = target.find('?');
    if (q == std::string::npos) return "";
    std::string rest = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= rest.size()) {
      size_t amp = rest.find('&', pos);
      std::string kv = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    return "";
  }
  void Serve() {
    namespace beast = boost::beast;
    namespace http = beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_->accept(sock, ec);
      if (ec || stop_) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        active_fd_ = sock.native_handle();
      }
      beast::flat_buffer buf;
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 << 20);
        http::read(sock, buf, parser, ec);
        if (ec) break;
        auto& req = parser.get();
        Upload u;
        u.target = std::string(req.target());
        u.media_id = u.target.substr(std::string("/api/v1/media/").size(),
                                     u.target.find('?') - std::string("/api/v1/media/").size());
        u.device = Query(u.target, "device");
        u.event = Query(u.target, "event");
        u.content_type = std::string(req[http::field::content_type]);
        u.auth = std::string(req[http::field::authorization]);
        u.body = req.body();
        int status = 201;
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++attempts_;
          if (req.method() != http::verb::put) {
            status = 405;
          } else if (attempts_ <= fail_first_) {
            status = 503;
          } else if (!reject_event_.empty() && u.event == reject_event_) {
            status = 400;
          } else {
            status = stored_.contains(u.media_id) ? 200 : 201;
            stored_.insert(u.media_id);
            uploads_.push_back(u);
          }
        }
        http::response<http::string_body> res{static_cast<http::status>(status), 11};
        res.set(http::field::content_type, "application/json");
        res.body() = status >= 400 ? R"({"error":{"code":"scripted"}})" : R"({"id":"x"})";
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(sock, res, ec);
        if (ec || !req.keep_alive()) break;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        active_fd_ = -1;
      }
      sock.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  const int fail_first_;
  const std::string reject_event_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  int active_fd_ = -1;
  int attempts_ = 0;
  std::set<std::string> stored_;
  std::vector<Upload> uploads_;
};

std::string FakeJpeg(const std::string& tag) { return std::string("\xFF\xD8\xFF\xE0", 4) + tag; }

TEST_F(UplinkMqttTest, MediaAreUploadedBeforeTheirEventWithRetriesAndDeadLetters) {
  MediaServer server(/*fail_first=*/2, /*reject_event=*/"ev-0002");
  int port = server.Start();
  HttpUploaderOptions h;
  h.api_base = "http://127.0.0.1:" + std::to_string(port);
  h.api_key = "test-key-123";
  auto uploader = MakeCurlMediaUploader(h);
  ASSERT_TRUE(uploader);
  for (int i = 0; i < 5; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "ev-%04d", i);
    std::vector<NewMedia> media = {{"snapshot", "image/jpeg", FakeJpeg(std::string("clean-") + id), "", false},
                                   {"snapshot_annotated", "image/jpeg", FakeJpeg(std::string("ann-") + id), "", false}};
    if (i == 4) {
      std::string clip = dir_ + "/clip.mp4";
      std::ofstream(clip, std::ios::binary) << std::string("\0\0\0\x18", 4) << "ftypmp42 clip bytes";
      media.push_back({"clip", "video/mp4", "", clip, true});
    }
    ASSERT_TRUE(sink_->Enqueue(Event(id), std::move(media)));
  }
  StartUplink({}, std::move(*uploader));
  Delivered d;
  std::vector<std::string> missing_before_publish;
  ASSERT_TRUE(WaitUntil([&] {
    while (auto m = observer_->NextMessage(20ms)) {
      if (m->topic != "linli/v1/c1/box-1/up/event") continue;
      auto j = ParseJson(m->payload);
      for (const char* role : {"snapshot", "snapshot_annotated", "clip"}) {
        if ((*j)["data"].contains(role) && !server.Stored((*j)["data"][role])) {
          missing_before_publish.push_back((*j)["data"][role]);
        }
      }
      d.Add(m->payload);
    }
    return d.event_ids.size() >= 5;
  }));
  EXPECT_TRUE(missing_before_publish.empty()) << "an event referenced media not yet uploaded";
  EXPECT_TRUE(d.InOrder());
  ASSERT_TRUE(WaitUntil([&] { return outbox_->Stats().entries == 0; }));

  // The refused event went out without media references; the queue was not blocked by it.
  for (const auto& [id, payload] : d.payloads) {
    auto j = ParseJson(payload);
    std::string ev = (*j)["data"]["event_id"];
    bool has = (*j)["data"].contains("snapshot") && (*j)["data"].contains("snapshot_annotated");
    EXPECT_EQ(has, ev != "ev-0002") << ev;
    if (ev == "ev-0004") {
      EXPECT_TRUE((*j)["data"].contains("clip"));
    }
  }
  auto dl = outbox_->DeadLetters();
  ASSERT_TRUE(dl);
  ASSERT_EQ(dl->size(), 2u);
  for (const auto& x : *dl) {
    EXPECT_EQ(x.event_id, "ev-0002");
    EXPECT_EQ(x.http_status, 400);
    EXPECT_TRUE(fs::exists(x.path)) << "the dead letter keeps its file";
  }
  EXPECT_EQ(uplink_->Counters().media_retries, 2);
  EXPECT_EQ(uplink_->Counters().media_dead, 2);

  // What the server got: 9 uploads with the right request shape and the exact bytes.
  auto ups = server.Uploads();
  ASSERT_EQ(ups.size(), 9u);
  for (const auto& u : ups) {
    EXPECT_EQ(u.auth, "Bearer test-key-123");
    EXPECT_EQ(u.device, "cam-1");
    EXPECT_TRUE(IsUuid(u.media_id)) << u.media_id;
    if (u.content_type == "video/mp4") {
      EXPECT_EQ(u.event, "ev-0004");
      EXPECT_EQ(u.body, std::string("\0\0\0\x18", 4) + "ftypmp42 clip bytes");
    } else {
      EXPECT_EQ(u.content_type, "image/jpeg");
      EXPECT_NE(u.body.find(u.event), std::string::npos) << "bytes belong to their event";
    }
  }
}

TEST_F(UplinkMqttTest, AnHttpOutageHoldsTheQueueUntilUploadsWorkAgain) {
  auto free_port = mqtt::testing::FreeTcpPort();
  ASSERT_TRUE(free_port);
  HttpUploaderOptions h;
  h.api_base = "http://127.0.0.1:" + std::to_string(*free_port);
  h.api_key = "k";
  h.connect_timeout_ms = 500;
  auto uploader = MakeCurlMediaUploader(h);
  ASSERT_TRUE(uploader);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sink_->Enqueue(Event("ev-" + std::to_string(i)),
                               {{"snapshot", "image/jpeg", FakeJpeg("x"), "", false}}));
  }
  StartUplink({}, std::move(*uploader));
  ASSERT_TRUE(WaitUntil([&] { return uplink_->Counters().media_retries >= 3; }));
  Delivered d;
  Drain(d);
  EXPECT_TRUE(d.event_ids.empty()) << "events wait for their media";
  EXPECT_EQ(outbox_->Stats().entries, 3);
  MediaServer server;
  ASSERT_EQ(server.Start(*free_port), *free_port);
  ASSERT_TRUE(WaitEvents(d, 3));
  EXPECT_EQ(server.Uploads().size(), 3u);
  EXPECT_EQ(uplink_->Counters().media_dead, 0);
}

TEST_F(UplinkMqttTest, StopIsPromptEvenDuringAStalledUpload) {
  // A server that takes the connection and never answers.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  HttpUploaderOptions h;
  h.api_base = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  h.api_key = "k";
  auto uploader = MakeCurlMediaUploader(h);
  ASSERT_TRUE(uploader);
  ASSERT_TRUE(sink_->Enqueue(Event("ev-stall"), {{"snapshot", "image/jpeg", FakeJpeg("x"), "", false}}));
  StartUplink({}, std::move(*uploader));
  int conn = -1;
  ASSERT_TRUE(WaitUntil([&] {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) conn = ::accept(lfd, nullptr, nullptr);
    return conn >= 0;
  }));
  // Give curl a moment to send its request into the void, then stop.
  char buf[256];
  ASSERT_TRUE(WaitUntil([&] { return ::recv(conn, buf, sizeof buf, MSG_DONTWAIT) > 0; }));
  auto t0 = std::chrono::steady_clock::now();
  uplink_->Stop();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 10s) << "the 30 s stall timeout must not hold up Stop()";
  EXPECT_EQ(outbox_->Stats().entries, 1) << "the step stays queued";
  ::close(conn);
  ::close(lfd);
}

// ---- kill -9 of an uplink process ----

class UplinkKillTest : public UplinkMqttTest {
 protected:
  // Runs the child to completion (or its own SIGKILL); returns the wait status.
  int RunChild(std::vector<std::string> args) {
    std::vector<std::string> argv = {UPLINK_CHILD, "--outbox", dir_ + "/child-outbox", "--port",
                                     std::to_string(broker_->Port()), "--password", box_password_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string log = dir_ + "/child.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0);
    if (rc != 0) return -1;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  }
  std::string ChildLog() {
    std::ifstream in(dir_ + "/child.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static bool Killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
  static bool Exited0(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

TEST_F(UplinkKillTest, KilledBetweenStoreAndSendThenRestartedDeliversEverythingOnce) {
  // 1. Store 40 steps and die before sending anything.
  int st = RunChild({"--store", "40", "--die-after-store"});
  ASSERT_TRUE(Killed(st)) << ChildLog();
  Delivered d;
  Drain(d, nullptr, 200ms);
  EXPECT_TRUE(d.payloads.empty());
  // 2. Send, but die right after the 10th publish was queued (PUBACK not yet seen).
  st = RunChild({"--send", "--die-at", "published", "--die-after", "10"});
  ASSERT_TRUE(Killed(st)) << ChildLog();
  // 3. Send, but die after a PUBACK arrived and before the entry was removed: that step is
  //    certainly sent again by the next run.
  st = RunChild({"--send", "--die-at", "confirmed", "--die-after", "5"});
  ASSERT_TRUE(Killed(st)) << ChildLog();
  // 4. Die after a removal.
  st = RunChild({"--send", "--die-at", "removed", "--die-after", "7"});
  ASSERT_TRUE(Killed(st)) << ChildLog();
  // 5. Run to the end.
  st = RunChild({"--send"});
  ASSERT_TRUE(Exited0(st)) << ChildLog();

  std::vector<mqtt::Message> other;
  ASSERT_TRUE(WaitEvents(d, 40, &other)) << ChildLog();
  Drain(d, &other, 300ms);
  EXPECT_EQ(d.payloads.size(), 40u) << "40 distinct message ids";
  EXPECT_EQ(d.event_ids.size(), 40u);
  EXPECT_TRUE(d.InOrder());
  EXPECT_TRUE(d.mismatches.empty()) << "a resent step is byte-identical";
  EXPECT_GE(d.Duplicates(), 1) << "the step confirmed-but-not-removed was sent again";
  for (int i = 0; i < 40; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "ev-%04d", i);
    EXPECT_TRUE(d.event_ids.contains(id)) << id;
  }
  // The broker announced each killed run through the box's will.
  int offline = 0;
  for (const auto& m : other) offline += m.topic == "linli/v1/c1/box-1/up/status" && m.payload == "offline";
  EXPECT_GE(offline, 3);
}

// The real program: linli-edge (no cameras) drains an outbox that piled up while it was away,
// is killed with SIGKILL twice mid-drain, and restarted each time. Every stored step arrives;
// first deliveries are in outbox order; anything delivered more than once is a byte-identical
// redelivery of the same id.
TEST_F(UplinkKillTest, LinliEdgeKilledMidDrainAndRestartedDeliversEverythingInOrder) {
#ifndef LINLI_EDGE
  GTEST_SKIP() << "linli-edge is not part of this build";
#else
  constexpr int kSteps = 1000;
  int st = RunChild({"--store", std::to_string(kSteps)});
  ASSERT_TRUE(Exited0(st)) << ChildLog();
  const std::string config = dir_ + "/box.yaml";
  {
    std::ofstream out(config);
    out << "box: {device_id: box-1, compound_id: c1, state_dir: " << dir_ << "/edge-state}\n"
        << "uplink:\n"
        << "  mqtt: {host: 127.0.0.1, port: " << broker_->Port() << ", password: " << box_password_
        << "}\n"
        << "  outbox: {dir: " << dir_ << "/child-outbox}\n"
        << "  inflight_window: 2\n"
        << "  backoff_min_ms: 20\n"
        << "  backoff_max_ms: 200\n"
        << "cameras: []\n";
  }
  auto spawn = [&]() -> pid_t {
    std::vector<std::string> argv = {LINLI_EDGE, "run", "--config", config};
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string log = dir_ + "/child.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
  };
  Delivered d;
  // Two runs killed once they have delivered something new (a small window keeps the drain
  // long enough for the kill to land in it; the outbox check below proves that it did), the
  // third runs to the end.
  for (size_t more : {size_t{1}, size_t{100}}) {
    const size_t kill_after = d.event_ids.size() + more;
    pid_t pid = spawn();
    ASSERT_GT(pid, 0);
    bool seen = WaitUntil([&] {
      Drain(d, nullptr, 0ms);
      return d.event_ids.size() >= kill_after;
    }, 120s);  // generous: a sanitized linli-edge on a busy machine starts slowly
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(seen) << ChildLog();
    ASSERT_TRUE(Killed(status)) << ChildLog();
    OutboxOptions oo;
    oo.dir = dir_ + "/child-outbox";
    auto ob = Outbox::Open(oo);  // the kill released the outbox's lock
    ASSERT_TRUE(ob) << ob.error().ToString();
    EXPECT_GT((*ob)->Stats().entries, 0) << "killed mid-drain, not after it";
  }
  pid_t pid = spawn();
  ASSERT_GT(pid, 0);
  bool all = WaitUntil([&] {
    Drain(d, nullptr, 0ms);
    return d.event_ids.size() >= static_cast<size_t>(kSteps);
  }, 180s);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(all) << d.event_ids.size() << " of " << kSteps << "\n" << ChildLog();
  EXPECT_TRUE(Exited0(status)) << ChildLog();
  Drain(d, nullptr, 300ms);
  EXPECT_EQ(d.payloads.size(), static_cast<size_t>(kSteps)) << "one message id per step";
  EXPECT_TRUE(d.InOrder()) << "first deliveries in outbox order";
  EXPECT_TRUE(d.mismatches.empty()) << "a repeat is a byte-identical redelivery";
  for (int i = 0; i < kSteps; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "ev-%04d", i);
    EXPECT_TRUE(d.event_ids.contains(id)) << id;
  }
#endif
}

}  // namespace
}  // namespace linli::edge
