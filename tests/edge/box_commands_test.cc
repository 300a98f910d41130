// The real linli-edge program against a real mosquitto: the platform enrols an ROI example by
// device command (roi.enroll on down/command, answered on up/ack), bad commands are answered
// with clear errors and counted, the counters are served on /metrics over real HTTP, and the
// enrolled example is still there after a restart (roi.examples).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>
// clang-format off
#include <boost/asio.hpp>
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <regex>
#include <thread>

#include "common/json.h"
#include "common/metrics.h"
#include "edge/algorithms/roi_state/roi_scenes.h"
#include "mqtt/credentials.h"
#include "mqtt/testing/broker_fixture.h"
#include "mqtt/testing/test_client.h"

extern char** environ;

namespace linli::edge {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
namespace net = boost::asio;
using namespace std::chrono_literals;
using mqtt::testing::TestClient;

// GET http://127.0.0.1:port/path: status and body.
std::pair<int, std::string> HttpGet(int port, const std::string& path) {
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
  if (ec) return {0, ec.message()};
  http::request<http::empty_body> req(http::verb::get, path, 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(socket, req, ec);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(socket, buf, res, ec);
  if (ec) return {0, ec.message()};
  return {static_cast<int>(res.result_int()), res.body()};
}

class BoxCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = mqtt::testing::MakeTempDir("box-commands");
    ASSERT_FALSE(dir_.empty());
    auto b = mqtt::testing::StartBroker(dir_ + "/broker");
    ASSERT_TRUE(b) << b.error().ToString();
    broker_ = std::move(*b);
    auto admin = mqtt::MakeDynsecAuthority(broker_->AdminOptions());
    password_ = RandomPassword(24);
    ASSERT_TRUE(admin->UpsertDevices({{"box-1", "c1", password_}}));
    TestClient::Options o;
    o.port = broker_->Port();
    o.client_id = "observer";
    o.username = broker_->Config().service_username;
    o.password = broker_->Config().service_password;
    auto c = TestClient::Connect(o);
    ASSERT_TRUE(c) << c.error().ToString();
    observer_ = std::move(*c);
    ASSERT_TRUE(observer_->Subscribe("linli/v1/c1/box-1/up/#", 1));

    // A door, open for the whole (looped) clip; examples of both states for the config.
    testing::RoiSceneGen gen(testing::RoiSceneKind::kDoor);
    ASSERT_TRUE(gen.ok());
    const std::string video = dir_ + "/door.avi";
    {
      cv::VideoWriter w(video, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, {640, 360});
      ASSERT_TRUE(w.isOpened());
      for (int i = 0; i < 20; ++i) w.write(gen.Render(true, static_cast<uint64_t>(i % 5), {}));
    }
    std::string enroll;
    for (bool open : {false, true}) {
      std::string f = dir_ + (open ? "/open.png" : "/closed.png");
      ASSERT_TRUE(cv::imwrite(f, gen.Render(open, 1, testing::RandomLighting(open ? 7 : 3))));
      enroll += std::string(open ? ", open: [" : "closed: [") + f + "]";
    }
    std::string points;
    for (const auto& p : gen.roi().points) {
      points +=
          (points.empty() ? "[" : ", [") + std::to_string(p.x) + ", " + std::to_string(p.y) + "]";
    }
    config_ = dir_ + "/box.yaml";
    std::ofstream out(config_);
    out << "box: {device_id: box-1, compound_id: c1, state_dir: " << dir_
        << "/state, metrics_listen: \"127.0.0.1:0\"}\n"
        << "uplink:\n  mqtt: {host: 127.0.0.1, port: " << broker_->Port()
        << ", password: " << password_ << "}\n  telemetry_interval_s: 3600\n"
        << "cameras:\n  - id: cam-door\n    url: " << video << "\n    loop: true\n"
        << "    zones: [{name: door, points: [" << points << "]}]\n"
        << "    algorithms:\n      roi_state: {roi: door, check: door_open, enroll: {" << enroll
        << "}}\n";
  }
  void TearDown() override {
    if (pid_ > 0) Terminate();
    observer_.reset();
    if (HasFailure()) std::cerr << "---- linli-edge log ----\n" << Log() << "\n";
    broker_.reset();
    std::error_code ec;
    if (std::getenv("LINLI_KEEP_TMP") == nullptr) fs::remove_all(dir_, ec);
  }

