#include "api/registry_service.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "api/access.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "common/log.h"

namespace linli::api {

using model::Kind;
using model::Record;

struct RegistryService::Overlay {
  // Records prepared earlier in the same batch (plaintext fields), by (kind, id).
  std::map<std::pair<Kind, std::string>, Record> records;
};

namespace {

std::string Str(const Json& fields, const std::string& name) {
  auto it = fields.find(name);
  return (it != fields.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

bool BoolField(const Json& fields, const std::string& name) {
  auto it = fields.find(name);
  return it != fields.end() && it->is_boolean() && it->get<bool>();
}

// Kinds whose records belong to a compound (and are therefore scope-checked).
using model::CompoundBound;

std::string NormalisePii(std::string_view field, std::string_view value) {
  size_t b = 0, e = value.size();
  while (b < e && std::isspace(static_cast<unsigned char>(value[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(value[e - 1]))) --e;
  std::string s(value.substr(b, e - b));
  if (field == "id_number") {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

int RegionLevel(const std::string& level) {
  if (level == "district") return 0;
  if (level == "street") return 1;
  if (level == "community") return 2;
  return -1;
}

std::unexpected<Error> Denied(const Principal& p, Kind kind, Action a) {
  return Fail(ErrorCode::kPermissionDenied, "role " + std::string(RoleName(p.role)) + " may not " +
                                                std::string(ActionName(a)) + " " +
                                                model::Spec(kind).collection);
}

std::unexpected<Error> NoSuch(Kind kind, const std::string& id) {
  return Fail(ErrorCode::kNotFound,
              "no such " + std::string(model::KindName(kind)) + " '" + id + "'");
}

Json FieldNames(const Json& obj) {
  Json names = Json::array();
  if (!obj.is_object()) return names;
  for (auto it = obj.begin(); it != obj.end(); ++it) names.push_back(it.key());
  return names;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// In-memory equivalent of the store's list filters (used for the small resident candidate
// sets). `filters` are as the store receives them (blind indexes for pii).
bool Matches(const model::KindSpec& spec, const Record& stored,
             const std::vector<std::pair<std::string, std::string>>& filters,
             const std::string& search) {
  for (const auto& [name, value] : filters) {
    auto it = stored.fields.find(name);
    if (it == stored.fields.end()) return false;
    if (it->is_array()) {
      bool found = false;
      for (const auto& item : *it)
        found = found || (item.is_string() && item.get<std::string>() == value);
      if (!found) return false;
    } else if (it->is_string()) {
      if (it->get<std::string>() != value) return false;
    } else if (it->is_number() || it->is_boolean()) {
      if (it->dump() != value) return false;
    } else {
      return false;
    }
  }
  if (!search.empty()) {
    std::string label = Lower(Str(stored.fields, spec.label_field));
    if (label.find(Lower(search)) == std::string::npos) return false;
  }
  return true;
}

}  // namespace

RegistryService::RegistryService(const ApiDeps& deps, RegistryOptions options)
    : deps_(deps),
      options_(options),
      scopes_(std::make_unique<ScopeResolver>(deps.store, deps.clock ? *deps.clock : SystemClock(),
                                              options.topology_max_age_ms)) {
  if (deps_.clock == nullptr) deps_.clock = &SystemClock();
}

RegistryService::~RegistryService() = default;

std::string RegistryService::BlindIndexOf(std::string_view field, std::string_view value) const {
  if (deps_.cipher == nullptr) return {};
  return deps_.cipher->BlindIndex(NormalisePii(field, value));
}

Result<Record> RegistryService::Seal(Record plain) const {
  const auto& spec = model::Spec(plain.kind);
  for (const auto& f : spec.fields) {
    if (!f.pii) continue;
    auto it = plain.fields.find(f.name);
    if (it == plain.fields.end()) continue;
    if (it->is_null()) {
      plain.fields[f.name + "_bidx"] = nullptr;
      continue;
    }
    if (!it->is_string()) return InvalidArgument(f.name, "must be a string");
    if (deps_.cipher == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition, "no field cipher configured for personal data");
    }
    std::string norm = NormalisePii(f.name, it->get<std::string>());
    plain.fields[f.name + "_bidx"] = deps_.cipher->BlindIndex(norm);
    plain.fields[f.name] = deps_.cipher->Encrypt(norm);
  }
  return plain;
}

Result<Record> RegistryService::Open(const Record& stored) const {
  Record plain = stored;
  const auto& spec = model::Spec(stored.kind);
  for (const auto& f : spec.fields) {
    if (!f.pii) continue;
    plain.fields.erase(f.name + "_bidx");
    auto it = plain.fields.find(f.name);
    if (it == plain.fields.end() || !it->is_string()) continue;
    if (deps_.cipher == nullptr) return Fail(ErrorCode::kInternal, "no field cipher configured");
    auto dec = deps_.cipher->Decrypt(it->get<std::string>());
    if (!dec) {
      return Fail(ErrorCode::kInternal, "cannot decrypt " + f.name + " of " + spec.name + " " +
                                            stored.id + ": " + dec.error().message());
    }
    *it = *dec;
  }
  return plain;
}

Json RegistryService::Render(const Principal& p, const Record& stored) const {
  const auto& spec = model::Spec(stored.kind);
  Json out = Json::object();
  out["id"] = stored.id;
  if (CompoundBound(stored.kind)) out["compound_id"] = stored.compound_id;
  out["created_ms"] = stored.created_ms;
  out["updated_ms"] = stored.updated_ms;
  // Residents only ever see their own household (enforced by Visible/List), so they see it
  // unmasked; everyone else by role.
  const bool own_household = p.role == Role::kResident;
  for (const auto& f : spec.fields) {
    if (f.write_only) continue;
    auto it = stored.fields.find(f.name);
    if (it == stored.fields.end()) continue;
    if (!f.pii || !it->is_string()) {
      out[f.name] = *it;
      continue;
    }
    Result<std::string> dec = deps_.cipher
                                  ? deps_.cipher->Decrypt(it->get<std::string>())
                                  : Result<std::string>(Fail(ErrorCode::kInternal, "no cipher"));
    if (!dec) {
      log::Error("cannot decrypt personal data field", {{"kind", spec.name},
                                                        {"id", stored.id},
                                                        {"field", f.name},
                                                        {"error", dec.error().message()}});
      out[f.name] = nullptr;
      continue;
    }
    out[f.name] = PiiVisibility(p.role, f.name, own_household) == PiiView::kFull
                      ? *dec
                      : MaskPii(f.name, *dec);
  }
  if (stored.kind == Kind::kDevice && deps_.presence != nullptr) {
    auto st = deps_.presence->Status(stored.id);
    Json pr = Json::object();
    pr["status"] = std::string(model::PresenceName(st ? st->status : model::Presence::kUnknown));
    pr["status_ms"] = st ? st->status_ms : 0;
    pr["last_seen_ms"] = st ? st->last_seen_ms : 0;
    out["presence"] = std::move(pr);
  }
  return out;
}

Result<Record> RegistryService::Lookup(Kind kind, const std::string& id, const Overlay* overlay) {
  if (overlay != nullptr) {
    auto it = overlay->records.find({kind, id});
    if (it != overlay->records.end()) return it->second;
  }
  return deps_.store->GetRecord(kind, id);
}

Result<std::string> RegistryService::DeriveCompound(const Principal& p, Kind kind,
                                                    const Json& fields, const std::string& self_id,
                                                    const Overlay* overlay) {
  // A referenced record that does not exist and one outside the caller's scope look the same.
  auto ref = [&](Kind k, const std::string& field, const std::string& id) -> Result<Record> {
    auto r = Lookup(k, id, overlay);
    if (!r) {
      if (r.error().code() != ErrorCode::kNotFound) return std::unexpected(r.error());
      return InvalidArgument(field, "no such " + std::string(model::KindName(k)) + " '" + id + "'");
    }
    if (CompoundBound(k) && !p.InScope(r->compound_id)) {
      return InvalidArgument(field, "no such " + std::string(model::KindName(k)) + " '" + id + "'");
    }
    return r;
  };

  switch (kind) {
    case Kind::kRegion: {
      std::string parent = Str(fields, "parent_id");
      if (parent.empty()) return std::string();
      if (parent == self_id)
        return InvalidArgument("parent_id", "a region cannot be its own parent");
      LINLI_ASSIGN_OR_RETURN(Record pr, ref(Kind::kRegion, "parent_id", parent));
      int level = RegionLevel(Str(fields, "level"));
      int parent_level = RegionLevel(Str(pr.fields, "level"));
      if (level != parent_level + 1) {
        return InvalidArgument("parent_id", "a " + Str(fields, "level") + " cannot be under a " +
                                                Str(pr.fields, "level"));
      }
      return std::string();
    }
    case Kind::kCompound: {
      std::string community = Str(fields, "community_id");
      if (!community.empty()) LINLI_RETURN_IF_ERROR(ref(Kind::kRegion, "community_id", community));
      return self_id;
    }
    case Kind::kBuilding: {
      std::string cid = Str(fields, "compound_id");
      LINLI_RETURN_IF_ERROR(ref(Kind::kCompound, "compound_id", cid));
      return cid;
    }
    case Kind::kUnit: {
      LINLI_ASSIGN_OR_RETURN(Record b,
                             ref(Kind::kBuilding, "building_id", Str(fields, "building_id")));
      return b.compound_id;
    }
    case Kind::kRoom: {
      LINLI_ASSIGN_OR_RETURN(Record u, ref(Kind::kUnit, "unit_id", Str(fields, "unit_id")));
      return u.compound_id;
    }
    case Kind::kContact: {
      std::string cid = Str(fields, "compound_id");
      LINLI_RETURN_IF_ERROR(ref(Kind::kCompound, "compound_id", cid));
      return cid;
    }
    case Kind::kWebhook: {
      auto it = fields.find("compounds");
      if (it != fields.end() && it->is_array()) {
        for (const auto& s : *it) {
          std::string id = s.is_string() ? s.get<std::string>() : std::string();
          if (!model::ValidateId(id)) return InvalidArgument("compounds", "no such compound '" + id + "'");
          LINLI_RETURN_IF_ERROR(ref(Kind::kCompound, "compounds", id));
        }
      }
      return std::string();
    }
    case Kind::kPerson:
    case Kind::kVehicle:
    case Kind::kOrganisation:
    case Kind::kDevice: {
      std::string cid = Str(fields, "compound_id");
      LINLI_RETURN_IF_ERROR(ref(Kind::kCompound, "compound_id", cid));
      std::map<std::string, Record> refs;
      for (const auto& f : model::Spec(kind).fields) {
        if (f.type != model::FieldType::kRef || f.name == "compound_id" || !f.ref_kind) continue;
        std::string v = Str(fields, f.name);
        if (v.empty()) continue;
        LINLI_ASSIGN_OR_RETURN(Record r, ref(*f.ref_kind, f.name, v));
        if (r.compound_id != cid) {
          return InvalidArgument(f.name, std::string(model::KindName(*f.ref_kind)) + " '" + v +
                                             "' belongs to another compound");
        }
        refs.emplace(f.name, std::move(r));
      }
      // Location references of a device must nest: room in unit in building.
      auto room = refs.find("room_id");
      auto unit = refs.find("unit_id");
      auto building = refs.find("building_id");
      if (kind == Kind::kDevice) {
        std::string room_unit = room != refs.end() ? Str(room->second.fields, "unit_id") : "";
        if (room != refs.end() && unit != refs.end() && room_unit != unit->second.id) {
          return InvalidArgument("room_id", "room is not in unit '" + unit->second.id + "'");
        }
        std::string unit_id = unit != refs.end() ? unit->second.id : room_unit;
        if (building != refs.end() && !unit_id.empty()) {
          LINLI_ASSIGN_OR_RETURN(Record u, unit != refs.end()
                                               ? Result<Record>(unit->second)
                                               : Lookup(Kind::kUnit, unit_id, overlay));
          if (Str(u.fields, "building_id") != building->second.id) {
            return InvalidArgument(unit != refs.end() ? "unit_id" : "room_id",
                                   "is not in building '" + building->second.id + "'");
          }
        }
      }
      return cid;
    }
    case Kind::kUser: {
      std::string person = Str(fields, "person_id");
      if (!person.empty()) LINLI_RETURN_IF_ERROR(ref(Kind::kPerson, "person_id", person));
      auto it = fields.find("scopes");
      if (it != fields.end() && it->is_array()) {
        for (const auto& s : *it) {
          std::string id = s.is_string() ? s.get<std::string>() : std::string();
          auto bad = InvalidArgument("scopes", "no such region or compound '" + id + "'");
          if (!model::ValidateId(id)) return bad;
          auto region = Lookup(Kind::kRegion, id, overlay);
          if (region) {
            if (!p.all_compounds && !p.regions.count(id)) return bad;
            continue;
          }
          if (region.error().code() != ErrorCode::kNotFound) return std::unexpected(region.error());
          auto compound = Lookup(Kind::kCompound, id, overlay);
          if (compound) {
            if (!p.InScope(id)) return bad;
            continue;
          }
          if (compound.error().code() != ErrorCode::kNotFound)
            return std::unexpected(compound.error());
          return bad;
        }
      }
      return std::string();
    }
  }
  return Fail(ErrorCode::kInternal, "unknown kind");
}

Result<Record> RegistryService::Prepare(const Principal& p, Kind kind, const Json& body,
                                        const Overlay* overlay) {
  LINLI_ASSIGN_OR_RETURN(Json fields, model::ValidateFields(kind, body, /*partial=*/false));
  Record rec;
  rec.kind = kind;
  if (fields.contains("id")) {
    rec.id = fields["id"].get<std::string>();
    fields.erase("id");
  } else {
    rec.id = NewUuid();
  }
  for (const auto& f : model::Spec(kind).fields) {
    if (f.pii && fields.contains(f.name) && fields[f.name].is_string()) {
      fields[f.name] = NormalisePii(f.name, fields[f.name].get<std::string>());
    }
  }
  LINLI_ASSIGN_OR_RETURN(rec.compound_id, DeriveCompound(p, kind, fields, rec.id, overlay));
  if (kind == Kind::kCompound && !p.all_compounds) {
    // A new compound joins a scope only through a scoped region.
    std::string community = Str(fields, "community_id");
    if (community.empty() || !p.regions.count(community)) {
      return Fail(ErrorCode::kPermissionDenied,
                  "a compound can only be created under a region in your scope", "community_id");
    }
  }
  if (kind == Kind::kUser && fields.contains("password") && fields["password"].is_string()) {
    LINLI_ASSIGN_OR_RETURN(std::string hash, HashPassword(fields["password"].get<std::string>(),
                                                          options_.password_hash_interactive));
    fields["password"] = hash;
  }
  rec.fields = std::move(fields);
  rec.created_ms = rec.updated_ms = deps_.clock->NowMs();
  return rec;
}

void RegistryService::Audit(const Principal& p, const std::string& action, Kind kind,
                            const std::string& id, const std::string& compound_id,
                            Json detail) const {
  model::AuditEntry e;
  e.ts_ms = deps_.clock->NowMs();
  e.actor = p.Actor();
  e.action = action;
  e.object_kind = std::string(model::KindName(kind));
  e.object_id = id;
  e.compound_id = compound_id;
  e.remote = p.remote;
  e.detail = std::move(detail);
  auto r = deps_.store->AppendAudit(e);
  if (!r) log::Warn("audit write failed", {{"action", action}, {"error", r.error().ToString()}});
}

Json RegistryService::MqttBlock(const std::string& device_id, const std::string& compound_id,
                                const std::string& password) const {
  return Json{{"client_id", device_id},
              {"username", device_id},
              {"password", password},
              {"topic_prefix", "linli/v1/" + compound_id + "/" + device_id + "/"}};
}

void RegistryService::AfterChange(Kind kind) {
  if (kind == Kind::kRegion || kind == Kind::kCompound) scopes_->Invalidate();
}

Result<Json> RegistryService::Create(const Principal& p, Kind kind, const Json& body) {
  if (!Allowed(p.role, ResourceOf(kind), Action::kCreate)) return Denied(p, kind, Action::kCreate);
  LINLI_ASSIGN_OR_RETURN(Record rec, Prepare(p, kind, body, nullptr));
  LINLI_ASSIGN_OR_RETURN(Record sealed, Seal(std::move(rec)));
  LINLI_ASSIGN_OR_RETURN(Record stored, deps_.store->CreateRecord(sealed));
  Json out = Render(p, stored);
  if (kind == Kind::kDevice && deps_.credentials != nullptr) {
    std::string password = RandomPassword(24);
    auto up = deps_.credentials->UpsertDevices({{stored.id, stored.compound_id, password}});
    if (!up) {
      auto del = deps_.store->DeleteRecord(Kind::kDevice, stored.id);
      if (!del) {
        log::Error("device rollback failed",
                   {{"device", stored.id}, {"error", del.error().ToString()}});
      }
      return Fail(ErrorCode::kUnavailable,
                  "the MQTT broker did not accept the device account: " + up.error().message());
    }
    out["mqtt"] = MqttBlock(stored.id, stored.compound_id, password);
  }
  if (kind == Kind::kDevice && deps_.device_hooks != nullptr)
    deps_.device_hooks->OnDeviceUpserted(stored);
  if (deps_.record_hooks != nullptr) deps_.record_hooks->OnRecordUpserted(stored);
  AfterChange(kind);
  Json names = FieldNames(body);
  names.erase(std::remove(names.begin(), names.end(), Json("id")), names.end());
  Audit(p, "create", kind, stored.id, stored.compound_id, Json{{"fields", names}});
  return out;
}

Result<Json> RegistryService::CreateBatch(const Principal& p, Kind kind,
                                          const std::vector<Json>& rows) {
  if (!Allowed(p.role, ResourceOf(kind), Action::kCreate)) return Denied(p, kind, Action::kCreate);
  Overlay overlay;
  std::vector<Record> sealed;
  sealed.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string prefix = "rows[" + std::to_string(i) + "]";
    auto rec = Prepare(p, kind, rows[i], &overlay);
    if (!rec) {
      const Error& e = rec.error();
      return Fail(e.code(), e.message(), e.field().empty() ? prefix : prefix + "." + e.field());
    }
    if (overlay.records.count({kind, rec->id})) {
      return Fail(ErrorCode::kConflict, "duplicate id '" + rec->id + "' in the batch",
                  prefix + ".id");
    }
    auto s = Seal(*rec);
    if (!s) return Fail(s.error().code(), s.error().message(), prefix + "." + s.error().field());
    overlay.records.emplace(std::make_pair(kind, rec->id), *rec);
    sealed.push_back(std::move(*s));
  }
  LINLI_RETURN_IF_ERROR(deps_.store->CreateRecords(sealed));
  Json items = Json::array();
  if (kind == Kind::kDevice && deps_.credentials != nullptr && !sealed.empty()) {
    std::vector<mqtt::DeviceCredential> creds;
    for (const auto& r : sealed) creds.push_back({r.id, r.compound_id, RandomPassword(24)});
    auto up = deps_.credentials->UpsertDevices(creds);
    if (!up) {
      for (const auto& r : sealed) {
        auto del = deps_.store->DeleteRecord(Kind::kDevice, r.id);
        if (!del)
          log::Error("device rollback failed",
                     {{"device", r.id}, {"error", del.error().ToString()}});
      }
      return Fail(ErrorCode::kUnavailable,
                  "the MQTT broker did not accept the device accounts: " + up.error().message());
    }
    for (size_t i = 0; i < sealed.size(); ++i) {
      Json out = Render(p, sealed[i]);
      out["mqtt"] = MqttBlock(creds[i].device_id, creds[i].compound_id, creds[i].password);
      items.push_back(std::move(out));
    }
  } else {
    for (const auto& r : sealed) items.push_back(Render(p, r));
  }
  for (size_t i = 0; i < sealed.size(); ++i) {
    if (kind == Kind::kDevice && deps_.device_hooks != nullptr)
      deps_.device_hooks->OnDeviceUpserted(sealed[i]);
    if (deps_.record_hooks != nullptr) deps_.record_hooks->OnRecordUpserted(sealed[i]);
    Json names = FieldNames(rows[i]);
    names.erase(std::remove(names.begin(), names.end(), Json("id")), names.end());
    Audit(p, "create", kind, sealed[i].id, sealed[i].compound_id,
          Json{{"fields", names}, {"batch", true}});
  }
  AfterChange(kind);
  return Json{{"created", sealed.size()}, {"items", std::move(items)}};
}

Result<std::set<std::string>> RegistryService::HouseholdPersons(const Principal& p) {
  std::set<std::string> persons;
  if (!p.person_id.empty()) persons.insert(p.person_id);
  if (p.household_room_id.empty()) return persons;
  store::ListQuery q;
  q.kind = Kind::kPerson;
  q.filters = {{"room_id", p.household_room_id}};
  q.compound_ids = p.ScopeFilter();
  q.limit = 1000;
  LINLI_ASSIGN_OR_RETURN(auto res, deps_.store->ListRecords(q));
  for (const auto& r : res.items) persons.insert(r.id);
  return persons;
}

Result<Record> RegistryService::Visible(const Principal& p, Kind kind, const std::string& id) {
  if (!Allowed(p.role, ResourceOf(kind), Action::kRead)) return Denied(p, kind, Action::kRead);
  if (!model::ValidateId(id)) return NoSuch(kind, id);
  auto rec = deps_.store->GetRecord(kind, id);
  if (!rec) {
    if (rec.error().code() == ErrorCode::kNotFound) return NoSuch(kind, id);
    return std::unexpected(rec.error());
  }
  if (CompoundBound(kind) && !p.InScope(rec->compound_id)) return NoSuch(kind, id);
  if (p.role == Role::kResident) {
    std::set<std::string> household;
    if (kind == Kind::kVehicle) {
      LINLI_ASSIGN_OR_RETURN(household, HouseholdPersons(p));
    }
    if (!ResidentMaySee(p, kind, rec->id, rec->compound_id, rec->fields, household))
      return NoSuch(kind, id);
  }
  return rec;
}

Result<Json> RegistryService::Get(const Principal& p, Kind kind, const std::string& id) {
  LINLI_ASSIGN_OR_RETURN(Record rec, Visible(p, kind, id));
  return Render(p, rec);
}

Result<Json> RegistryService::List(const Principal& p, Kind kind, const ListParams& params) {
  if (!Allowed(p.role, ResourceOf(kind), Action::kRead)) return Denied(p, kind, Action::kRead);
  if (params.limit < 1 || params.limit > 1000)
    return InvalidArgument("limit", "must be between 1 and 1000");
  if (params.offset < 0) return InvalidArgument("offset", "must not be negative");
  if (params.search.size() > 200) return InvalidArgument("q", "must be at most 200 bytes");
  const auto& spec = model::Spec(kind);
  std::vector<std::pair<std::string, std::string>> filters;
  for (const auto& [name, value] : params.filters) {
    const model::FieldSpec* f = spec.Field(name);
    if (f == nullptr || !f->filterable || f->write_only) {
      return InvalidArgument(name, "is not a filterable field of " + spec.collection);
    }
    if (value.size() > 1000) return InvalidArgument(name, "filter value too long");
    if (f->pii) {
      if (deps_.cipher == nullptr)
        return Fail(ErrorCode::kFailedPrecondition, "no field cipher configured");
      filters.emplace_back(name + "_bidx", BlindIndexOf(name, value));
    } else {
      filters.emplace_back(name, value);
    }
  }
  if (p.role == Role::kResident) return ListForResident(p, kind, params, filters);
  store::ListQuery q;
  q.kind = kind;
  q.filters = std::move(filters);
  if (CompoundBound(kind)) q.compound_ids = p.ScopeFilter();
  q.search = params.search;
  q.limit = params.limit;
  q.offset = params.offset;
  LINLI_ASSIGN_OR_RETURN(store::ListResult res, deps_.store->ListRecords(q));
  Json items = Json::array();
  for (const auto& r : res.items) items.push_back(Render(p, r));
  return Json{{"items", std::move(items)},
              {"total", res.total},
              {"limit", params.limit},
              {"offset", params.offset}};
}

Result<Json> RegistryService::ListForResident(
    const Principal& p, Kind kind, const ListParams& params,
    const std::vector<std::pair<std::string, std::string>>& filters) {
  std::vector<Record> candidates;
  auto add = [&](Kind k, const std::string& id) -> Result<void> {
    if (id.empty()) return {};
    auto r = deps_.store->GetRecord(k, id);
    if (r) {
      candidates.push_back(std::move(*r));
      return {};
    }
    if (r.error().code() == ErrorCode::kNotFound) return {};
    return std::unexpected(r.error());
  };
  auto add_list = [&](Kind k, const std::string& field, const std::string& value) -> Result<void> {
    store::ListQuery q;
    q.kind = k;
    q.filters = {{field, value}};
    q.compound_ids = p.ScopeFilter();
    q.limit = 1000;
    LINLI_ASSIGN_OR_RETURN(auto res, deps_.store->ListRecords(q));
    for (auto& r : res.items) candidates.push_back(std::move(r));
    return {};
  };
  std::set<std::string> household;
  switch (kind) {
    case Kind::kCompound:
      for (const auto& c : p.compounds) LINLI_RETURN_IF_ERROR(add(Kind::kCompound, c));
      break;
    case Kind::kRoom:
      LINLI_RETURN_IF_ERROR(add(Kind::kRoom, p.household_room_id));
      break;
    case Kind::kPerson:
      LINLI_RETURN_IF_ERROR(add(Kind::kPerson, p.person_id));
      if (!p.household_room_id.empty())
        LINLI_RETURN_IF_ERROR(add_list(Kind::kPerson, "room_id", p.household_room_id));
      break;
    case Kind::kVehicle: {
      LINLI_ASSIGN_OR_RETURN(household, HouseholdPersons(p));
      for (const auto& person : household)
        LINLI_RETURN_IF_ERROR(add_list(Kind::kVehicle, "owner_id", person));
      break;
    }
    default:
      return Denied(p, kind, Action::kRead);
  }
  const auto& spec = model::Spec(kind);
  std::map<std::pair<int64_t, std::string>, const Record*> ordered;  // created_ms, id: dedupes too
  for (const auto& r : candidates) {
    if (!ResidentMaySee(p, kind, r.id, r.compound_id, r.fields, household)) continue;
    if (!Matches(spec, r, filters, params.search)) continue;
    ordered.emplace(std::make_pair(r.created_ms, r.id), &r);
  }
  Json items = Json::array();
  int64_t index = 0;
  for (const auto& [key, rec] : ordered) {
    if (index >= params.offset && index < static_cast<int64_t>(params.offset) + params.limit) {
      items.push_back(Render(p, *rec));
    }
    ++index;
  }
  return Json{{"items", std::move(items)},
              {"total", static_cast<int64_t>(ordered.size())},
              {"limit", params.limit},
              {"offset", params.offset}};
}

Result<void> RegistryService::CheckAdminRemains(const std::string& user_id, bool /*removing*/) {
  store::ListQuery q;
  q.kind = Kind::kUser;
  q.filters = {{"role", "admin"}};
  q.limit = 1000;
  LINLI_ASSIGN_OR_RETURN(auto res, deps_.store->ListRecords(q));
  for (const auto& u : res.items) {
    if (u.id != user_id && !BoolField(u.fields, "disabled")) return {};
  }
  return Fail(ErrorCode::kFailedPrecondition,
              "the last enabled admin cannot be removed, disabled or demoted");
}

Result<Json> RegistryService::Update(const Principal& p, Kind kind, const std::string& id,
                                     const Json& patch) {
  if (!Allowed(p.role, ResourceOf(kind), Action::kUpdate)) return Denied(p, kind, Action::kUpdate);
  LINLI_ASSIGN_OR_RETURN(Record existing, Visible(p, kind, id));
  LINLI_ASSIGN_OR_RETURN(Json changes, model::ValidateFields(kind, patch, /*partial=*/true));
  LINLI_ASSIGN_OR_RETURN(Record plain, Open(existing));
  Json merged = plain.fields;
  for (auto it = changes.begin(); it != changes.end(); ++it) {
    const model::FieldSpec* f = model::Spec(kind).Field(it.key());
    if (it->is_null()) {
      merged.erase(it.key());
    } else if (f != nullptr && f->pii && it->is_string()) {
      merged[it.key()] = NormalisePii(it.key(), it->get<std::string>());
    } else {
      merged[it.key()] = *it;
    }
  }
  bool revoke_tokens = false;
  if (kind == Kind::kUser) {
    bool was_admin = Str(plain.fields, "role") == "admin" && !BoolField(plain.fields, "disabled");
    bool is_admin = Str(merged, "role") == "admin" && !BoolField(merged, "disabled");
    if (id == p.user_id && BoolField(merged, "disabled")) {
      return Fail(ErrorCode::kFailedPrecondition, "you cannot disable yourself", "disabled");
    }
    if (was_admin && !is_admin) LINLI_RETURN_IF_ERROR(CheckAdminRemains(id, false));
    revoke_tokens = changes.contains("password") ||
                    (BoolField(merged, "disabled") && !BoolField(plain.fields, "disabled"));
  }
  LINLI_ASSIGN_OR_RETURN(std::string compound_id, DeriveCompound(p, kind, merged, id, nullptr));
  if (kind == Kind::kCompound && !p.all_compounds &&
      Str(merged, "community_id") != Str(plain.fields, "community_id") &&
      !p.regions.count(Str(merged, "community_id"))) {
    return Fail(ErrorCode::kPermissionDenied,
                "a compound can only be moved to a region in your scope", "community_id");
  }
  if (kind == Kind::kUser && changes.contains("password") && changes["password"].is_string()) {
    LINLI_ASSIGN_OR_RETURN(std::string hash, HashPassword(changes["password"].get<std::string>(),
                                                          options_.password_hash_interactive));
    merged["password"] = hash;
  }
  plain.fields = std::move(merged);
  plain.compound_id = compound_id;
  plain.updated_ms = deps_.clock->NowMs();
  LINLI_ASSIGN_OR_RETURN(Record sealed, Seal(std::move(plain)));
  LINLI_ASSIGN_OR_RETURN(Record stored, deps_.store->UpdateRecord(sealed));
  if (revoke_tokens) {
    auto r = deps_.store->DeleteTokensOfUser(id);
    if (!r) return std::unexpected(r.error());
  }
  if (kind == Kind::kDevice && deps_.device_hooks != nullptr)
    deps_.device_hooks->OnDeviceUpserted(stored);
  if (deps_.record_hooks != nullptr) deps_.record_hooks->OnRecordUpserted(stored);
  AfterChange(kind);
  Audit(p, "update", kind, id, stored.compound_id, Json{{"fields", FieldNames(changes)}});
  return Render(p, stored);
}

Result<Json> RegistryService::Delete(const Principal& p, Kind kind, const std::string& id) {
  if (!Allowed(p.role, ResourceOf(kind), Action::kDelete)) return Denied(p, kind, Action::kDelete);
  LINLI_ASSIGN_OR_RETURN(Record existing, Visible(p, kind, id));
  if (kind == Kind::kUser) {
    if (id == p.user_id) return Fail(ErrorCode::kFailedPrecondition, "you cannot delete yourself");
    if (Str(existing.fields, "role") == "admin" && !BoolField(existing.fields, "disabled")) {
      LINLI_RETURN_IF_ERROR(CheckAdminRemains(id, true));
    }
  }
  if (kind == Kind::kDevice && deps_.credentials != nullptr) {
    // Broker first: if it is down nothing changes and the client can retry.
    auto r = deps_.credentials->DeleteDevice(id);
    if (!r)
      return Fail(ErrorCode::kUnavailable,
                  "the MQTT broker did not remove the device account: " + r.error().message());
  }
  LINLI_RETURN_IF_ERROR(deps_.store->DeleteRecord(kind, id));
  if (kind == Kind::kUser) {
    auto r = deps_.store->DeleteTokensOfUser(id);
    if (!r) log::Warn("token revocation failed", {{"user", id}, {"error", r.error().ToString()}});
  }
  if (kind == Kind::kDevice && deps_.device_hooks != nullptr)
    deps_.device_hooks->OnDeviceDeleted(id);
  if (deps_.record_hooks != nullptr) deps_.record_hooks->OnRecordDeleted(kind, id);
  AfterChange(kind);
  Audit(p, "delete", kind, id, existing.compound_id, Json::object());
  return Json{{"id", id}, {"deleted", true}};
}

Result<Json> RegistryService::RotateDeviceCredentials(const Principal& p,
                                                      const std::string& device_id) {
  if (!Allowed(p.role, Resource::kDeviceCredentials, Action::kUpdate)) {
    return Fail(ErrorCode::kPermissionDenied,
                "role " + std::string(RoleName(p.role)) + " may not rotate device credentials");
  }
  LINLI_ASSIGN_OR_RETURN(Record device, Visible(p, Kind::kDevice, device_id));
  if (deps_.credentials == nullptr) {
    return Fail(ErrorCode::kFailedPrecondition, "no MQTT broker is configured");
  }
  std::string password = RandomPassword(24);
  auto up = deps_.credentials->UpsertDevices({{device.id, device.compound_id, password}});
  if (!up)
    return Fail(ErrorCode::kUnavailable,
                "the MQTT broker did not accept the new password: " + up.error().message());
  Audit(p, "rotate_credentials", Kind::kDevice, device.id, device.compound_id, Json::object());
  return Json{{"id", device.id}, {"mqtt", MqttBlock(device.id, device.compound_id, password)}};
}

}  // namespace linli::api
