// Helpers shared by the store tests: Result assertions and a per-test temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "common/result.h"

#define ASSERT_OK(expr)                                                       \
  do {                                                                        \
    auto&& linli_ok_ = (expr);                                                  \
    ASSERT_TRUE(linli_ok_.has_value()) << linli_ok_.error().ToString();       \
  } while (0)

#define EXPECT_OK(expr)                                                       \
  do {                                                                        \
    auto&& linli_ok_ = (expr);                                                  \
    EXPECT_TRUE(linli_ok_.has_value()) << linli_ok_.error().ToString();       \
  } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(LINLI_CONCAT_(linli_res_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)                    \
  auto tmp = (expr);                                                  \
  ASSERT_TRUE(tmp.has_value()) << tmp.error().ToString();             \
  lhs = std::move(*tmp)

// Asserts that `expr` failed with `code` (and, if non-empty, the given field).
#define ASSERT_ERROR(expr, error_code, error_field)                                             \
  do {                                                                                          \
    auto&& linli_err_ = (expr);                                                                   \
    ASSERT_FALSE(linli_err_.has_value()) << "expected " << ::linli::ErrorCodeName(error_code);  \
    EXPECT_EQ(::linli::ErrorCodeName(linli_err_.error().code()), ::linli::ErrorCodeName(error_code)) \
        << linli_err_.error().ToString();                                                       \
    if (std::string(error_field) != "-") {                                                      \
      EXPECT_EQ(linli_err_.error().field(), std::string(error_field)) << linli_err_.error().ToString(); \
    }                                                                                           \
  } while (0)

namespace linli::store::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/linli-store-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace linli::store::testing
