// RTSP sources against a real RTSP server on loopback (tests/edge/rtsp_server.py, GStreamer's
// gst-rtsp-server): a stream that plays, stalls (server SIGSTOPped) and comes back, and
// addresses where nothing answers, which must fail within the open timeout instead of hanging.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "edge/pipeline.h"
#include "edge/sources.h"
#include "edge/test_analyzer.h"

extern char** environ;

namespace linli::edge {
namespace {

using Mono = std::chrono::steady_clock;

double SecondsSince(Mono::time_point t) {
  return std::chrono::duration<double>(Mono::now() - t).count();
}

// The RTSP server child process. Skip reason set if it cannot start for a reason outside the
// project (GStreamer packages missing).
class RtspServer {
 public:
  RtspServer() {
    const char* src = std::getenv("LINLI_SOURCE_DIR");
    std::string script = std::string(src ? src : ".") + "/tests/edge/rtsp_server.py";
    int out[2];
    if (pipe(out) != 0) {
      error_ = "pipe failed";
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    // The system interpreter: python3-gi lives in Debian's dist-packages.
    std::string py = "/usr/bin/python3";
    char* argv[] = {py.data(), script.data(), const_cast<char*>("25"), const_cast<char*>("90"),
                    nullptr};
    if (access(py.c_str(), X_OK) != 0) {
      skip_ = "/usr/bin/python3 is not installed";
      close(out[0]);
      close(out[1]);
      return;
    }
    if (posix_spawn(&pid_, py.c_str(), &fa, nullptr, argv, environ) != 0) {
      error_ = "cannot start " + script;
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    // Wait (bounded) for "PORT <n>".
    std::string got;
    auto t0 = Mono::now();
    while (pid_ > 0 && SecondsSince(t0) < 20 && got.find('\n') == std::string::npos) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 200) > 0) {
        char buf[256];
        ssize_t n = read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
    }
    close(out[0]);
    if (got.rfind("PORT ", 0) == 0) {
      port_ = std::atoi(got.c_str() + 5);
      return;
    }
    int status = 0;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        skip_ = "the GStreamer RTSP server cannot run here (python3-gi, gir1.2-gst-rtsp-server-1.0, "
                "gstreamer1.0-plugins-{base,good,ugly} from scripts/setup); see its stderr above";
        return;
      }
    }
    error_ = "the RTSP server did not report its port: \"" + got + "\"";
  }
  ~RtspServer() {
    if (pid_ > 0) {
      kill(pid_, SIGCONT);
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
  }
  void Stall() { kill(pid_, SIGSTOP); }
  void Resume() { kill(pid_, SIGCONT); }
  std::string Url() const { return "rtsp://127.0.0.1:" + std::to_string(port_) + "/test"; }
  const std::string& skip() const { return skip_; }
  const std::string& error() const { return error_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string skip_, error_;
};

template <typename Pred>
bool WaitFor(Pred pred, double seconds) {
  auto t0 = Mono::now();
  while (SecondsSince(t0) < seconds) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition, not timing
  }
  return pred();
}

TEST(RtspSource, PlaysStallsAndComesBack) {
  RtspServer server;
  if (!server.skip().empty()) GTEST_SKIP() << server.skip();
  ASSERT_TRUE(server.error().empty()) << server.error();

  AnalyzerRegistry registry;
  testing::ProbeLog log;
  testing::RegisterProbe(registry, &log);
  testing::Collector sink;
  auto cfg = ParseBoxConfig("box: {device_id: b}\ncameras:\n  - id: cam-rtsp\n    url: " +
                            server.Url() +
                            "\n    open_timeout_ms: 2000\n    read_timeout_ms: 1500\n"
                            "    reconnect: {initial_ms: 100, max_ms: 400}\n"
                            "    algorithms: {probe: {motion_gated: false, full_rate: true}}\n");
  ASSERT_TRUE(cfg) << cfg.error().ToString();
  const CameraConfig cam = cfg->cameras[0];
  PipelineOptions opts;
  opts.schedules = false;
  opts.state_dir = ::testing::TempDir();
  CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), registry, {}, {}, sink, opts,
                      SystemClock());
  pipe.Start();

  // Plays.
  ASSERT_TRUE(WaitFor([&] { return pipe.Stats().frames_decoded >= 40; }, 15))
      << "state " << CameraStateName(pipe.Stats().state) << " " << pipe.Stats().last_error;
  auto st = pipe.Stats();
  EXPECT_EQ(st.state, CameraState::kRunning);
  EXPECT_EQ(st.width, 640);
  EXPECT_EQ(st.height, 360);
  EXPECT_FALSE(st.video_loss);

  // Stalls: the server stops sending; the read times out and video loss begins.
  server.Stall();
  const auto stalled_at = Mono::now();
  ASSERT_TRUE(WaitFor([&] { return pipe.Stats().video_loss; }, 10));
  const double detect_s = SecondsSince(stalled_at);
  EXPECT_LT(detect_s, 6.0) << "read_timeout_ms is 1500";
  EXPECT_EQ(pipe.Stats().state, CameraState::kReconnecting);
  const int64_t frames_at_loss = pipe.Stats().frames_decoded;

  // Comes back: the pipeline reconnects by itself, frames flow again, the loss ends.
  server.Resume();
  ASSERT_TRUE(WaitFor([&] {
    auto s = pipe.Stats();
    return !s.video_loss && s.reconnects >= 1 && s.frames_decoded >= frames_at_loss + 25;
  }, 20)) << pipe.Stats().last_error;
  pipe.Stop();

  auto loss = sink.OfType("camera.video_loss");
  ASSERT_GE(loss.size(), 2u);
  EXPECT_EQ(loss[0].phase, EventPhase::kBegin);
  EXPECT_EQ(loss[1].phase, EventPhase::kEnd);
  EXPECT_EQ(loss[0].id, loss[1].id);
  EXPECT_EQ(loss[0].camera_id, "cam-rtsp");
  EXPECT_GT(loss[1].end_ms, loss[0].start_ms);
  // pts stay monotonic across the reconnect.
  std::lock_guard<std::mutex> lock(log.mu);
  for (size_t i = 1; i < log.frames.size(); ++i) {
    ASSERT_GT(log.frames[i].pts_ms, log.frames[i - 1].pts_ms) << i;
  }
}

