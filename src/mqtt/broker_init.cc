#include "mqtt/broker_init.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "mqtt/dynsec_config.h"

namespace linli::mqtt {
namespace fs = std::filesystem;
namespace {

constexpr char kPluginName[] = "mosquitto_dynamic_security.so";
constexpr size_t kPasswordLength = 32;
constexpr int kBrokerJsonVersion = 1;

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Writes `content` to `path` via a temporary file in the same directory, fsync and rename, so
// that a crash leaves either the old or the new file. The file gets `mode` from the start.
Result<void> WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".tmp." + RandomHex(4);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, Errno("cannot create", tmp));
  // open() applies the umask; make the mode exact.
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kUnavailable, Errno("cannot chmod", tmp));
  }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string msg = Errno("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Fail(ErrorCode::kUnavailable, msg);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string msg = Errno("cannot sync", tmp);
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kUnavailable, msg);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string msg = Errno("cannot rename to", path);
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kUnavailable, msg);
  }
  return {};
}

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return Fail(ErrorCode::kNotFound, path + " does not exist");
    }
    return Fail(ErrorCode::kUnavailable, "cannot stat " + path + ": " + ec.message());
  }
  if (size > max_bytes) {
    return Fail(ErrorCode::kFailedPrecondition,
                path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kUnavailable, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return Fail(ErrorCode::kUnavailable, "cannot read " + path);
  return ss.str();
}

bool IsRegularFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// A value that goes into mosquitto.conf: mosquitto splits its config on whitespace and treats
// '#' lines as comments, so refuse anything that could change the meaning of a line.
Result<void> CheckConfValue(const std::string& value, const std::string& field) {
  if (value.empty()) return InvalidArgument(field, "must not be empty");
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '#') {
      return InvalidArgument(field, "must not contain whitespace, control characters or '#'");
    }
  }
  return {};
}

std::string EffectiveUserName() {
  struct passwd pw;
  struct passwd* result = nullptr;
  char buf[4096];
  if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &result) == 0 && result != nullptr) {
    return result->pw_name;
  }
  return {};
}

Json AdminRoleJson() {
  Json acls = Json::array();
  auto add = [&](const char* type, const char* topic) {
    acls.push_back({{"acltype", type}, {"topic", topic}, {"allow", true}});
  };
  add("publishClientSend", "$CONTROL/dynamic-security/#");
  add("publishClientReceive", "$CONTROL/dynamic-security/#");
  add("subscribePattern", "$CONTROL/dynamic-security/#");
  add("unsubscribePattern", "$CONTROL/dynamic-security/#");
  return {{"rolename", std::string(kAdminRole)},
          {"textdescription", "linlid: administers the dynamic-security plugin"},
          {"acls", acls}};
}

Json ServiceRoleJson() {
  Json acls = Json::array();
  auto add = [&](const char* type, const char* topic) {
    acls.push_back({{"acltype", type}, {"topic", topic}, {"allow", true}});
  };
  add("subscribePattern", "linli/v1/#");
  add("publishClientReceive", "linli/v1/#");
  add("publishClientSend", "linli/v1/+/+/down/#");
  add("subscribePattern", "$SYS/#");
  add("publishClientReceive", "$SYS/#");
  add("unsubscribePattern", "#");
  return {{"rolename", std::string(kServiceRole)},
          {"textdescription", "linlid: ingests device traffic, sends commands"},
          {"acls", acls}};
}

// Deny by default: only roles open topics. Unsubscribing is harmless.
Json DefaultAclAccessJson() {
  return {{"publishClientSend", false},
          {"publishClientReceive", false},
          {"subscribe", false},
          {"unsubscribe", true}};
}

std::string RenderMosquittoConf(const BrokerPaths& p, const BrokerInitOptions& o,
                                const std::string& plugin, const std::string& user) {
  std::ostringstream c;
  c << "# Written by `linlid broker init`. Regenerate with --force rather than editing.\n"
    << "per_listener_settings false\n";
  if (!user.empty()) {
    // Only has an effect when started as root: keep the broker on the user owning DIR.
    c << "user " << user << "\n";
  }
  c << "listener " << o.port << " " << o.bind_address << "\n"
    << "allow_anonymous false\n"
    << "plugin " << plugin << "\n"
    << "plugin_opt_config_file " << p.dynsec << "\n"
    << "\n# linlid's persistent session must keep everything while linlid is down.\n"
    << "persistence true\n"
    << "persistence_location " << p.persistence << "\n"
    << "autosave_interval 1\n"
    << "max_queued_messages 1000000\n"
    << "max_queued_bytes 0\n"
    << "# Lets the transport receive many QoS 1 messages before it commits and acknowledges.\n"
    << "max_inflight_messages 1000\n"
    << "max_packet_size 1048576\n"
    << "set_tcp_nodelay true\n"
    << "\nlog_dest stderr\n"
    << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
    << "log_timestamp true\n"
    << "connection_messages true\n";
  return c.str();
}

