#include "rules/expr.h"

#include <gtest/gtest.h>

namespace linli::rules {
namespace {

Json Ctx() {
  return Json{{"event", {{"type", "gas.leak"}, {"data", {{"ch4_ppm", 820}, {"phase", "begin"}}}}},
              {"device", {{"kind", "gas_sensor"}, {"tags", {"a", "b"}}}},
              {"value", 12.5},
              {"flag", true}};
}

bool Holds(const std::string& text) {
  auto e = Expr::Compile(text);
  EXPECT_TRUE(e.has_value()) << text << ": " << (e ? "" : e.error().ToString());
  return e && e->Test(Ctx());
}

TEST(ExprTest, ComparesNumbersStringsAndBooleans) {
  EXPECT_TRUE(Holds("event.data.ch4_ppm > 500"));
  EXPECT_FALSE(Holds("event.data.ch4_ppm <= 500"));
  EXPECT_TRUE(Holds("value >= 12.5 && value < 13"));
  EXPECT_TRUE(Holds("device.kind == 'gas_sensor'"));
  EXPECT_TRUE(Holds("device.kind != \"door_controller\""));
  EXPECT_TRUE(Holds("flag"));
  EXPECT_TRUE(Holds("!missing"));
  EXPECT_TRUE(Holds("not (value > 100) and flag"));
  EXPECT_TRUE(Holds("value > 100 or event.type == 'gas.leak'"));
  EXPECT_TRUE(Holds("event.data.phase in ['begin', 'update']"));
  EXPECT_FALSE(Holds("event.data.phase in ['end']"));
  EXPECT_TRUE(Holds("device.tags in ['b']"));  // a list matches if any element does
  EXPECT_TRUE(Holds("missing == null"));
  EXPECT_FALSE(Holds("device.kind > 5"));  // not comparable: false, not an error
  EXPECT_TRUE(Holds("-1 < value"));
  EXPECT_TRUE(Holds("1e2 == 100"));
  EXPECT_TRUE(Holds("   "));  // empty: true
}

TEST(ExprTest, RejectsMalformedExpressionsWithThePosition) {
  for (const char* bad : {"value >", "(value > 1", "value > 1)", "'open", "value >> 2", "a..b > 1", "value in 3",
                          "value in [1, 2", "@", "1.2.3 > 0"}) {
    auto e = Expr::Compile(bad);
    ASSERT_FALSE(e.has_value()) << bad;
    EXPECT_NE(e.error().message().find("at "), std::string::npos) << e.error().message();
  }
  std::string deep(200, '(');
  EXPECT_FALSE(Expr::Compile(deep + "1" + std::string(200, ')')).has_value());
  EXPECT_FALSE(Expr::Compile(std::string(5000, 'a')).has_value());
}

TEST(ExprTest, ReportsTheRootsItReads) {
  auto e = Expr::Compile("building.name == 'x' && event.data.a > 1 && building.id != ''");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->roots(), (std::vector<std::string>{"building", "event"}));
}

TEST(TemplateTest, RendersPathsAndLiteralBraces) {
  auto t = Template::Compile("泄漏 {event.data.ch4_ppm} ppm {{x}} at {device.kind}{missing}");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->Render(Ctx()), "泄漏 820 ppm {x} at gas_sensor");
  EXPECT_EQ(Template::Compile("{value}")->Render(Ctx()), "12.5");
  EXPECT_FALSE(Template::Compile("{unclosed").has_value());
  EXPECT_FALSE(Template::Compile("stray }").has_value());
  EXPECT_FALSE(Template::Compile("{bad path!}").has_value());
}

}  // namespace
}  // namespace linli::rules
