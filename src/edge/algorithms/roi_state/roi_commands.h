// The device commands that enrol and manage roi_state examples on a running box (docs/edge.md
// "Enrolling ROI examples by command", docs/protocol.md "Edge boxes"):
//
//   roi.enroll    {camera_id, state, roi?, new_state?}  the camera's next analysed frame becomes
//                 an example of `state` for the ROI its roi_state watches: persisted under
//                 <state_dir>/<camera>/roi_state/roi_state/<roi>/<state>/<id>.jpg (where
//                 start-up loads enrolled examples from) and learnt at once.
//                 → result {camera_id, roi, state, example, pts_ms, states, examples}
//   roi.examples  {camera_id?}  the enrolled (persisted) examples per camera and state.
//                 → result {cameras: [{camera_id, roi, examples: {state: [id, ...]}}]}
//   roi.remove    {camera_id, example}  deletes an enrolled example and reloads the camera's
//                 roi_state (its open event ends); refused if the rest would no longer make a
//                 valid roi_state (fewer than two states, an alarm state without examples).
//                 → result {camera_id, roi, state, removed, reloaded}
//
// Errors (the ack's "error"): invalid_argument naming the argument (missing or malformed,
// unknown state without new_state: true), not_found (no such camera, no roi_state on it, an
// ROI it does not watch, no such example), failed_precondition (camera disabled or not
// running, roi_state outside its schedule, a removal that would break the config),
// unavailable (no video now, no frame within 5 s, the example cannot be written).
// Thread-safety: call from one thread at a time (the uplink's command thread); the work on
// analyzers runs on the camera's own thread (Pipeline::RunOnCamera).
#pragma once

#include <chrono>

#include "common/json.h"
#include "common/result.h"
#include "edge/pipeline.h"

namespace linli::edge {

// How long roi.enroll / roi.remove wait for the camera's next frame.
inline constexpr std::chrono::milliseconds kRoiCommandWait{5000};

Result<Json> RoiEnrollCommand(Pipeline& pipeline, const Json& args,
                              std::chrono::milliseconds wait = kRoiCommandWait);
Result<Json> RoiExamplesCommand(Pipeline& pipeline, const Json& args);
Result<Json> RoiRemoveCommand(Pipeline& pipeline, const Json& args,
                              std::chrono::milliseconds wait = kRoiCommandWait);

}  // namespace linli::edge
