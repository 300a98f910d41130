// Zone analytics on the sub-sampled stream: people are detected (the camera's shared detector
// or the analyzer's own `detector:`), tracked (tracker.h), and their feet tested against the
// camera's named zones with inertia, dwell and exit hysteresis (presence.h).
//
//   zone_intrusion  vision.intrusion  a zone is occupied: begins when the first person's stay is
//                                     confirmed, ends when the last one has left (per zone)
//   loitering       vision.loitering  one person stays in a zone longer than loiter_s
//                                     (optionally within max_radius of where they stand)
//   crowd           vision.crowd      ≥ min_people present in a zone for ≥ min_duration_s,
//                                     with the counts over time in data.counts
//
// Events carry the zone, the current boxes, the tracks' trajectories (feet, normalised) in
// data.tracks (the main one also in `trajectory`), and the best snapshot (the frame whose
// person scored highest × largest). Parameters are documented in docs/analytics.md.
// Thread-safety: each analyzer is used by one thread at a time (analyzer.h).
#pragma once

#include "edge/analyzer.h"

namespace linli::edge {

// Registers "zone_intrusion", "loitering" and "crowd".
void RegisterZoneAnalyzers(AnalyzerRegistry& registry);

// The factories, for tests and tools.
Result<std::unique_ptr<Analyzer>> MakeZoneIntrusion(const YAML::Node& params,
                                                    const std::string& key,
                                                    const CameraContext& camera);
Result<std::unique_ptr<Analyzer>> MakeLoitering(const YAML::Node& params, const std::string& key,
                                                const CameraContext& camera);
Result<std::unique_ptr<Analyzer>> MakeCrowd(const YAML::Node& params, const std::string& key,
                                            const CameraContext& camera);

}  // namespace linli::edge
