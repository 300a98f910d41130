// RegistryService: the transport-independent registry logic behind the REST collections and
// `linlid import`. For every model::Kind it does, generically from model::Spec(kind):
//   - role checks (access.h) and scope checks (Principal; records outside scope are NotFound so
//     that existence does not leak; residents see only their household);
//   - validation (model::ValidateFields), id generation (NewUuid when the body has no "id");
//   - compound derivation (compound → itself; building → compound_id; unit → its building's;
//     room → its unit's; person/vehicle/organisation/device → compound_id) and reference
//     consistency (every room/building/unit/owner reference must exist, be visible and belong
//     to the same compound: InvalidArgument naming the field otherwise);
//   - personal data: pii fields encrypted (FieldCipher) with a blind index "<name>_bidx" for
//     equality filters and unique checks; decrypted and masked per role on output;
//   - users: "password" hashed (Argon2id) and never returned; a user's tokens are revoked when
//     the user is disabled, deleted or their password changes; nobody can delete or disable
//     themselves, and the last enabled admin cannot be deleted, disabled or demoted;
//   - devices: an MQTT account per device through deps.credentials (password returned once;
//     the record is rolled back if the broker refuses), deps.device_hooks on every change,
//     live presence in the output;
//   - an audit entry for every change (field names only, never values).
//
// Output objects: {"id", "compound_id" (not for regions and users), "created_ms",
// "updated_ms", <fields>}; write-only fields and blind indexes are never returned.
// Ownership: borrows everything in ApiDeps. Thread-safety: all methods are safe from any thread.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/deps.h"
#include "api/principal.h"
#include "api/scope.h"
#include "common/json.h"
#include "common/result.h"
#include "model/registry.h"

namespace linli::api {

struct RegistryOptions {
  // Argon2id cost for user passwords: INTERACTIVE (production) or MIN (tests, bulk seeding).
  bool password_hash_interactive = true;
  // How long the cached region/compound topology may be used before it is reloaded.
  int64_t topology_max_age_ms = 5000;
};

struct ListParams {
  // Exact-match filters on filterable fields, as given by the client (plaintext for pii).
  std::vector<std::pair<std::string, std::string>> filters;
  std::string search;  // substring of the label field; empty for none
  int limit = 50;      // 1..1000
  int offset = 0;      // >= 0
};

class RegistryService {
 public:
  RegistryService(const ApiDeps& deps, RegistryOptions options = {});
  ~RegistryService();

  // Creates a record from a request body. Devices answer with an extra "mqtt" object
  // {client_id, username, password, topic_prefix} when a broker is configured.
  Result<Json> Create(const Principal& p, model::Kind kind, const Json& body);
  Result<Json> Get(const Principal& p, model::Kind kind, const std::string& id);
  // {"items":[...],"total":N,"limit":L,"offset":O}
  Result<Json> List(const Principal& p, model::Kind kind, const ListParams& params);
  // PATCH semantics: only the given fields change; null clears an optional field.
  Result<Json> Update(const Principal& p, model::Kind kind, const std::string& id,
                      const Json& patch);
  // Returns {"id": id, "deleted": true}.
  Result<Json> Delete(const Principal& p, model::Kind kind, const std::string& id);

  // Creates many records of one kind in one store transaction (CSV import). References may
  // point to records earlier in the same batch. Errors name "rows[i].field". Returns
  // {"created": n, "items": [...]} (devices with their one-time "mqtt" passwords).
  Result<Json> CreateBatch(const Principal& p, model::Kind kind, const std::vector<Json>& rows);

  // Issues a new MQTT password for a device: {"mqtt": {...}}. FailedPrecondition if no broker
  // is configured, Unavailable if the broker does not answer.
  Result<Json> RotateDeviceCredentials(const Principal& p, const std::string& device_id);

  // The stored record of `kind`/`id` if `p` may read it: NotFound if absent or out of scope,
  // PermissionDenied if the role may not read the kind at all. Used by the query routes.
  Result<model::Record> Visible(const Principal& p, model::Kind kind, const std::string& id);

  // Renders a stored record (pii as ciphertext) for `p`.
  Json Render(const Principal& p, const model::Record& stored) const;

  // Seals plaintext pii fields: ciphertext in place plus "<name>_bidx". Exposed for import.
  Result<model::Record> Seal(model::Record plain) const;
  // The blind index of a pii value as the store holds it (after normalisation).
  std::string BlindIndexOf(std::string_view field, std::string_view value) const;

  ScopeResolver& scopes() { return *scopes_; }
  const ApiDeps& deps() const { return deps_; }

 private:
  struct Overlay;
  Result<model::Record> Lookup(model::Kind kind, const std::string& id, const Overlay* overlay);
  Result<model::Record> Prepare(const Principal& p, model::Kind kind, const Json& body,
                                const Overlay* overlay);
  Result<std::string> DeriveCompound(const Principal& p, model::Kind kind, const Json& fields,
                                     const std::string& self_id, const Overlay* overlay);
  Result<model::Record> Open(const model::Record& stored) const;
  Result<void> CheckAdminRemains(const std::string& user_id, bool removing);
  Result<std::set<std::string>> HouseholdPersons(const Principal& p);
  Result<Json> ListForResident(const Principal& p, model::Kind kind, const ListParams& params,
                               const std::vector<std::pair<std::string, std::string>>& filters);
  void Audit(const Principal& p, const std::string& action, model::Kind kind, const std::string& id,
             const std::string& compound_id, Json detail) const;
  Json MqttBlock(const std::string& device_id, const std::string& compound_id,
                 const std::string& password) const;
  void AfterChange(model::Kind kind);

  ApiDeps deps_;
  RegistryOptions options_;
  std::unique_ptr<ScopeResolver> scopes_;
};

}  // namespace linli::api
