#include "registrar.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

namespace linli::sim {
namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Result<RegisterReport> RegisterWorld(const World& world, const RegisterOptions& options, Clock& clock,
                                     const std::atomic<bool>* stop) {
  LINLI_ASSIGN_OR_RETURN(auto endpoint, ParseHttpUrl(options.api_url));
  const int threads = std::clamp(options.concurrency, 1, 256);
  // Log in once; the workers share the token.
  LinliApi first(MakeBeastHttpClient(endpoint), clock);
  LINLI_RETURN_IF_ERROR(first.Login(options.username, options.password));

  RegisterReport report;
  report.planned = world.RegistrationCount();
  report.devices_planned = world.devices.size();
  std::map<std::string, const SimDevice*> device_by_id;
  for (const auto& d : world.devices) device_by_id[d.id] = &d;

  const auto start = clock.Monotonic();
  const auto deadline = options.max_seconds > 0
                            ? start + std::chrono::milliseconds(static_cast<int64_t>(options.max_seconds * 1000))
                            : std::chrono::steady_clock::time_point::max();
  std::mutex mu;  // guards report and failed_ids
  std::set<std::string> failed_ids;
  std::atomic<size_t> done{0};
  auto last_progress = start;

  auto record_failure = [&](const Registration& reg, const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    ++report.failed;
    failed_ids.insert(reg.id);
    if (report.first_errors.size() < 10) report.first_errors.push_back(why);
  };

  // References to a record that failed are doomed; skip them without a round-trip.
  auto depends_on_failed = [&](const Registration& reg) -> std::string {
    std::lock_guard<std::mutex> lock(mu);
    if (failed_ids.empty()) return {};
    for (auto it = reg.body.begin(); it != reg.body.end(); ++it) {
      if (it.key() == "id" || !it->is_string()) continue;
      if (failed_ids.count(it->get<std::string>())) return it.key();
    }
    return {};
  };

  for (const auto& phase : world.phases) {
    if (report.timed_out || (stop != nullptr && stop->load())) break;
    const bool device_phase = !phase.empty() && phase.front().collection == "devices";
    const auto phase_start = clock.Monotonic();
    std::atomic<size_t> next{0};
    auto worker = [&]() {
      LinliApi api(MakeBeastHttpClient(endpoint), clock);
      api.SetToken(first.Token(), options.username, options.password);
      for (;;) {
        if (stop != nullptr && stop->load()) return;
        if (clock.Monotonic() > deadline) {
          std::lock_guard<std::mutex> lock(mu);
          report.timed_out = true;
          return;
        }
        const size_t i = next.fetch_add(1);
        if (i >= phase.size()) return;
        const Registration& reg = phase[i];
        if (auto field = depends_on_failed(reg); !field.empty()) {
          record_failure(reg, reg.collection + "/" + reg.id + ": its " + field + " failed to register");
          done.fetch_add(1);
          continue;
        }
        auto created = api.CreateOrGet(reg.collection, reg.body);
        if (!created) {
          record_failure(reg, created.error().ToString());
          done.fetch_add(1);
          continue;
        }
        if (reg.collection == "devices") {
          Result<MqttAccount> account = created->existed ? api.RotateCredentials(reg.id)
                                                          : ParseMqttAccount(created->object);
          if (!account) {
            record_failure(reg, "device " + reg.id + ": " + account.error().ToString());
            done.fetch_add(1);
            continue;
          }
          std::lock_guard<std::mutex> lock(mu);
          report.accounts.push_back({*device_by_id.at(reg.id), std::move(*account)});
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          ++(created->existed ? report.existed : report.created);
        }
        done.fetch_add(1);
      }
    };
    std::vector<std::thread> pool;
    const size_t n = std::min<size_t>(threads, phase.size());
    std::atomic<size_t> finished{0};
    for (size_t t = 0; t < n; ++t) {
      pool.emplace_back([&]() {
        worker();
        finished.fetch_add(1);
      });
    }
    // The main thread reports progress at a human pace until the phase's workers are done.
    while (finished.load() < n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto now = clock.Monotonic();
      if (!options.progress || Seconds(now - last_progress) < 2.0) continue;
      last_progress = now;
      std::lock_guard<std::mutex> lock(mu);
      char line[256];
      std::snprintf(line, sizeof line,
                    "register: %zu/%zu done (created %zu, existed %zu, failed %zu), %zu device accounts, %.1f s",
                    done.load(), report.planned, report.created, report.existed, report.failed,
                    report.accounts.size(), Seconds(now - start));
      options.progress(line);
    }
    for (auto& t : pool) t.join();
    if (device_phase) report.device_seconds = Seconds(clock.Monotonic() - phase_start);
  }
  report.seconds = Seconds(clock.Monotonic() - start);
  return report;
}

Result<void> WriteAccounts(const std::string& path, const std::vector<DeviceAccount>& accounts) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kInvalidArgument, "cannot write " + path + ": " + std::strerror(errno), "path");
  ::fchmod(fd, 0600);
  std::string out;
  for (const auto& a : accounts) {
    Json j = {{"device_id", a.device.id},       {"compound_id", a.device.compound_id},
              {"kind", a.device.kind},          {"room_id", a.device.room_id},
              {"person_id", a.device.person_id}, {"client_id", a.mqtt.client_id},
              {"username", a.mqtt.username},    {"password", a.mqtt.password},
              {"topic_prefix", a.mqtt.topic_prefix}};
    out += DumpJson(j);
    out.push_back('\n');
  }
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::write(fd, out.data() + off, out.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Fail(ErrorCode::kUnavailable, "write " + path + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Fail(ErrorCode::kUnavailable, "close " + path + ": " + std::strerror(errno));
  return {};
}

Result<std::vector<DeviceAccount>> ReadAccounts(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot read " + path, "credentials");
  std::vector<DeviceAccount> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    auto j = ParseJson(line);
    if (!j || !j->is_object()) return InvalidArgument(where, "not a JSON object");
    DeviceAccount a;
    LINLI_ASSIGN_OR_RETURN(a.device.id, RequireString(*j, "device_id"));
    LINLI_ASSIGN_OR_RETURN(a.device.compound_id, RequireString(*j, "compound_id"));
    LINLI_ASSIGN_OR_RETURN(a.device.kind, RequireString(*j, "kind"));
    LINLI_ASSIGN_OR_RETURN(auto room, OptionalString(*j, "room_id"));
    LINLI_ASSIGN_OR_RETURN(auto person, OptionalString(*j, "person_id"));
    a.device.room_id = room.value_or("");
    a.device.person_id = person.value_or("");
    LINLI_ASSIGN_OR_RETURN(a.mqtt.username, RequireString(*j, "username"));
    LINLI_ASSIGN_OR_RETURN(a.mqtt.password, RequireString(*j, "password"));
    LINLI_ASSIGN_OR_RETURN(a.mqtt.topic_prefix, RequireString(*j, "topic_prefix"));
    LINLI_ASSIGN_OR_RETURN(auto cid, OptionalString(*j, "client_id"));
    a.mqtt.client_id = cid.value_or(a.mqtt.username);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace linli::sim
