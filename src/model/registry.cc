#include "model/registry.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <regex>

namespace linli::model {
namespace {

std::string Trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// True if the bytes are well-formed UTF-8 without control characters.
bool IsCleanUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    int n;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      n = 0;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      n = 1;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      n = 3;
    } else {
      return false;
    }
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

FieldSpec Str(std::string name, bool required = false, size_t max_len = 200) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::kString;
  f.required = required;
  f.max_len = max_len;
  return f;
}
FieldSpec Ref(std::string name, Kind kind, bool required = false) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::kRef;
  f.ref_kind = kind;
  f.required = required;
  f.filterable = true;
  f.max_len = 64;
  return f;
}
FieldSpec Enum(std::string name, std::vector<std::string> values, bool required = false) {
  FieldSpec f = Str(std::move(name), required, 40);
  f.enum_values = std::move(values);
  f.filterable = true;
  return f;
}
FieldSpec Int(std::string name, bool required = false) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::kInt;
  f.required = required;
  return f;
}
FieldSpec Num(std::string name) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::kNumber;
  return f;
}
FieldSpec Bool(std::string name) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::kBool;
  return f;
}
FieldSpec Obj(std::string name) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::kJson;
  f.max_len = 8192;
  return f;
}
FieldSpec List(std::string name, size_t max_len = 64) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = FieldType::kStringList;
  f.max_len = max_len;
  return f;
}
FieldSpec Filterable(FieldSpec f) {
  f.filterable = true;
  return f;
}
FieldSpec Unique(FieldSpec f) {
  f.unique = true;
  f.filterable = true;
  return f;
}
FieldSpec Immutable(FieldSpec f) {
  f.immutable = true;
  return f;
}
FieldSpec With(FieldSpec f, Validator v) {
  f.validate = std::move(v);
  return f;
}
FieldSpec Pii(FieldSpec f) {
  f.pii = true;
  return f;
}

Validator StringCheck(bool (*pred)(std::string_view), std::string message) {
  return [pred, message](const Json& v) -> std::string {
    return pred(v.get<std::string>()) ? std::string() : message;
  };
}

Validator IntRange(int64_t lo, int64_t hi) {
  return [lo, hi](const Json& v) -> std::string {
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
    return {};
  };
}

bool IsCode(std::string_view s) {
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$");
  return std::regex_match(s.begin(), s.end(), re);
}

bool IsHttpUrl(std::string_view s) {
  static const std::regex re("^https?://[A-Za-z0-9._~:/?#@!$&'()*+,;=%\\[\\]-]+$");
  return std::regex_match(s.begin(), s.end(), re);
}

bool IsDate(std::string_view s) {
  static const std::regex re("^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$");
  return std::regex_match(s.begin(), s.end(), re);
}

