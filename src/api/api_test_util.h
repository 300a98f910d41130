// Test helpers for src/api: Result assertions, temp dirs, valid Chinese identifiers, fakes of
// the ApiDeps interfaces that have no real implementation here (broker credentials, presence,
// device hooks), and a fixture with a real SqliteStore and a seeded address hierarchy:
//
//   region d1 (district) → s1 (street) → c1, c2 (communities)
//   compound A (community c1): building A-b1 → unit A-u1 → rooms A-r1, A-r2
//   compound B (community c2): building B-b1 → unit B-u1 → room B-r1
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "api/deps.h"
#include "api/principal.h"
#include "api/registry_service.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/metrics.h"
#include "store/store.h"

#define API_ASSERT_OK(expr)                                         \
  do {                                                              \
    auto&& api_ok_ = (expr);                                        \
    ASSERT_TRUE(api_ok_.has_value()) << api_ok_.error().ToString(); \
  } while (0)

#define API_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  API_ASSERT_OK_AND_ASSIGN_IMPL_(LINLI_CONCAT_(api_res_, __LINE__), lhs, expr)
#define API_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)    \
  auto tmp = (expr);                                      \
  ASSERT_TRUE(tmp.has_value()) << tmp.error().ToString(); \
  lhs = std::move(*tmp)

// Asserts that `expr` failed with `code` and, unless `field` is "-", that field.
#define API_ASSERT_ERROR(expr, error_code, error_field)                                            \
  do {                                                                                             \
    auto&& api_err_ = (expr);                                                                      \
    ASSERT_FALSE(api_err_.has_value()) << "expected " << ::linli::ErrorCodeName(error_code);       \
    EXPECT_EQ(::linli::ErrorCodeName(api_err_.error().code()), ::linli::ErrorCodeName(error_code)) \
        << api_err_.error().ToString();                                                            \
    if (std::string(error_field) != "-") {                                                         \
      EXPECT_EQ(api_err_.error().field(), std::string(error_field))                                \
          << api_err_.error().ToString();                                                          \
    }                                                                                              \
  } while (0)

namespace linli::api::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/linli-api-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
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

