#include "prom.h"

#include <gtest/gtest.h>

namespace linli::sim {
namespace {

constexpr const char* kScrape = R"(# HELP linli_ingest_messages_total Messages ingested.
# TYPE linli_ingest_messages_total counter
linli_ingest_messages_total 1200
linli_ingest_dead_letters_total{reason="bad_json"} 3
linli_ingest_dead_letters_total{reason="unknown_device",extra="a \"q\" b"} 4
# TYPE linli_ingest_store_latency_seconds histogram
linli_ingest_store_latency_seconds_bucket{le="0.001"} 0
linli_ingest_store_latency_seconds_bucket{le="0.01"} 50
linli_ingest_store_latency_seconds_bucket{le="0.1"} 90
linli_ingest_store_latency_seconds_bucket{le="1"} 100
linli_ingest_store_latency_seconds_bucket{le="+Inf"} 100
linli_ingest_store_latency_seconds_sum 4.5
linli_ingest_store_latency_seconds_count 100
)";

TEST(PromTest, ParsesSamplesAndSumsCounters) {
  auto s = ParsePrometheusText(kScrape);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_EQ(PromSum(*s, "linli_ingest_messages_total"), 1200);
  EXPECT_EQ(PromSum(*s, "linli_ingest_dead_letters_total"), 7);
  EXPECT_EQ(PromSum(*s, "linli_ingest_dead_letters_total", {{"reason", "bad_json"}}), 3);
  EXPECT_EQ(PromSum(*s, "linli_ingest_dead_letters_total", {{"extra", "a \"q\" b"}}), 4);
  EXPECT_FALSE(PromSum(*s, "nope").has_value());
}

TEST(PromTest, QuantilesInterpolateWithinBuckets) {
  auto s = ParsePrometheusText(kScrape);
  auto h = GetHistogram(*s, "linli_ingest_store_latency_seconds");
  ASSERT_TRUE(h.has_value()) << h.error().ToString();
  EXPECT_EQ(h->count, 100);
  EXPECT_DOUBLE_EQ(h->sum, 4.5);
  // Rank 50 is the top of the (0.001, 0.01] bucket.
  EXPECT_NEAR(*HistogramQuantile(*h, 0.5), 0.01, 1e-12);
  // Rank 25: halfway through the 50 observations of (0.001, 0.01].
  EXPECT_NEAR(*HistogramQuantile(*h, 0.25), 0.001 + 0.009 * 0.5, 1e-12);
  // Rank 99: 9/10 through (0.1, 1].
  EXPECT_NEAR(*HistogramQuantile(*h, 0.99), 0.1 + 0.9 * 0.9, 1e-12);
}

TEST(PromTest, QuantileInTheInfBucketIsTheLargestFiniteBound) {
  PromHistogram h;
  h.buckets = {{0.1, 1}, {1, 2}, {std::numeric_limits<double>::infinity(), 10}};
  EXPECT_DOUBLE_EQ(*HistogramQuantile(h, 0.99), 1.0);
  EXPECT_FALSE(HistogramQuantile(h, 0).has_value());
  EXPECT_FALSE(HistogramQuantile(h, 1.5).has_value());
  PromHistogram empty;
  empty.buckets = {{0.1, 0}, {std::numeric_limits<double>::infinity(), 0}};
  EXPECT_FALSE(HistogramQuantile(empty, 0.5).has_value());
}

TEST(PromTest, DeltaIsolatesOneStep) {
  auto before = *GetHistogram(*ParsePrometheusText(kScrape), "linli_ingest_store_latency_seconds");
  std::string later = kScrape;
  // 100 more observations, all in (0.01, 0.1].
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"le=\"0.1\"} 90", "le=\"0.1\"} 190"}, {"le=\"1\"} 100", "le=\"1\"} 200"},
           {"le=\"+Inf\"} 100", "le=\"+Inf\"} 200"}, {"_count 100", "_count 200"}}) {
    later.replace(later.find(from), from.size(), to);
  }
  auto after = *GetHistogram(*ParsePrometheusText(later), "linli_ingest_store_latency_seconds");
  auto d = HistogramDelta(after, before);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->count, 100);
  EXPECT_NEAR(*HistogramQuantile(*d, 0.5), 0.01 + 0.09 * 0.5, 1e-12);
  PromHistogram other;
  other.buckets = {{std::numeric_limits<double>::infinity(), 1}};
  EXPECT_FALSE(HistogramDelta(after, other).has_value());
}

TEST(PromTest, MalformedInputIsAnErrorNotACrash) {
  for (std::string_view bad : {"metric{le=\"1\" 3", "metric{le=1} 3", "9metric 1", "metric abc", "metric{=\"x\"} 1",
                               "metric{a=\"unterminated} 1"}) {
    auto r = ParsePrometheusText(bad);
    EXPECT_FALSE(r.has_value()) << bad;
  }
  EXPECT_TRUE(ParsePrometheusText("").has_value());
  EXPECT_TRUE(ParsePrometheusText("m 1 1700000000000\n").has_value());  // with a timestamp
  auto s = ParsePrometheusText("h_bucket{le=\"1\"} 1\n");
  EXPECT_FALSE(GetHistogram(*s, "h").has_value());  // no +Inf bucket
}

}  // namespace
}  // namespace linli::sim