std::vector<KindSpec> BuildSpecs() {
  std::vector<KindSpec> specs;
  std::vector<std::string> device_kinds;
  for (const auto& d : DeviceKinds()) device_kinds.push_back(d.kind);

  specs.push_back({Kind::kRegion, "region", "regions",
                   {Str("name", true, 100), Immutable(Enum("level", {"district", "street", "community"}, true)),
                    Immutable(Ref("parent_id", Kind::kRegion)),
                    Unique(With(Str("code", false, 32), StringCheck(IsCode, "must be 1-32 of [A-Za-z0-9_-]")))},
                   "parent_id", "name"});
  specs.push_back({Kind::kCompound, "compound", "compounds",
                   {Str("name", true, 100), Ref("community_id", Kind::kRegion), Str("address", false, 300),
                    Num("lat"), Num("lng"), Obj("attributes")},
                   "community_id", "name"});
  specs.push_back({Kind::kBuilding, "building", "buildings",
                   {Immutable(Ref("compound_id", Kind::kCompound, true)), Filterable(Str("name", true, 50)),
                    With(Int("floors"), IntRange(1, 200)), With(Int("underground_floors"), IntRange(0, 20)),
                    Enum("use", {"residential", "commercial", "mixed", "public"})},
                   "compound_id", "name"});
  specs.push_back({Kind::kUnit, "unit", "units",
                   {Immutable(Ref("building_id", Kind::kBuilding, true)), Filterable(Str("name", true, 50))},
                   "building_id", "name"});
  specs.push_back({Kind::kRoom, "room", "rooms",
                   {Immutable(Ref("unit_id", Kind::kUnit, true)), With(Int("floor", true), IntRange(-20, 200)),
                    Filterable(Str("number", true, 20)), Num("area_m2"),
                    Enum("use", {"residential", "commercial", "office", "storage", "vacant"}),
                    Enum("occupancy", {"owner_occupied", "rented", "vacant", "other"})},
                   "unit_id", "number"});

  FieldSpec id_number = Pii(Unique(With(Str("id_number", false, 18),
                                       StringCheck(IsValidIdNumber, "is not a valid 18-digit resident ID number"))));
  FieldSpec phone = Pii(Filterable(With(Str("phone", false, 20), StringCheck(IsValidPhone, "is not a valid phone number"))));
  specs.push_back({Kind::kPerson, "person", "persons",
                   {Ref("compound_id", Kind::kCompound, true), Filterable(Str("name", true, 50)), id_number, phone,
                    Enum("gender", {"male", "female", "unknown"}),
                    With(Str("birth_date", false, 10), StringCheck(IsDate, "must be YYYY-MM-DD")),
                    Ref("room_id", Kind::kRoom), Enum("relation", {"owner", "tenant", "family", "other"}),
                    Filterable(List("tags")), Str("nationality", false, 40), Str("note", false, 500)},
                   "room_id", "name"});
  specs.push_back({Kind::kVehicle, "vehicle", "vehicles",
                   {Ref("compound_id", Kind::kCompound, true),
                    Unique(With(Str("plate", true, 16), StringCheck(IsValidPlate, "is not a valid plate number"))),
                    Ref("owner_id", Kind::kPerson), Enum("type", {"car", "truck", "motorcycle", "ebike", "other"}),
                    Str("color", false, 20), Str("brand", false, 40)},
                   "owner_id", "plate"});
  FieldSpec org_phone = Pii(With(Str("contact_phone", false, 20), StringCheck(IsValidPhone, "is not a valid phone number")));
  specs.push_back({Kind::kOrganisation, "organisation", "organisations",
                   {Ref("compound_id", Kind::kCompound, true), Filterable(Str("name", true, 100)),
                    Unique(With(Str("credit_code", false, 18),
                                StringCheck(IsValidCreditCode, "is not a valid unified social credit code"))),
                    Str("address", false, 300), Ref("room_id", Kind::kRoom), Str("contact_name", false, 50), org_phone,
                    Enum("category", {"enterprise", "shop", "government", "school", "hospital", "ngo", "other"}),
                    With(Int("employees"), IntRange(0, 1000000))},
                   "compound_id", "name"});
  specs.push_back({Kind::kDevice, "device", "devices",
                   {Immutable(Ref("compound_id", Kind::kCompound, true)), Enum("kind", device_kinds, true),
                    Str("name", false, 100), Filterable(Str("vendor", false, 60)), Str("model", false, 60),
                    Enum("protocol", {"mqtt", "http", "onvif", "rtsp", "gb28181", "other"}),
                    Ref("building_id", Kind::kBuilding), Ref("unit_id", Kind::kUnit), Ref("room_id", Kind::kRoom),
                    Filterable(Str("area", false, 100)), With(Int("heartbeat_timeout_s"), IntRange(5, 7 * 86400)),
                    Obj("attributes")},
                   "compound_id", "name"});

  FieldSpec password = Str("password", false, 200);
  password.write_only = true;
  password.validate = [](const Json& v) -> std::string {
    return v.get<std::string>().size() >= 8 ? std::string() : "must be at least 8 characters";
  };
  specs.push_back({Kind::kUser, "user", "users",
                   {Immutable(Unique(With(Str("username", true, 64), StringCheck(IsCode, "must be 1-32 of [A-Za-z0-9_-]")))),
                    Str("display_name", false, 100),
                    Enum("role", {"admin", "operator", "technician", "grid_worker", "police", "resident", "integrator"}, true),
                    List("scopes"), Ref("person_id", Kind::kPerson), Bool("disabled"), password,
                    Pii(With(Str("phone", false, 20), StringCheck(IsValidPhone, "is not a valid phone number")))},
                   "", "username"});
  specs.push_back({Kind::kContact, "contact", "contacts",
                   {Immutable(Ref("compound_id", Kind::kCompound, true)),
                    Filterable(Enum("role", {"property_manager", "security", "police_station", "fire_brigade",
                                             "medical", "maintenance", "community", "other"},
                                    true)),
                    Str("name", true, 100),
                    Pii(With(Str("phone", false, 20), StringCheck(IsValidPhone, "is not a valid phone number"))),
                    With(Str("webhook_url", false, 500), StringCheck(IsHttpUrl, "must be an http:// or https:// URL")),
                    With(Int("priority"), IntRange(0, 100)), Str("note", false, 500)},
                   "compound_id", "name"});
  FieldSpec secret = Str("secret", false, 200);
  secret.write_only = true;
  specs.push_back({Kind::kWebhook, "webhook", "webhooks",
                   {Str("name", true, 100),
                    With(Str("url", true, 500), StringCheck(IsHttpUrl, "must be an http:// or https:// URL")),
                    secret, List("topics"), List("compounds"), Bool("enabled")},
                   "", "name"});
  return specs;
}

