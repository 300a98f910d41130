// JSON form of an EdgeEvent (without pixels): the line format of `linli-edge analyze` and the
// `data` the uplink can build its `up/event` payload from. Numbers are normalised coordinates
// rounded to 4 decimals. See docs/edge.md, "JSONL format".
#pragma once

#include "common/json.h"
#include "common/result.h"
#include "edge/types.h"

namespace linli::edge {

// {"id","type","camera_id","phase","start_ms","end_ms","score","zone","boxes":[{x,y,w,h,label,
//  score}],"trajectory":[{pts_ms,x,y}],"origin":{x,y}|null,"data":{...}}
Json EventToJson(const EdgeEvent& event);

// The inverse (for tests and tools that read JSONL back). InvalidArgument naming the field.
Result<EdgeEvent> EventFromJson(const Json& j);

}  // namespace linli::edge
