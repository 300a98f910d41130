#include "api/feed_hub.h"

#include <algorithm>

namespace linli::api {

FeedSubscriber::FeedSubscriber(bool all_compounds, std::set<std::string> compounds, size_t capacity,
                               std::function<void()> wake)
    : all_compounds_(all_compounds),
      compounds_(std::move(compounds)),
      capacity_(std::max<size_t>(1, capacity)),
      wake_(std::move(wake)) {}

bool FeedSubscriber::Wants(const std::string& compound_id) const {
  return all_compounds_ || compounds_.count(compound_id) > 0;
}

bool FeedSubscriber::Push(const std::shared_ptr<const std::string>& msg) {
  bool dropped = false;
  bool was_empty = false;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    was_empty = queue_.empty();
    if (queue_.size() >= capacity_) {
      queue_.pop_front();
      ++dropped_;
      dropped = true;
    }
    queue_.push_back(msg);
  }
  // Only the empty → non-empty transition needs a wake-up; the drainer takes everything.
  if (was_empty && wake_) wake_();
  return dropped;
}

std::deque<std::shared_ptr<const std::string>> FeedSubscriber::Drain() {
  std::lock_guard lock(mu_);
  std::deque<std::shared_ptr<const std::string>> out;
  out.swap(queue_);
  return out;
}

int64_t FeedSubscriber::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void FeedSubscriber::Close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  if (wake_) wake_();
}

bool FeedSubscriber::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

FeedHub::FeedHub(metrics::Registry* metrics, size_t queue_capacity)
    : queue_capacity_(queue_capacity) {
  if (metrics != nullptr) {
    subscribers_gauge_ =
        &metrics->GetGauge("linli_feed_subscribers", "Live feed subscribers connected");
    dropped_ = &metrics->GetCounter("linli_feed_dropped_total",
                                    "Live feed messages dropped because a subscriber was too slow");
    published_ = &metrics->GetCounter("linli_feed_items_total", "Items published to the live feed");
  }
}

FeedHub::~FeedHub() { CloseAll(); }

std::string FeedHub::Serialise(const model::FeedItem& item) {
  Json j = Json::object();
  j["type"] = item.type;
  j["compound_id"] = item.compound_id;
  j["ts_ms"] = item.ts_ms;
  j["data"] = item.data;
  return DumpJson(j);
}

void FeedHub::Publish(const model::FeedItem& item) {
  if (published_ != nullptr) published_->Inc();
  std::shared_ptr<const std::string> msg;
  std::lock_guard lock(mu_);
  for (const auto& s : subscribers_) {
    if (!s->Wants(item.compound_id)) continue;
    if (!msg) msg = std::make_shared<const std::string>(Serialise(item));
    if (s->Push(msg) && dropped_ != nullptr) dropped_->Inc();
  }
}

Result<std::shared_ptr<FeedSubscriber>> FeedHub::Subscribe(const Principal& p,
                                                           std::function<void()> wake) {
  auto s = std::make_shared<FeedSubscriber>(p.all_compounds, p.compounds, queue_capacity_,
                                            std::move(wake));
  std::lock_guard lock(mu_);
  if (closed_) return Fail(ErrorCode::kUnavailable, "the server is shutting down");
  subscribers_.push_back(s);
  UpdateGaugeLocked();
  return s;
}

void FeedHub::Unsubscribe(const std::shared_ptr<FeedSubscriber>& s) {
  std::lock_guard lock(mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), s), subscribers_.end());
  UpdateGaugeLocked();
}

void FeedHub::CloseAll() {
  std::vector<std::shared_ptr<FeedSubscriber>> subs;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    subs = subscribers_;
  }
  for (const auto& s : subs) s->Close();
}

size_t FeedHub::subscriber_count() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void FeedHub::UpdateGaugeLocked() {
  active_.store(subscribers_.size(), std::memory_order_relaxed);
  if (subscribers_gauge_ != nullptr)
    subscribers_gauge_->Set(static_cast<double>(subscribers_.size()));
}

}  // namespace linli::api
