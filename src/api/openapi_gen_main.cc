// linli_openapi_gen: prints the OpenAPI document of the HTTP API (docs/openapi.json).
//   linli_openapi_gen > docs/openapi.json
#include <cstdio>

#include "api/api_context.h"
#include "api/openapi.h"

int main() {
  linli::api::Router router = linli::api::BuildRouter(nullptr);
  std::string text = linli::api::BuildOpenApi(router).dump(2) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}
