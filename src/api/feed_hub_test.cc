#include "api/feed_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace linli::api {
namespace {

Principal Scoped(std::set<std::string> compounds, bool all = false) {
  Principal p;
  p.role = Role::kOperator;
  p.compounds = std::move(compounds);
  p.all_compounds = all;
  return p;
}

model::FeedItem Item(std::string compound, int64_t ts) {
  return model::FeedItem{"event", std::move(compound), ts, Json{{"n", ts}}};
}

TEST(FeedHubTest, DeliversOnlyItemsInScope) {
  metrics::Registry m;
  FeedHub hub(&m, 10);
  int wakes_a = 0;
  auto a = hub.Subscribe(Scoped({"A"}), [&] { ++wakes_a; }).value();
  auto all = hub.Subscribe(Scoped({}, true), nullptr).value();
  auto none = hub.Subscribe(Scoped({}), nullptr).value();
  hub.Publish(Item("A", 1));
  hub.Publish(Item("B", 2));
  hub.Publish(Item("A", 3));
  auto got = a->Drain();
  ASSERT_EQ(got.size(), 2u);
  Json first = Json::parse(*got[0]);
  EXPECT_EQ(first["type"], "event");
  EXPECT_EQ(first["compound_id"], "A");
  EXPECT_EQ(first["ts_ms"], 1);
  EXPECT_EQ(first["data"]["n"], 1);
  EXPECT_EQ(Json::parse(*got[1])["ts_ms"], 3);
  EXPECT_EQ(wakes_a, 1);  // one wake-up for the empty → non-empty transition
  EXPECT_EQ(all->Drain().size(), 3u);
  EXPECT_TRUE(none->Drain().empty());
  EXPECT_EQ(hub.subscriber_count(), 3u);
  EXPECT_NE(m.Render().find("linli_feed_subscribers 3"), std::string::npos) << m.Render();
  hub.Unsubscribe(none);
  EXPECT_EQ(hub.subscriber_count(), 2u);
}

TEST(FeedHubTest, SlowSubscriberLosesOldestAndIsCounted) {
  metrics::Registry m;
  FeedHub hub(&m, 3);
  auto s = hub.Subscribe(Scoped({"A"}), nullptr).value();
  for (int i = 1; i <= 10; ++i) hub.Publish(Item("A", i));
  auto got = s->Drain();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(Json::parse(*got[0])["ts_ms"], 8);
  EXPECT_EQ(Json::parse(*got[2])["ts_ms"], 10);
  EXPECT_EQ(s->dropped(), 7);
  EXPECT_NE(m.Render().find("linli_feed_dropped_total 7"), std::string::npos);
}

TEST(FeedHubTest, PublishersNeverBlockOnSubscribers) {
  FeedHub hub(nullptr, 100);
  auto s = hub.Subscribe(Scoped({}, true), nullptr).value();
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&hub, t] {
      for (int i = 0; i < 5000; ++i) hub.Publish(Item(t % 2 ? "A" : "B", i));
    });
  }
  for (auto& p : publishers) p.join();
  EXPECT_EQ(s->Drain().size() + static_cast<size_t>(s->dropped()), 20000u);
}

TEST(FeedHubTest, CloseAllClosesAndRefusesNewSubscribers) {
  FeedHub hub(nullptr, 10);
  int wakes = 0;
  auto s = hub.Subscribe(Scoped({"A"}), [&] { ++wakes; }).value();
  hub.CloseAll();
  EXPECT_TRUE(s->closed());
  EXPECT_EQ(wakes, 1);
  hub.Publish(Item("A", 1));
  EXPECT_TRUE(s->Drain().empty());
  EXPECT_FALSE(hub.Subscribe(Scoped({"A"}), nullptr).has_value());
}

}  // namespace
}  // namespace linli::api
