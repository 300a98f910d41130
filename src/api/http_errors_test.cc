#include "api/http_errors.h"

#include <gtest/gtest.h>

namespace linli::api {
namespace {

TEST(HttpErrorsTest, EveryCodeMapsToItsStatus) {
  const std::pair<ErrorCode, int> cases[] = {
      {ErrorCode::kInvalidArgument, 400},   {ErrorCode::kUnauthenticated, 401},
      {ErrorCode::kPermissionDenied, 403},  {ErrorCode::kNotFound, 404},
      {ErrorCode::kConflict, 409},          {ErrorCode::kFailedPrecondition, 409},
      {ErrorCode::kResourceExhausted, 429}, {ErrorCode::kUnavailable, 503},
      {ErrorCode::kInternal, 500},
  };
  for (const auto& [code, status] : cases)
    EXPECT_EQ(HttpStatusFor(code), status) << ErrorCodeName(code);
}

TEST(HttpErrorsTest, BodyCarriesCodeMessageAndField) {
  Json b = ErrorBody(Error(ErrorCode::kInvalidArgument, "is not a valid id", "id_number"));
  EXPECT_EQ(b["error"]["code"], "invalid_argument");
  EXPECT_EQ(b["error"]["message"], "is not a valid id");
  EXPECT_EQ(b["error"]["field"], "id_number");
  Json nf = ErrorBody(Error(ErrorCode::kNotFound, "no such device 'x'"));
  EXPECT_FALSE(nf["error"].contains("field"));
}

TEST(HttpErrorsTest, InternalDetailsStayInside) {
  Json b =
      ErrorBody(Error(ErrorCode::kInternal, "sqlite: disk image is malformed at /var/lib/linli"));
  EXPECT_EQ(b["error"]["code"], "internal");
  EXPECT_EQ(b["error"]["message"], "internal error");
}

}  // namespace
}  // namespace linli::api
