#include "api/http_errors.h"

namespace linli::api {

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

Json ErrorBody(const Error& error) {
  Json e = Json::object();
  e["code"] = std::string(ErrorCodeName(error.code()));
  e["message"] =
      error.code() == ErrorCode::kInternal ? std::string("internal error") : error.message();
  if (!error.field().empty()) e["field"] = error.field();
  return Json{{"error", std::move(e)}};
}

}  // namespace linli::api
