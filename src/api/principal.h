// Principal: who is calling, as resolved from a bearer token (or "system" for imports), with the
// caller's effective access scope already expanded to a set of compound ids.
//
// Roles and scopes (DESIGN.md "Who uses it"): every user has a role and a list of `scopes`
// (region ids and/or compound ids). The effective scope is those compounds plus every compound
// under the scoped regions. An admin with no scopes sees everything; any other role with no
// scopes sees nothing. A resident's scope is the compound of their person record and their
// household (the person's room).
// Thread-safety: plain value; copy freely.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace linli::api {

enum class Role { kAdmin, kOperator, kTechnician, kGridWorker, kPolice, kResident, kIntegrator };

inline constexpr Role kAllRoles[] = {Role::kAdmin,      Role::kOperator, Role::kTechnician,
                                     Role::kGridWorker, Role::kPolice,   Role::kResident,
                                     Role::kIntegrator};

std::string_view RoleName(Role role);
// Parses "admin", "operator", ...; nullopt for anything else.
std::optional<Role> ParseRole(std::string_view name);

struct Principal {
  std::string user_id;
  std::string username;
  Role role = Role::kResident;
  // True when the caller may see every compound (admin without scopes, system).
  bool all_compounds = false;
  // The effective compound scope (ignored when all_compounds).
  std::set<std::string> compounds;
  // Regions the caller's scope covers (the scoped regions and their descendants); used to
  // decide whether a new compound may be created under a region.
  std::set<std::string> regions;
  // Residents: their person record and household (the person's room; empty if none).
  std::string person_id;
  std::string household_room_id;
  // Client address ("ip:port" stripped to ip) for the audit trail.
  std::string remote;
  // How the caller authenticated: "session", "api_key" or "system"; and the token's sha256
  // (for logout). Never the token itself.
  std::string token_kind;
  std::string token_hash;

  bool InScope(std::string_view compound_id) const;
  // For store queries: nullopt = no restriction, otherwise the compounds in scope.
  std::optional<std::vector<std::string>> ScopeFilter() const;
  // The actor name written to the audit log.
  const std::string& Actor() const { return username; }

  // An all-powerful principal for trusted local tools (`linlid import`). `actor` appears in
  // the audit log.
  static Principal System(std::string actor);
};

}  // namespace linli::api
