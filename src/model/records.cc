#include "model/records.h"

namespace linli::model {

std::string_view PresenceName(Presence p) {
  switch (p) {
    case Presence::kOnline: return "online";
    case Presence::kOffline: return "offline";
    case Presence::kUnknown: break;
  }
  return "unknown";
}

}  // namespace linli::model
