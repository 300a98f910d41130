// api_http_bench: rough throughput of the HTTP API on this machine (not a test). Starts a real
// Server over a temporary SqliteStore and drives it with keep-alive Beast clients.
//   api_http_bench [requests_per_client=2000] [clients=4]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "api/http_test_client.h"
#include "api/server.h"
#include "common/log.h"

using namespace linli;                // NOLINT: a small program
using namespace linli::api::testing;  // NOLINT

namespace {

struct KeepAliveClient {
  net::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
  explicit KeepAliveClient(int port) {
    socket.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  }
  int Get(const std::string& target, const std::string& token) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "x");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    http::write(socket, req);
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res.result_int();
  }
};

double Run(int port, const std::string& target, const std::string& token, int clients, int n) {
  std::atomic<int> errors{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      KeepAliveClient k(port);
      for (int i = 0; i < n; ++i) {
        if (k.Get(target, token) != 200) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double rate = clients * n / s;
  std::printf("%-40s %8.0f req/s  (%d errors)\n", target.substr(0, 40).c_str(), rate,
              errors.load());
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int clients = argc > 2 ? std::atoi(argv[2]) : 4;
  log::Init(log::Level::kWarn, log::Format::kText);
  std::string dir =
      std::filesystem::temp_directory_path() / ("linli-api-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = store::OpenSqliteStore({dir + "/db"});
  auto cipher = FieldCipher::FromKey(std::string(64, 'k'));
  if (!store || !cipher) return 1;
  metrics::Registry metrics;
  api::ApiDeps deps;
  deps.store = store->get();
  deps.cipher = &*cipher;
  deps.clock = &SystemClock();
  deps.metrics = &metrics;
  api::RegistryService registry(deps, {.password_hash_interactive = false});
  auto sys = api::Principal::System("bench");
  (void)registry.Create(sys, model::Kind::kCompound, {{"id", "A"}, {"name", "A"}});
  for (int i = 0; i < 200; ++i) {
    (void)registry.Create(sys, model::Kind::kPerson,
                          {{"id", "p" + std::to_string(i)},
                           {"compound_id", "A"},
                           {"name", "n"},
                           {"phone", "13800138000"}});
  }
  (void)registry.Create(
      sys, model::Kind::kUser,
      {{"username", "op"}, {"role", "operator"}, {"scopes", {"A"}}, {"password", "password1"}});
  api::ServerOptions o;
  o.port = 0;
  o.password_hash_interactive = false;
  auto server = api::MakeServer(o, deps);
  auto port = server->Start();
  if (!port) return 1;
  HttpClient c(*port);
  std::string token =
      c.Post("/api/v1/auth/login", {{"username", "op"}, {"password", "password1"}}).json["token"];
  std::printf("%d clients x %d keep-alive requests, server threads=%d (+%d workers)\n", clients, n,
              o.threads, o.threads);
  Run(*port, "/api/v1/health", "", clients, n);
  Run(*port, "/api/v1/persons/p7", token, clients, n);
  Run(*port, "/api/v1/persons?limit=50", token, clients, n / 10);

  // Feed fan-out: every subscriber must see every item (queues large enough for no drops).
  const int subscribers = 20, items = 5000;
  std::vector<std::unique_ptr<WsClient>> subs;
  for (int i = 0; i < subscribers; ++i) {
    subs.push_back(std::make_unique<WsClient>(*port));
    if (subs.back()->Connect("/api/v1/feed?token=" + token) != 101) return 1;
  }
  std::atomic<int> received{0};
  std::vector<std::thread> readers;
  auto start = std::chrono::steady_clock::now();
  for (auto& s : subs) {
    readers.emplace_back([&, client = s.get()] {
      while (auto m = client->Read(std::chrono::seconds(2))) {
        ++received;
        if (Json::parse(*m)["ts_ms"] == items - 1) break;  // the last item arrived
      }
    });
  }
  for (int i = 0; i < items; ++i) server->Feed()->Publish({"event", "A", i, Json{{"i", i}}});
  double pub = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : readers) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "feed: %d items x %d WebSocket subscribers: publish %.0f items/s, delivered %d/%d in %.2f s "
      "(%.0f msgs/s; the rest dropped as oldest)\n",
      items, subscribers, items / pub, received.load(), items * subscribers, secs, received / secs);
  subs.clear();
  server->Stop();
  std::filesystem::remove_all(dir);
  return 0;
}
