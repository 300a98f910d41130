#include "incidents/notifier.h"

#include <pthread.h>

#include "common/crypto.h"
#include "common/log.h"

namespace linli::incidents {

Notifier::Notifier(store::Store* store, RegistryCache* registry, Clock* clock, HttpClient* client,
                   NotifierOptions options)
    : store_(store), registry_(registry), clock_(clock), client_(client), options_(options) {
  auto& m = metrics::Default();
  delivered_ = &m.GetCounter("linli_notifications_delivered_total", "Webhook notifications delivered");
  failed_attempts_ = &m.GetCounter("linli_notification_attempts_failed_total", "Webhook delivery attempts that failed");
  given_up_ = &m.GetCounter("linli_notifications_failed_total", "Webhook notifications given up after all retries");
}

Notifier::~Notifier() { Stop(); }

void Notifier::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "linlid-notify");
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      auto r = RunOnce();
      if (!r) log::Warn("notification round failed", {{"error", r.error().ToString()}});
      lock.lock();
      if (stop_) break;
      if (r && *r > 0) continue;  // more may be due
      cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms), [this] { return stop_ || woken_; });
      woken_ = false;
    }
  });
}

void Notifier::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Notifier::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

Result<int> Notifier::RunOnce() {
  const int64_t now = clock_->NowMs();
  LINLI_ASSIGN_OR_RETURN(auto due, store_->DueNotifications(now, 50));
  for (auto& n : due) {
    const std::string body = DumpJson(n.payload);
    std::vector<std::pair<std::string, std::string>> headers = {
        {"X-Linli-Topic", n.topic}, {"X-Linli-Delivery", std::to_string(n.id)}};
    if (n.channel == "webhook") {
      for (const auto& w : registry_->Webhooks(n.topic, n.compound_id)) {
        if (w.id == n.target && !w.secret.empty()) headers.emplace_back("X-Linli-Signature", "sha256=" + HmacSha256Hex(w.secret, body));
      }
    }
    auto answer = client_->Post(n.url, body, headers, options_.timeout_ms);
    ++n.attempts;
    const int64_t done = clock_->NowMs();
    if (answer && answer->status >= 200 && answer->status < 300) {
      n.state = model::NotificationState::kDelivered;
      n.delivered_ms = done;
      n.last_error.clear();
      delivered_->Inc();
    } else {
      failed_attempts_->Inc();
      n.last_error = answer ? "HTTP " + std::to_string(answer->status) : answer.error().message();
      // 4xx other than 408/429 will not get better by retrying.
      const bool permanent = answer && answer->status >= 400 && answer->status < 500 && answer->status != 408 &&
                             answer->status != 429;
      if (permanent || n.attempts >= options_.max_attempts) {
        n.state = model::NotificationState::kFailed;
        given_up_->Inc();
        log::Warn("notification given up", {{"id", std::to_string(n.id)}, {"topic", n.topic}, {"error", n.last_error}});
      } else {
        int64_t backoff = options_.base_backoff_ms << std::min(n.attempts - 1, 20);
        n.next_attempt_ms = done + std::min(backoff, options_.max_backoff_ms);
      }
    }
    store::IncidentWrite w;
    w.notifications.push_back(n);
    LINLI_RETURN_IF_ERROR(store_->ApplyIncidentWrite(w));
  }
  return static_cast<int>(due.size());
}

}  // namespace linli::incidents
