#include "api/auth.h"

#include "api/access.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "common/log.h"

namespace linli::api {
namespace {

constexpr size_t kMaxSecretBytes = 256;
constexpr int64_t kPurgeIntervalMs = 10 * 60 * 1000;

std::string Str(const Json& fields, const char* name) {
  auto it = fields.find(name);
  return (it != fields.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

bool Disabled(const Json& fields) {
  auto it = fields.find("disabled");
  return it != fields.end() && it->is_boolean() && it->get<bool>();
}

// Audit actors come from untrusted input on failed logins: keep them short and printable.
std::string SafeActor(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out;
}

}  // namespace

Authenticator::Authenticator(const ApiDeps& deps, RegistryService* registry, AuthOptions options)
    : deps_(deps),
      registry_(registry),
      options_(options),
      limiter_(deps.clock ? *deps.clock : SystemClock(), options.login_max_failures,
               options.login_window_ms) {
  if (deps_.clock == nullptr) deps_.clock = &SystemClock();
}

const std::string& Authenticator::DummyHash() {
  std::call_once(dummy_once_, [this] {
    auto h = HashPassword(RandomPassword(16), options_.password_hash_interactive);
    dummy_hash_ = h ? *h : std::string();
  });
  return dummy_hash_;
}

void Authenticator::Audit(const std::string& actor, const std::string& action,
                          const std::string& user_id, const std::string& remote, Json detail) {
  model::AuditEntry e;
  e.ts_ms = deps_.clock->NowMs();
  e.actor = actor;
  e.action = action;
  e.object_kind = "user";
  e.object_id = user_id;
  e.remote = remote;
  e.detail = std::move(detail);
  auto r = deps_.store->AppendAudit(e);
  if (!r) log::Warn("audit write failed", {{"action", action}, {"error", r.error().ToString()}});
}

bool Authenticator::ShouldAuditBlocked(const std::string& key) {
  constexpr int64_t kInterval = 60'000;
  constexpr size_t kMaxKeys = 10'000;
  const int64_t now = deps_.clock->NowMs();
  std::lock_guard lock(blocked_mu_);
  if (blocked_audited_.size() >= kMaxKeys) blocked_audited_.clear();
  auto [it, inserted] = blocked_audited_.emplace(key, now);
  if (!inserted && now - it->second < kInterval) return false;
  it->second = now;
  return true;
}

void Authenticator::MaybePurgeExpired(int64_t now) {
  int64_t last = last_purge_ms_.load();
  if (now - last < kPurgeIntervalMs || !last_purge_ms_.compare_exchange_strong(last, now)) return;
  auto r = deps_.store->DeleteExpiredTokens(now);
  if (!r) log::Warn("expired token purge failed", {{"error", r.error().ToString()}});
}

Result<Json> Authenticator::Login(std::string_view username, std::string_view password,
                                  const std::string& remote, int64_t* retry_after_ms) {
  const std::string user_key = "user:" + std::string(username.substr(0, 128));
  const std::string ip_key = "ip:" + remote;
  const std::string actor = SafeActor(username);
  int64_t blocked = std::max(limiter_.BlockedForMs(user_key), limiter_.BlockedForMs(ip_key));
  if (blocked > 0) {
    if (retry_after_ms != nullptr) *retry_after_ms = blocked;
    // Refused attempts cost the attacker nothing, so they are audited at most once a minute
    // per username/address pair to keep the audit log from being flooded.
    if (ShouldAuditBlocked(user_key + "|" + ip_key)) {
      Audit(actor, "login_blocked", "", remote, Json{{"retry_after_ms", blocked}});
    }
    return Fail(ErrorCode::kResourceExhausted, "too many failed logins; try again later");
  }

  std::optional<model::Record> user;
  if (!username.empty() && username.size() <= 64 && password.size() <= 1024) {
    auto r = deps_.store->FindByUnique(model::Kind::kUser, "username", std::string(username));
    if (r) {
      user = std::move(*r);
    } else if (r.error().code() != ErrorCode::kNotFound) {
      return std::unexpected(r.error());
    }
  }
  std::string hash = user ? Str(user->fields, "password") : std::string();
  // Unknown users and users without a password cost one verification too.
  bool ok =
      VerifyPassword(hash.empty() ? DummyHash() : hash, password.substr(0, 1024)) && !hash.empty();
  if (ok && user && Disabled(user->fields)) ok = false;
  if (!ok) {
    limiter_.RecordFailure(user_key);
    limiter_.RecordFailure(ip_key);
    Audit(actor, "login_failed", user ? user->id : "", remote, Json::object());
    return Fail(ErrorCode::kUnauthenticated, "wrong username or password");
  }
  limiter_.Reset(user_key);

  const int64_t now = deps_.clock->NowMs();
  MaybePurgeExpired(now);
  std::string token = RandomHex(32);
  store::TokenRecord t;
  t.token_hash = Sha256Hex(token);
  t.user_id = user->id;
  t.kind = "session";
  t.created_ms = now;
  t.expires_ms = now + options_.session_ttl_ms;
  LINLI_RETURN_IF_ERROR(deps_.store->PutToken(t));
  Audit(Str(user->fields, "username"), "login", user->id, remote, Json::object());
  return Json{{"token", token},
              {"expires_ms", t.expires_ms},
              {"user", registry_->Render(Principal::System("self"), *user)}};
}

Result<Principal> Authenticator::Authenticate(std::string_view bearer, const std::string& remote) {
  if (bearer.empty()) return Fail(ErrorCode::kUnauthenticated, "a bearer token is required");
  if (bearer.size() > kMaxSecretBytes)
    return Fail(ErrorCode::kUnauthenticated, "invalid or expired token");
  const std::string hash = Sha256Hex(bearer);
  auto t = deps_.store->GetToken(hash);
  if (!t) {
    if (t.error().code() == ErrorCode::kNotFound)
      return Fail(ErrorCode::kUnauthenticated, "invalid or expired token");
    return std::unexpected(t.error());
  }
  const int64_t now = deps_.clock->NowMs();
  if (t->expires_ms != 0 && now >= t->expires_ms) {
    auto d = deps_.store->DeleteToken(hash);
    if (!d) log::Warn("expired token removal failed", {{"error", d.error().ToString()}});
    return Fail(ErrorCode::kUnauthenticated, "invalid or expired token");
  }
  auto user = deps_.store->GetRecord(model::Kind::kUser, t->user_id);
  if (!user) {
    if (user.error().code() == ErrorCode::kNotFound)
      return Fail(ErrorCode::kUnauthenticated, "invalid or expired token");
    return std::unexpected(user.error());
  }
  if (Disabled(user->fields)) {
    return Fail(ErrorCode::kUnauthenticated, "the user is disabled");
  }
  Principal p;
  LINLI_RETURN_IF_ERROR(registry_->scopes().Resolve(*user, &p));
  p.remote = remote;
  p.token_kind = t->kind;
  p.token_hash = hash;
  return p;
}

Result<void> Authenticator::Logout(const Principal& p) {
  if (p.token_kind != "session") {
    return Fail(ErrorCode::kFailedPrecondition,
                "only sessions can log out; API keys are revoked by deleting the user");
  }
  LINLI_RETURN_IF_ERROR(deps_.store->DeleteToken(p.token_hash));
  Audit(p.Actor(), "logout", p.user_id, p.remote, Json::object());
  return {};
}

Result<Json> Authenticator::Me(const Principal& p) {
  LINLI_ASSIGN_OR_RETURN(auto user, deps_.store->GetRecord(model::Kind::kUser, p.user_id));
  Json scope = Json::object();
  scope["all"] = p.all_compounds;
  scope["compounds"] = Json::array();
  if (!p.all_compounds) {
    for (const auto& c : p.compounds) scope["compounds"].push_back(c);
  }
  if (!p.person_id.empty()) scope["person_id"] = p.person_id;
  if (!p.household_room_id.empty()) scope["household_room_id"] = p.household_room_id;
  return Json{{"user", registry_->Render(Principal::System("self"), user)},
              {"scope", std::move(scope)},
              {"auth", p.token_kind}};
}

Result<Json> Authenticator::CreateApiKey(const Principal& p, const std::string& user_id,
                                         const Json& body) {
  if (!Allowed(p.role, Resource::kApiKeys, Action::kCreate)) {
    return Fail(ErrorCode::kPermissionDenied,
                "role " + std::string(RoleName(p.role)) + " may not create API keys");
  }
  LINLI_ASSIGN_OR_RETURN(auto user, registry_->Visible(p, model::Kind::kUser, user_id));
  std::string label;
  if (!body.is_null()) {
    if (!body.is_object()) return InvalidArgument("", "body must be a JSON object");
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it.key() != "label")
        return InvalidArgument(it.key(), "is not a field of an API key request");
    }
    LINLI_ASSIGN_OR_RETURN(auto l, OptionalString(body, "label"));
    label = l.value_or("");
    if (label.size() > 100) return InvalidArgument("label", "must be at most 100 bytes");
  }
  std::string key = "lk_" + RandomHex(32);
  store::TokenRecord t;
  t.token_hash = Sha256Hex(key);
  t.user_id = user.id;
  t.kind = "api_key";
  t.created_ms = deps_.clock->NowMs();
  t.expires_ms = 0;
  t.label = label;
  LINLI_RETURN_IF_ERROR(deps_.store->PutToken(t));
  Audit(p.Actor(), "api_key_create", user.id, p.remote, Json{{"label", label}});
  return Json{{"key", key}, {"user_id", user.id}, {"label", label}, {"created_ms", t.created_ms}};
}

}  // namespace linli::api
