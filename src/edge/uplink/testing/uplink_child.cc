// A box uplink as a separate process, for the kill -9 tests (uplink_kill_test.cc). It opens an
// outbox, optionally stores N event steps, optionally runs the Uplink until the outbox is
// empty, and can SIGKILL itself at a chosen point: right after storing, or at the K-th hit of
// an Uplink fault point ("published", "confirmed", "removed").
//
//   uplink_child --outbox DIR [--store N --prefix P] [--die-after-store]
//                [--send --port PORT --password PW [--die-at POINT --die-after K]]
// Exit: 0 when everything was sent (or only stored), 2 bad usage, 3 timeout (30 s), 4 errors.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/log.h"
#include "edge/uplink/outbox.h"
#include "edge/uplink/outbox_sink.h"
#include "edge/uplink/uplink.h"

using namespace linli;
using namespace linli::edge;

int main(int argc, char** argv) {
  std::string outbox_dir, prefix = "ev", password, die_at;
  int store = 0, port = 0, die_after = 0;
  bool send = false, die_after_store = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--outbox") outbox_dir = next();
    else if (a == "--store") store = std::atoi(next().c_str());
    else if (a == "--prefix") prefix = next();
    else if (a == "--die-after-store") die_after_store = true;
    else if (a == "--send") send = true;
    else if (a == "--port") port = std::atoi(next().c_str());
    else if (a == "--password") password = next();
    else if (a == "--die-at") die_at = next();
    else if (a == "--die-after") die_after = std::atoi(next().c_str());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (outbox_dir.empty()) return 2;
  log::Init(log::Level::kInfo, log::Format::kText);
  OutboxOptions oo;
  oo.dir = outbox_dir;
  auto ob = Outbox::Open(oo);
  if (!ob) {
    std::fprintf(stderr, "outbox: %s\n", ob.error().ToString().c_str());
    return 4;
  }
  OutboxSink sink(**ob);
  for (int i = 0; i < store; ++i) {
    EdgeEvent e;
    char id[64];
    std::snprintf(id, sizeof id, "%s-%04d", prefix.c_str(), i);
    e.id = id;
    e.type = "vision.zone_intrusion";
    e.camera_id = "cam-1";
    e.phase = EventPhase::kBegin;
    e.start_ms = i * 1000;
    e.end_ms = i * 1000 + 500;
    e.score = 0.9f;
    auto r = sink.Enqueue(e, {});
    if (!r) {
      std::fprintf(stderr, "store: %s\n", r.error().ToString().c_str());
      return 4;
    }
  }
  std::printf("stored %d\n", store);
  std::fflush(stdout);
  if (die_after_store) ::raise(SIGKILL);
  if (!send) return 0;

  UplinkOptions uo;
  uo.compound_id = "c1";
  uo.box_id = "box-1";
  uo.mqtt_port = port;
  uo.mqtt_password = password;
  uo.inflight_window = 4;
  uo.backoff_min_ms = 20;
  uo.backoff_max_ms = 200;
  int hits = 0;
  UplinkHooks hooks;
  hooks.fault_point = [&](std::string_view point, int64_t seq) {
    if (point != die_at) return;
    if (++hits == die_after) {
      std::printf("dying at %s #%d (seq %lld)\n", std::string(point).c_str(), hits,
                  static_cast<long long>(seq));
      std::fflush(stdout);
      ::raise(SIGKILL);
    }
  };
  Uplink up(uo, **ob, nullptr, hooks);
  if (auto r = up.Start(); !r) {
    std::fprintf(stderr, "uplink: %s\n", r.error().ToString().c_str());
    return 4;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*ob)->Stats().entries > 0) {
    if (std::chrono::steady_clock::now() > deadline) return 3;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling with a deadline
  }
  up.Stop();
  std::printf("sent all\n");
  return 0;
}
