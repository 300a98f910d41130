#include "edge/uplink/outbox_sink.h"

#include <unistd.h>

#include "common/log.h"
#include "edge/uplink/event_payload.h"

namespace linli::edge {
namespace {

constexpr size_t kMaxTrackedEvents = 4096;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

OutboxSink::OutboxSink(Outbox& outbox, OutboxSinkOptions options, Clock& clock)
    : outbox_(outbox),
      opts_(options),
      clock_(clock),
      rejected_(metrics::Default().GetCounter(
          "linli_edge_sink_rejected_total",
          "Event steps that could not be stored in the outbox (invalid or I/O error)")) {}

std::string OutboxSink::ClipContentType(const std::string& path) {
  if (EndsWith(path, ".avi")) return "video/x-msvideo";
  return "video/mp4";
}

bool OutboxSink::NewSnapshot(const EdgeEvent& e) {
  if (e.snapshot.empty()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_snapshot_.find(e.id);
  bool fresh = it == last_snapshot_.end() || it->second != e.snapshot_pts_ms;
  if (e.phase == EventPhase::kEnd) {
    if (it != last_snapshot_.end()) last_snapshot_.erase(it);
    return fresh;
  }
  if (fresh) {
    if (it == last_snapshot_.end()) {
      order_.push_back(e.id);
      // Events that never end (a crashed analyzer) must not grow this without bound; forgetting
      // one only costs a repeated snapshot.
      while (order_.size() > kMaxTrackedEvents) {
        last_snapshot_.erase(order_.front());
        order_.pop_front();
      }
    }
    last_snapshot_[e.id] = e.snapshot_pts_ms;
  }
  return fresh;
}

void OutboxSink::Emit(const EdgeEvent& event) {
  std::vector<NewMedia> media;
  if (NewSnapshot(event)) {
    std::vector<uint8_t> clean = EncodeJpeg(event.snapshot, opts_.jpeg_quality, opts_.max_width);
    std::vector<uint8_t> annotated =
        EncodeJpeg(AnnotateSnapshot(event.snapshot, event, {}), opts_.jpeg_quality,
                   opts_.max_width);
    if (!clean.empty()) {
      media.push_back({"snapshot", "image/jpeg", std::string(clean.begin(), clean.end()), "", false});
    }
    if (!annotated.empty()) {
      media.push_back({"snapshot_annotated", "image/jpeg",
                       std::string(annotated.begin(), annotated.end()), "", false});
    }
  }
  (void)Enqueue(event, std::move(media));
}

void OutboxSink::Deliver(const EdgeEvent& event, const EventMedia& m) {
  std::vector<NewMedia> media;
  if (!m.clean_jpeg.empty()) {
    media.push_back({"snapshot", "image/jpeg",
                     std::string(m.clean_jpeg.begin(), m.clean_jpeg.end()), "", false});
  }
  if (!m.annotated_jpeg.empty()) {
    media.push_back({"snapshot_annotated", "image/jpeg",
                     std::string(m.annotated_jpeg.begin(), m.annotated_jpeg.end()), "", false});
  }
  if (!m.clip_path.empty()) {
    std::string type = m.clip_mime.empty() ? ClipContentType(m.clip_path) : m.clip_mime;
    media.push_back({"clip", type, "", m.clip_path, /*move_source=*/true});
  }
  auto r = Enqueue(event, std::move(media));
  // The clip was handed over to us: do not leave it behind if it could not be stored.
  if (!r && !m.clip_path.empty()) ::unlink(m.clip_path.c_str());
}

Result<int64_t> OutboxSink::Enqueue(const EdgeEvent& event, std::vector<NewMedia> media) {
  auto valid = ValidateEdgeEvent(event);
  if (!valid) {
    rejected_.Inc();
    log::Warn("edge event refused by the outbox sink",
              {{"event_id", event.id.substr(0, 64)},
               {"type", event.type.substr(0, 64)},
               {"error", valid.error().ToString()}});
    return Fail(valid.error());
  }
  bool with_snapshot = false;
  for (const auto& m : media) with_snapshot |= m.role == "snapshot" || m.role == "snapshot_annotated";
  NewEntry entry;
  entry.kind = EntryKind::kEvent;
  entry.event_id = event.id;
  entry.phase = std::string(EventPhaseName(event.phase));
  entry.camera_id = event.camera_id;
  entry.body = DumpJson(EventStepBody(event, clock_.NowMs(), with_snapshot));
  entry.media = std::move(media);
  auto r = outbox_.Append(std::move(entry));
  if (!r) rejected_.Inc();  // the outbox logged the reason
  return r;
}

}  // namespace linli::edge
