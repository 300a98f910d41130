// AnalyzerRegistry: the name → factory map behind the `algorithms:` key of a camera config.
#include <exception>

#include <opencv2/core.hpp>

#include "edge/analyzer.h"

namespace linli::edge {
namespace {

// The keys common to every algorithm (enabled, schedule, comment) are taken out by the config
// parser before a factory sees the parameters. `max_width` is not common: it is the parameter of
// the analyzers that choose the width of their frames (thrown_object). The analyzers built on
// ParamReader (zones, roi_state, camera_health) let it through unread, so it is checked here,
// for every analyzer at once: a `max_width` the analyzer did not adopt in Needs() is an unknown
// parameter, not a silent no-op.
Result<void> CheckMaxWidthTaken(const std::string& name, const YAML::Node& params,
                                const std::string& key, const Analyzer& analyzer) {
  if (!params.IsMap()) return {};
  const YAML::Node& p = params;
  const YAML::Node v = p["max_width"];
  if (!v.IsDefined()) return {};
  int64_t want = 0;
  const int got = analyzer.Needs().max_width;
  if (v.IsScalar() && YAML::convert<int64_t>::decode(v, want) && want == got) return {};
  return InvalidArgument(key + ".max_width",
                         "unknown parameter: " + name + " does not take max_width (it is given "
                         "frames at most " + std::to_string(got) +
                         " pixels wide; the camera's max_width caps them further)");
}

}  // namespace

AnalyzerRegistry& AnalyzerRegistry::Default() {
  static AnalyzerRegistry* registry = new AnalyzerRegistry();  // lives forever, like SystemClock
  return *registry;
}

void AnalyzerRegistry::Register(const std::string& name, AnalyzerFactory factory) {
  factories_[name] = std::move(factory);
}

Result<std::unique_ptr<Analyzer>> AnalyzerRegistry::Create(const std::string& name,
                                                           const YAML::Node& params,
                                                           const std::string& key,
                                                           const CameraContext& camera) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    return InvalidArgument(key, "unknown algorithm \"" + name + "\" (known: " +
                                    (known.empty() ? "none" : known) + ")");
  }
  // Factories must not throw, but they are extensions: a yaml-cpp or OpenCV exception escaping
  // one becomes an error naming the key instead of taking the box down.
  try {
    auto made = it->second(params, key, camera);
    if (made && !*made) return Fail(ErrorCode::kInternal, "factory returned no analyzer", key);
    if (made) LINLI_RETURN_IF_ERROR(CheckMaxWidthTaken(name, params, key, **made));
    return made;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(key, std::string("bad parameter: ") + e.what());
  } catch (const cv::Exception& e) {
    return Fail(ErrorCode::kInternal, std::string("OpenCV error: ") + e.what(), key);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, e.what(), key);
  }
}

std::vector<std::string> AnalyzerRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [n, f] : factories_) names.push_back(n);
  return names;
}

}  // namespace linli::edge
