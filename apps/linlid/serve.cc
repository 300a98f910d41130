#include "linlid/serve.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <thread>

#include "api/deps.h"
#include "api/server.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/metrics.h"
#include "incidents/http_client.h"
#include "incidents/linkage.h"
#include "incidents/notifier.h"
#include "incidents/registry_cache.h"
#include "ingest/directory.h"
#include "ingest/ingestor.h"
#include "ingest/topic.h"
#include "mqtt/credentials.h"
#include "mqtt/transport.h"
#include "rules/schedule.h"
#include "store/store.h"

namespace linli::linlid {
namespace {

namespace fs = std::filesystem;

// Bridges the API's view of devices to the ingest directory.
class DirectoryBridge final : public api::DeviceHooks, public api::PresenceView {
 public:
  explicit DirectoryBridge(ingest::DeviceDirectory* dir) : dir_(dir) {}
  void OnDeviceUpserted(const model::Record& device) override { dir_->Upsert(device); }
  void OnDeviceDeleted(const std::string& device_id) override { dir_->Remove(device_id); }
  std::optional<DeviceStatus> Status(const std::string& device_id) const override {
    auto info = dir_->Find(device_id);
    if (!info) return std::nullopt;
    return DeviceStatus{info->status, info->status_ms, info->last_seen_ms};
  }
  Ratio CompoundOnline(const std::string& compound_id) const override {
    auto c = dir_->CompoundCounts(compound_id);
    return Ratio{c.total, c.online};
  }

 private:
  ingest::DeviceDirectory* dir_;
};

// Keeps the rules engine's registry view in step with the API's changes.
class CacheHooks final : public api::RecordHooks {
 public:
  explicit CacheHooks(incidents::RegistryCache* cache) : cache_(cache) {}
  void OnRecordUpserted(const model::Record& r) override { cache_->Upsert(r); }
  void OnRecordDeleted(model::Kind kind, const std::string& id) override { cache_->Remove(kind, id); }

 private:
  incidents::RegistryCache* cache_;
};

// Device commands leave through linlid's own MQTT connection (QoS 1).
class TransportPublisher final : public incidents::CommandPublisher {
 public:
  void Set(mqtt::Transport* t) { transport_.store(t); }
  Result<void> Publish(const std::string& topic, const std::string& payload) override {
    mqtt::Transport* t = transport_.load();
    if (t == nullptr) return Fail(ErrorCode::kUnavailable, "MQTT is not connected yet");
    return t->Publish(topic, payload, 1, false);
  }

 private:
  std::atomic<mqtt::Transport*> transport_{nullptr};
};

// Joins the rules engine to every ingest commit: a burst and its rules' effects (commands,
// alarms, acknowledgements) are stored in one transaction.
class LinkageListener final : public ingest::CommitListener {
 public:
  explicit LinkageListener(incidents::LinkageService* linkage) : linkage_(linkage) {}
  void Begin() override { linkage_->BeginIngest(); }
  const store::IncidentWrite* Evaluate(const ingest::CommittedBatch& b) override {
    static const std::vector<model::TelemetryPoint> kNone;
    std::vector<incidents::DeviceAck> acks;
    acks.reserve(b.acks.size());
    for (const auto& [device, payload] : b.acks) acks.push_back({device, payload});
    return linkage_->EvaluateIngest(b.events, b.telemetry != nullptr ? *b.telemetry : kNone, b.status, acks);
  }
  void End(bool committed, const Result<void>& effects) override { linkage_->EndIngest(committed, effects); }

