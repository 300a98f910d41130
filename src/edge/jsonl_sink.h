// JsonlEventWriter: writes event steps as JSON lines (EventToJson, one object per line) to a
// file or stream — the output of `linli-edge analyze` and of `linli-edge run` without an uplink.
// Optionally keeps the media: JPEGs and clips are written under `media_dir` and their paths
// added to the line as "media": {"snapshot": ..., "snapshot_annotated": ..., "clip": ...}.
// Thread-safety: Deliver()/Emit() may be called from any thread (one mutex; lines never mix).
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <ostream>
#include <string>

#include "common/result.h"
#include "edge/event_sink.h"
#include "edge/media.h"

namespace linli::edge {

class JsonlEventWriter final : public MediaEventSink, public EventSink {
 public:
  // Writes to `out` (not owned).
  JsonlEventWriter(std::ostream& out, bool end_only, std::string media_dir = {});
  // Opens `path` for appending. InvalidArgument naming the path if it cannot.
  static Result<std::unique_ptr<JsonlEventWriter>> OpenFile(const std::string& path, bool end_only,
                                                            std::string media_dir = {});

  void Deliver(const EdgeEvent& event, const EventMedia& media) override;
  void Emit(const EdgeEvent& event) override { Deliver(event, {}); }

  // Steps written, and counts of written lines by event type.
  int64_t written() const;
  std::map<std::string, int64_t> by_type() const;

 private:
  JsonlEventWriter(std::unique_ptr<std::ofstream> file, bool end_only, std::string media_dir);

  std::unique_ptr<std::ofstream> file_;
  std::ostream& out_;
  bool end_only_;
  std::string media_dir_;
  mutable std::mutex mu_;
  int64_t written_ = 0;
  std::map<std::string, int64_t> by_type_;
};

}  // namespace linli::edge