const std::vector<KindSpec>& Specs() {
  static const std::vector<KindSpec>* specs = new std::vector<KindSpec>(BuildSpecs());
  return *specs;
}

constexpr std::array<Kind, 12> kAllKinds = {Kind::kRegion, Kind::kCompound, Kind::kBuilding, Kind::kUnit,
                                            Kind::kRoom,   Kind::kPerson,   Kind::kVehicle,  Kind::kOrganisation,
                                            Kind::kDevice, Kind::kUser,     Kind::kContact,  Kind::kWebhook};

std::string CheckValue(const FieldSpec& f, Json& v) {
  switch (f.type) {
    case FieldType::kString:
    case FieldType::kRef: {
      if (!v.is_string()) return "must be a string";
      std::string s = Trim(v.get<std::string>());
      if (s.empty() && f.required) return "must not be empty";
      if (s.size() > f.max_len) return "must be at most " + std::to_string(f.max_len) + " bytes";
      if (!IsCleanUtf8(s)) return "must be valid UTF-8 without control characters";
      if (f.type == FieldType::kRef && !ValidateId(s)) return "is not a valid id";
      if (!f.enum_values.empty() &&
          std::find(f.enum_values.begin(), f.enum_values.end(), s) == f.enum_values.end()) {
        std::string allowed;
        for (const auto& e : f.enum_values) allowed += (allowed.empty() ? "" : ", ") + e;
        return "must be one of: " + allowed;
      }
      v = s;
      break;
    }
    case FieldType::kInt:
      if (!v.is_number_integer()) return "must be an integer";
      break;
    case FieldType::kNumber:
      if (!v.is_number()) return "must be a number";
      break;
    case FieldType::kBool:
      if (!v.is_boolean()) return "must be true or false";
      break;
    case FieldType::kJson:
      if (!v.is_object()) return "must be an object";
      if (DumpJson(v).size() > f.max_len) return "must be at most " + std::to_string(f.max_len) + " bytes";
      break;
    case FieldType::kStringList: {
      if (!v.is_array()) return "must be an array of strings";
      if (v.size() > 50) return "must have at most 50 items";
      for (auto& item : v) {
        if (!item.is_string()) return "must be an array of strings";
        std::string s = Trim(item.get<std::string>());
        if (s.empty() || s.size() > f.max_len || !IsCleanUtf8(s)) return "has an empty, over-long or malformed item";
        item = s;
      }
      break;
    }
  }
  if (f.validate) return f.validate(v);
  return {};
}

}  // namespace

const FieldSpec* KindSpec::Field(std::string_view n) const {
  for (const auto& f : fields) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

const KindSpec& Spec(Kind kind) {
  for (const auto& s : Specs()) {
    if (s.kind == kind) return s;
  }
  std::abort();  // every Kind has a spec; BuildSpecs() is the single place they are defined
}

std::span<const Kind> AllKinds() { return kAllKinds; }

std::optional<Kind> KindFromCollection(std::string_view collection) {
  for (const auto& s : Specs()) {
    if (s.collection == collection) return s.kind;
  }
  return std::nullopt;
}

std::string_view KindName(Kind kind) { return Spec(kind).name; }

bool CompoundBound(Kind kind) {
  return kind != Kind::kRegion && kind != Kind::kUser && kind != Kind::kWebhook;
}

bool ValidateId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (i == 0 && !alnum) return false;
    if (!alnum && c != '-' && c != '_') return false;
  }
  return true;
}

Result<Json> ValidateFields(Kind kind, const Json& body, bool partial) {
  const KindSpec& spec = Spec(kind);
  if (!body.is_object()) return InvalidArgument("", "body must be a JSON object");
  Json out = Json::object();
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    if (key == "id") {
      if (partial) return InvalidArgument("id", "cannot be changed");
      if (!it->is_string() || !ValidateId(it->get<std::string>())) {
        return InvalidArgument("id", "must be 1-64 of [A-Za-z0-9_-] starting with a letter or digit");
      }
      out["id"] = *it;
      continue;
    }
    const FieldSpec* f = spec.Field(key);
    if (f == nullptr || f->internal) return InvalidArgument(key, "is not a field of " + spec.name);
    if (partial && f->immutable) return InvalidArgument(key, "cannot be changed after creation");
    Json v = *it;
    if (v.is_null()) {
      if (f->required) return InvalidArgument(key, "is required");
      out[key] = nullptr;  // PATCH: clear the field
      continue;
    }
    std::string err = CheckValue(*f, v);
    if (!err.empty()) return InvalidArgument(key, err);
    out[key] = std::move(v);
  }
  if (!partial) {
    for (const auto& f : spec.fields) {
      if (f.required && !out.contains(f.name)) return InvalidArgument(f.name, "is required");
    }
  }
  return out;
}

