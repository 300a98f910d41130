// Generates the OpenAPI 3.0 document of the HTTP API from the route table (paths, operations,
// parameters, access notes) and from model::Spec (one schema per registry kind). The committed
// docs/openapi.json is produced by the `linli_openapi_gen` tool; openapi_test.cc checks that its
// routes and registry schemas match what the server registers.
// Thread-safety: pure function.
#pragma once

#include "api/router.h"
#include "common/json.h"

namespace linli::api {

Json BuildOpenApi(const Router& router);

}  // namespace linli::api
