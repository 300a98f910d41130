// FrameSource: where a camera's frames come from (a file, an RTSP stream, memory in tests).
//
// Ownership: a source owns its decoder. Thread-safety: one thread at a time (the camera's
// pipeline thread); Interrupt() may be called from any thread to make a blocked Read() return.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "edge/types.h"

namespace linli::edge {

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Opens (or re-opens after a failure) the stream. Unavailable if it cannot be opened now
  // (the caller retries with back-off), InvalidArgument if it can never work (bad URL/file).
  virtual Result<void> Open() = 0;
  // The next frame. nullopt at the end of a finite stream (a file that does not loop).
  // Unavailable when the stream stalled or broke: the caller re-opens it.
  virtual Result<std::optional<Frame>> Read() = 0;
  // Nominal frame rate (0 if unknown) and frame size, valid after a successful Open().
  virtual double Fps() const = 0;
  virtual cv::Size FrameSize() const = 0;
  // Makes a Read() blocked in the decoder return Unavailable soon. Safe from any thread.
  virtual void Interrupt() {}
  // A short description for logs ("rtsp://host/…" without credentials, or the file name).
  virtual std::string Describe() const = 0;
};

}  // namespace linli::edge
