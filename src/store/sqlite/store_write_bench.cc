// store_write_bench: throughput of the SQLite store on its hot paths, printed as rows/s and
// as a ratio against the targets (50,000 telemetry points/s and 20,000 events/s in batches of
// ~500), plus LoadAll over a large device registry. Not a test: it prints figures.
//
//   store_write_bench [--dir DIR] [--batches N] [--batch-size N] [--devices N] [--sync-full]
//
// Uses a fresh database in DIR (default: a new temporary directory, removed afterwards).
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "common/clock.h"
#include "store/store.h"

namespace {

using linli::Json;
using linli::store::IngestBatch;
using linli::store::Store;

// Wall-clock and process CPU time. On a shared machine the wall rate drops when other work
// competes for the cores; the CPU rate shows what the store itself costs.
struct Elapsed {
  double wall = 0;
  double cpu = 0;
};
class Stopwatch {
 public:
  Stopwatch() : wall_(linli::SystemClock().Monotonic()), cpu_(std::clock()) {}
  Elapsed Read() const {
    return {std::chrono::duration<double>(linli::SystemClock().Monotonic() - wall_).count(),
            static_cast<double>(std::clock() - cpu_) / CLOCKS_PER_SEC};
  }
  void AddTo(Elapsed* e) const {
    Elapsed x = Read();
    e->wall += x.wall;
    e->cpu += x.cpu;
  }

 private:
  std::chrono::steady_clock::time_point wall_;
  std::clock_t cpu_;
};

// VmRSS / VmHWM of this process in MiB.
double ProcStatusMib(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::strtod(line.c_str() + key.size() + 1, nullptr) / 1024.0;
  }
  return 0;
}

std::string RandomId(std::mt19937_64& rng) {
  static const char* kHex = "0123456789abcdef";
  std::string s(32, '0');
  for (auto& c : s) c = kHex[rng() & 15];
  return s;
}

void Report(const char* what, int64_t n, Elapsed e, double target, const char* unit = "rows") {
  double rate = n / std::max(e.wall, 1e-9);
  double cpu_rate = n / std::max(e.cpu, 1e-9);
  std::printf("%-36s %8lld %-7s %7.3f s %9.0f %s/s (per CPU-s %9.0f)", what, static_cast<long long>(n), unit,
              e.wall, rate, unit, cpu_rate);
  if (target > 0) {
    std::printf("  target %6.0f ratio %5.2fx %s", target, rate / target, rate >= target ? "OK" : "BELOW");
  }
  std::printf("\n");
}

