// BlobStore: the bytes of media objects (snapshots, clips, photos), addressed by the media id
// whose metadata the Store keeps. The file-system implementation keeps one file per object
// under a directory of the data dir; a multi-node deployment would put an object store behind
// the same interface.
//
// Ownership: the BlobStore owns its directory. Thread-safety: every method may be called from
// any thread; Put() of the same id from two threads leaves one complete copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace linli::store {

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Writes `bytes` under `id` durably (write to a temporary file, fsync, rename). Replacing an
  // existing object is allowed (the caller checks content identity through the Store).
  virtual Result<void> Put(const std::string& id, std::string_view bytes) = 0;
  // The bytes; kNotFound if absent.
  virtual Result<std::string> Get(const std::string& id) = 0;
  virtual Result<void> Delete(const std::string& id) = 0;
  // Total bytes stored (for metrics).
  virtual Result<int64_t> TotalBytes() = 0;
};

// Objects in `dir/<first two characters of id>/<id>`. `id` must be 1–64 of [A-Za-z0-9_-].
// Creates `dir` if needed; kFailedPrecondition if it cannot.
Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& dir);

}  // namespace linli::store
