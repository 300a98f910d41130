// The notifier against a real HTTP server on loopback (Boost.Beast), through the real libcurl
// client: signatures, retries with back-off, permanent failures, delivery recorded in the store.
#include "incidents/notifier.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <deque>
#include <thread>

#include "common/crypto.h"
#include "incidents/incidents_test_util.h"

namespace linli::incidents {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// Answers each request with the next status of `statuses` (then 200) and records it.
class Receiver {
 public:
  explicit Receiver(std::deque<int> statuses) : statuses_(std::move(statuses)), acceptor_(ioc_, {tcp::v4(), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
  }
  ~Receiver() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket s(ioc_);
    s.connect({net::ip::address_v4::loopback(), static_cast<unsigned short>(port_)}, ec);  // unblock accept
    thread_.join();
  }
  int port() const { return port_; }
  struct Got {
    std::string body, topic, signature, delivery;
  };
  std::vector<Got> got() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  void Serve() {
    while (!stop_) {
      tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) break;
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(sock, buf, req, ec);
      if (ec) continue;
      int status = 200;
      {
        std::lock_guard lock(mu_);
        got_.push_back({req.body(), std::string(req["X-Linli-Topic"]), std::string(req["X-Linli-Signature"]),
                        std::string(req["X-Linli-Delivery"])});
        if (!statuses_.empty()) {
          status = statuses_.front();
          statuses_.pop_front();
        }
      }
      http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
      res.body() = "ok";
      res.prepare_payload();
      http::write(sock, res, ec);
    }
  }

  std::deque<int> statuses_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Got> got_;
  std::thread thread_;
};

class NotifierTest : public testing::IncidentsFixture {
 protected:
  void AddWebhook(const std::string& id, int port, const std::string& secret) {
    Add(model::Kind::kWebhook, id, "",
        {{"name", id}, {"url", "http://127.0.0.1:" + std::to_string(port) + "/hook"}, {"secret", secret},
         {"topics", {"alarm.*"}}});
    ASSERT_TRUE(cache_.Load(store_.get()).has_value());
  }
  int64_t Queue(const std::string& target, int port) {
    model::Notification n;
    n.compound_id = "c1";
    n.target = target;
    n.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
    n.topic = "alarm.raised";
    n.payload = Json{{"topic", "alarm.raised"}, {"data", {{"id", "a1"}}}};
    n.created_ms = n.next_attempt_ms = clock_.NowMs();
    store::IncidentWrite w;
    w.notifications = {n};
    auto r = store_->ApplyIncidentWrite(w);
    EXPECT_TRUE(r.has_value());
    return r ? r->notification_ids[0] : 0;
  }
  model::Notification Get(int64_t id) {
    auto all = store_->ListNotifications(0, 100, 0);
    EXPECT_TRUE(all.has_value());
    for (const auto& n : *all) {
      if (n.id == id) return n;
    }
    ADD_FAILURE() << "no notification " << id;
    return {};
  }
};

TEST_F(NotifierTest, DeliversSignedAndRetriesServerErrorsWithBackoff) {
  Receiver rx({500, 503});
  AddWebhook("wh1", rx.port(), "s3cret");
  const int64_t id = Queue("wh1", rx.port());
  auto client = MakeCurlHttpClient();
  Notifier notifier(store_.get(), &cache_, &clock_, client.get());
  ASSERT_EQ(*notifier.RunOnce(), 1);
  auto n = Get(id);
  EXPECT_EQ(n.state, model::NotificationState::kPending);
  EXPECT_EQ(n.attempts, 1);
  EXPECT_EQ(n.last_error, "HTTP 500");
  EXPECT_EQ(n.next_attempt_ms, clock_.NowMs() + 5'000);
  ASSERT_EQ(*notifier.RunOnce(), 0);  // not due yet
  clock_.AdvanceMs(5'000);
  ASSERT_EQ(*notifier.RunOnce(), 1);
  EXPECT_EQ(Get(id).next_attempt_ms, clock_.NowMs() + 10'000);  // doubled
  clock_.AdvanceMs(10'000);
  ASSERT_EQ(*notifier.RunOnce(), 1);
  n = Get(id);
  EXPECT_EQ(n.state, model::NotificationState::kDelivered);
  EXPECT_EQ(n.attempts, 3);
  auto got = rx.got();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].topic, "alarm.raised");
  EXPECT_EQ(got[2].delivery, std::to_string(id));
  EXPECT_EQ(got[2].signature, "sha256=" + HmacSha256Hex("s3cret", got[2].body));
  EXPECT_EQ(Json::parse(got[2].body)["data"]["id"], "a1");
}

TEST_F(NotifierTest, ClientErrorsAreFinalAndUnreachableReceiversGiveUp) {
  Receiver rx({400});
  AddWebhook("wh1", rx.port(), "");
  const int64_t bad = Queue("wh1", rx.port());
  auto client = MakeCurlHttpClient();
  NotifierOptions o;
  o.max_attempts = 2;
  o.timeout_ms = 1000;
  Notifier notifier(store_.get(), &cache_, &clock_, client.get(), o);
  ASSERT_EQ(*notifier.RunOnce(), 1);
  EXPECT_EQ(Get(bad).state, model::NotificationState::kFailed);
  EXPECT_TRUE(rx.got()[0].signature.empty());  // no secret, no signature
  // Nothing listens on port 9 of loopback: a network error, retried, then given up.
  const int64_t dead = Queue("contact-x", 9);
  ASSERT_EQ(*notifier.RunOnce(), 1);
  auto n = Get(dead);
  EXPECT_EQ(n.state, model::NotificationState::kPending);
  EXPECT_FALSE(n.last_error.empty());
  clock_.AdvanceMs(60'000);
  ASSERT_EQ(*notifier.RunOnce(), 1);
  EXPECT_EQ(Get(dead).state, model::NotificationState::kFailed);
  EXPECT_EQ(Get(dead).attempts, 2);
}

}  // namespace
}  // namespace linli::incidents
