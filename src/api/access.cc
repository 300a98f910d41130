#include "api/access.h"

#include <initializer_list>

namespace linli::api {
namespace {

bool OneOf(Role role, std::initializer_list<Role> roles) {
  for (Role r : roles) {
    if (r == role) return true;
  }
  return false;
}

constexpr auto kAdmin = Role::kAdmin;
constexpr auto kOperator = Role::kOperator;
constexpr auto kTechnician = Role::kTechnician;
constexpr auto kGridWorker = Role::kGridWorker;
constexpr auto kPolice = Role::kPolice;
constexpr auto kResident = Role::kResident;
constexpr auto kIntegrator = Role::kIntegrator;

bool MayRead(Role role, Resource r) {
  switch (r) {
    case Resource::kRegion:
    case Resource::kBuilding:
    case Resource::kUnit:
      return role != kResident;
    case Resource::kCompound:
    case Resource::kRoom:
      return true;  // residents: own compound / own room only (row rule)
    case Resource::kPerson:
    case Resource::kVehicle:
      return OneOf(role, {kAdmin, kOperator, kGridWorker, kPolice, kResident});
    case Resource::kOrganisation:
      return OneOf(role, {kAdmin, kOperator, kGridWorker, kPolice});
    case Resource::kDevice:
      return OneOf(role, {kAdmin, kOperator, kTechnician, kPolice, kIntegrator});
    case Resource::kDeviceData:
    case Resource::kFeed:
      return OneOf(role, {kAdmin, kOperator, kTechnician, kGridWorker, kPolice, kIntegrator});
    case Resource::kUser:
    case Resource::kDeadLetters:
    case Resource::kAudit:
    case Resource::kMetrics:
      return role == kAdmin;
    case Resource::kApiKeys:
    case Resource::kDeviceCredentials:
      return false;  // write-only resources
    case Resource::kContact:
      return OneOf(role, {kAdmin, kOperator, kPolice});
    case Resource::kWebhook:
      return role == kAdmin;
    case Resource::kMedia:
      return OneOf(role, {kAdmin, kOperator, kTechnician, kGridWorker, kPolice, kIntegrator});
    case Resource::kAlarm:
      return OneOf(role, {kAdmin, kOperator, kTechnician, kGridWorker, kPolice, kIntegrator});
    case Resource::kWorkOrder:
      return OneOf(role, {kAdmin, kOperator, kTechnician, kGridWorker, kResident});
    case Resource::kRule:
      return OneOf(role, {kAdmin, kOperator});
    case Resource::kCommand:
      return OneOf(role, {kAdmin, kOperator, kTechnician, kIntegrator});
    case Resource::kIncidentStats:
      return OneOf(role, {kAdmin, kOperator, kGridWorker, kPolice});
  }
  return false;
}

bool MayWrite(Role role, Resource r, Action a) {
  switch (r) {
    case Resource::kRegion:
    case Resource::kUser:
      return role == kAdmin;
    case Resource::kCompound:
    case Resource::kBuilding:
    case Resource::kUnit:
    case Resource::kRoom:
    case Resource::kPerson:
    case Resource::kVehicle:
    case Resource::kOrganisation:
      return OneOf(role, {kAdmin, kOperator, kGridWorker});
    case Resource::kDevice:
      return OneOf(role, {kAdmin, kOperator, kIntegrator});
    case Resource::kDeviceCredentials:
      // Rotation is an update of the device's broker account.
      return a == Action::kUpdate && OneOf(role, {kAdmin, kOperator, kIntegrator});
    case Resource::kApiKeys:
      return a == Action::kCreate && role == kAdmin;
    case Resource::kContact:
      return OneOf(role, {kAdmin, kOperator});
    case Resource::kWebhook:
      return role == kAdmin;
    case Resource::kMedia:
      return a == Action::kCreate && OneOf(role, {kAdmin, kOperator, kTechnician, kIntegrator});
    case Resource::kAlarm:
      return a != Action::kDelete && OneOf(role, {kAdmin, kOperator});
    case Resource::kWorkOrder:
      if (a == Action::kDelete) return false;
      if (a == Action::kCreate) return OneOf(role, {kAdmin, kOperator, kGridWorker, kResident});
      return OneOf(role, {kAdmin, kOperator, kTechnician, kGridWorker});
    case Resource::kRule:
      return role == kAdmin;
    case Resource::kCommand:
      return a == Action::kCreate && OneOf(role, {kAdmin, kOperator});
    case Resource::kDeviceData:
    case Resource::kFeed:
    case Resource::kDeadLetters:
    case Resource::kAudit:
    case Resource::kMetrics:
    case Resource::kIncidentStats:
      return false;  // read-only through the API
  }
  return false;
}

}  // namespace

std::string_view ResourceName(Resource r) {
  switch (r) {
    case Resource::kRegion:
      return "region";
    case Resource::kCompound:
      return "compound";
    case Resource::kBuilding:
      return "building";
    case Resource::kUnit:
      return "unit";
    case Resource::kRoom:
      return "room";
    case Resource::kPerson:
      return "person";
    case Resource::kVehicle:
      return "vehicle";
    case Resource::kOrganisation:
      return "organisation";
    case Resource::kDevice:
      return "device";
    case Resource::kUser:
      return "user";
    case Resource::kDeviceData:
      return "device_data";
    case Resource::kFeed:
      return "feed";
    case Resource::kDeadLetters:
      return "dead_letters";
    case Resource::kAudit:
      return "audit";
    case Resource::kMetrics:
      return "metrics";
    case Resource::kApiKeys:
      return "api_keys";
    case Resource::kDeviceCredentials:
      return "device_credentials";
    case Resource::kContact:
      return "contact";
    case Resource::kWebhook:
      return "webhook";
    case Resource::kMedia:
      return "media";
    case Resource::kAlarm:
      return "alarm";
    case Resource::kWorkOrder:
      return "work_order";
    case Resource::kRule:
      return "rule";
    case Resource::kCommand:
      return "command";
    case Resource::kIncidentStats:
      return "incident_stats";
  }
  return "unknown";
}

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kRead:
      return "read";
    case Action::kCreate:
      return "create";
    case Action::kUpdate:
      return "update";
    case Action::kDelete:
      return "delete";
  }
  return "unknown";
}