 private:
  incidents::LinkageService* linkage_;
};

// Holds an exclusive lock on DIR/linlid.lock for the life of the process.
bool LockDataDir(const fs::path& dir) {
  int fd = ::open((dir / "linlid.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  return true;  // fd intentionally kept open
}

int Fatal(const std::string& key, const std::string& reason) {
  log::Error("cannot start", {{"key", key}, {"reason", reason}});
  return 1;
}

}  // namespace

int Serve(const ServeOptions& options) {
  // Block the shutdown signals in every thread; the main thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  const fs::path dir = fs::absolute(options.data_dir);
  fs::create_directories(dir, ec);
  if (ec) return Fatal("--data-dir", ec.message());
  if (!LockDataDir(dir)) return Fatal("--data-dir", "another linlid is serving " + dir.string());

  Clock& clock = SystemClock();
  store::SqliteOptions sopts;
  sopts.path = (dir / "linli.db").string();
  auto store = store::OpenSqliteStore(sopts);
  if (!store) return Fatal("store", store.error().ToString());
  auto cipher = FieldCipher::LoadOrCreate((dir / "field.key").string());
  if (!cipher) return Fatal("field.key", cipher.error().ToString());
  auto blobs = store::OpenFileBlobStore((dir / "media").string());
  if (!blobs) return Fatal("--data-dir", blobs.error().ToString());

  // Broker.
  std::unique_ptr<mqtt::CredentialAuthority> credentials;
  mqtt::BrokerConfig broker;
  if (!options.no_mqtt) {
    auto loaded = mqtt::LoadBrokerConfig(dir.string());
    if (!loaded) {
      return Fatal("broker.json", loaded.error().ToString() + " (run `linlid broker init --data-dir " +
                                      dir.string() + "` first, or pass --no-mqtt)");
    }
    broker = *loaded;
    if (options.mqtt_port > 0) broker.port = options.mqtt_port;
    mqtt::BrokerAdminOptions admin;
    admin.host = options.mqtt_host;
    admin.port = broker.port;
    admin.username = broker.admin_username;
    admin.password = broker.admin_password;
    credentials = mqtt::MakeDynsecAuthority(admin);
  }

  // Devices and presence.
  ingest::DeviceDirectory directory;
  {
    auto devices = (*store)->LoadAll(model::Kind::kDevice);
    if (!devices) return Fatal("store", devices.error().ToString());
    auto states = (*store)->LoadDeviceStates();
    if (!states) return Fatal("store", states.error().ToString());
    directory.Load(*devices, *states);
    log::Info("devices loaded", {{"count", std::to_string(devices->size())}});
  }
  // Loading materialised every device record; give that transient memory back to the OS.
  malloc_trim(0);
  ingest::Ingestor ingestor(store->get(), &directory, &clock);
  if (auto r = ingestor.ReconcileFaults(); !r) return Fatal("store", r.error().ToString());

  // Rules engine and incident handling.
  auto offset = rules::ParseUtcOffset(options.timezone);
  if (!offset) return Fatal("--timezone", offset.error().message());
  incidents::RegistryCache cache;
  if (auto r = cache.Load(store->get()); !r) return Fatal("store", r.error().ToString());
  malloc_trim(0);
  incidents::LinkageOptions lopts;
  lopts.rules_dir = (dir / "rules").string();
  lopts.utc_offset_minutes = *offset;
  incidents::LinkageService linkage(store->get(), &cache, &clock, lopts);
  TransportPublisher publisher;
  linkage.SetPublisher(&publisher);
  auto http_client = incidents::MakeCurlHttpClient();
  incidents::Notifier notifier(store->get(), &cache, &clock, http_client.get());
  linkage.SetNotifier(&notifier);
  if (auto r = linkage.Start(); !r) return Fatal("rules", r.error().ToString());
  LinkageListener listener(&linkage);
  ingestor.SetListener(&listener);
  CacheHooks cache_hooks(&cache);

  // HTTP API.
  DirectoryBridge bridge(&directory);
  api::ApiDeps deps;
  deps.store = store->get();
  deps.cipher = &*cipher;
  deps.clock = &clock;
  deps.credentials = credentials.get();
  deps.device_hooks = &bridge;
  deps.presence = &bridge;
  deps.metrics = &metrics::Default();
  deps.blobs = blobs->get();
  deps.record_hooks = &cache_hooks;
  deps.linkage = &linkage;
  if (!options.admin_password.empty()) {
    auto created = api::EnsureAdminUser(deps, options.admin_password);
    if (!created) return Fatal("LINLI_ADMIN_PASSWORD", created.error().ToString());
    if (*created) log::Info("created the first user 'admin'");
  } else {
    auto users = (*store)->ListRecords({model::Kind::kUser, {}, std::nullopt, "", 1, 0});
    if (users && users->total == 0) {
      log::Warn("no users exist; set LINLI_ADMIN_PASSWORD to create 'admin' on start-up");
    }
  }
  api::ServerOptions hopts;
  hopts.host = options.http_host;
  hopts.port = options.http_port;
  hopts.threads = options.http_threads;
  hopts.web_root = options.web_root;
  hopts.openapi_path = options.openapi_path;
  auto server = api::MakeServer(hopts, deps);
  ingestor.SetFeed(server->Feed());
  linkage.SetFeed(server->Feed());
  auto port = server->Start();
  if (!port) return Fatal("--http", port.error().ToString());

  // MQTT ingest.
  std::unique_ptr<mqtt::Transport> transport;
  if (!options.no_mqtt) {
    mqtt::MosquittoOptions mopts;
    mopts.host = options.mqtt_host;
    mopts.port = broker.port;
    mopts.client_id = broker.service_username;
    mopts.username = broker.service_username;
    mopts.password = broker.service_password;
    mopts.subscriptions = {std::string(ingest::kUplinkSubscription)};
    // Group commit: telemetry waits up to 1 ms for a fuller burst (events and acks never do).
    mopts.linger_us = 1000;
    transport = mqtt::MakeMosquittoTransport(mopts, &ingestor);
    if (auto r = transport->Start(); !r) return Fatal("--mqtt", r.error().ToString());
    publisher.Set(transport.get());
  }
  log::Info("linlid serving", {{"http", options.http_host + ":" + std::to_string(*port)},
                               {"mqtt", options.no_mqtt ? "off" : options.mqtt_host + ":" + std::to_string(broker.port)},
                               {"data_dir", dir.string()}});

  // Timers: presence sweep every second; retention hourly.
  std::mutex timer_mu;
  std::condition_variable timer_cv;
  bool stopping = false;
  std::thread timer([&] {
    pthread_setname_np(pthread_self(), "linlid-timer");
    auto next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::unique_lock lock(timer_mu);
    while (!stopping) {
      timer_cv.wait_for(lock, std::chrono::seconds(1));
      if (stopping) break;
      lock.unlock();
      if (auto r = ingestor.Tick(); !r) log::Warn("presence sweep failed", {{"error", r.error().ToString()}});
      linkage.Tick();
      if (std::chrono::steady_clock::now() >= next_prune) {
        next_prune = std::chrono::steady_clock::now() + std::chrono::hours(1);
        const int64_t cutoff = clock.NowMs() - int64_t{options.telemetry_retention_days} * 86'400'000;
        auto pruned = (*store)->PruneTelemetry(cutoff);
        if (!pruned) log::Warn("telemetry retention failed", {{"error", pruned.error().ToString()}});
        else if (*pruned > 0) log::Info("telemetry pruned", {{"rows", std::to_string(*pruned)}});
        (void)(*store)->DeleteExpiredTokens(clock.NowMs());
      }
      lock.lock();
    }
  });

  notifier.Start();
  int sig = 0;
  while (true) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    auto r = linkage.Reload();
    if (r) log::Info("rules reloaded (SIGHUP)", {{"refused", std::to_string(linkage.RuleErrors().size())}});
    else log::Warn("rules reload failed", {{"error", r.error().ToString()}});
  }
  log::Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  server->Stop();
  if (transport) transport->Stop();  // commits and acknowledges what it received
  publisher.Set(nullptr);
  notifier.Stop();
  {
    std::lock_guard lock(timer_mu);
    stopping = true;
  }
  timer_cv.notify_all();
  timer.join();
  credentials.reset();
  log::Info("stopped");
  return 0;
}

}  // namespace linli::linlid
