// MediaUploader: puts one media file (snapshot JPEG, clip) on the platform over HTTP before the
// event that references it is published.
//
//   PUT {api_base}/api/v1/media/{media_id}?device={camera_id}&event={event_id}
//   Authorization: Bearer {api_key}
//   Content-Type: image/jpeg | video/mp4 | video/x-msvideo
//   body: the file's bytes
//   → 201 stored, 200 the same id was already stored (idempotent)
//
// Outcome classes: 200/201 and 409 (the id exists already: an earlier attempt of ours stored it)
// are kStored; network errors, timeouts, 5xx, 408 and 429 are kRetry (the caller backs off and
// tries again); every other answer (4xx: bad request, unknown device, payload too large, bad
// key, ...) is kRejected — permanent, the caller keeps the file as a dead letter.
//
// Ownership: an uploader owns its HTTP connection (kept alive between uploads).
// Thread-safety: Upload() from one thread at a time per instance; Cancel() from any thread.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

namespace linli::edge {

struct MediaUpload {
  std::string media_id;
  std::string device_id;  // the camera the media belongs to
  std::string event_id;
  std::string content_type;
  std::string path;  // file to send
};

enum class UploadOutcome { kStored, kRetry, kRejected };

struct UploadResult {
  UploadOutcome outcome = UploadOutcome::kRetry;
  int http_status = 0;  // 0 when no HTTP answer was received
  std::string error;    // empty when stored; else a short reason (answer body quoted, bounded)
};

class MediaUploader {
 public:
  virtual ~MediaUploader() = default;
  virtual UploadResult Upload(const MediaUpload& media) = 0;
  // Makes a running and every later Upload() return kRetry at once (shutdown). Any thread.
  virtual void Cancel() {}
};

struct HttpUploaderOptions {
  std::string api_base;  // "http://127.0.0.1:8080" (no trailing path)
  std::string api_key;   // sent as a Bearer token; never logged
  int connect_timeout_ms = 5000;
  // An upload slower than 1 KiB/s for this long is abandoned (kRetry).
  int stall_timeout_ms = 30000;
};

// Validates options (InvalidArgument naming "api_base"/"api_key").
Result<std::unique_ptr<MediaUploader>> MakeCurlMediaUploader(const HttpUploaderOptions& options);

// The classification above, for a status received from the server.
UploadOutcome ClassifyHttpStatus(int status);

}  // namespace linli::edge
