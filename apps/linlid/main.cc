// linlid — the Linli platform server. main(), flags and wiring only (STYLE.md).
//
//   linlid broker init --data-dir DIR --port P     write a mosquitto config managed by linlid
//   linlid serve --data-dir DIR --http HOST:PORT --mqtt HOST:PORT
//   linlid import --data-dir DIR --kind persons FILE.csv
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common/log.h"
#include "linlid/import.h"
#include "linlid/serve.h"
#include "mqtt/credentials.h"

namespace {

bool ParseHostPort(const std::string& s, std::string* host, int* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  try {
    size_t used = 0;
    *port = std::stoi(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1) return false;
  } catch (...) {
    return false;
  }
  return *port >= 0 && *port <= 65535 && !host->empty();
}

int Die(const std::string& key, const std::string& reason) {
  std::cerr << "linlid: " << key << ": " << reason << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linlid — Linli smart-community platform server"};
  app.require_subcommand(1);
  std::string log_level = "info", log_format = "text";
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  app.add_option("--log-format", log_format, "text|json")->capture_default_str();

  // broker init
  auto* broker = app.add_subcommand("broker", "MQTT broker configuration");
  broker->require_subcommand(1);
  auto* init = broker->add_subcommand("init", "Write DIR/mosquitto.conf and dynamic-security config");
  linli::mqtt::BrokerInitOptions init_opts;
  init->add_option("--data-dir", init_opts.data_dir, "Data directory")->required();
  init->add_option("--port", init_opts.port, "Broker port")->capture_default_str();
  init->add_option("--bind", init_opts.bind_address, "Broker listen address")->capture_default_str();
  init->add_flag("--force", init_opts.force, "Overwrite an existing broker configuration");

  // serve
  auto* serve = app.add_subcommand("serve", "Run the platform server");
  linli::linlid::ServeOptions serve_opts;
  std::string http = "127.0.0.1:8080", mqtt_addr;
  serve->add_option("--data-dir", serve_opts.data_dir, "Data directory")->required();
  serve->add_option("--http", http, "HTTP listen HOST:PORT (port 0 = any)")->capture_default_str();
  serve->add_option("--mqtt", mqtt_addr, "Broker HOST:PORT (default: 127.0.0.1 and the port of broker init)");
  serve->add_option("--web-root", serve_opts.web_root, "Directory of the web app (default: share/web next to the binary, else ./web)");
  serve->add_option("--telemetry-retention-days", serve_opts.telemetry_retention_days)->capture_default_str();
  serve->add_option("--timezone", serve_opts.timezone,
                    "UTC offset of the hosting centre's local time, for rule schedules (+08:00)")
      ->capture_default_str();
  serve->add_option("--http-threads", serve_opts.http_threads)->capture_default_str();
  serve->add_flag("--no-mqtt", serve_opts.no_mqtt, "Run without a broker (API only)");

  // import
  auto* import = app.add_subcommand("import", "Import registry records from CSV");
  linli::linlid::ImportOptions import_opts;
  import->add_option("--data-dir", import_opts.data_dir, "Data directory")->required();
  import->add_option("--kind", import_opts.kind, "regions|compounds|buildings|units|rooms|persons|vehicles|organisations|devices")->required();
  import->add_option("file", import_opts.file, "CSV file with a header row (UTF-8)")->required();
  import->add_flag("--dry-run", import_opts.dry_run, "Validate only; write nothing");
  import->add_option("--batch", import_opts.batch_size, "Rows per transaction")->capture_default_str();
  import->add_flag("--no-progress", import_opts.no_progress, "Do not draw a progress bar");

  CLI11_PARSE(app, argc, argv);

  linli::log::Level level;
  if (!linli::log::ParseLevel(log_level, &level)) return Die("--log-level", "must be debug, info, warn or error");
  if (log_format != "text" && log_format != "json") return Die("--log-format", "must be text or json");
  linli::log::Init(level, log_format == "json" ? linli::log::Format::kJson : linli::log::Format::kText);

  if (*init) {
    auto r = linli::mqtt::InitBroker(init_opts);
    if (!r) return Die("broker init", r.error().ToString());
    std::cout << "broker configured: mosquitto -c "
              << (std::filesystem::absolute(init_opts.data_dir) / "mosquitto.conf").string() << "\n";
    return 0;
  }
  if (*serve) {
    if (!ParseHostPort(http, &serve_opts.http_host, &serve_opts.http_port)) {
      return Die("--http", "must be HOST:PORT");
    }
    if (!mqtt_addr.empty() && !ParseHostPort(mqtt_addr, &serve_opts.mqtt_host, &serve_opts.mqtt_port)) {
      return Die("--mqtt", "must be HOST:PORT");
    }
    if (serve_opts.telemetry_retention_days < 1) return Die("--telemetry-retention-days", "must be at least 1");
    if (serve_opts.http_threads < 1 || serve_opts.http_threads > 64) return Die("--http-threads", "must be 1..64");
    if (const char* pw = std::getenv("LINLI_ADMIN_PASSWORD")) serve_opts.admin_password = pw;
    // Shipped files: next to an installed binary (PREFIX/share/linli), or in the source tree
    // when run from build/bin, or relative to the working directory.
    std::error_code ec;
    const auto exe_dir = std::filesystem::canonical("/proc/self/exe", ec).parent_path();
    const std::filesystem::path roots[] = {exe_dir / "../share/linli", exe_dir / "../..", "."};
    for (const auto& root : roots) {
      if (serve_opts.web_root.empty() && std::filesystem::exists(root / "web/index.html", ec)) {
        serve_opts.web_root = std::filesystem::weakly_canonical(root / "web", ec).string();
      }
      if (serve_opts.openapi_path.empty() && std::filesystem::exists(root / "docs/openapi.json", ec)) {
        serve_opts.openapi_path = std::filesystem::weakly_canonical(root / "docs/openapi.json", ec).string();
      }
    }
    return linli::linlid::Serve(serve_opts);
  }
  if (*import) {
    return linli::linlid::Import(import_opts);
  }
  return 0;
}