TEST(RtspSource, NothingAnswersFailsWithinTheTimeout) {
  // A listening socket that never speaks RTSP (the kernel completes the TCP handshake), and a
  // port where nothing listens at all.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int silent_port = ntohs(addr.sin_port);

  int fd2 = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr2{};
  addr2.sin_family = AF_INET;
  addr2.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd2, reinterpret_cast<sockaddr*>(&addr2), sizeof addr2), 0);
  len = sizeof addr2;
  getsockname(fd2, reinterpret_cast<sockaddr*>(&addr2), &len);
  const int closed_port = ntohs(addr2.sin_port);  // bound, not listening: connection refused

  for (int port : {silent_port, closed_port}) {
    RtspSource src("rtsp://127.0.0.1:" + std::to_string(port) + "/stream", 1500, 1500,
                   SystemClock());
    const auto t0 = Mono::now();
    auto r = src.Open();
    const double took = SecondsSince(t0);
    ASSERT_FALSE(r) << port;
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
    EXPECT_LT(took, 5.0) << "open_timeout_ms is 1500; port " << port;
  }
  close(fd);
  close(fd2);
}

TEST(RtspSource, PipelineKeepsRetryingAnUnreachableCameraUntilStopped) {
  AnalyzerRegistry registry;
  testing::Collector sink;
  CameraConfig cam;
  cam.id = "cam-x";
  cam.url = "rtsp://127.0.0.1:1/none";  // port 1: refused at once
  cam.reconnect_initial_ms = 20;
  cam.reconnect_max_ms = 80;
  PipelineOptions opts;
  opts.state_dir = ::testing::TempDir();
  CameraPipeline pipe(cam, MakeSource(cam, SystemClock()), registry, {}, {}, sink, opts,
                      SystemClock());
  pipe.Start();
  ASSERT_TRUE(WaitFor([&] { return pipe.Stats().state == CameraState::kReconnecting; }, 10));
  const auto t0 = Mono::now();
  pipe.Stop();
  EXPECT_LT(SecondsSince(t0), 5.0);
  auto loss = sink.OfType("camera.video_loss");
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_EQ(loss[0].data["source"], "rtsp://127.0.0.1:1/none");
}

}  // namespace
}  // namespace linli::edge
