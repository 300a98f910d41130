// Notifier: delivers queued notifications (webhooks of the hosting centre and escalation
// contacts) with retries. A notification is in the store before anything is sent, so a crash
// loses none; delivery is at-least-once (receivers de-duplicate by X-Linli-Delivery).
// Back-off: 5 s, 10 s, 20 s, ... capped at 1 h; after `max_attempts` the notification is
// marked failed, counted and kept (GET /api/v1/notifications).
//
// Ownership: owns its thread; borrows store, registry, clock and client.
// Thread-safety: Start/Stop from one thread; Wake() from any.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/metrics.h"
#include "incidents/http_client.h"
#include "incidents/registry_cache.h"
#include "store/store.h"

namespace linli::incidents {

struct NotifierOptions {
  int max_attempts = 10;
  int64_t base_backoff_ms = 5'000;
  int64_t max_backoff_ms = 3'600'000;
  int64_t timeout_ms = 5'000;
  int64_t poll_ms = 1'000;
};

class Notifier {
 public:
  Notifier(store::Store* store, RegistryCache* registry, Clock* clock, HttpClient* client,
           NotifierOptions options = {});
  ~Notifier();
  void Start();
  void Stop();
  void Wake();
  // One delivery round (the thread's body; public for tests). Returns notifications handled.
  Result<int> RunOnce();

 private:
  store::Store* store_;
  RegistryCache* registry_;
  Clock* clock_;
  HttpClient* client_;
  NotifierOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  std::thread thread_;
  metrics::Counter* delivered_;
  metrics::Counter* failed_attempts_;
  metrics::Counter* given_up_;
};

}  // namespace linli::incidents
