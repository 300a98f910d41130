// FeedHub: the live feed's fan-out. Producers call Publish() (model::FeedSink); every
// subscriber whose scope includes the item's compound gets the item, serialised once as
// {"type","compound_id","ts_ms","data"}.
//
// Slow subscribers never block publishers: each subscriber has a bounded queue; when it is
// full the oldest message is dropped and counted (linli_feed_dropped_total and the
// subscriber's own count). Publishers only take short mutexes and call the subscriber's wake
// callback, which must not block (the HTTP layer posts to the connection's strand).
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <cstdint>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/principal.h"
#include "common/metrics.h"
#include "common/result.h"
#include "model/feed.h"

namespace linli::api {

class FeedSubscriber {
 public:
  FeedSubscriber(bool all_compounds, std::set<std::string> compounds, size_t capacity,
                 std::function<void()> wake);

  bool Wants(const std::string& compound_id) const;
  // Queues one serialised message; returns true if an old one had to be dropped.
  bool Push(const std::shared_ptr<const std::string>& msg);
  // Takes everything queued (oldest first).
  std::deque<std::shared_ptr<const std::string>> Drain();
  int64_t dropped() const;
  // Marks the subscriber closed and wakes it; Push() becomes a no-op.
  void Close();
  bool closed() const;

 private:
  const bool all_compounds_;
  const std::set<std::string> compounds_;
  const size_t capacity_;
  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  int64_t dropped_ = 0;
  bool closed_ = false;
  std::atomic<size_t> active_{0};  // subscribers_.size(), readable without the mutex
};

class FeedHub final : public model::FeedSink {
 public:
  // `metrics` may be null (no metrics recorded). `queue_capacity` per subscriber.
  FeedHub(metrics::Registry* metrics, size_t queue_capacity = 1000);
  ~FeedHub() override;

  void Publish(const model::FeedItem& item) override;
  bool Active() const override { return active_.load(std::memory_order_relaxed) > 0; }

  // Registers a subscriber with the principal's scope. Unavailable after CloseAll().
  Result<std::shared_ptr<FeedSubscriber>> Subscribe(const Principal& p, std::function<void()> wake);
  void Unsubscribe(const std::shared_ptr<FeedSubscriber>& s);
  // Closes every subscriber and refuses new ones (server shutdown).
  void CloseAll();
  size_t subscriber_count() const;

  // The wire form of an item.
  static std::string Serialise(const model::FeedItem& item);

 private:
  void UpdateGaugeLocked();

  const size_t queue_capacity_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<FeedSubscriber>> subscribers_;
  bool closed_ = false;
  std::atomic<size_t> active_{0};  // subscribers_.size(), readable without the mutex
  metrics::Gauge* subscribers_gauge_ = nullptr;
  metrics::Counter* dropped_ = nullptr;
  metrics::Counter* published_ = nullptr;
};

}  // namespace linli::api
