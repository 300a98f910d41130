// `linlid serve`: wires store, broker, ingest and HTTP API into one running server.
#pragma once

#include <string>

namespace linli::linlid {

struct ServeOptions {
  std::string data_dir;
  std::string http_host = "127.0.0.1";
  int http_port = 8080;
  int http_threads = 2;
  std::string mqtt_host = "127.0.0.1";
  int mqtt_port = 0;  // 0: the port written by `linlid broker init`
  bool no_mqtt = false;
  std::string web_root;
  std::string openapi_path;
  std::string admin_password;  // from LINLI_ADMIN_PASSWORD; used only on an empty data dir
  int telemetry_retention_days = 90;
  std::string timezone = "+08:00";  // local time of rule schedules and time-of-day windows
};

// Runs until SIGTERM/SIGINT; returns the process exit code.
int Serve(const ServeOptions& options);

}  // namespace linli::linlid
