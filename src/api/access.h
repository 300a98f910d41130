// The access policy of the HTTP API as pure functions: which role may do what to which resource,
// and how much of a personal-data field a role may see. No I/O; the RegistryService and the
// route handlers ask these functions and apply the answer. Row-level scope (which compounds a
// caller sees) lives in Principal; the resident household rule is ResidentMaySee() below.
//
// The matrix (documented in docs/openapi.json too):
//   registry write: regions admin; compounds, buildings, units, rooms, persons, vehicles,
//     organisations admin, operator, grid_worker; devices admin, operator, integrator;
//     users admin.
//   registry read: regions, compounds, buildings, units, rooms everyone but residents, who read
//     only their compound and their room; persons, vehicles admin, operator, grid_worker,
//     police and residents (own household); organisations admin, operator, grid_worker,
//     police; devices admin, operator, technician, police, integrator; users admin.
//   device data (telemetry, status history, events, faults, online ratios) and the live feed:
//     admin, operator, technician, grid_worker, police, integrator.
//   dead letters, audit log, /metrics, API keys: admin.
//   device credential rotation: whoever may write devices.
//   escalation contacts: read admin, operator, police; write admin, operator.
//   webhooks: admin.
//   media (snapshots, clips, photos): read as device data; upload admin, operator, technician,
//     integrator (edge boxes use an integrator API key).
//   alarms: read admin, operator, technician, grid_worker, police, integrator; raise manually
//     and work (acknowledge, dispatch, resolve, close, comment) admin, operator.
//   work orders: read admin, operator, technician, grid_worker, residents (their own requests);
//     open admin, operator, grid_worker, residents (repair requests for their household);
//     work (assign, start, complete, close, comment) admin, operator, technician, grid_worker.
//   rules: read admin, operator; write admin.
//   device commands: read admin, operator, technician, integrator; send admin, operator
//     (opening doors is sensitive: every command is audited).
//   incident statistics: admin, operator, grid_worker, police.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "api/principal.h"
#include "model/registry.h"

namespace linli::api {

enum class Resource {
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
  kDeviceData,  // telemetry, status history, events, faults, online ratios
  kFeed,        // the live feed
  kDeadLetters,
  kAudit,
  kMetrics,
  kApiKeys,
  kDeviceCredentials,  // MQTT password rotation
  kContact,
  kWebhook,
  kMedia,
  kAlarm,
  kWorkOrder,
  kRule,
  kCommand,
  kIncidentStats,
};

enum class Action { kRead, kCreate, kUpdate, kDelete };

inline constexpr Resource kAllResources[] = {Resource::kRegion,
                                             Resource::kCompound,
                                             Resource::kBuilding,
                                             Resource::kUnit,
                                             Resource::kRoom,
                                             Resource::kPerson,
                                             Resource::kVehicle,
                                             Resource::kOrganisation,
                                             Resource::kDevice,
                                             Resource::kUser,
                                             Resource::kDeviceData,
                                             Resource::kFeed,
                                             Resource::kDeadLetters,
                                             Resource::kAudit,
                                             Resource::kMetrics,
                                             Resource::kApiKeys,
                                             Resource::kDeviceCredentials,
                                             Resource::kContact,
                                             Resource::kWebhook,
                                             Resource::kMedia,
                                             Resource::kAlarm,
                                             Resource::kWorkOrder,
                                             Resource::kRule,
                                             Resource::kCommand,
                                             Resource::kIncidentStats};
inline constexpr Action kAllActions[] = {Action::kRead, Action::kCreate, Action::kUpdate,
                                         Action::kDelete};

std::string_view ResourceName(Resource r);
std::string_view ActionName(Action a);
Resource ResourceOf(model::Kind kind);

// True if `role` may perform `action` on `resource` at all (before scope checks).
bool Allowed(Role role, Resource resource, Action action);

// How a personal-data field is shown.
enum class PiiView { kFull, kMasked };

// Visibility of pii field `field` (id_number, phone, contact_phone, ...) for `role`.
// id_number and unknown pii fields: full for admin, police, grid_worker. Phone numbers: full for
// admin, police, grid_worker, operator. `own_household` (a resident looking at their own
// household) is always full.
PiiView PiiVisibility(Role role, std::string_view field, bool own_household = false);

// The masked form of a pii value: MaskIdNumber for id numbers, MaskPhone for phone numbers,
// and every character starred otherwise.
std::string MaskPii(std::string_view field, std::string_view value);

// The resident household rule: a resident sees their compound, their room, the persons of
// their room (and themselves) and the vehicles owned by those persons; nothing else.
// `household_persons` are the ids of the persons living in the resident's room (incl. self).
bool ResidentMaySee(const Principal& resident, model::Kind kind, const std::string& id,
                    const std::string& compound_id, const Json& fields,
                    const std::set<std::string>& household_persons);

}  // namespace linli::api
