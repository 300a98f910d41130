#include "api/static_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "api/api_test_util.h"

namespace linli::api {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.File("web");
    fs::create_directories(root_ + "/assets");
    fs::create_directories(root_ + "/docs");
    Write(root_ + "/index.html", "<html>");
    Write(root_ + "/assets/app.js", "js");
    Write(root_ + "/assets/Style.CSS", "css");
    Write(root_ + "/docs/index.html", "docs");
    Write(root_ + "/.env", "secret");
    Write(dir_.File("outside.txt"), "secret");
    fs::create_symlink(dir_.File("outside.txt"), root_ + "/escape.txt");
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }

  testing::TempDir dir_;
  std::string root_;
};

TEST_F(StaticFilesTest, ServesFilesWithContentTypes) {
  auto f = ResolveStaticFile(root_, "/assets/app.js");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->content_type, "text/javascript; charset=utf-8");
  EXPECT_TRUE(f->path.ends_with("/assets/app.js"));
  EXPECT_EQ(ResolveStaticFile(root_, "/assets/Style.CSS")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(ResolveStaticFile(root_, "/")->content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(ResolveStaticFile(root_, "/docs/")->path.ends_with("/docs/index.html"));
  EXPECT_TRUE(ResolveStaticFile(root_, "/docs")->path.ends_with("/docs/index.html"));
  EXPECT_TRUE(ResolveStaticFile(root_, "/assets/%61pp.js").has_value());
}

TEST_F(StaticFilesTest, ClientRoutesFallBackToIndex) {
  auto f = ResolveStaticFile(root_, "/compounds/A/devices");
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(f->path.ends_with("/index.html"));
  EXPECT_EQ(ResolveStaticFile(root_, "/missing.png").error().code(), ErrorCode::kNotFound);
}

TEST_F(StaticFilesTest, RefusesTraversalAndHiddenFiles) {
  for (const char* p :
       {"/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt",
        "/assets/..%2F..%2Foutside.txt", "/./index.html", "/a\\..\\b", "/%00", "/%zz"}) {
    auto f = ResolveStaticFile(root_, p);
    EXPECT_FALSE(f.has_value()) << p;
    if (!f) {
      EXPECT_EQ(f.error().code(), ErrorCode::kInvalidArgument) << p;
    }
  }
  EXPECT_EQ(ResolveStaticFile(root_, "/.env").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveStaticFile(root_, "/escape.txt").error().code(),
            ErrorCode::kNotFound);  // symlink out
  EXPECT_EQ(ResolveStaticFile("", "/").error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(ResolveStaticFile(root_, "relative").has_value());
}

TEST(ContentTypeTest, KnownAndUnknown) {
  EXPECT_EQ(ContentTypeFor("a/b.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("a/b.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("a/b.json"), "application/json");
  EXPECT_EQ(ContentTypeFor("a.b/c"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("x.unknown"), "application/octet-stream");
}

}  // namespace
}  // namespace linli::api
