// AnalyzerRegistry: the name → factory map behind the `algorithms:` key of a camera config.
#include <exception>

#include <opencv2/core.hpp>

#include "edge/analyzer.h"

namespace linli::edge {

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
