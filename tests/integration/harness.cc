#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace linli::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "linli-it-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty() && std::getenv("LINLI_KEEP_TMP") == nullptr) fs::remove_all(path_, ec);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Process::~Process() { Stop(SIGKILL); }

bool Process::Start(const std::vector<std::string>& argv, const std::string& log_path,
                    const std::vector<std::string>& env) {
  log_path_ = log_path;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  for (const auto& e : env) env_storage.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) pid_ = -1;
  return rc == 0;
}

bool Process::Running() {
  if (pid_ <= 0) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::Stop(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return status;
}

std::string Process::LogTail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

std::string BinPath(const std::string& name) {
  const char* dir = std::getenv("LINLI_BIN_DIR");
  return std::string(dir ? dir : "build/bin") + "/" + name;
}

std::string MosquittoPath() {
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"}) {
    if (fs::exists(p)) return p;
  }
  return "mosquitto";
}

Json HttpResponse::json() const {
  auto j = ParseJson(body);
  return j ? *j : Json();
}

HttpResponse Http(int port, const std::string& method, const std::string& target, const std::string& body,
                  const std::string& token, const std::string& content_type) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  using tcp = boost::asio::ip::tcp;
  HttpResponse out;
  try {
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
      req.set(http::field::content_type, content_type);
      req.body() = body;
      req.prepare_payload();
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buffer, parser);
    auto& res = parser.get();
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    out.status = 0;
    out.body = e.what();
  }
  return out;
}

// ---- MqttClient ----

namespace {
struct MosquittoLib {
  MosquittoLib() { mosquitto_lib_init(); }
};
}  // namespace

MqttClient::MqttClient(const std::string& client_id, bool clean_session) {
  static MosquittoLib lib;
  mosq_ = mosquitto_new(client_id.c_str(), clean_session, this);
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(mosq_, &MqttClient::OnConnect);
  mosquitto_disconnect_callback_set(mosq_, &MqttClient::OnDisconnect);
  mosquitto_publish_callback_set(mosq_, &MqttClient::OnPublish);
  mosquitto_subscribe_callback_set(mosq_, &MqttClient::OnSubscribe);
  mosquitto_message_callback_set(mosq_, &MqttClient::OnMessage);
}

MqttClient::~MqttClient() {
  if (loop_started_) {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
  }
  mosquitto_destroy(mosq_);
}

void MqttClient::SetWill(const std::string& topic, const std::string& payload, int qos, bool retain) {
  mosquitto_will_set(mosq_, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, retain);
}

int MqttClient::Connect(int port, const std::string& username, const std::string& password) {
  {
    std::lock_guard lock(mu_);
    connack_ = -2;
  }
  mosquitto_username_pw_set(mosq_, username.empty() ? nullptr : username.c_str(),
                            password.empty() ? nullptr : password.c_str());
  if (mosquitto_connect(mosq_, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) return -1;
  if (!loop_started_) {
    mosquitto_loop_start(mosq_);
    loop_started_ = true;
  }
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(10), [&] { return connack_ != -2; });
  return connack_ == -2 ? -1 : connack_;
}

void MqttClient::Disconnect() {
  mosquitto_disconnect(mosq_);
  if (loop_started_) {
    mosquitto_loop_stop(mosq_, false);
    loop_started_ = false;
  }
}

void MqttClient::Abort() {
  // Shut the socket down underneath libmosquitto: the broker sees an unclean close.
  int fd = mosquitto_socket(mosq_);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  if (loop_started_) {
    mosquitto_loop_stop(mosq_, true);
    loop_started_ = false;
  }
}

int MqttClient::PublishAsync(const std::string& topic, const std::string& payload, int qos, bool retain) {
  int mid = 0;
  std::lock_guard lock(mu_);
  int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos,
                             retain);
  if (rc != MOSQ_ERR_SUCCESS) return -1;
  if (qos > 0) pending_.insert(mid);
  return mid;
}

bool MqttClient::Publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  int mid = PublishAsync(topic, payload, qos, retain);
  if (mid < 0) return false;
  if (qos == 0) return true;
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return pending_.count(mid) == 0; });
}

bool MqttClient::WaitAllAcked(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pending_.empty(); });
}

