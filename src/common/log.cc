#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/metrics.h"

namespace linli::log {
namespace {

std::atomic<Format> g_format{Format::kText};

std::shared_ptr<spdlog::logger> Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("linli");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    return l;
  }();
  return logger;
}

void AppendLogfmtValue(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) quote = true;
  }
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\x";
      static const char* kHex = "0123456789abcdef";
      out.push_back(kHex[(c >> 4) & 0xf]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void Init(Level level, Format format) {
  g_format = format;
  auto l = Logger();
  if (format == Format::kJson) {
    l->set_pattern("%v");
  } else {
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  switch (level) {
    case Level::kDebug: l->set_level(spdlog::level::debug); break;
    case Level::kInfo: l->set_level(spdlog::level::info); break;
    case Level::kWarn: l->set_level(spdlog::level::warn); break;
    case Level::kError: l->set_level(spdlog::level::err); break;
  }
}

void Write(Level level, std::string_view msg, Fields fields) {
  static metrics::Counter& warns =
      metrics::Default().GetCounter("linli_log_messages_total", "Log lines by level", {{"level", "warn"}});
  static metrics::Counter& errors =
      metrics::Default().GetCounter("linli_log_messages_total", "Log lines by level", {{"level", "error"}});
  spdlog::level::level_enum lvl = spdlog::level::info;
  const char* name = "info";
  switch (level) {
    case Level::kDebug: lvl = spdlog::level::debug; name = "debug"; break;
    case Level::kInfo: lvl = spdlog::level::info; break;
    case Level::kWarn: lvl = spdlog::level::warn; name = "warn"; warns.Inc(); break;
    case Level::kError: lvl = spdlog::level::err; name = "error"; errors.Inc(); break;
  }
  auto l = Logger();
  if (!l->should_log(lvl)) return;
  std::string line;
  if (g_format.load() == Format::kJson) {
    nlohmann::json j;
    j["ts"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    j["level"] = name;
    j["msg"] = std::string(msg);
    for (const auto& [k, v] : fields) j[std::string(k)] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line.append(msg);
    for (const auto& [k, v] : fields) {
      line.push_back(' ');
      line.append(k);
      line.push_back('=');
      AppendLogfmtValue(line, v);
    }
  }
  l->log(lvl, "{}", line);
}

bool ParseLevel(std::string_view s, Level* out) {
  if (s == "debug") *out = Level::kDebug;
  else if (s == "info") *out = Level::kInfo;
  else if (s == "warn") *out = Level::kWarn;
  else if (s == "error") *out = Level::kError;
  else return false;
  return true;
}

}  // namespace linli::log
