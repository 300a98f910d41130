#include "api/router.h"

#include <gtest/gtest.h>

namespace linli::api {
namespace {

Handler Named(std::string name) {
  return [name](RequestContext&) -> Result<ApiResponse> {
    return ApiResponse{200, name, "text/plain", {}};
  };
}

TEST(RouterTest, MatchesTemplatesAndExtractsParams) {
  Router r;
  r.Add("GET", "/api/v1/devices/{id}", Named("get"), {});
  r.Add("GET", "/api/v1/devices/{id}/telemetry", Named("telemetry"), {});
  auto m = r.Find("GET", "/api/v1/devices/d-1/telemetry");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->path, "/api/v1/devices/{id}/telemetry");
  EXPECT_EQ(m.params.at("id"), "d-1");
  EXPECT_EQ(r.Find("GET", "/api/v1/devices").route, nullptr);
  EXPECT_EQ(r.Find("GET", "/api/v1/devices/a/b/c").route, nullptr);
  EXPECT_NE(r.Find("GET", "/api/v1/devices/d-1/").route, nullptr);  // trailing slash tolerated
}

TEST(RouterTest, LiteralSegmentsWinOverParameters) {
  Router r;
  r.Add("GET", "/api/v1/things/{id}", Named("param"), {});
  r.Add("GET", "/api/v1/things/special", Named("literal"), {});
  EXPECT_EQ(r.Find("GET", "/api/v1/things/special").route->path, "/api/v1/things/special");
  EXPECT_EQ(r.Find("GET", "/api/v1/things/other").route->path, "/api/v1/things/{id}");
}

TEST(RouterTest, ReportsAllowedMethodsFor405) {
  Router r;
  r.Add("GET", "/api/v1/x", Named("g"), {});
  r.Add("POST", "/api/v1/x", Named("p"), {});
  auto m = r.Find("DELETE", "/api/v1/x");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed_methods.size(), 2u);
  EXPECT_TRUE(r.Find("DELETE", "/api/v1/y").allowed_methods.empty());
}

TEST(RouterTest, DecodesSegmentsWithoutSplittingOnEncodedSlash) {
  Router r;
  r.Add("GET", "/api/v1/x/{id}", Named("g"), {});
  auto m = r.Find("GET", "/api/v1/x/a%2Fb");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("id"), "a/b");
  EXPECT_EQ(r.Find("GET", "/api/v1/x/%zz").route, nullptr);
  EXPECT_EQ(r.Find("GET", "/api/v1/x/%00").route, nullptr);
}

TEST(RouterTest, PercentDecoding) {
  EXPECT_EQ(PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(PercentDecode("a+c", false), "a+c");
  EXPECT_EQ(PercentDecode("%E4%BA%AC", false), "京");
  EXPECT_FALSE(PercentDecode("%", false).has_value());
  EXPECT_FALSE(PercentDecode("%4", false).has_value());
  EXPECT_FALSE(PercentDecode("%G0", false).has_value());
  EXPECT_FALSE(PercentDecode("%00", false).has_value());
}

TEST(RouterTest, QueryStrings) {
  auto q = ParseQueryString("a=1&b=x%20y&&c&d=");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[1], (std::pair<std::string, std::string>{"b", "x y"}));
  EXPECT_EQ((*q)[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_FALSE(ParseQueryString("a=%").has_value());
  EXPECT_TRUE(ParseQueryString("")->empty());
}

TEST(RouterTest, IntAndBoolParams) {
  ApiRequest req;
  req.query = {{"limit", "10"},  {"bad", "1x"},  {"neg", "-5"}, {"big", "99999999999999999999"},
               {"open", "true"}, {"limit", "20"}};
  EXPECT_EQ(IntParam(req, "limit", 50, 1, 100).value(), 20);  // last wins
  EXPECT_EQ(IntParam(req, "absent", 50, 1, 100).value(), 50);
  EXPECT_EQ(IntParam(req, "bad", 0, 0, 10).error().field(), "bad");
  EXPECT_FALSE(IntParam(req, "neg", 0, 0, 10).has_value());
  EXPECT_FALSE(IntParam(req, "big", 0, 0, INT64_MAX).has_value());
  EXPECT_TRUE(BoolParam(req, "open", false).value());
  req.query = {{"open", "yes"}};
  EXPECT_EQ(BoolParam(req, "open", false).error().field(), "open");
}

}  // namespace
}  // namespace linli::api