int MqttClient::Subscribe(const std::string& pattern, int qos) {
  int mid = 0;
  {
    std::lock_guard lock(mu_);
    if (mosquitto_subscribe(mosq_, &mid, pattern.c_str(), qos) != MOSQ_ERR_SUCCESS) return -1;
  }
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return suback_.count(mid) > 0; })) return -1;
  return suback_[mid];
}

std::vector<std::pair<std::string, std::string>> MqttClient::Received() {
  std::lock_guard lock(mu_);
  return received_;
}

void MqttClient::OnConnect(mosquitto*, void* self, int rc) {
  auto* c = static_cast<MqttClient*>(self);
  std::lock_guard lock(c->mu_);
  c->connack_ = rc;
  c->connected_ = rc == 0;
  c->cv_.notify_all();
}

void MqttClient::OnDisconnect(mosquitto*, void* self, int rc) {
  auto* c = static_cast<MqttClient*>(self);
  std::lock_guard lock(c->mu_);
  c->connected_ = false;
  if (c->connack_ == -2) c->connack_ = rc == 0 ? -1 : rc;
  c->cv_.notify_all();
}

void MqttClient::OnPublish(mosquitto*, void* self, int mid) {
  auto* c = static_cast<MqttClient*>(self);
  std::lock_guard lock(c->mu_);
  c->pending_.erase(mid);
  c->cv_.notify_all();
}

void MqttClient::OnSubscribe(mosquitto*, void* self, int mid, int count, const int* granted) {
  auto* c = static_cast<MqttClient*>(self);
  std::lock_guard lock(c->mu_);
  c->suback_[mid] = count > 0 ? granted[0] : -1;
  c->cv_.notify_all();
}

void MqttClient::OnMessage(mosquitto*, void* self, const mosquitto_message* m) {
  auto* c = static_cast<MqttClient*>(self);
  std::lock_guard lock(c->mu_);
  c->received_.emplace_back(m->topic, std::string(static_cast<const char*>(m->payload), m->payloadlen));
  c->cv_.notify_all();
}

// ---- Broker ----

Broker::Broker(const std::string& dir) : dir_(dir), port_(FreePort()) {}

Broker::~Broker() { Stop(); }

bool Broker::Start() {
  if (starts_ == 0) {
    Process init;
    init.Start({BinPath("linlid"), "broker", "init", "--data-dir", dir_, "--port", std::to_string(port_)},
               dir_ + "/broker-init.log");
    int status = init.Stop(0);  // signal 0: just wait
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return false;
  }
  ++starts_;
  if (!proc_.Start({MosquittoPath(), "-c", dir_ + "/mosquitto.conf"}, dir_ + "/mosquitto.log")) return false;
  return WaitFor([&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  });
}

void Broker::Stop() { proc_.Stop(SIGTERM); }

// ---- Linlid ----

Linlid::Linlid(const std::string& dir, int mqtt_port, std::string admin_password)
    : dir_(dir), mqtt_port_(mqtt_port), http_port_(FreePort()), admin_password_(std::move(admin_password)) {}

Linlid::~Linlid() { Stop(SIGTERM); }

bool Linlid::Start() {
  ++starts_;
  if (!proc_.Start({BinPath("linlid"), "serve", "--data-dir", dir_, "--http", "127.0.0.1:" + std::to_string(http_port_),
                    "--mqtt", "127.0.0.1:" + std::to_string(mqtt_port_)},
                   dir_ + "/linlid.log", {"LINLI_ADMIN_PASSWORD=" + admin_password_})) {
    return false;
  }
  return WaitFor([&] { return proc_.Running() && Http(http_port_, "GET", "/api/v1/health").status == 200; },
                 std::chrono::seconds(20));
}

int Linlid::Stop(int sig) { return proc_.Stop(sig); }

std::string Linlid::Login(const std::string& user, const std::string& password) const {
  auto r = HttpJson(http_port_, "POST", "/api/v1/auth/login", {{"username", user}, {"password", password}});
  if (r.status != 200) return "";
  return r.json().value("token", "");
}

double Linlid::Metric(const std::string& token, const std::string& name) const {
  auto r = Http(http_port_, "GET", "/metrics", "", token);
  if (r.status != 200) return -1;
  double sum = 0;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    std::string key = line.substr(0, space);
    std::string metric = key.substr(0, key.find('{'));
    if (metric == name) sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

}  // namespace linli::testing