// Copies the clients, roles and groups of an existing plugin file that InitBroker does not
// write itself (devices, hand-made entries) into `fresh`.
void MergeForeignEntries(const Json& existing, Json* fresh) {
  std::unordered_set<std::string> ours_clients = {std::string(kAdminUsername),
                                                  std::string(kServiceUsername)};
  std::unordered_set<std::string> ours_roles = {std::string(kAdminRole), std::string(kServiceRole)};
  auto copy = [&](const char* key, const char* name_key,
                  const std::unordered_set<std::string>& skip) {
    auto it = existing.find(key);
    if (it == existing.end() || !it->is_array()) return;
    for (const auto& e : *it) {
      if (!e.is_object()) continue;
      auto n = e.find(name_key);
      if (n == e.end() || !n->is_string()) continue;
      if (skip.count(n->get<std::string>())) continue;
      (*fresh)[key].push_back(e);
    }
  };
  copy("clients", "username", ours_clients);
  copy("roles", "rolename", ours_roles);
  copy("groups", "groupname", {});
}

Result<bool> SomethingListens(const std::string& bind_address, int port) {
  std::string host = bind_address;
  if (host == "0.0.0.0" || host == "*") host = "127.0.0.1";
  if (host == "::") host = "::1";
  int family = host.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, std::string("socket: ") + strerror(errno));
  int rc = -1;
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
      ::close(fd);
      return false;  // a host name: cannot tell cheaply; assume not running
    }
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) {
      ::close(fd);
      return false;
    }
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ::close(fd);
  return rc == 0;
}

}  // namespace

Result<BrokerPaths> BrokerPathsFor(const std::string& data_dir) {
  if (data_dir.empty()) return InvalidArgument("data_dir", "must not be empty");
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(data_dir), ec);
  if (ec) return InvalidArgument("data_dir", "cannot make absolute: " + ec.message());
  abs = abs.lexically_normal();
  std::string dir = abs.string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  LINLI_RETURN_IF_ERROR(CheckConfValue(dir, "data_dir"));
  BrokerPaths p;
  p.dir = dir;
  p.conf = dir + "/mosquitto.conf";
  p.dynsec = dir + "/dynamic-security.json";
  p.broker_json = dir + "/broker.json";
  p.persistence = dir + "/mosquitto-data/";
  return p;
}

Result<std::string> FindDynsecPlugin() {
  if (const char* env = std::getenv("LINLI_MOSQUITTO_DYNSEC_PLUGIN"); env && *env) {
    if (IsRegularFile(env)) return std::string(env);
    return Fail(ErrorCode::kNotFound,
                std::string("LINLI_MOSQUITTO_DYNSEC_PLUGIN points to a missing file: ") + env);
  }
  std::vector<std::string> dirs = {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                   "/usr/lib/arm-linux-gnueabihf", "/usr/lib/riscv64-linux-gnu",
                                   "/usr/lib/i386-linux-gnu"};
  // Any other multiarch dir.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib", ec)) {
    std::string name = e.path().filename().string();
    if (name.find("-linux-") != std::string::npos) dirs.push_back(e.path().string());
  }
  for (const char* d : {"/usr/lib/mosquitto", "/usr/local/lib", "/usr/local/lib/mosquitto",
                        "/usr/lib64", "/usr/lib"}) {
    dirs.push_back(d);
  }
  for (const auto& d : dirs) {
    std::string candidate = d + "/" + kPluginName;
    if (IsRegularFile(candidate)) return candidate;
  }
  return Fail(ErrorCode::kNotFound,
              std::string(kPluginName) +
                  " not found in /usr/lib/<multiarch>, /usr/lib/mosquitto, /usr/local/lib, "
                  "/usr/lib64, /usr/lib (install the mosquitto package or set "
                  "LINLI_MOSQUITTO_DYNSEC_PLUGIN)");
}