  void Spawn(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {LINLI_EDGE, "run", "--config", config_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = dir_ + "/edge.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    ASSERT_EQ(posix_spawn(&pid_, argv[0].c_str(), &fa, nullptr, cargv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    // Online once it is connected and subscribed to its commands (an "offline" still queued
    // from the previous run's clean stop is skipped).
    for (;;) {
      auto m = Next("linli/v1/c1/box-1/up/status", 120s);
      ASSERT_TRUE(m) << Log();
      if (m->payload == "online") break;
    }
  }
  int Terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  std::string Log() const {
    std::ifstream in(dir_ + "/edge.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The port in "metrics listening url=http://127.0.0.1:PORT/metrics".
  int MetricsPort() const {
    std::smatch m;
    const std::string log = Log();
    static const std::regex re("metrics listening url=http://127\\.0\\.0\\.1:([0-9]+)/metrics");
    return std::regex_search(log, m, re) ? std::stoi(m[1]) : 0;
  }
  std::optional<mqtt::Message> Next(const std::string& topic, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = observer_->NextMessage(50ms);
      if (m && m->topic == topic) return m;
    }
    return std::nullopt;
  }
  // Sends a command and returns its ack.
  Json Command(const std::string& id, const std::string& name, const Json& args) {
    Json cmd = {{"id", id}, {"ts", 1}, {"name", name}, {"args", args}};
    EXPECT_TRUE(observer_->Publish("linli/v1/c1/box-1/down/command", cmd.dump(), 1));
    for (;;) {
      auto m = Next("linli/v1/c1/box-1/up/ack", 60s);
      if (!m) return Json{{"timeout", id}};
      auto j = ParseJson(m->payload);
      if (j && (*j)["command_id"] == id) return *j;
    }
  }

  std::string dir_, password_, config_;
  std::unique_ptr<mqtt::testing::BrokerProcess> broker_;
  std::unique_ptr<TestClient> observer_;
  pid_t pid_ = -1;
};

TEST_F(BoxCommandsTest, EnrolByCommandServeMetricsAndKeepTheExampleAcrossARestart) {
  Spawn();
  Json ack = Command("e1", "roi.enroll", {{"camera_id", "cam-door"}, {"state", "open"}});
  ASSERT_EQ(ack["ok"], true) << ack.dump();
  EXPECT_EQ(ack["error"], nullptr);
  const Json& r = ack["result"];
  EXPECT_EQ(r["camera_id"], "cam-door");
  EXPECT_EQ(r["roi"], "door");
  EXPECT_EQ(r["state"], "open");
  EXPECT_EQ(r["states"], (Json{"closed", "open"}));
  const std::string example = r["example"];
  EXPECT_TRUE(
      fs::exists(dir_ + "/state/cam-door/roi_state/roi_state/door/open/" + example + ".jpg"));

  // Bad commands: a clear error each, the box keeps working.
  ack = Command("e2", "roi.enroll", {{"camera_id", "cam-door"}, {"state", "ajar"}});
  EXPECT_EQ(ack["ok"], false);
  EXPECT_EQ(ack["error"],
            "invalid_argument: args.state: unknown state \"ajar\" for ROI \"door\" (its states: "
            "closed, open); args.new_state: true adds a state");
  ack = Command("e3", "roi.enroll", {{"camera_id", "cam-gate"}, {"state", "open"}});
  EXPECT_EQ(ack["error"],
            "not_found: args.camera_id: no camera \"cam-gate\" on this box (cameras: cam-door)");
  ack = Command("e4", "roi.enroll", {{"state", 5}});
  EXPECT_EQ(ack["error"], "invalid_argument: args.camera_id: is required");
  ack = Command("e5", "roi.remove", {{"camera_id", "cam-door"}, {"example", "no-such"}});
  EXPECT_EQ(ack["ok"], false);
  EXPECT_NE(ack["error"].get<std::string>().find("not_found: args.example: no enrolled example"),
            std::string::npos)
      << ack.dump();
  ack = Command("e6", "roi.examples", Json::object());
  ASSERT_EQ(ack["ok"], true) << ack.dump();
  EXPECT_EQ(ack["result"]["cameras"][0]["examples"]["open"], (Json{example}));

  // /metrics over HTTP: the box's counters.
  const int port = MetricsPort();
  ASSERT_GT(port, 0) << Log();
  auto [status, body] = HttpGet(port, "/metrics");
  ASSERT_EQ(status, 200) << body;
  for (const char* line :
       {"linli_edge_commands_total 2\n", "linli_edge_commands_failed_total 4\n",
        "linli_edge_uplink_connected 1\n", "linli_edge_camera_running{camera=\"cam-door\"} 1\n"}) {
    EXPECT_NE(body.find(line), std::string::npos) << line << "\n" << body;
  }
  for (const char* name :
       {"linli_edge_frames_decoded_total{camera=\"cam-door\"} ",
        "linli_edge_frames_dropped_total{camera=\"cam-door\"} ",
        "linli_edge_lag_seconds{camera=\"cam-door\"} ",
        "linli_edge_camera_decoded_fps{camera=\"cam-door\"} ",
        "linli_edge_camera_analysed_fps{camera=\"cam-door\"} ",
        "linli_edge_events_total{camera=\"cam-door\"} ", "linli_edge_outbox_entries ",
        "linli_edge_outbox_bytes ", "linli_edge_outbox_evicted_events_total ",
        "linli_edge_uplink_published_total ", "linli_edge_commands_malformed_total ",
        "linli_edge_uptime_seconds "}) {
    EXPECT_NE(body.find(name), std::string::npos) << name << "\n" << body;
  }
  EXPECT_EQ(HttpGet(port, "/").first, 404);

  // A restart (metrics off this time): the enrolled example is loaded again.
  EXPECT_TRUE(WIFEXITED(Terminate()));
  Spawn({"--metrics-listen", "off"});
  ack = Command("e7", "roi.examples", {{"camera_id", "cam-door"}});
  ASSERT_EQ(ack["ok"], true) << ack.dump();
  EXPECT_EQ(ack["result"]["cameras"][0]["examples"]["open"], (Json{example}));
  ack = Command("e8", "roi.remove", {{"camera_id", "cam-door"}, {"example", example}});
  ASSERT_EQ(ack["ok"], true) << ack.dump();
  EXPECT_EQ(ack["result"]["reloaded"], true);
  EXPECT_NE(Log().find("metrics listening"), std::string::npos);  // (the first run's line)
  const int status2 = Terminate();
  EXPECT_TRUE(WIFEXITED(status2) && WEXITSTATUS(status2) == 0) << Log();
}

}  // namespace
}  // namespace linli::edge
