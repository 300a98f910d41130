#include "ingest/decode.h"

#include <gtest/gtest.h>

#include <variant>

namespace linli::ingest {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

TEST(DecodeTelemetryTest, DecodesNumbersBoolsAndStrings) {
  auto pts = DecodeTelemetry(R"({"ts": 1799999999000, "metrics": {"ch4_ppm": 12.5, "door_open": true, "fw": "1.2"}})",
                             "d1", kNow, {});
  ASSERT_TRUE(pts) << pts.error().ToString();
  ASSERT_EQ(pts->size(), 3u);
  for (const auto& p : *pts) {
    EXPECT_EQ(p.device_id, "d1");
    EXPECT_EQ(p.ts_ms, 1799999999000);
    if (p.metric == "ch4_ppm") {
      EXPECT_DOUBLE_EQ(std::get<double>(p.value), 12.5);
    }
    if (p.metric == "door_open") {
      EXPECT_TRUE(std::get<bool>(p.value));
    }
    if (p.metric == "fw") {
      EXPECT_EQ(std::get<std::string>(p.value), "1.2");
    }
  }
}

TEST(DecodeTelemetryTest, MissingTsTakesNow) {
  auto pts = DecodeTelemetry(R"({"metrics": {"v": 1}})", "d1", kNow, {});
  ASSERT_TRUE(pts);
  EXPECT_EQ(pts->front().ts_ms, kNow);
}

TEST(DecodeTelemetryTest, RejectsBadPayloadsNamingTheField) {
  struct Case {
    const char* payload;
    const char* field;
  } cases[] = {
      {R"({"ts": 1, "metrics": {"v": 1}})", "ts"},                 // far in the past
      {R"({"ts": 9999999999999, "metrics": {"v": 1}})", "ts"},     // far in the future
      {R"({"ts": "soon", "metrics": {"v": 1}})", "ts"},
      {R"({"metrics": []})", "metrics"},
      {R"({"metrics": {}})", "metrics"},
      {R"({"nometrics": 1})", "metrics"},
      {R"({"metrics": {"v": null}})", "metrics.v"},
      {R"({"metrics": {"v": {"nested": 1}}})", "metrics.v"},
      {R"({"metrics": {"bad name": 1}})", "metrics.bad name"},
  };
  for (const auto& c : cases) {
    auto r = DecodeTelemetry(c.payload, "d1", kNow, {});
    ASSERT_FALSE(r) << c.payload;
    EXPECT_EQ(r.error().field(), c.field) << c.payload << " → " << r.error().ToString();
  }
  for (const char* junk : {"", "not json", "[1,2]", "{\"metrics\":", "\xff\xfe"}) {
    EXPECT_FALSE(DecodeTelemetry(junk, "d1", kNow, {})) << junk;
  }
}

TEST(DecodeTelemetryTest, EnforcesLimits) {
  DecodeLimits lim;
  lim.max_metrics = 2;
  EXPECT_FALSE(DecodeTelemetry(R"({"metrics": {"a": 1, "b": 2, "c": 3}})", "d1", kNow, lim));
  lim.max_payload_bytes = 10;
  auto r = DecodeTelemetry(R"({"metrics": {"a": 1}})", "d1", kNow, lim);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
  std::string deep(100, '[');
  EXPECT_FALSE(DecodeTelemetry("{\"metrics\":" + deep, "d1", kNow, {}));
}

TEST(DecodeEventTest, DecodesAndStampsTheSource) {
  auto e = DecodeEvent(R"({"id": "6f1c2a4e-0b7a-4c55-9c8e-2f1d3b4a5c6d", "ts": 1799999999500,
                           "type": "gas.leak", "data": {"ch4_ppm": 800}})",
                       "c1", "g1", kNow, {});
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(e->id, "6f1c2a4e-0b7a-4c55-9c8e-2f1d3b4a5c6d");
  EXPECT_EQ(e->type, "gas.leak");
  EXPECT_EQ(e->compound_id, "c1");
  EXPECT_EQ(e->device_id, "g1");
  EXPECT_EQ(e->received_ms, kNow);
  EXPECT_EQ(e->data["ch4_ppm"], 800);
}

TEST(DecodeEventTest, RejectsBadEvents) {
  struct Case {
    const char* payload;
    const char* field;
  } cases[] = {
      {R"({"type": "gas.leak"})", "id"},
      {R"({"id": "", "type": "gas.leak"})", "id"},
      {R"({"id": "a/b", "type": "gas.leak"})", "id"},
      {R"({"id": 5, "type": "gas.leak"})", "id"},
      {R"({"id": "e1"})", "type"},
      {R"({"id": "e1", "type": "Gas.Leak"})", "type"},
      {R"({"id": "e1", "type": "gasleak"})", "type"},
      {R"({"id": "e1", "type": "gas..leak"})", "type"},
      {R"({"id": "e1", "type": "gas.leak", "data": [1]})", "data"},
  };
  for (const auto& c : cases) {
    auto r = DecodeEvent(c.payload, "c1", "d1", kNow, {});
    ASSERT_FALSE(r) << c.payload;
    EXPECT_EQ(r.error().field(), c.field) << c.payload;
  }
}

TEST(DecodeStatusTest, AcceptsPlainQuotedAndObjectForms) {
  EXPECT_EQ(*DecodeStatus("online"), model::Presence::kOnline);
  EXPECT_EQ(*DecodeStatus(" offline\n"), model::Presence::kOffline);
  EXPECT_EQ(*DecodeStatus("\"online\""), model::Presence::kOnline);
  EXPECT_EQ(*DecodeStatus(R"({"status": "offline"})"), model::Presence::kOffline);
  for (const char* bad : {"", "ONLINE", "up", "{\"status\": 1}", "{", "1"}) {
    EXPECT_FALSE(DecodeStatus(bad)) << bad;
  }
}

TEST(DecodeNamesTest, EventTypesAndIds) {
  EXPECT_TRUE(IsValidEventType("door.passage"));
  EXPECT_TRUE(IsValidEventType("vision.thrown_object"));
  EXPECT_FALSE(IsValidEventType("door."));
  EXPECT_FALSE(IsValidEventType(".door"));
  EXPECT_FALSE(IsValidEventType(std::string(65, 'a') + ".b"));
  EXPECT_TRUE(IsValidEventId("6f1c2a4e-0b7a-4c55-9c8e-2f1d3b4a5c6d"));
  EXPECT_FALSE(IsValidEventId("-leading"));
  EXPECT_FALSE(IsValidEventId(std::string(65, 'a')));
}

}  // namespace
}  // namespace linli::ingest
