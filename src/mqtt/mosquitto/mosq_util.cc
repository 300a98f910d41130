#include "mqtt/mosquitto/mosq_util.h"

#include <mosquitto.h>

#include <mutex>

namespace linli::mqtt {

void EnsureMosquittoLibInit() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

Error MosquittoError(int rc, const std::string& what) {
  std::string msg = what + ": " + mosquitto_strerror(rc);
  switch (rc) {
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_OVERSIZE_PACKET:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
      return Error(ErrorCode::kInvalidArgument, msg);
    case MOSQ_ERR_NO_CONN:
    case MOSQ_ERR_CONN_LOST:
    case MOSQ_ERR_CONN_REFUSED:
    case MOSQ_ERR_ERRNO:
    case MOSQ_ERR_EAI:
    case MOSQ_ERR_NOMEM:
      return Error(ErrorCode::kUnavailable, msg);
    case MOSQ_ERR_AUTH:
      return Error(ErrorCode::kUnauthenticated, msg);
    case MOSQ_ERR_ACL_DENIED:
      return Error(ErrorCode::kPermissionDenied, msg);
    default:
      return Error(ErrorCode::kInternal, msg);
  }
}

}  // namespace linli::mqtt
