#include "api/auth.h"

#include <gtest/gtest.h>

#include "api/api_test_util.h"
#include "api/server.h"
#include "common/crypto.h"

namespace linli::api {
namespace {

using model::Kind;

class AuthTest : public testing::RegistryFixture {
 protected:
  void SetUp() override {
    RegistryFixture::SetUp();
    AuthOptions o;
    o.session_ttl_ms = 60'000;
    o.login_max_failures = 3;
    o.login_window_ms = 600'000;
    o.password_hash_interactive = false;
    auth_ = std::make_unique<Authenticator>(deps_, registry_.get(), o);
    MustCreate(Kind::kUser, {{"id", "op"},
                             {"username", "op"},
                             {"role", "operator"},
                             {"scopes", {"c1"}},
                             {"password", "operator-pw"}});
  }

  Result<Json> Login(const std::string& user, const std::string& pw,
                     const std::string& ip = "10.0.0.1") {
    int64_t retry = 0;
    auto r = auth_->Login(user, pw, ip, &retry);
    last_retry_ms_ = retry;
    return r;
  }

  std::unique_ptr<Authenticator> auth_;
  int64_t last_retry_ms_ = 0;
};

TEST_F(AuthTest, LoginIssuesAnOpaqueTokenStoredOnlyAsHash) {
  API_ASSERT_OK_AND_ASSIGN(Json out, Login("op", "operator-pw"));
  const std::string token = out["token"];
  EXPECT_EQ(token.size(), 64u);
  EXPECT_EQ(out["expires_ms"], clock_.NowMs() + 60'000);
  EXPECT_EQ(out["user"]["username"], "op");
  EXPECT_FALSE(out["user"].contains("password"));
  API_ASSERT_OK_AND_ASSIGN(auto rec, store_->GetToken(Sha256Hex(token)));
  EXPECT_EQ(rec.user_id, "op");
  EXPECT_EQ(rec.kind, "session");
  API_ASSERT_ERROR(store_->GetToken(token), ErrorCode::kNotFound, "-");

  API_ASSERT_OK_AND_ASSIGN(Principal p, auth_->Authenticate(token, "10.0.0.1"));
  EXPECT_EQ(p.username, "op");
  EXPECT_EQ(p.role, Role::kOperator);
  EXPECT_EQ(p.compounds, std::set<std::string>{"A"});
  EXPECT_EQ(p.remote, "10.0.0.1");

  store::AuditQuery aq;
  aq.action = "login";
  API_ASSERT_OK_AND_ASSIGN(auto audit, store_->ListAudit(aq));
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].actor, "op");
  EXPECT_EQ(audit[0].remote, "10.0.0.1");
}

TEST_F(AuthTest, WrongCredentialsLookTheSame) {
  auto bad_pw = Login("op", "nope-nope");
  auto no_user = Login("ghost", "nope-nope");
  ASSERT_FALSE(bad_pw.has_value());
  ASSERT_FALSE(no_user.has_value());
  EXPECT_EQ(bad_pw.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(bad_pw.error().message(), no_user.error().message());
  store::AuditQuery aq;
  aq.action = "login_failed";
  API_ASSERT_OK_AND_ASSIGN(auto audit, store_->ListAudit(aq));
  EXPECT_EQ(audit.size(), 2u);
}

TEST_F(AuthTest, SessionsExpireAndCanBeRevoked) {
  API_ASSERT_OK_AND_ASSIGN(Json out, Login("op", "operator-pw"));
  const std::string token = out["token"];
  clock_.AdvanceMs(59'999);
  API_ASSERT_OK(auth_->Authenticate(token, "x"));
  clock_.AdvanceMs(1);
  API_ASSERT_ERROR(auth_->Authenticate(token, "x"), ErrorCode::kUnauthenticated, "-");

  API_ASSERT_OK_AND_ASSIGN(Json again, Login("op", "operator-pw"));
  API_ASSERT_OK_AND_ASSIGN(Principal p,
                           auth_->Authenticate(again["token"].get<std::string>(), "x"));
  API_ASSERT_OK(auth_->Logout(p));
  API_ASSERT_ERROR(auth_->Authenticate(again["token"].get<std::string>(), "x"),
                   ErrorCode::kUnauthenticated, "-");
  API_ASSERT_ERROR(auth_->Authenticate("", "x"), ErrorCode::kUnauthenticated, "-");
  API_ASSERT_ERROR(auth_->Authenticate(std::string(10000, 'a'), "x"), ErrorCode::kUnauthenticated,
                   "-");
}

TEST_F(AuthTest, DisablingOrDeletingAUserEndsTheirSessions) {
  API_ASSERT_OK_AND_ASSIGN(Json out, Login("op", "operator-pw"));
  const std::string token = out["token"];
  API_ASSERT_OK(registry_->Update(admin_, Kind::kUser, "op", {{"disabled", true}}));
  API_ASSERT_ERROR(auth_->Authenticate(token, "x"), ErrorCode::kUnauthenticated, "-");
  API_ASSERT_ERROR(Login("op", "operator-pw"), ErrorCode::kUnauthenticated, "-");
  API_ASSERT_OK(registry_->Update(admin_, Kind::kUser, "op", {{"disabled", false}}));
  API_ASSERT_OK_AND_ASSIGN(Json again, Login("op", "operator-pw"));
  API_ASSERT_OK(registry_->Delete(admin_, Kind::kUser, "op"));
  API_ASSERT_ERROR(auth_->Authenticate(again["token"].get<std::string>(), "x"),
                   ErrorCode::kUnauthenticated, "-");
}

TEST_F(AuthTest, RateLimitsPerUsernameAndPerAddress) {
  for (int i = 0; i < 3; ++i)
    API_ASSERT_ERROR(Login("op", "wrong-pw", "10.0.0." + std::to_string(i)),
                     ErrorCode::kUnauthenticated, "-");
  // The username is blocked even with the right password and from a fresh address.
  API_ASSERT_ERROR(Login("op", "operator-pw", "10.9.9.9"), ErrorCode::kResourceExhausted, "-");
  EXPECT_EQ(last_retry_ms_, 600'000);
  for (int i = 0; i < 20; ++i) API_ASSERT_ERROR(Login("op", "x", "10.9.9.9"), ErrorCode::kResourceExhausted, "-");
  store::AuditQuery aq;
  aq.action = "login_blocked";
  API_ASSERT_OK_AND_ASSIGN(auto blocked, store_->ListAudit(aq));
  EXPECT_EQ(blocked.size(), 1u);  // a flood of refused attempts is audited once a minute

  // One address trying many usernames is blocked too.
  for (int i = 0; i < 3; ++i)
    API_ASSERT_ERROR(Login("user" + std::to_string(i), "x", "10.1.1.1"),
                     ErrorCode::kUnauthenticated, "-");
  MustCreate(
      Kind::kUser,
      {{"id", "op2"}, {"username", "op2"}, {"role", "operator"}, {"password", "operator-pw"}});
  API_ASSERT_ERROR(Login("op2", "operator-pw", "10.1.1.1"), ErrorCode::kResourceExhausted, "-");
  API_ASSERT_OK(Login("op2", "operator-pw", "10.2.2.2"));

  clock_.AdvanceMs(600'000);
  API_ASSERT_OK(Login("op", "operator-pw", "10.9.9.9"));
}

TEST_F(AuthTest, ApiKeysAreAdminIssuedHashedAndPermanent) {
  Principal op = testing::MakePrincipal(Role::kOperator, {"A"});
  API_ASSERT_ERROR(auth_->CreateApiKey(op, "op", Json()), ErrorCode::kPermissionDenied, "-");
  API_ASSERT_ERROR(auth_->CreateApiKey(admin_, "nobody", Json()), ErrorCode::kNotFound, "-");
  API_ASSERT_ERROR(auth_->CreateApiKey(admin_, "op", Json{{"labl", "x"}}),
                   ErrorCode::kInvalidArgument, "labl");
  API_ASSERT_OK_AND_ASSIGN(Json key, auth_->CreateApiKey(admin_, "op", Json{{"label", "erp"}}));
  const std::string secret = key["key"];
  EXPECT_TRUE(secret.starts_with("lk_"));
  API_ASSERT_OK_AND_ASSIGN(auto rec, store_->GetToken(Sha256Hex(secret)));
  EXPECT_EQ(rec.kind, "api_key");
  EXPECT_EQ(rec.expires_ms, 0);
  EXPECT_EQ(rec.label, "erp");
  clock_.AdvanceMs(365LL * 86400 * 1000);
  API_ASSERT_OK_AND_ASSIGN(Principal p, auth_->Authenticate(secret, "x"));
  EXPECT_EQ(p.token_kind, "api_key");
  API_ASSERT_ERROR(auth_->Logout(p), ErrorCode::kFailedPrecondition, "-");
}

TEST_F(AuthTest, MeShowsTheEffectiveScope) {
  API_ASSERT_OK_AND_ASSIGN(Json out, Login("op", "operator-pw"));
  API_ASSERT_OK_AND_ASSIGN(Principal p, auth_->Authenticate(out["token"].get<std::string>(), "x"));
  API_ASSERT_OK_AND_ASSIGN(Json me, auth_->Me(p));
  EXPECT_EQ(me["user"]["id"], "op");
  EXPECT_EQ(me["scope"]["all"], false);
  EXPECT_EQ(me["scope"]["compounds"], Json::array({"A"}));
  EXPECT_EQ(me["auth"], "session");
}

TEST_F(AuthTest, EnsureAdminUserOnlyOnEmptyTable) {
  testing::TempDir dir;
  store::SqliteOptions so;
  so.path = dir.File("fresh.db");
  auto fresh = store::OpenSqliteStore(so);
  ASSERT_TRUE(fresh.has_value());
  ApiDeps deps = deps_;
  deps.store = fresh->get();
  API_ASSERT_ERROR(EnsureAdminUser(deps, "short"), ErrorCode::kInvalidArgument, "password");
  API_ASSERT_OK_AND_ASSIGN(bool created, EnsureAdminUser(deps, "long enough"));
  EXPECT_TRUE(created);
  API_ASSERT_OK_AND_ASSIGN(bool again, EnsureAdminUser(deps, "long enough"));
  EXPECT_FALSE(again);
  API_ASSERT_OK_AND_ASSIGN(auto admin, (*fresh)->FindByUnique(Kind::kUser, "username", "admin"));
  EXPECT_EQ(admin.fields["role"], "admin");
  EXPECT_TRUE(VerifyPassword(admin.fields["password"].get<std::string>(), "long enough"));
}

}  // namespace
}  // namespace linli::api
