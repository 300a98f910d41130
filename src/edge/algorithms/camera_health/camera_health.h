// camera_health: watches the picture of an (old) camera for the faults that make its video
// useless while the stream itself still flows (video loss is the pipeline's: it sees the source
// fail). Runs on the sub-sampled stream, never motion-gated. One event per condition episode:
//
//   camera.frozen         consecutive frames (nearly) identical for frozen_s while time advances
//   camera.occluded       lens covered or sprayed: most textured blocks of the learned baseline
//                         have gone flat (after gain normalisation), or high frequencies and
//                         contrast both collapsed
//   camera.blurred        defocus: sharpness (variance of the Laplacian relative to the image
//                         variance, so not fooled by darkness) below blur_ratio × its baseline
//                         while the scene's structure is still there
//   camera.brightness     too dark / too bright / saturated (absolute), or a sudden drop to
//                         below dark_ratio × the learned mean brightness
//   camera.scene_changed  camera turned away: the low-resolution gradient image no longer
//                         correlates with the slowly learned reference; after relearn_s the new
//                         view becomes the reference and the event ends
//
// Each condition must hold for its onset time before it begins and be clear for clear_s before
// it ends (hysteresis: the clear thresholds are looser than the onset ones), so it does not
// flap. Baselines are learned during the first learn_s and then follow slowly (baseline_tau_s)
// while the picture is healthy. Occlusion masks blur, brightness and scene change; a frozen
// picture masks everything else. Parameters are documented in docs/analytics.md.
// Thread-safety: one thread at a time (analyzer.h).
#pragma once

#include "edge/analyzer.h"

namespace linli::edge {

// Registers "camera_health".
void RegisterCameraHealth(AnalyzerRegistry& registry);

Result<std::unique_ptr<Analyzer>> MakeCameraHealth(const YAML::Node& params,
                                                   const std::string& key,
                                                   const CameraContext& camera);

// The per-frame measurements (exposed for tests and tuning).
struct HealthMetrics {
  double mean = 0;            // grey level 0..255
  double contrast = 0;        // grey standard deviation
  double saturated = 0;       // fraction of pixels >= 250
  double sharpness = 0;       // var(Laplacian) / var(image), at 320 px width
  double diff = 0;            // mean |frame - previous| at 160 px (grey levels), -1 if none
  double changed = 0;         // fraction of pixels changed by > 4 grey levels, -1 if none
  double flat_fraction = 0;   // textured baseline blocks now flat (0 before a baseline)
  double similarity = 1;      // ZNCC of gradient images with the reference (1 before one)
};

}  // namespace linli::edge