int Fail(const linli::Error& e, const char* what) {
  std::fprintf(stderr, "%s failed: %s\n", what, e.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Throughput of the SQLite store's write path and registry load"};
  std::string dir;
  int batches = 200;
  int batch_size = 500;
  int devices = 100000;
  bool sync_full = false;
  app.add_option("--dir", dir, "directory for the database (default: a temporary one)");
  app.add_option("--batches", batches, "batches per phase")->check(CLI::Range(1, 100000));
  app.add_option("--batch-size", batch_size, "rows per batch")->check(CLI::Range(1, 100000));
  app.add_option("--devices", devices, "devices in the registry for LoadAll")->check(CLI::Range(0, 10000000));
  app.add_flag("--sync-full", sync_full, "synchronous=FULL instead of NORMAL");
  CLI11_PARSE(app, argc, argv);

  bool temp = dir.empty();
  if (temp) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "linli-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  linli::store::SqliteOptions options;
  options.path = dir + "/bench.db";
  options.synchronous_full = sync_full;
  std::error_code ec;
  std::filesystem::remove(options.path, ec);
  auto opened = linli::store::OpenSqliteStore(options);
  if (!opened) return Fail(opened.error(), "open");
  std::unique_ptr<Store> store = std::move(*opened);
  std::mt19937_64 rng(42);
  const int64_t t0 = 1'700'000'000'000;
  std::printf("store_write_bench: %d batches x %d rows, synchronous=%s, db %s\n", batches, batch_size,
              sync_full ? "FULL" : "NORMAL", options.path.c_str());
  std::printf("(ratios use wall-clock rates; on a shared machine also look at the per-CPU-second rate)\n");

  // Telemetry: 2,000 devices x 5 metrics reporting in turn, as the ingest loop would batch it.
  {
    static const char* kMetrics[] = {"temp", "humidity", "battery", "rssi", "door_open"};
    int64_t rows = 0;
    Elapsed secs;
    int64_t n = 0;
    for (int b = 0; b < batches; ++b) {
      IngestBatch batch;
      batch.telemetry.reserve(batch_size);
      for (int i = 0; i < batch_size; ++i, ++n) {
        linli::model::TelemetryPoint p;
        p.device_id = "dev" + std::to_string((n / 5) % 2000);
        p.metric = kMetrics[n % 5];
        p.ts_ms = t0 + n / 10000 * 1000;
        if (n % 5 == 4) {
          p.value = (n & 1) == 0;
        } else {
          p.value = static_cast<double>(n % 1000) / 10.0;
        }
        batch.telemetry.push_back(std::move(p));
      }
      Stopwatch watch;
      auto r = store->WriteBatch(batch);
      watch.AddTo(&secs);
      if (!r) return Fail(r.error(), "telemetry batch");
      rows += r->telemetry_written;
    }
    Report("telemetry (INSERT OR REPLACE)", rows, secs, 50000);
  }

  // Events with random ids (as UUIDs are), small JSON payloads.
  std::vector<IngestBatch> event_batches;
  {
    int64_t rows = 0;
    Elapsed secs;
    for (int b = 0; b < batches; ++b) {
      IngestBatch batch;
      for (int i = 0; i < batch_size; ++i) {
        linli::model::Event e;
        e.id = RandomId(rng);
        e.compound_id = "c" + std::to_string(rng() % 10);
        e.device_id = "dev" + std::to_string(rng() % 2000);
        e.type = (i % 3 == 0) ? "door.open" : (i % 3 == 1 ? "door.passage" : "gas.reading");
        e.ts_ms = t0 + b * 1000 + i;
        e.received_ms = e.ts_ms + 20;
        e.data = {{"card", "8A3F2C11"}, {"direction", "in"}, {"seq", i}};
        batch.events.push_back(std::move(e));
      }
      Stopwatch watch;
      auto r = store->WriteBatch(batch);
      watch.AddTo(&secs);
      if (!r) return Fail(r.error(), "event batch");
      rows += r->events_written;
      if (b < 20) event_batches.push_back(std::move(batch));
    }
    Report("events (INSERT OR IGNORE)", rows, secs, 20000);
  }
  {
    int64_t dups = 0;
    Stopwatch watch;
    for (const auto& batch : event_batches) {
      auto r = store->WriteBatch(batch);
      if (!r) return Fail(r.error(), "redelivery batch");
      dups += r->events_duplicate;
    }
    Report("events redelivered (duplicates)", dups, watch.Read(), 20000);
  }
  // Mixed: what one ingest round looks like (80% telemetry, 20% events, some last-seen).
  {
    int64_t rows = 0;
    Elapsed secs;
    for (int b = 0; b < batches; ++b) {
      IngestBatch batch;
      for (int i = 0; i < batch_size; ++i) {
        if (i % 5 == 4) {
          linli::model::Event e;
          e.id = RandomId(rng);
          e.compound_id = "c1";
          e.device_id = "dev" + std::to_string(i);
          e.type = "door.passage";
          e.ts_ms = t0 + 10'000'000 + b * 1000 + i;
          batch.events.push_back(std::move(e));
        } else {
          linli::model::TelemetryPoint p;
          p.device_id = "dev" + std::to_string(i);
          p.metric = "temp";
          p.ts_ms = t0 + 10'000'000 + b * 1000;
          p.value = 21.5;
          batch.telemetry.push_back(std::move(p));
        }
      }
      for (int i = 0; i < 50; ++i) batch.last_seen.emplace_back("dev" + std::to_string(i), t0 + b * 1000);
      Stopwatch watch;
      auto r = store->WriteBatch(batch);
      watch.AddTo(&secs);
      if (!r) return Fail(r.error(), "mixed batch");
      rows += r->telemetry_written + r->events_written;
    }
    Report("mixed ingest (80% tel, 20% ev)", rows, secs, 0);
  }

  // Registry: many devices, then LoadAll as linlid does at start-up.
  if (devices > 0) {
    for (int c = 0; c < 10; ++c) {
      linli::model::Record compound;
      compound.kind = linli::model::Kind::kCompound;
      compound.id = "c" + std::to_string(c);
      compound.fields = {{"name", "小区" + std::to_string(c)}};
      auto r = store->CreateRecord(compound);
      if (!r) return Fail(r.error(), "create compound");
    }
    Stopwatch import_watch;
    std::vector<linli::model::Record> chunk;
    for (int i = 0; i < devices; ++i) {
      linli::model::Record d;
      d.kind = linli::model::Kind::kDevice;
      d.id = "d" + std::to_string(i);
      d.created_ms = d.updated_ms = t0 + i;
      d.fields = {{"compound_id", "c" + std::to_string(i % 10)},
                  {"kind", "door_controller"},
                  {"name", "单元门禁 " + std::to_string(i)},
                  {"vendor", "hikvision"},
                  {"model", "DS-K1T671"},
                  {"protocol", "mqtt"},
                  {"area", "east"},
                  {"heartbeat_timeout_s", 120},
                  {"attributes", {{"ip", "10.1.2.3"}, {"firmware", "V3.2.1"}}}};
      chunk.push_back(std::move(d));
      if (chunk.size() == 5000 || i + 1 == devices) {
        auto r = store->CreateRecords(chunk);
        if (!r) return Fail(r.error(), "create devices");
        chunk.clear();
      }
    }
    Report("registry import (CreateRecords)", devices, import_watch.Read(), 0, "records");

    double rss_before = ProcStatusMib("VmRSS");
    Stopwatch load_watch;
    auto all = store->LoadAll(linli::model::Kind::kDevice);
    Elapsed loaded = load_watch.Read();
    if (!all) return Fail(all.error(), "LoadAll");
    double rss_after = ProcStatusMib("VmRSS");
    Report("LoadAll(devices)", static_cast<int64_t>(all->size()), loaded, 0, "records");
    std::printf("%-34s %10.1f MiB for %zu records (%.0f bytes/record incl. Json), peak RSS %.1f MiB\n",
                "LoadAll memory (RSS growth)", rss_after - rss_before, all->size(),
                (rss_after - rss_before) * 1024 * 1024 / std::max<size_t>(all->size(), 1), ProcStatusMib("VmHWM"));
    all->clear();
    all->shrink_to_fit();

    Stopwatch list_watch;
    int queries = 200;
    for (int i = 0; i < queries; ++i) {
      linli::store::ListQuery q;
      q.kind = linli::model::Kind::kDevice;
      q.compound_ids = std::vector<std::string>{"c" + std::to_string(i % 10)};
      q.filters = {{"vendor", "hikvision"}};
      q.limit = 50;
      q.offset = (i * 50) % 5000;
      auto r = store->ListRecords(q);
      if (!r) return Fail(r.error(), "ListRecords");
    }
    Report("ListRecords (1 compound+filter, 50)", queries, list_watch.Read(), 0, "queries");
  }

  {
    Stopwatch watch;
    auto removed = store->PruneTelemetry(t0 + 5000);
    if (!removed) return Fail(removed.error(), "PruneTelemetry");
    Report("PruneTelemetry", *removed, watch.Read(), 0);
  }
  store.reset();
  if (temp) std::filesystem::remove_all(dir, ec);
  return 0;
}
