// OutboxSink: where a box's camera pipelines deliver event steps. It turns each step into the
// wire body of docs/protocol.md "Edge boxes" (event_payload.h) and stores it with its media in
// the Outbox; the Uplink sends it from there. No network, no waiting for the platform: the
// cost of a step is JPEG encoding (Emit only) and the outbox's durable write.
//
// Three ways in:
//   - Emit(event) (EventSink): encodes event.snapshot as the clean JPEG and a copy with the
//     boxes/trajectory/origin drawn as the annotated JPEG, when the snapshot is new for this
//     event (first step, or snapshot_pts_ms changed); steps with an unchanged snapshot carry no
//     media (the platform keeps the last one it got for the event).
//   - Deliver(event, media) (MediaEventSink): media already rendered by the pipeline's
//     EventMediaRenderer (JPEGs, and a clip file that this sink takes over).
//   - Enqueue(event, media): explicit media (e.g. a clip file); the result says whether it was
//     stored.
// Steps the outbox refuses (invalid event, I/O error) are counted in
// linli_edge_sink_rejected_total and logged at WARN; Emit/Deliver never throw.
//
// Ownership: the outbox must outlive the sink. Thread-safety: all methods may be called from
// any thread (cameras share one sink).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "edge/event_sink.h"
#include "edge/media.h"
#include "edge/uplink/outbox.h"

namespace linli::edge {

struct OutboxSinkOptions {
  int jpeg_quality = 85;  // for Emit()'s own encoding
  int max_width = 0;      // snapshots scaled to at most this width (0 = native)
};

class OutboxSink final : public EventSink, public MediaEventSink {
 public:
  explicit OutboxSink(Outbox& outbox, OutboxSinkOptions options = {},
                      Clock& clock = SystemClock());

  void Emit(const EdgeEvent& event) override;
  void Deliver(const EdgeEvent& event, const EventMedia& media) override;
  // Stores the step with `media` (roles "snapshot", "snapshot_annotated", "clip"). The outbox
  // seq, or the error (InvalidArgument naming the field for a bad event).
  Result<int64_t> Enqueue(const EdgeEvent& event, std::vector<NewMedia> media);

  // A clip's content type from its file name: .mp4 → video/mp4, .avi → video/x-msvideo.
  static std::string ClipContentType(const std::string& path);

 private:
  // True if `event` carries a snapshot this event has not stored yet (and records it).
  bool NewSnapshot(const EdgeEvent& event);

  Outbox& outbox_;
  const OutboxSinkOptions opts_;
  Clock& clock_;
  std::mutex mu_;
  std::map<std::string, int64_t> last_snapshot_;  // event id → snapshot_pts_ms stored
  std::deque<std::string> order_;                 // bounds last_snapshot_
  metrics::Counter& rejected_;
};

}  // namespace linli::edge
