// The one mapping from Linli's Error codes to HTTP statuses and JSON error bodies.
// Every handler's failure goes through HttpStatusFor() and ErrorBody(); nothing else in the API
// picks an error status on its own.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/json.h"
#include "common/result.h"

namespace linli::api {

// kInvalidArgument 400, kUnauthenticated 401, kPermissionDenied 403, kNotFound 404,
// kConflict 409, kFailedPrecondition 409, kResourceExhausted 429, kUnavailable 503,
// kInternal 500.
int HttpStatusFor(ErrorCode code);

// {"error":{"code":"invalid_argument","message":"...","field":"id_number"}}; "field" only when
// set. Internal errors are reported as "internal error" (the detail goes to the log only).
Json ErrorBody(const Error& error);

}  // namespace linli::api
