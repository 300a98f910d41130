// The logging facade. Everything in Linli logs through these functions; the backend is spdlog.
//
// Lines are structured: a message plus key=value fields (logfmt in text mode, one JSON object
// per line in json mode). Warn() and Error() also bump linli_log_messages_total{level} so that
// operators see degradation on /metrics. Quote untrusted values with the field mechanism (they
// are escaped); never log credentials, tokens, ID numbers or phone numbers.
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace linli::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

using Field = std::pair<std::string_view, std::string>;
using Fields = std::initializer_list<Field>;

// Configures the process-wide logger (stderr). Safe to call again.
void Init(Level level, Format format);

void Write(Level level, std::string_view msg, Fields fields = {});
inline void Debug(std::string_view msg, Fields f = {}) { Write(Level::kDebug, msg, f); }
inline void Info(std::string_view msg, Fields f = {}) { Write(Level::kInfo, msg, f); }
inline void Warn(std::string_view msg, Fields f = {}) { Write(Level::kWarn, msg, f); }
inline void Error(std::string_view msg, Fields f = {}) { Write(Level::kError, msg, f); }

// Parses "debug", "info", "warn", "error".
bool ParseLevel(std::string_view s, Level* out);

}  // namespace linli::log
