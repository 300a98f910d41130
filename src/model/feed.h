// Live feed items: what the platform pushes to dashboards as it happens (events, presence
// changes, device faults). Producers (ingest, later rules/incidents) hand items to a FeedSink;
// the API's live feed fans them out to subscribers filtered by each user's scope.
#pragma once

#include <string>

#include "common/json.h"

namespace linli::model {

struct FeedItem {
  std::string type;         // "event", "status", "fault"
  std::string compound_id;  // scope key; every item belongs to one compound
  int64_t ts_ms = 0;
  Json data = Json::object();  // the event / status change / fault as in the REST API
};

// Thread-safety: Publish() may be called from any thread and must not block for long.
class FeedSink {
 public:
  virtual ~FeedSink() = default;
  virtual void Publish(const FeedItem& item) = 0;
  // False when nobody listens: producers may skip building items. Cheap; any thread.
  virtual bool Active() const { return true; }
};

}  // namespace linli::model
