#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/metrics.h"
#include "common/result.h"

namespace linli {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("x", "must be even");
  return x / 2;
}

Result<int> Quarter(int x) {
  LINLI_ASSIGN_OR_RETURN(int h, Half(x));
  LINLI_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(ResultTest, PropagatesErrorsWithField) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field(), "x");
  EXPECT_EQ(r.error().ToString(), "invalid_argument: x: must be even");
}

TEST(ClockTest, SimulatedClockMovesOnlyWhenTold) {
  SimulatedClock c(1000);
  EXPECT_EQ(c.NowMs(), 1000);
  auto m0 = c.Monotonic();
  c.AdvanceMs(250);
  EXPECT_EQ(c.NowMs(), 1250);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(c.Monotonic() - m0).count(), 250);
}

TEST(IdsTest, UuidsAreV7TimeOrderedAndDistinct) {
  std::string a = NewUuid(), b = NewUuid();
  EXPECT_TRUE(IsUuid(a));
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '7');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b') << a;
  // The first 48 bits are the Unix time in milliseconds.
  const int64_t before = SystemClock().NowMs();
  const std::string c = NewUuid();
  const int64_t after = SystemClock().NowMs();
  const int64_t ts = std::stoll(c.substr(0, 8) + c.substr(9, 4), nullptr, 16);
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, after);
  // Ids of different milliseconds sort in the order they were made (the timestamp prefix).
  std::string prev = NewUuid();
  for (int i = 0; i < 2000; ++i) {
    std::string next = NewUuid();
    EXPECT_GE(next.substr(0, 13), prev.substr(0, 13));
    prev = next;
  }
  std::string r = NewRandomUuid();
  EXPECT_TRUE(IsUuid(r));
  EXPECT_EQ(r[14], '4');
  EXPECT_FALSE(IsUuid("not-a-uuid"));
  EXPECT_EQ(RandomHex(16).size(), 32u);
  auto pw = RandomPassword(24);
  EXPECT_EQ(pw.size(), 24u);
  for (char ch : pw) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)));
}

TEST(CryptoTest, PasswordHashVerifies) {
  auto h = HashPassword("correct horse", /*interactive=*/false);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(VerifyPassword(*h, "correct horse"));
  EXPECT_FALSE(VerifyPassword(*h, "correct horsE"));
  EXPECT_FALSE(VerifyPassword("garbage", "x"));
}

TEST(CryptoTest, FieldCipherRoundTripsAndDetectsTampering) {
  auto c = FieldCipher::FromKey(std::string(64, 'k'));
  ASSERT_TRUE(c);
  std::string sealed = c->Encrypt("110101199003074514");
  EXPECT_EQ(sealed.rfind("v1:", 0), 0u);
  EXPECT_EQ(sealed.find("110101"), std::string::npos);
  EXPECT_NE(sealed, c->Encrypt("110101199003074514"));  // random nonce
  EXPECT_EQ(*c->Decrypt(sealed), "110101199003074514");
  std::string tampered = sealed;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(c->Decrypt(tampered));
  EXPECT_FALSE(c->Decrypt("v2:xx"));
  EXPECT_EQ(c->BlindIndex("13800138000"), c->BlindIndex("13800138000"));
  EXPECT_NE(c->BlindIndex("13800138000"), c->BlindIndex("13800138001"));
  auto other = FieldCipher::FromKey(std::string(64, 'z'));
  EXPECT_NE(other->BlindIndex("13800138000"), c->BlindIndex("13800138000"));
  EXPECT_FALSE(other->Decrypt(sealed));
  EXPECT_FALSE(FieldCipher::FromKey("short"));
}

TEST(CryptoTest, KeyFileIsCreatedOnceWithPrivateMode) {
  auto dir = std::filesystem::temp_directory_path() / ("linli-key-" + RandomHex(4));
  std::filesystem::create_directories(dir);
  auto path = (dir / "field.key").string();
  auto a = FieldCipher::LoadOrCreate(path);
  ASSERT_TRUE(a);
  auto perms = std::filesystem::status(path).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::group_read, std::filesystem::perms::none);
  auto b = FieldCipher::LoadOrCreate(path);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b->Decrypt(a->Encrypt("x")), "x");
  std::filesystem::remove_all(dir);
}

TEST(JsonTest, RejectsMalformedAndDeepDocuments) {
  EXPECT_TRUE(ParseJson(R"({"a": [1, 2, {"b": null}]})"));
  EXPECT_FALSE(ParseJson("{"));
  EXPECT_FALSE(ParseJson("{} trailing"));
  EXPECT_FALSE(ParseJson("\"\xff\""));
  EXPECT_FALSE(ParseJson(std::string(10000, '[') + std::string(10000, ']')));
  EXPECT_TRUE(ParseJson("[[[1]]]", 4));
  EXPECT_FALSE(ParseJson("[[[[[1]]]]]", 4));
  Json obj = {{"s", "x"}, {"i", 3}, {"f", 1.5}};
  EXPECT_EQ(*RequireString(obj, "s"), "x");
  EXPECT_EQ(RequireString(obj, "i").error().field(), "i");
  EXPECT_EQ(*RequireInt(obj, "i"), 3);
  EXPECT_FALSE(RequireInt(obj, "f"));
  EXPECT_FALSE(OptionalString(obj, "missing")->has_value());
}

TEST(JsonTest, ObjectWriterMatchesDumpJson) {
  // Keys in ascending order, strings that need escaping, invalid UTF-8, nested values.
  const std::string bad_utf8 = std::string("a\xff\xfe") + "b";
  const std::vector<std::string> strings = {"", "plain", "with \"quotes\" and \\", "tab\tnew\nline\x01",
                                            "门禁 unlock", bad_utf8, "del\x7f"};
  for (const auto& v : strings) {
    Json expected{{"a", v}, {"b", int64_t{-9007199254740993}}, {"c", Json{{"x", {1, 2, "三"}}}}, {"d", nullptr}};
    JsonObjectWriter w;
    w.Str("a", v).Int("b", int64_t{-9007199254740993}).Value("c", Json{{"x", {1, 2, "三"}}}).Value("d", nullptr);
    EXPECT_EQ(std::move(w).Take(), DumpJson(expected)) << v;
  }
  EXPECT_EQ(std::move(JsonObjectWriter()).Take(), "{}");
  JsonObjectWriter keys;
  keys.Int("k\"ey", 0);
  EXPECT_EQ(std::move(keys).Take(), DumpJson(Json{{"k\"ey", 0}}));
}

TEST(MetricsTest, RendersPrometheusText) {
  metrics::Registry r;
  r.GetCounter("x_total", "Things", {{"kind", "a\"b"}}).Inc(3);
  r.GetGauge("y", "Level").Set(1.5);
  auto& h = r.GetHistogram("z_seconds", "Latency", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE x_total counter\nx_total{kind=\"a\\\"b\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("y 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("z_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_count 3\n"), std::string::npos);
  // The same name and labels give the same counter.
  EXPECT_EQ(&r.GetCounter("x_total", "Things", {{"kind", "a\"b"}}), &r.GetCounter("x_total", "Things", {{"kind", "a\"b"}}));
}

}  // namespace
}  // namespace linli
