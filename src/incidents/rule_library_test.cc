#include "incidents/rule_library.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/store_test_util.h"

namespace linli::incidents {
namespace {

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(RuleLibraryTest, InstallsTheBuiltinPackOnlyIntoANewDirectory) {
  store::testing::TempDir dir;
  RuleLibrary lib(dir.File("rules"));
  ASSERT_TRUE(*lib.InstallBuiltinIfNew());
  ASSERT_TRUE(lib.Load().has_value());
  EXPECT_TRUE(lib.errors().empty()) << lib.errors().front().ToString();
  EXPECT_EQ(lib.rules().size(), BuiltinRulePack().size());
  for (const auto& [id, e] : lib.rules()) {
    EXPECT_TRUE(e.builtin) << id;
    EXPECT_TRUE(e.own_file) << id;
  }
  // A user who deleted a built-in rule does not get it back at the next start.
  ASSERT_TRUE(lib.Remove("water-leak").has_value());
  EXPECT_FALSE(*RuleLibrary(dir.File("rules")).InstallBuiltinIfNew());
  RuleLibrary again(dir.File("rules"));
  ASSERT_TRUE(again.Load().has_value());
  EXPECT_EQ(again.rules().count("water-leak"), 0u);
}

TEST(RuleLibraryTest, BadFilesAreRefusedWithFileAndLineAndTheRestLoads) {
  store::testing::TempDir dir;
  std::filesystem::create_directories(dir.File("rules"));
  Write(dir.File("rules/a.yaml"), "id: a\ntrigger: {event: door.forced}\nactions: [{notify: {}}]\n");
  Write(dir.File("rules/b.yaml"), "id: b\ntrigger: {event: door.forced}\nactions:\n  - alarm: {type: x, level: nope}\n");
  Write(dir.File("rules/c.yaml"), "id: a\ntrigger: {event: door.forced}\nactions: [{notify: {}}]\n");
  Write(dir.File("rules/d.yaml"), "::: not yaml [");
  Write(dir.File("rules/notes.txt"), "ignored");
  RuleLibrary lib(dir.File("rules"));
  ASSERT_TRUE(lib.Load().has_value());
  ASSERT_EQ(lib.rules().size(), 1u);
  EXPECT_EQ(lib.rules().begin()->first, "a");
  ASSERT_EQ(lib.errors().size(), 3u);
  EXPECT_EQ(lib.errors()[0].file, "b.yaml");
  EXPECT_EQ(lib.errors()[0].line, 4);
  EXPECT_EQ(lib.errors()[0].field, "actions[0].alarm.level");
  EXPECT_EQ(lib.errors()[1].file, "c.yaml");
  EXPECT_NE(lib.errors()[1].message.find("already defined in a.yaml"), std::string::npos);
  EXPECT_EQ(lib.errors()[2].file, "d.yaml");
}

TEST(RuleLibraryTest, ApiRulesAreOneFileEachAndSharedFilesAreNotRewritten) {
  store::testing::TempDir dir;
  std::filesystem::create_directories(dir.File("rules"));
  Write(dir.File("rules/pack.yaml"),
        "rules:\n  - {id: x1, trigger: {event: a.b}, actions: [{notify: {}}]}\n"
        "  - {id: x2, trigger: {event: a.c}, actions: [{notify: {}}]}\n");
  RuleLibrary lib(dir.File("rules"));
  ASSERT_TRUE(lib.Load().has_value());
  EXPECT_FALSE(lib.rules().at("x1").own_file);
  EXPECT_EQ(lib.SetEnabled("x1", false).error().code(), ErrorCode::kConflict);
  EXPECT_EQ(lib.Remove("x2").error().code(), ErrorCode::kConflict);
  Json r = {{"id", "mine"}, {"trigger", {{"event", "sos.pressed"}}}, {"actions", Json::array({Json{{"notify", Json::object()}}})}};
  auto put = lib.Put(r, true);
  ASSERT_TRUE(put.has_value()) << put.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir.File("rules/mine.yaml")));
  EXPECT_TRUE(put->own_file);
  auto off = lib.SetEnabled("mine", false);
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(off->rule->enabled);
  RuleLibrary reread(dir.File("rules"));
  ASSERT_TRUE(reread.Load().has_value());
  EXPECT_FALSE(reread.rules().at("mine").rule->enabled);
  EXPECT_EQ(lib.Put(Json{{"id", "x1"}, {"trigger", {{"event", "a.b"}}}, {"actions", Json::array({Json{{"notify", Json::object()}}})}}, false)
                .error()
                .code(),
            ErrorCode::kConflict);
  EXPECT_EQ(lib.Put(Json{{"id", "bad"}}, true).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace linli::incidents
