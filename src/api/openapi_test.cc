// The committed docs/openapi.json and the server's route table must describe the same API.
// On failure, regenerate: linli_openapi_gen > docs/openapi.json
#include "api/openapi.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "api/api_context.h"
#include "model/registry.h"

namespace linli::api {
namespace {

Json LoadCommitted() {
  const char* src = std::getenv("LINLI_SOURCE_DIR");
  std::string dir = src != nullptr ? src : LINLI_SOURCE_DIR_FALLBACK;
  std::ifstream in(dir + "/docs/openapi.json");
  EXPECT_TRUE(in.good()) << "cannot read " << dir << "/docs/openapi.json";
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
}

std::set<std::string> Operations(const Json& doc) {
  std::set<std::string> ops;
  for (auto p = doc["paths"].begin(); p != doc["paths"].end(); ++p) {
    for (auto m = p->begin(); m != p->end(); ++m) {
      std::string method = m.key();
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      ops.insert(method + " " + p.key());
    }
  }
  return ops;
}

TEST(OpenApiTest, CommittedDocumentListsExactlyTheRegisteredRoutes) {
  Json doc = LoadCommitted();
  ASSERT_TRUE(doc.is_object()) << "docs/openapi.json is not valid JSON";
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 4), "3.0.");
  std::set<std::string> registered;
  Router router = BuildRouter(nullptr);
  for (const Route& r : router.routes()) {
    EXPECT_TRUE(registered.insert(r.method + " " + r.path).second)
        << "route registered twice: " << r.path;
  }
  std::set<std::string> documented = Operations(doc);
  for (const auto& r : registered)
    EXPECT_TRUE(documented.count(r)) << "not in docs/openapi.json: " << r;
  for (const auto& d : documented)
    EXPECT_TRUE(registered.count(d)) << "documented but not served: " << d;
}

TEST(OpenApiTest, EveryRegistryKindHasItsCollectionAndSchema) {
  Json doc = LoadCommitted();
  ASSERT_TRUE(doc.is_object());
  for (model::Kind kind : model::AllKinds()) {
    const auto& spec = model::Spec(kind);
    EXPECT_TRUE(doc["paths"].contains("/api/v1/" + spec.collection)) << spec.collection;
    EXPECT_TRUE(doc["paths"].contains("/api/v1/" + spec.collection + "/{id}")) << spec.collection;
    const Json& create =
        doc["components"]["schemas"]["Kind_" + spec.name + "_create"]["properties"];
    const Json& out = doc["components"]["schemas"]["Kind_" + spec.name]["properties"];
    for (const auto& f : spec.fields) {
      EXPECT_TRUE(create.contains(f.name))
          << spec.name << "." << f.name << " missing from the create schema";
      EXPECT_EQ(out.contains(f.name), !f.write_only) << spec.name << "." << f.name;
    }
    for (auto it = create.begin(); it != create.end(); ++it) {
      EXPECT_TRUE(it.key() == "id" || spec.Field(it.key()) != nullptr)
          << spec.name << "." << it.key() << " no longer exists";
    }
  }
}

TEST(OpenApiTest, EveryReferencedSchemaExists) {
  Json doc = LoadCommitted();
  ASSERT_TRUE(doc.is_object());
  std::set<std::string> missing;
  std::function<void(const Json&)> walk = [&](const Json& j) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "$ref" && it->is_string()) {
          std::string ref = *it;
          const std::string prefix = "#/components/";
          ASSERT_EQ(ref.rfind(prefix, 0), 0u) << ref;
          std::string rest = ref.substr(prefix.size());
          size_t slash = rest.find('/');
          if (!doc["components"][rest.substr(0, slash)].contains(rest.substr(slash + 1)))
            missing.insert(ref);
        } else {
          walk(*it);
        }
      }
    } else if (j.is_array()) {
      for (const auto& x : j) walk(x);
    }
  };
  walk(doc);
  EXPECT_TRUE(missing.empty()) << *missing.begin();
}

TEST(OpenApiTest, GeneratorMatchesRouterToo) {
  Json generated = BuildOpenApi(BuildRouter(nullptr));
  Router router = BuildRouter(nullptr);
  EXPECT_EQ(Operations(generated).size(), router.routes().size());
}

}  // namespace
}  // namespace linli::api
