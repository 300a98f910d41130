// Result<T> and Error: the one way recoverable failures travel in Linli.
//
// An Error carries a small code (modelled on absl::StatusCode), a human message and,
// where an input was at fault, the name of the offending field. Results are
// [[nodiscard]] so that a failure cannot be dropped silently.
// Thread-safety: plain values; copy freely.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace linli {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong; do not retry unchanged
  kNotFound,            // the thing does not exist (or must not be revealed)
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // no or bad credentials
  kConflict,            // duplicate, version mismatch, referenced by others
  kUnavailable,         // transient: retry later (broker down, database busy)
  kFailedPrecondition,  // the system is not in a state to do this; don't retry
  kResourceExhausted,   // rate limited or quota exceeded
  kInternal,            // a bug or corrupted state
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message, std::string field = {})
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The input field at fault (e.g. "id_number", "rooms[2].relation"); empty if none.
  const std::string& field() const { return field_; }
  // "invalid_argument: id_number: checksum mismatch"
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
  std::string field_;
};

template <typename T>
using Result = std::expected<T, Error>;

// Shorthands: `return Fail(ErrorCode::kNotFound, "no such device");`
inline std::unexpected<Error> Fail(ErrorCode code, std::string message, std::string field = {}) {
  return std::unexpected<Error>(Error(code, std::move(message), std::move(field)));
}
inline std::unexpected<Error> Fail(Error e) { return std::unexpected<Error>(std::move(e)); }

inline std::unexpected<Error> InvalidArgument(std::string field, std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message), std::move(field));
}

}  // namespace linli

// Propagates an error from an expression returning Result<...>.
#define LINLI_RETURN_IF_ERROR(expr)                           \
  do {                                                        \
    auto linli_result_ = (expr);                              \
    if (!linli_result_) return std::unexpected(linli_result_.error()); \
  } while (0)

#define LINLI_CONCAT_INNER_(a, b) a##b
#define LINLI_CONCAT_(a, b) LINLI_CONCAT_INNER_(a, b)
// LINLI_ASSIGN_OR_RETURN(auto x, Compute()); declares x from the value or returns the error.
#define LINLI_ASSIGN_OR_RETURN(lhs, expr) \
  LINLI_ASSIGN_OR_RETURN_IMPL_(LINLI_CONCAT_(linli_r_, __LINE__), lhs, expr)
#define LINLI_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)     \
  auto tmp = (expr);                                     \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)
