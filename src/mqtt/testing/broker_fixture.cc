#include "mqtt/testing/broker_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "mqtt/broker_init.h"

extern char** environ;

namespace linli::mqtt::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kStartDeadline{10};
constexpr std::chrono::seconds kStopDeadline{10};

std::string MosquittoBinary() {
  if (const char* env = std::getenv("LINLI_MOSQUITTO"); env && *env) return env;
  return "/usr/sbin/mosquitto";
}

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Polls waitpid() until the child exits or the deadline passes. Returns true if it exited.
bool WaitExit(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (Clock::now() >= deadline) return false;
    // Not a synchronisation sleep: a bounded back-off while polling a child process.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

Result<int> FreeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, std::string("socket: ") + strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::string e = strerror(errno);
    ::close(fd);
    return Fail(ErrorCode::kUnavailable, "bind port 0: " + e);
  }
  ::close(fd);
  return static_cast<int>(ntohs(a.sin_port));
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return {};
  return std::string(buf.data());
}

BrokerProcess::~BrokerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    WaitExit(pid_, Clock::now() + kStopDeadline);
    pid_ = -1;
  }
}

std::string BrokerProcess::LogTail(size_t bytes) const {
  std::ifstream in(dir_ + "/mosquitto.log", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

Result<void> BrokerProcess::Launch() {
  std::string log_path = dir_ + "/mosquitto.log";
  std::string conf = dir_ + "/mosquitto.conf";
  std::string bin = MosquittoBinary();
  std::vector<char*> argv = {const_cast<char*>(bin.c_str()), const_cast<char*>("-c"),
                             const_cast<char*>(conf.c_str()), nullptr};
  // Open everything before fork(): the child may only call async-signal-safe functions.
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Fail(ErrorCode::kUnavailable, "cannot open " + log_path);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return Fail(ErrorCode::kUnavailable, std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    // The broker must not outlive a crashed or killed test process.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::execve(bin.c_str(), argv.data(), environ);
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  pid_ = pid;
  auto deadline = Clock::now() + kStartDeadline;
  for (;;) {
    if (CanConnect(port_)) return {};
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Fail(ErrorCode::kUnavailable,
                  "mosquitto exited during start-up; log:\n" + LogTail(2000));
    }
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      WaitExit(pid_, Clock::now() + kStopDeadline);
      pid_ = -1;
      return Fail(ErrorCode::kUnavailable,
                  "mosquitto did not accept connections within 10 s; log:\n" + LogTail(2000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling with a deadline
  }
}

Result<void> BrokerProcess::Signal(int sig) {
  if (pid_ <= 0) return {};
  ::kill(pid_, sig);
  bool exited = WaitExit(pid_, Clock::now() + kStopDeadline);
  if (!exited) {
    ::kill(pid_, SIGKILL);
    WaitExit(pid_, Clock::now() + kStopDeadline);
  }
  pid_ = -1;
  if (!exited) return Fail(ErrorCode::kUnavailable, "mosquitto did not exit; killed");
  return {};
}

Result<void> BrokerProcess::Stop() { return Signal(SIGTERM); }
Result<void> BrokerProcess::Kill() { return Signal(SIGKILL); }

Result<void> BrokerProcess::Restart() {
  LINLI_RETURN_IF_ERROR(Stop());
  return Launch();
}

BrokerAdminOptions BrokerProcess::AdminOptions(int timeout_ms) const {
  BrokerAdminOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.username = config_.admin_username;
  o.password = config_.admin_password;
  o.timeout_ms = timeout_ms;
  return o;
}

MosquittoOptions BrokerProcess::ServiceOptions(std::vector<std::string> subscriptions,
                                               std::string client_id) const {
  MosquittoOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.client_id = std::move(client_id);
  o.username = config_.service_username;
  o.password = config_.service_password;
  o.subscriptions = std::move(subscriptions);
  return o;
}

Result<std::unique_ptr<BrokerProcess>> StartBroker(const std::string& dir, int port) {
  if (dir.empty()) return InvalidArgument("dir", "must not be empty");
  std::unique_ptr<BrokerProcess> b(new BrokerProcess());
  b->dir_ = dir;
  auto existing = LoadBrokerConfig(dir);
  if (existing) {
    if (port != 0 && port != existing->port) {
      return InvalidArgument(
          "port", "the broker in " + dir + " uses port " + std::to_string(existing->port));
    }
    b->port_ = existing->port;
    b->config_ = *existing;
    LINLI_RETURN_IF_ERROR(b->Launch());
    return b;
  }
  // Fresh dir. With port 0 another process may take the port between FreeTcpPort() and the
  // broker's bind(): retry with a new port.
  const int attempts = port == 0 ? 5 : 1;
  Error last(ErrorCode::kUnavailable, "not started");
  for (int i = 0; i < attempts; ++i) {
    int p = port;
    if (p == 0) {
      LINLI_ASSIGN_OR_RETURN(p, FreeTcpPort());
    }
    BrokerInitOptions init;
    init.data_dir = dir;
    init.port = p;
    init.bind_address = "127.0.0.1";
    init.force = i > 0;
    LINLI_RETURN_IF_ERROR(InitBroker(init));
    LINLI_ASSIGN_OR_RETURN(b->config_, LoadBrokerConfig(dir));
    b->port_ = p;
    auto r = b->Launch();
    if (r) return b;
    last = r.error();
  }
  return Fail(last);
}

}  // namespace linli::mqtt::testing