Result<void> InitBroker(const BrokerInitOptions& options) {
  LINLI_ASSIGN_OR_RETURN(BrokerPaths p, BrokerPathsFor(options.data_dir));
  if (options.port < 1 || options.port > 65535) {
    return InvalidArgument("port", "must be in 1..65535");
  }
  LINLI_RETURN_IF_ERROR(CheckConfValue(options.bind_address, "bind_address"));
  if (fs::exists(p.broker_json) && !options.force) {
    return Fail(ErrorCode::kConflict,
                p.broker_json +
                    " exists: the broker is already initialised (use --force to "
                    "regenerate; device credentials are kept)");
  }
  LINLI_ASSIGN_OR_RETURN(std::string plugin, FindDynsecPlugin());

  std::error_code ec;
  fs::create_directories(p.dir, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot create " + p.dir + ": " + ec.message());
  fs::create_directories(p.persistence, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable, "cannot create " + p.persistence + ": " + ec.message());
  }
  ::chmod(p.persistence.c_str(), 0700);

  std::string admin_password = RandomPassword(kPasswordLength);
  std::string service_password = RandomPassword(kPasswordLength);
  LINLI_ASSIGN_OR_RETURN(auto admin_hash, NewDynsecPasswordHash(admin_password));
  LINLI_ASSIGN_OR_RETURN(auto service_hash, NewDynsecPasswordHash(service_password));

  Json dynsec = {
      {"defaultACLAccess", DefaultAclAccessJson()},
      {"clients",
       Json::array({DynsecClientJson(kAdminUsername, "", admin_hash, kAdminRole),
                    DynsecClientJson(kServiceUsername, "", service_hash, kServiceRole)})},
      {"groups", Json::array()},
      {"roles", Json::array({AdminRoleJson(), ServiceRoleJson()})}};
  // Keep device credentials of a previous init (--force is for changing port or bind address,
  // not for logging every device out).
  if (fs::exists(p.dynsec)) {
    auto text = ReadFile(p.dynsec, size_t{1} << 30);
    if (!text) return Fail(text.error());
    auto existing = ParseJson(*text, 16);
    if (!existing || !existing->is_object()) {
      return Fail(ErrorCode::kFailedPrecondition,
                  p.dynsec + " exists but is not a JSON object; move it away to start afresh");
    }
    MergeForeignEntries(*existing, &dynsec);
  }
  LINLI_RETURN_IF_ERROR(WriteFileAtomic(p.dynsec, dynsec.dump(1, '\t'), 0600));
  LINLI_RETURN_IF_ERROR(
      WriteFileAtomic(p.conf, RenderMosquittoConf(p, options, plugin, EffectiveUserName()), 0644));

  Json broker = {
      {"version", kBrokerJsonVersion},
      {"port", options.port},
      {"bind_address", options.bind_address},
      {"admin", {{"username", std::string(kAdminUsername)}, {"password", admin_password}}},
      {"service", {{"username", std::string(kServiceUsername)}, {"password", service_password}}}};
  LINLI_RETURN_IF_ERROR(WriteFileAtomic(p.broker_json, broker.dump(2), 0600));
  log::Info("broker initialised", {{"dir", p.dir}, {"port", std::to_string(options.port)}});
  return {};
}

Result<BrokerConfig> LoadBrokerConfig(const std::string& data_dir) {
  LINLI_ASSIGN_OR_RETURN(BrokerPaths p, BrokerPathsFor(data_dir));
  auto text = ReadFile(p.broker_json, 1 << 20);
  if (!text) {
    if (text.error().code() == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound,
                  p.broker_json + " does not exist: run `linlid broker init` first");
    }
    return Fail(text.error());
  }
  auto j = ParseJson(*text, 8);
  if (!j) return InvalidArgument("broker.json", j.error().message());
  if (!j->is_object()) return InvalidArgument("broker.json", "expected an object");
  BrokerConfig c;
  LINLI_ASSIGN_OR_RETURN(int64_t port, RequireInt(*j, "port"));
  if (port < 1 || port > 65535) return InvalidArgument("port", "must be in 1..65535");
  c.port = static_cast<int>(port);
  auto creds = [&](const char* key, std::string* user, std::string* pass) -> Result<void> {
    auto it = j->find(key);
    if (it == j->end() || !it->is_object()) return InvalidArgument(key, "must be an object");
    auto u = RequireString(*it, "username");
    if (!u) return InvalidArgument(std::string(key) + ".username", u.error().message());
    auto pw = RequireString(*it, "password");
    if (!pw) return InvalidArgument(std::string(key) + ".password", pw.error().message());
    if (u->empty() || pw->empty()) return InvalidArgument(key, "empty username or password");
    *user = *u;
    *pass = *pw;
    return {};
  };
  LINLI_RETURN_IF_ERROR(creds("admin", &c.admin_username, &c.admin_password));
  LINLI_RETURN_IF_ERROR(creds("service", &c.service_username, &c.service_password));
  return c;
}

