// ScopeResolver: expands a user's `scopes` (region ids and/or compound ids) into the set of
// compounds the user may see, following the region tree (region.parent_id) down to compounds
// (compound.community_id). Residents are scoped by their person record instead: their compound
// and their household (the person's room).
//
// The region/compound topology is cached and reloaded when Invalidate() was called (the
// RegistryService does so after every region or compound change) or when it is older than
// `max_age_ms` (changes made by another process, e.g. `linlid import`).
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/principal.h"
#include "common/clock.h"
#include "common/result.h"
#include "model/registry.h"
#include "store/store.h"

namespace linli::api {

class ScopeResolver {
 public:
  ScopeResolver(store::Store* store, const Clock& clock, int64_t max_age_ms = 5000);

  // Sets role, all_compounds, compounds, regions, person_id and household_room_id of `p` from
  // the user record (fields as stored: "role", "scopes", "person_id"). Unknown ids in scopes
  // are ignored. Fails only if the store fails.
  Result<void> Resolve(const model::Record& user, Principal* p);

  // Compounds under (and including the subtree of) the given region ids.
  Result<std::set<std::string>> CompoundsUnderRegions(const std::set<std::string>& region_ids);

  void Invalidate();

 private:
  struct Topology {
    std::map<std::string, std::vector<std::string>> region_children;
    std::map<std::string, std::vector<std::string>> compounds_by_community;
    std::set<std::string> regions;
    std::set<std::string> compounds;
  };
  Result<std::shared_ptr<const Topology>> Current();
  static std::set<std::string> Subtree(const Topology& t, const std::set<std::string>& roots);

  store::Store* store_;
  const Clock& clock_;
  const int64_t max_age_ms_;
  std::mutex mu_;
  std::shared_ptr<const Topology> topology_;
  std::chrono::steady_clock::time_point loaded_at_;
  bool stale_ = true;
};

}  // namespace linli::api
