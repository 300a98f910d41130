// Small shared pieces of the libmosquitto adapters: one-time library initialisation and the
// mapping of libmosquitto return codes onto Error.
// Thread-safety: all functions are safe from any thread.
#pragma once

#include <string>

#include "common/result.h"

namespace linli::mqtt {

// Calls mosquitto_lib_init() once per process (never cleaned up: other handles may live on).
void EnsureMosquittoLibInit();

// An Error for a libmosquitto return code: NO_CONN/CONN_LOST/ERRNO… → kUnavailable,
// INVAL/PAYLOAD_SIZE/MALFORMED_UTF8/OVERSIZE_PACKET → kInvalidArgument, the rest kInternal.
Error MosquittoError(int rc, const std::string& what);

}  // namespace linli::mqtt
