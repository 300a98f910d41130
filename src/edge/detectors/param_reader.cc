#include "edge/detectors/param_reader.h"

#include <cmath>
#include <sstream>

namespace linli::edge {

namespace {

std::string Describe(const YAML::Node& n) {
  if (n.IsScalar()) return "\"" + n.Scalar() + "\"";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "null";
}

std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

ParamReader::ParamReader(const YAML::Node& node, std::string key)
    : node_(node), key_(std::move(key)) {}

const std::set<std::string, std::less<>>& ParamReader::kPipelineKeys() {
  static const std::set<std::string, std::less<>> keys = {"enabled", "schedule", "schedules",
                                                          "max_width", "comment"};
  return keys;
}

Result<void> ParamReader::CheckMapping() const {
  if (!node_.IsDefined() || node_.IsNull() || node_.IsMap()) return {};
  return InvalidArgument(key_, "must be a mapping, got " + Describe(node_));
}

Result<void> ParamReader::CheckKnown(std::initializer_list<std::string_view> known) const {
  return CheckKnown(std::vector<std::string_view>(known));
}

Result<void> ParamReader::CheckKnown(const std::vector<std::string_view>& known) const {
  LINLI_RETURN_IF_ERROR(CheckMapping());
  if (!node_.IsDefined() || !node_.IsMap()) return {};
  for (const auto& kv : node_) {
    std::string name;
    try {
      name = kv.first.as<std::string>();
    } catch (const YAML::Exception&) {
      return InvalidArgument(key_, "keys must be strings");
    }
    bool ok = kPipelineKeys().contains(name);
    for (auto k : known) ok = ok || k == name;
    if (!ok) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return InvalidArgument(Key(name), "unknown parameter (known: " + list + ")");
    }
  }
  return {};
}

bool ParamReader::Has(const std::string& name) const {
  return node_.IsDefined() && node_.IsMap() && node_[name].IsDefined() && !node_[name].IsNull();
}

YAML::Node ParamReader::Node(const std::string& name) const {
  if (!node_.IsDefined() || !node_.IsMap()) return YAML::Node();
  // operator[] on a const node does not insert.
  const YAML::Node& c = node_;
  return c[name];
}

Result<double> ParamReader::Double(const std::string& name, double def, double min,
                                   double max) const {
  if (!Has(name)) return def;
  YAML::Node n = Node(name);
  double v = 0;
  try {
    if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "not a scalar");
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    return InvalidArgument(Key(name), "must be a number, got " + Describe(n));
  }
  if (!std::isfinite(v)) return InvalidArgument(Key(name), "must be finite");
  if (v < min || v > max)
    return InvalidArgument(Key(name), "must be in [" + Num(min) + ", " + Num(max) + "], got " +
                                          Num(v));
  return v;
}

Result<int> ParamReader::Int(const std::string& name, int def, int min, int max) const {
  if (!Has(name)) return def;
  YAML::Node n = Node(name);
  long long v = 0;
  try {
    if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "not a scalar");
    v = n.as<long long>();
  } catch (const YAML::Exception&) {
    return InvalidArgument(Key(name), "must be an integer, got " + Describe(n));
  }
  if (v < min || v > max)
    return InvalidArgument(Key(name), "must be in [" + std::to_string(min) + ", " +
                                          std::to_string(max) + "], got " + std::to_string(v));
  return static_cast<int>(v);
}

Result<bool> ParamReader::Bool(const std::string& name, bool def) const {
  if (!Has(name)) return def;
  YAML::Node n = Node(name);
  try {
    if (!n.IsScalar()) throw YAML::Exception(YAML::Mark(), "not a scalar");
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    return InvalidArgument(Key(name), "must be true or false, got " + Describe(n));
  }
}

Result<std::string> ParamReader::String(const std::string& name, const std::string& def) const {
  if (!Has(name)) return def;
  YAML::Node n = Node(name);
  if (!n.IsScalar()) return InvalidArgument(Key(name), "must be a string, got " + Describe(n));
  return n.Scalar();
}

Result<std::string> ParamReader::Choice(const std::string& name, const std::string& def,
                                        std::initializer_list<std::string_view> allowed) const {
  LINLI_ASSIGN_OR_RETURN(std::string v, String(name, def));
  std::string list;
  for (auto a : allowed) {
    if (a == v) return v;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  return InvalidArgument(Key(name), "must be one of " + list + ", got \"" + v + "\"");
}

Result<std::vector<std::string>> ParamReader::Strings(const std::string& name,
                                                      const std::vector<std::string>& def) const {
  if (!Has(name)) return def;
  YAML::Node n = Node(name);
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return out;
  }
  if (!n.IsSequence())
    return InvalidArgument(Key(name), "must be a string or a list of strings, got " + Describe(n));
  for (std::size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar())
      return InvalidArgument(Key(name) + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back(n[i].Scalar());
  }
  return out;
}

Result<cv::Size> ParamReader::Size(const std::string& name, cv::Size def, int min,
                                   int max) const {
  if (!Has(name)) return def;
  YAML::Node n = Node(name);
  auto bad = [&]() {
    return InvalidArgument(Key(name), "must be an integer or [width, height], each in [" +
                                          std::to_string(min) + ", " + std::to_string(max) +
                                          "], got " + Describe(n));
  };
  try {
    int w = 0, h = 0;
    if (n.IsScalar()) {
      w = h = n.as<int>();
    } else if (n.IsSequence() && n.size() == 2) {
      w = n[0].as<int>();
      h = n[1].as<int>();
    } else {
      return bad();
    }
    if (w < min || w > max || h < min || h > max) return bad();
    return cv::Size(w, h);
  } catch (const YAML::Exception&) {
    return bad();
  }
}

}  // namespace linli::edge
