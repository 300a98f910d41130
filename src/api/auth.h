// Authenticator: logins, bearer tokens and API keys.
//
// Sessions: POST auth/login issues an opaque random token (32 bytes, hex); only its sha256 is
// stored (Store::PutToken), with an expiry of `session_ttl_ms`. API keys are the same kind of
// secret with kind "api_key" and no expiry. Every request resolves the token to the user and
// re-reads the user record, so disabling a user or changing their role takes effect at once
// (and RegistryService revokes the user's tokens on disable, delete and password change).
//
// Brute force: failures are counted per username and per remote address (LoginRateLimiter);
// once either reached `login_max_failures` within `login_window_ms`, logins are refused with
// ResourceExhausted and a retry-after. Unknown usernames cost the same Argon2id verification
// as known ones so that response times do not reveal which usernames exist.
// Ownership: borrows ApiDeps and the RegistryService. Thread-safety: all methods are safe from
// any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/deps.h"
#include "api/principal.h"
#include "api/rate_limiter.h"
#include "api/registry_service.h"
#include "common/json.h"
#include "common/result.h"

namespace linli::api {

struct AuthOptions {
  int64_t session_ttl_ms = 12LL * 3600 * 1000;
  int login_max_failures = 5;
  int64_t login_window_ms = 15LL * 60 * 1000;
  bool password_hash_interactive = true;  // must match how user passwords are hashed
};

class Authenticator {
 public:
  Authenticator(const ApiDeps& deps, RegistryService* registry, AuthOptions options);

  // Verifies the credentials and issues a session: {"token","expires_ms","user"}.
  // Unauthenticated for a wrong username/password or a disabled user (one message for all);
  // ResourceExhausted when rate limited, with *retry_after_ms set.
  Result<Json> Login(std::string_view username, std::string_view password,
                     const std::string& remote, int64_t* retry_after_ms);

  // Resolves a bearer secret (session token or API key) to a Principal. Unauthenticated if
  // missing, unknown, expired, or the user is gone or disabled.
  Result<Principal> Authenticate(std::string_view bearer, const std::string& remote);

  // Revokes the session the principal authenticated with (API keys cannot log out).
  Result<void> Logout(const Principal& p);

  // {"user": {...}, "scope": {"all": bool, "compounds": [...]}, "auth": "session"|"api_key"}
  Result<Json> Me(const Principal& p);

  // Admin only: a new API key for `user_id`: {"key","user_id","label","created_ms"}. The key
  // is shown only in this answer.
  Result<Json> CreateApiKey(const Principal& p, const std::string& user_id, const Json& body);

  LoginRateLimiter& limiter() { return limiter_; }

 private:
  const std::string& DummyHash();
  void Audit(const std::string& actor, const std::string& action, const std::string& user_id,
             const std::string& remote, Json detail);
  void MaybePurgeExpired(int64_t now);
  bool ShouldAuditBlocked(const std::string& key);

  ApiDeps deps_;
  RegistryService* registry_;
  AuthOptions options_;
  LoginRateLimiter limiter_;
  std::once_flag dummy_once_;
  std::string dummy_hash_;
  std::atomic<int64_t> last_purge_ms_{0};
  std::mutex blocked_mu_;
  std::unordered_map<std::string, int64_t> blocked_audited_;  // key → last audit (ms)
};

}  // namespace linli::api