bool IsValidIdNumber(std::string_view s) {
  if (s.size() != 18) return false;
  static const int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char kCheck[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    sum += (s[i] - '0') * kWeights[i];
  }
  char last = s[17] == 'x' ? 'X' : s[17];
  if (kCheck[sum % 11] != last) return false;
  int year = std::stoi(std::string(s.substr(6, 4)));
  int month = std::stoi(std::string(s.substr(10, 2)));
  int day = std::stoi(std::string(s.substr(12, 2)));
  if (year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1 || day > 31) return false;
  return s[0] >= '1' && s[0] <= '9';
}

bool IsValidPhone(std::string_view s) {
  static const std::regex mobile("^1[3-9][0-9]{9}$");
  static const std::regex landline("^0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?$");
  return std::regex_match(s.begin(), s.end(), mobile) || std::regex_match(s.begin(), s.end(), landline);
}

bool IsValidPlate(std::string_view s) {
  static const char* kProvinces[] = {"京", "津", "沪", "渝", "冀", "豫", "云", "辽", "黑", "湘", "皖", "鲁",
                                     "新", "苏", "浙", "赣", "鄂", "桂", "甘", "晋", "蒙", "陕", "吉", "闽",
                                     "贵", "粤", "青", "藏", "川", "宁", "琼", "使", "领"};
  for (const char* p : kProvinces) {
    std::string_view pv(p);
    if (s.substr(0, pv.size()) != pv) continue;
    std::string_view rest = s.substr(pv.size());
    if (rest.size() != 6 && rest.size() != 7) {
      // Trailing 挂/学/警 for trailers, driving schools and police.
      static const char* kSuffixes[] = {"挂", "学", "警", "港", "澳"};
      bool ok = false;
      for (const char* suf : kSuffixes) {
        std::string_view sv(suf);
        if (rest.size() == 5 + sv.size() && rest.substr(5) == sv) {
          rest = rest.substr(0, 5);
          ok = true;
        }
      }
      if (!ok) return false;
    }
    if (!(rest[0] >= 'A' && rest[0] <= 'Z')) return false;
    for (char c : rest.substr(1)) {
      if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
      if (c == 'I' || c == 'O') return false;
    }
    return true;
  }
  return false;
}

bool IsValidCreditCode(std::string_view s) {
  static const std::string kChars = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  static const int kWeights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
  if (s.size() != 18) return false;
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    auto pos = kChars.find(s[i]);
    if (pos == std::string::npos) return false;
    sum += static_cast<int>(pos) * kWeights[i];
  }
  int check = (31 - sum % 31) % 31;
  return s[17] == kChars[check];
}

std::string MaskIdNumber(std::string_view s) {
  if (s.size() <= 10) return std::string(s.size(), '*');
  return std::string(s.substr(0, 6)) + std::string(s.size() - 10, '*') + std::string(s.substr(s.size() - 4));
}

std::string MaskPhone(std::string_view s) {
  if (s.size() < 7) return std::string(s.size(), '*');
  return std::string(s.substr(0, 3)) + std::string(s.size() - 7, '*') + std::string(s.substr(s.size() - 4));
}

std::string MaskName(std::string_view s) {
  if (s.empty()) return {};
  size_t first = 1;
  unsigned char c = s[0];
  if (c >= 0xf0) first = 4;
  else if (c >= 0xe0) first = 3;
  else if (c >= 0xc0) first = 2;
  first = std::min(first, s.size());
  size_t rest = 0;
  for (size_t i = first; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) ++rest;
  }
  return std::string(s.substr(0, first)) + std::string(rest, '*');
}

std::span<const DeviceKindInfo> DeviceKinds() {
  static const std::vector<DeviceKindInfo> kinds = {
      {"door_controller", 120}, {"barrier_gate", 120},  {"gas_sensor", 300},        {"smoke_sensor", 300},
      {"water_sensor", 300},    {"electricity_meter", 900}, {"sos_button", 600},    {"camera", 120},
      {"edge_box", 60},         {"sound_light_alarm", 300}, {"environment_sensor", 600}, {"other", 600},
  };
  return kinds;
}

int DefaultHeartbeatTimeoutS(std::string_view kind) {
  for (const auto& d : DeviceKinds()) {
    if (d.kind == kind) return d.heartbeat_timeout_s;
  }
  return 600;
}

}  // namespace linli::model