Result<void> ImportDevicesOffline(const std::string& data_dir,
                                  const std::vector<DeviceCredential>& devices) {
  LINLI_ASSIGN_OR_RETURN(BrokerPaths p, BrokerPathsFor(data_dir));
  // Validate everything before touching the file.
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i];
    std::string at = "devices[" + std::to_string(i) + "]";
    LINLI_RETURN_IF_ERROR(ValidateTopicId(d.device_id, at + ".device_id"));
    LINLI_RETURN_IF_ERROR(ValidateTopicId(d.compound_id, at + ".compound_id"));
    if (d.password.empty()) return InvalidArgument(at + ".password", "must not be empty");
    if (d.device_id == kAdminUsername || d.device_id == kServiceUsername) {
      return InvalidArgument(at + ".device_id", "is reserved for linlid");
    }
    if (!seen.insert(d.device_id).second) {
      return InvalidArgument(at + ".device_id", "appears twice");
    }
  }
  LINLI_ASSIGN_OR_RETURN(BrokerConfig cfg, LoadBrokerConfig(p.dir));
  std::string bind = "127.0.0.1";
  if (auto t = ReadFile(p.broker_json, 1 << 20)) {
    if (auto j = ParseJson(*t, 8);
        j && j->is_object() && j->contains("bind_address") && (*j)["bind_address"].is_string()) {
      bind = (*j)["bind_address"].get<std::string>();
    }
  }
  LINLI_ASSIGN_OR_RETURN(bool running, SomethingListens(bind, cfg.port));
  if (running) {
    return Fail(ErrorCode::kFailedPrecondition,
                "something accepts connections on port " + std::to_string(cfg.port) +
                    ": stop the broker before an offline import (it would overwrite the file)");
  }
  LINLI_ASSIGN_OR_RETURN(std::string text, ReadFile(p.dynsec, size_t{1} << 31));
  LINLI_ASSIGN_OR_RETURN(Json root, ParseJson(text, 16));
  if (!root.is_object())
    return Fail(ErrorCode::kFailedPrecondition, p.dynsec + " is not an object");
  for (const char* key : {"clients", "roles"}) {
    if (!root.contains(key)) root[key] = Json::array();
    if (!root[key].is_array()) {
      return Fail(ErrorCode::kFailedPrecondition, p.dynsec + ": '" + key + "' is not an array");
    }
  }
  // Drop the entries being replaced, then append the new ones.
  std::unordered_set<std::string> roles;
  for (const auto& d : devices) roles.insert(DeviceRoleName(d.device_id));
  Json clients = Json::array();
  for (auto& c : root["clients"]) {
    if (c.is_object() && c.contains("username") && c["username"].is_string() &&
        seen.count(c["username"].get<std::string>())) {
      continue;
    }
    clients.push_back(std::move(c));
  }
  Json role_list = Json::array();
  for (auto& r : root["roles"]) {
    if (r.is_object() && r.contains("rolename") && r["rolename"].is_string() &&
        roles.count(r["rolename"].get<std::string>())) {
      continue;
    }
    role_list.push_back(std::move(r));
  }
  for (const auto& d : devices) {
    LINLI_ASSIGN_OR_RETURN(auto hash, NewDynsecPasswordHash(d.password));
    std::string role = DeviceRoleName(d.device_id);
    clients.push_back(DynsecClientJson(d.device_id, d.device_id, hash, role));
    role_list.push_back({{"rolename", role}, {"acls", DeviceAcls(d.compound_id, d.device_id)}});
  }
  root["clients"] = std::move(clients);
  root["roles"] = std::move(role_list);
  return WriteFileAtomic(p.dynsec, root.dump(), 0600);
}

}  // namespace linli::mqtt
