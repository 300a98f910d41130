#include "edge/types.h"

namespace linli::edge {

std::string_view EventPhaseName(EventPhase p) {
  switch (p) {
    case EventPhase::kBegin:
      return "begin";
    case EventPhase::kUpdate:
      return "update";
    case EventPhase::kEnd:
      return "end";
  }
  return "unknown";
}

}  // namespace linli::edge