Resource ResourceOf(model::Kind kind) {
  switch (kind) {
    case model::Kind::kRegion:
      return Resource::kRegion;
    case model::Kind::kCompound:
      return Resource::kCompound;
    case model::Kind::kBuilding:
      return Resource::kBuilding;
    case model::Kind::kUnit:
      return Resource::kUnit;
    case model::Kind::kRoom:
      return Resource::kRoom;
    case model::Kind::kPerson:
      return Resource::kPerson;
    case model::Kind::kVehicle:
      return Resource::kVehicle;
    case model::Kind::kOrganisation:
      return Resource::kOrganisation;
    case model::Kind::kDevice:
      return Resource::kDevice;
    case model::Kind::kUser:
      return Resource::kUser;
    case model::Kind::kContact:
      return Resource::kContact;
    case model::Kind::kWebhook:
      return Resource::kWebhook;
  }
  return Resource::kUser;  // unreachable: every Kind is listed above
}

bool Allowed(Role role, Resource resource, Action action) {
  if (action == Action::kRead) return MayRead(role, resource);
  return MayWrite(role, resource, action);
}

PiiView PiiVisibility(Role role, std::string_view field, bool own_household) {
  if (own_household) return PiiView::kFull;
  bool is_phone = field.find("phone") != std::string_view::npos;
  if (is_phone) {
    return OneOf(role, {kAdmin, kPolice, kGridWorker, kOperator}) ? PiiView::kFull
                                                                  : PiiView::kMasked;
  }
  // id_number and any other personal field: the strictest rule.
  return OneOf(role, {kAdmin, kPolice, kGridWorker}) ? PiiView::kFull : PiiView::kMasked;
}

std::string MaskPii(std::string_view field, std::string_view value) {
  if (field == "id_number") return model::MaskIdNumber(value);
  if (field.find("phone") != std::string_view::npos) return model::MaskPhone(value);
  size_t chars = 0;
  for (unsigned char c : value) {
    if ((c & 0xc0) != 0x80) ++chars;
  }
  return std::string(chars, '*');
}

bool ResidentMaySee(const Principal& resident, model::Kind kind, const std::string& id,
                    const std::string& compound_id, const Json& fields,
                    const std::set<std::string>& household_persons) {
  auto str = [&](const char* name) -> std::string {
    auto it = fields.find(name);
    return (it != fields.end() && it->is_string()) ? it->get<std::string>() : std::string();
  };
  if (!resident.InScope(compound_id)) return false;
  switch (kind) {
    case model::Kind::kCompound:
      return true;
    case model::Kind::kRoom:
      return !resident.household_room_id.empty() && id == resident.household_room_id;
    case model::Kind::kPerson:
      if (id == resident.person_id) return true;
      return !resident.household_room_id.empty() && str("room_id") == resident.household_room_id;
    case model::Kind::kVehicle: {
      std::string owner = str("owner_id");
      return !owner.empty() && household_persons.count(owner) > 0;
    }
    default:
      return false;
  }
}

}  // namespace linli::api
