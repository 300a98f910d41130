#include "api/principal.h"

namespace linli::api {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kOperator:
      return "operator";
    case Role::kTechnician:
      return "technician";
    case Role::kGridWorker:
      return "grid_worker";
    case Role::kPolice:
      return "police";
    case Role::kResident:
      return "resident";
    case Role::kIntegrator:
      return "integrator";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : kAllRoles) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

bool Principal::InScope(std::string_view compound_id) const {
  if (all_compounds) return true;
  if (compound_id.empty()) return false;
  return compounds.count(std::string(compound_id)) > 0;
}

std::optional<std::vector<std::string>> Principal::ScopeFilter() const {
  if (all_compounds) return std::nullopt;
  return std::vector<std::string>(compounds.begin(), compounds.end());
}

Principal Principal::System(std::string actor) {
  Principal p;
  p.username = std::move(actor);
  p.role = Role::kAdmin;
  p.all_compounds = true;
  p.token_kind = "system";
  return p;
}

}  // namespace linli::api
