#include "edge/builtin.h"

#ifdef LINLI_EDGE_HAVE_THROWN_OBJECT
#include "edge/algorithms/thrown_object/thrown_object.h"
#endif
#ifdef LINLI_EDGE_HAVE_ZONES
#include "edge/algorithms/zones/zones.h"
#endif
#ifdef LINLI_EDGE_HAVE_ROI_STATE
#include "edge/algorithms/roi_state/roi_state.h"
#endif
#ifdef LINLI_EDGE_HAVE_CAMERA_HEALTH
#include "edge/algorithms/camera_health/camera_health.h"
#endif
#ifdef LINLI_EDGE_HAVE_DETECTORS
#include "edge/detectors/detectors.h"
#endif

namespace linli::edge {

void RegisterBuiltinAnalyzers([[maybe_unused]] AnalyzerRegistry& registry) {
#ifdef LINLI_EDGE_HAVE_THROWN_OBJECT
  RegisterThrownObject(registry);
#endif
#ifdef LINLI_EDGE_HAVE_ZONES
  RegisterZoneAnalyzers(registry);
#endif
#ifdef LINLI_EDGE_HAVE_ROI_STATE
  RegisterRoiState(registry);
#endif
#ifdef LINLI_EDGE_HAVE_CAMERA_HEALTH
  RegisterCameraHealth(registry);
#endif
}

DetectorFactory BuiltinDetectorFactory() {
#ifdef LINLI_EDGE_HAVE_DETECTORS
  return [](const YAML::Node& cfg, const std::string& key) -> Result<std::shared_ptr<Detector>> {
    if (!cfg || cfg.IsNull()) {
      YAML::Node def(YAML::NodeType::Map);
      def["kind"] = "hog";
      return MakeDetector(def, key);
    }
    return MakeDetector(cfg, key);
  };
#else
  return [](const YAML::Node&, const std::string&) -> Result<std::shared_ptr<Detector>> {
    return std::shared_ptr<Detector>();
  };
#endif
}

std::vector<std::string> BuiltinAlgorithmLibraries() {
  std::vector<std::string> libs;
#ifdef LINLI_EDGE_HAVE_THROWN_OBJECT
  libs.push_back("thrown_object");
#endif
#ifdef LINLI_EDGE_HAVE_ZONES
  libs.push_back("zones");
#endif
#ifdef LINLI_EDGE_HAVE_ROI_STATE
  libs.push_back("roi_state");
#endif
#ifdef LINLI_EDGE_HAVE_CAMERA_HEALTH
  libs.push_back("camera_health");
#endif
#ifdef LINLI_EDGE_HAVE_DETECTORS
  libs.push_back("detectors");
#endif
  return libs;
}

}  // namespace linli::edge
