// EventSink: where analyzers' event steps go. The pipeline's sink renders snapshots, writes
// the event to the local outbox (store-and-forward) and from there to the platform; the
// analyze tool's sink writes JSON lines; tests collect them.
// Thread-safety: Emit() is called from the camera's pipeline thread; an implementation shared
// by several cameras must be thread-safe.
#pragma once

#include "edge/types.h"

namespace linli::edge {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Emit(const EdgeEvent& event) = 0;
};

}  // namespace linli::edge