// A valid 18-digit resident ID: region 110101, birth date yyyymmdd, sequence `seq` (3 digits).
inline std::string IdNumber(const std::string& birth = "19900307", int seq = 123) {
  std::string s = "110101" + birth;
  std::string q = std::to_string(seq % 1000);
  s += std::string(3 - q.size(), '0') + q;
  static const int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char kCheck[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  int sum = 0;
  for (int i = 0; i < 17; ++i) sum += (s[i] - '0') * kWeights[i];
  return s + kCheck[sum % 11];
}

class FakeCredentials final : public mqtt::CredentialAuthority {
 public:
  Result<void> UpsertDevices(const std::vector<mqtt::DeviceCredential>& devices) override {
    std::lock_guard lock(mu);
    if (fail) return Fail(ErrorCode::kUnavailable, "broker down");
    for (const auto& d : devices) accounts[d.device_id] = d;
    ++upsert_calls;
    return {};
  }
  Result<void> DeleteDevice(const std::string& device_id) override {
    std::lock_guard lock(mu);
    if (fail) return Fail(ErrorCode::kUnavailable, "broker down");
    accounts.erase(device_id);
    return {};
  }
  Result<void> SetDeviceEnabled(const std::string&, bool) override { return {}; }

  std::mutex mu;
  bool fail = false;
  int upsert_calls = 0;
  std::map<std::string, mqtt::DeviceCredential> accounts;
};

class FakePresence final : public PresenceView {
 public:
  std::optional<DeviceStatus> Status(const std::string& device_id) const override {
    std::lock_guard lock(mu);
    auto it = status.find(device_id);
    if (it == status.end()) return std::nullopt;
    return it->second;
  }
  Ratio CompoundOnline(const std::string& compound_id) const override {
    std::lock_guard lock(mu);
    auto it = ratios.find(compound_id);
    return it == ratios.end() ? Ratio{} : it->second;
  }
  mutable std::mutex mu;
  std::map<std::string, DeviceStatus> status;
  std::map<std::string, Ratio> ratios;
};

class FakeHooks final : public DeviceHooks {
 public:
  void OnDeviceUpserted(const model::Record& device) override {
    std::lock_guard lock(mu);
    upserted.push_back(device.id);
  }
  void OnDeviceDeleted(const std::string& device_id) override {
    std::lock_guard lock(mu);
    deleted.push_back(device_id);
  }
  std::mutex mu;
  std::vector<std::string> upserted;
  std::vector<std::string> deleted;
};

inline Principal MakePrincipal(Role role, std::set<std::string> compounds, bool all = false) {
  Principal p;
  p.user_id = "u-" + std::string(RoleName(role));
  p.username = std::string(RoleName(role));
  p.role = role;
  p.all_compounds = all;
  p.compounds = std::move(compounds);
  p.remote = "127.0.0.1";
  p.token_kind = "session";
  return p;
}

// A real SqliteStore in a temp dir plus fakes, wired into ApiDeps, and a seeded hierarchy.
class RegistryFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions so;
    so.path = dir_.File("linli.db");
    auto s = store::OpenSqliteStore(so);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    auto c = FieldCipher::FromKey(std::string(32, 'e') + std::string(32, 'm'));
    ASSERT_TRUE(c.has_value());
    cipher_.emplace(std::move(*c));
    deps_.store = store_.get();
    deps_.cipher = &*cipher_;
    deps_.clock = &clock_;
    deps_.credentials = &creds_;
    deps_.device_hooks = &hooks_;
    deps_.presence = &presence_;
    deps_.metrics = &metrics_;
    RegistryOptions ro;
    ro.password_hash_interactive = false;
    registry_ = std::make_unique<RegistryService>(deps_, ro);
    Seed();
  }

  Json MustCreate(model::Kind kind, const Json& body) {
    auto r = registry_->Create(admin_, kind, body);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().ToString()) << " creating " << body.dump();
    return r ? *r : Json();
  }

  void Seed() {
    MustCreate(model::Kind::kRegion, {{"id", "d1"}, {"name", "District"}, {"level", "district"}});
    MustCreate(model::Kind::kRegion,
               {{"id", "s1"}, {"name", "Street"}, {"level", "street"}, {"parent_id", "d1"}});
    MustCreate(model::Kind::kRegion,
               {{"id", "c1"}, {"name", "Comm 1"}, {"level", "community"}, {"parent_id", "s1"}});
    MustCreate(model::Kind::kRegion,
               {{"id", "c2"}, {"name", "Comm 2"}, {"level", "community"}, {"parent_id", "s1"}});
    MustCreate(model::Kind::kCompound,
               {{"id", "A"}, {"name", "Compound A"}, {"community_id", "c1"}});
    MustCreate(model::Kind::kCompound,
               {{"id", "B"}, {"name", "Compound B"}, {"community_id", "c2"}});
    MustCreate(model::Kind::kBuilding, {{"id", "A-b1"}, {"compound_id", "A"}, {"name", "1"}});
    MustCreate(model::Kind::kBuilding, {{"id", "B-b1"}, {"compound_id", "B"}, {"name", "1"}});
    MustCreate(model::Kind::kUnit, {{"id", "A-u1"}, {"building_id", "A-b1"}, {"name", "1"}});
    MustCreate(model::Kind::kUnit, {{"id", "B-u1"}, {"building_id", "B-b1"}, {"name", "1"}});
    MustCreate(model::Kind::kRoom,
               {{"id", "A-r1"}, {"unit_id", "A-u1"}, {"floor", 1}, {"number", "101"}});
    MustCreate(model::Kind::kRoom,
               {{"id", "A-r2"}, {"unit_id", "A-u1"}, {"floor", 1}, {"number", "102"}});
    MustCreate(model::Kind::kRoom,
               {{"id", "B-r1"}, {"unit_id", "B-u1"}, {"floor", 1}, {"number", "101"}});
  }

  TempDir dir_;
  SimulatedClock clock_;
  std::unique_ptr<store::Store> store_;
  std::optional<FieldCipher> cipher_;
  FakeCredentials creds_;
  FakePresence presence_;
  FakeHooks hooks_;
  metrics::Registry metrics_;
  ApiDeps deps_;
  std::unique_ptr<RegistryService> registry_;
  Principal admin_ = MakePrincipal(Role::kAdmin, {}, /*all=*/true);
};

}  // namespace linli::api::testing
