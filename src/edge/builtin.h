// The analyzers and detectors compiled into linli-edge: registers every algorithm library that
// is part of the build (thrown_object, zone_intrusion/loitering/crowd, roi_state,
// camera_health) and makes detectors with the built-in detector factory.
// Thread-safety: call RegisterBuiltinAnalyzers() before starting pipelines.
#pragma once

#include <string>
#include <vector>

#include "edge/analyzer.h"
#include "edge/pipeline.h"

namespace linli::edge {

void RegisterBuiltinAnalyzers(AnalyzerRegistry& registry);

// MakeDetector from src/edge/detectors (a null `detector:` section means `{kind: hog}`), or a
// factory that returns no detector when the detectors library is not built.
DetectorFactory BuiltinDetectorFactory();

// The algorithm libraries this binary was built with ("thrown_object", "zones", ...).
std::vector<std::string> BuiltinAlgorithmLibraries();

}  // namespace linli::edge
