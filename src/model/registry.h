// The registry (人车房室 + devices + users) described as data.
//
// Every registry resource is a Kind with a KindSpec: its REST collection name, its fields with
// types and validation, its parent (building → compound, unit → building, room → unit, ...),
// which fields hold personal data. The store builds one relational table per kind from the spec
// and the API validates bodies against it, so adding a field is a one-line change here.
//
// Standard address hierarchy (标准地址): region (district 区 → street 街道 → community 社区)
// → compound 小区 → building 楼栋 → unit 单元 → room 房屋 (with its floor 楼层).
// Thread-safety: specs are immutable after static initialisation.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/result.h"

namespace linli::model {

enum class Kind {
  kRegion,
  kCompound,
  kBuilding,
  kUnit,
  kRoom,
  kPerson,
  kVehicle,
  kOrganisation,
  kDevice,
  kUser,
  kContact,  // escalation contacts of a compound (property manager, police station, fire brigade)
  kWebhook,  // outgoing notification endpoints (admin)
};

enum class FieldType {
  kString,
  kInt,
  kNumber,
  kBool,
  kJson,        // any JSON object (free-form attributes)
  kRef,         // id of a record of `ref_kind`
  kStringList,  // array of strings (tags, scopes)
};

// Returns an error message (empty when the value is acceptable). Receives the already
// type-checked value.
using Validator = std::function<std::string(const Json& value)>;

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kString;
  bool required = false;
  size_t max_len = 200;           // strings and each list item, in bytes
  std::optional<Kind> ref_kind;   // for kRef
  bool pii = false;               // encrypted at rest, blind-indexed as "<name>_bidx", masked
  bool filterable = false;        // usable as ?name=value in list queries (exact match)
  bool unique = false;            // unique among records of the kind (by blind index if pii)
  bool immutable = false;         // cannot be changed by PATCH
  bool write_only = false;        // accepted on input, never returned (passwords)
  bool internal = false;          // set by the server only; rejected in request bodies
  std::vector<std::string> enum_values;  // allowed values if non-empty
  Validator validate;             // extra domain check
};

struct KindSpec {
  Kind kind;
  std::string name;        // "building"
  std::string collection;  // "buildings" (REST path and table name)
  std::vector<FieldSpec> fields;
  // The reference field that points to the parent in the address hierarchy ("" if none).
  // The store refuses to delete a record that other records reference.
  std::string parent_field;
  // Field used for a human label ("name", "number", "plate", "username").
  std::string label_field;

  const FieldSpec* Field(std::string_view name) const;
};

const KindSpec& Spec(Kind kind);
std::span<const Kind> AllKinds();
std::optional<Kind> KindFromCollection(std::string_view collection);
std::string_view KindName(Kind kind);
// True for kinds whose records belong to one compound (everything but regions, users and
// webhooks): those are subject to compound scope.
bool CompoundBound(Kind kind);

// A registry record. `fields` holds the spec'd fields only (never id/compound_id/timestamps).
// In the store, pii fields hold ciphertext ("v1:...") and "<name>_bidx" the blind index; above
// the store they hold plaintext.
struct Record {
  Kind kind = Kind::kCompound;
  std::string id;
  // The compound this record belongs to, derived through its parents; empty for regions and
  // for users. The unit of access scope and of sharding.
  std::string compound_id;
  Json fields = Json::object();
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// Checks a request body against the spec. On create (`partial` false) required fields must be
// present; on PATCH only the given fields are checked. Unknown fields, wrong types, bad enum
// values, over-long strings and domain failures are InvalidArgument naming the field. Returns
// the normalised fields (trimmed strings, upper-cased plates, ...). "id" is allowed on create
// only and validated by ValidateId.
Result<Json> ValidateFields(Kind kind, const Json& body, bool partial);

// A client-chosen id: 1–64 of [A-Za-z0-9_-], starting with a letter or digit.
bool ValidateId(std::string_view id);

// Domain validators, exposed for tests and import.
// 18-digit PRC resident ID (GB 11643-1999) with checksum and a plausible birth date.
bool IsValidIdNumber(std::string_view s);
// Mainland mobile (1[3-9]xxxxxxxxx) or landline (0xx-xxxxxxx[x], optional extension).
bool IsValidPhone(std::string_view s);
// Mainland plate: province character + letter + 5 (ordinary) or 6 (new energy) alphanumerics.
bool IsValidPlate(std::string_view s);
// 18-character unified social credit code (GB 32100-2015) with checksum.
bool IsValidCreditCode(std::string_view s);

// Masking for roles that do not need the full value.
std::string MaskIdNumber(std::string_view s);  // 110101********1234
std::string MaskPhone(std::string_view s);     // 138****5678
std::string MaskName(std::string_view s);      // 张*, 欧阳** (first UTF-8 character kept)

// Device kinds known to the platform, with their default heartbeat timeout in seconds.
struct DeviceKindInfo {
  std::string kind;
  int heartbeat_timeout_s;
};
std::span<const DeviceKindInfo> DeviceKinds();
int DefaultHeartbeatTimeoutS(std::string_view kind);

}  // namespace linli::model
