// linli-edge: the edge analytics box.
//
//   linli-edge run --config FILE            run the box: camera pipelines + uplink (SIGTERM/SIGINT
//                                           stop it gracefully)
//   linli-edge analyze --input VIDEO --camera CONFIG --out EVENTS.jsonl
//                                           one camera's algorithms over a file, as fast as it
//                                           decodes; one JSON event per line; summary on stderr
//   linli-edge check-config FILE            validate a config as `run` does (every analyzer's
//                                           parameters and the uplink section too), without
//                                           connecting anywhere
//
// Exit status: 0 success, 1 runtime failure (input not a video, cannot write), 2 bad usage or
// config (the message names the key). See docs/edge.md.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <pthread.h>

#include <CLI/CLI.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "edge/builtin.h"
#include "edge/config.h"
#include "edge/jsonl_sink.h"
#include "edge/metrics_http/metrics_http.h"
#include "edge/pipeline.h"
#include "edge/sources.h"
#include "uplink_wiring.h"
#ifdef LINLI_EDGE_HAVE_UPLINK
#include "edge/uplink/edge_uplink.h"
#endif
#ifdef LINLI_EDGE_HAVE_ROI_STATE
#include "edge/algorithms/roi_state/roi_commands.h"
#endif

namespace {

using namespace linli;
using namespace linli::edge;

int ConfigError(const Error& e) {
  std::cerr << "linli-edge: config error: "
            << (e.field().empty() ? std::string() : e.field() + ": ") << e.message() << "\n";
  return 2;
}

std::string FormatStats(const CameraStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s state=%s decoded=%lld analysed=%lld full_rate=%lld gated=%lld dropped=%lld "
                "reconnects=%lld events=%lld decoded_fps=%.1f analysed_fps=%.1f lag_ms=%.0f",
                s.camera_id.c_str(), std::string(CameraStateName(s.state)).c_str(),
                static_cast<long long>(s.frames_decoded), static_cast<long long>(s.frames_analysed),
                static_cast<long long>(s.frames_full_rate), static_cast<long long>(s.frames_gated),
                static_cast<long long>(s.frames_dropped), static_cast<long long>(s.reconnects),
                static_cast<long long>(s.events), s.decoded_fps, s.analysed_fps, s.lag_ms);
  return buf;
}

// Everything `run` checks before it starts, without opening anything on the network: every
// analyzer and the detector are created once, and the uplink section is parsed and validated
// as EdgeUplink::Open does (the outbox is not opened). check-config and run both call this, so
// that a config check-config accepts is one run accepts.
Result<void> ValidateBox(const BoxConfig& cfg) {
  RegisterBuiltinAnalyzers(AnalyzerRegistry::Default());
  LINLI_RETURN_IF_ERROR(ValidateAnalyzers(cfg, AnalyzerRegistry::Default(),
                                          BuiltinDetectorFactory(), cfg.box.state_dir));
#ifdef LINLI_EDGE_HAVE_UPLINK
  if (cfg.uplink && !cfg.uplink.IsNull()) {
    LINLI_ASSIGN_OR_RETURN(BoxUplinkConfig up, ParseUplinkConfig(cfg.uplink, cfg.box));
    LINLI_RETURN_IF_ERROR(Uplink::Validate(up.uplink));
  }
#endif
  return {};
}

int CheckConfig(const std::string& path) {
  auto cfg = LoadBoxConfig(path);
  if (!cfg) return ConfigError(cfg.error());
  auto v = ValidateBox(*cfg);
  if (!v) return ConfigError(v.error());
  size_t algos = 0;
  for (const auto& c : cfg->cameras) algos += c.algorithms.size();
  std::cout << path << ": ok (" << cfg->cameras.size() << " camera(s), " << algos
            << " algorithm(s))\n";
  return 0;
}

struct AnalyzeArgs {
  std::string input, camera_config, camera_id, out, snapshots;
  bool all_phases = false, motion_gating = false, realtime = false;
};

int Analyze(const AnalyzeArgs& a) {
  auto box = LoadBoxConfig(a.camera_config);
  if (!box) return ConfigError(box.error());
  auto cam = SelectCamera(*box, a.camera_id);
  if (!cam) return ConfigError(cam.error());
  CameraConfig camera = *cam;
  camera.url = a.input;
  camera.loop = false;
  RegisterBuiltinAnalyzers(AnalyzerRegistry::Default());
  BoxConfig one = *box;
  one.cameras = {camera};
  auto valid = ValidateAnalyzers(one, AnalyzerRegistry::Default(), BuiltinDetectorFactory(),
                                 box->box.state_dir);
  if (!valid) return ConfigError(valid.error());

  std::unique_ptr<JsonlEventWriter> writer;
  if (a.out == "-") {
    writer = std::make_unique<JsonlEventWriter>(std::cout, !a.all_phases, a.snapshots);
  } else {
    std::error_code ec;
    std::filesystem::remove(a.out, ec);  // a fresh file per run
    auto w = JsonlEventWriter::OpenFile(a.out, !a.all_phases, a.snapshots);
    if (!w) {
      std::cerr << "linli-edge: " << w.error().ToString() << "\n";
      return 1;
    }
    writer = std::move(*w);
  }
  PipelineOptions opts;
  opts.realtime = a.realtime;
  opts.motion_gating = a.motion_gating;
  opts.schedules = false;
  opts.state_dir = box->box.state_dir;
  Clock& clock = SystemClock();
  const std::string media_dir =
      a.snapshots.empty() ? (std::filesystem::temp_directory_path() / "linli-edge-analyze").string()
                          : a.snapshots;
  const auto t0 = clock.Monotonic();
  CameraStats stats;
  Result<void> ran;
  {
    EventMediaRenderer renderer(camera, media_dir, *writer);
    CameraPipeline pipe(camera, MakeSource(camera, clock), AnalyzerRegistry::Default(),
                        BuiltinDetectorFactory(), box->detector, renderer, opts, clock, &renderer);
    ran = pipe.Run();
    stats = pipe.Stats();
  }  // the renderer delivers held-back steps here
  const double secs =
      std::chrono::duration<double>(clock.Monotonic() - t0).count();
  if (!ran) {
    std::cerr << "linli-edge: " << a.input << ": " << ran.error().ToString() << "\n";
    return 1;
  }
  const double video_s = stats.source_fps > 0 ? stats.frames_decoded / stats.source_fps : 0;
  std::fprintf(stderr,
               "analyze: %s: %lld frames decoded (%.1f s of video at %.2f fps, %dx%d), %lld "
               "analysed, %lld full-rate, in %.2f s (%.1fx real time, %.0f fps)\n",
               a.input.c_str(), static_cast<long long>(stats.frames_decoded), video_s,
               stats.source_fps, stats.width, stats.height,
               static_cast<long long>(stats.frames_analysed),
               static_cast<long long>(stats.frames_full_rate), secs,
               secs > 0 ? video_s / secs : 0, secs > 0 ? stats.frames_decoded / secs : 0);
  std::fprintf(stderr, "analyze: %lld event line(s) written to %s (%s)\n",
               static_cast<long long>(writer->written()), a.out.c_str(),
               a.all_phases ? "all phases" : "end records");
  for (const auto& [type, n] : writer->by_type()) {
    std::fprintf(stderr, "analyze:   %-32s %lld\n", type.c_str(), static_cast<long long>(n));
  }
  if (stats.frames_decoded == 0) {
    std::cerr << "linli-edge: " << a.input << ": no frame could be decoded\n";
    return 1;
  }
  return 0;
}

struct RunArgs {
  std::string config, events_out;
  std::optional<std::string> metrics_listen;  // overrides box.metrics_listen
  bool until_idle = false;
  int stats_interval_s = 30;
};

// Serves GET /metrics (docs/edge.md "Metrics"): the process registry, with the per-camera
// rates and states refreshed from the pipelines at each scrape. Null when disabled or when the
// address cannot be bound (logged at WARN: the box runs on without it).
std::unique_ptr<MetricsHttpServer> StartMetrics(const ListenAddress& at, Pipeline& pipeline,
                                                Clock& clock) {
  if (!at.enabled) return nullptr;
  const auto started = clock.Monotonic();
  MetricsHttpOptions o;
  o.host = at.host;
  o.port = at.port;
  o.before_render = [&pipeline, &clock, started] {
    auto& reg = metrics::Default();
    for (const auto& s : pipeline.Stats()) {
      const metrics::Labels l{{"camera", s.camera_id}};
      reg.GetGauge("linli_edge_camera_decoded_fps", "Frames decoded per second (recent)", l)
          .Set(s.decoded_fps);
      reg.GetGauge("linli_edge_camera_analysed_fps",
                   "Sub-sampled frames analysed per second (recent)", l)
          .Set(s.analysed_fps);
      reg.GetGauge("linli_edge_camera_running", "1 while a camera's frames are flowing", l)
          .Set(s.state == CameraState::kRunning ? 1 : 0);
    }
    reg.GetGauge("linli_edge_uptime_seconds", "Seconds since linli-edge run started")
        .Set(std::chrono::duration<double>(clock.Monotonic() - started).count());
  };
  auto server = MetricsHttpServer::Start(o);
  const std::string where = (at.host.find(':') != std::string::npos ? "[" + at.host + "]" : at.host);
  if (!server) {
    log::Warn("metrics not served", {{"listen", where + ":" + std::to_string(at.port)},
                                     {"error", server.error().ToString()}});
    return nullptr;
  }
  log::Info("metrics listening",
            {{"url", "http://" + where + ":" + std::to_string((*server)->port()) + "/metrics"}});
  return std::move(*server);
}

// Writes `text` over `path` atomically (the config the platform pushed survives a restart).
bool PersistConfig(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

int Run(const RunArgs& a) {
  auto text = ReadTextFile(a.config);
  if (!text) return ConfigError(text.error());
  auto cfg = ParseBoxConfig(*text);
  if (!cfg) return ConfigError(cfg.error());
  auto valid = ValidateBox(*cfg);
  if (!valid) return ConfigError(valid.error());

  // Block the stop signals before any thread starts, so that only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Clock& clock = SystemClock();
  std::string events_path = !a.events_out.empty() ? a.events_out : cfg->box.events_jsonl;
  auto uplink = MakeUplinkSink(*cfg, events_path, clock);
  if (!uplink) return ConfigError(uplink.error());

  PipelineOptions opts;
  opts.state_dir = cfg->box.state_dir;
  Pipeline pipeline(AnalyzerRegistry::Default(), BuiltinDetectorFactory(), (*uplink)->sink(), clock,
                    opts);
  (*uplink)->SetStatsProvider(pipeline.StatsFn());
  const std::string config_path = a.config;
  // The keys that need a restart keep their start-up values for the whole run.
  const BoxConfig started = *cfg;
  (*uplink)->SetConfigApplier([&pipeline, config_path,
                               started](const std::string& yaml) -> Result<void> {
    LINLI_ASSIGN_OR_RETURN(BoxConfig next, ParseBoxConfig(yaml));
    LINLI_RETURN_IF_ERROR(CheckRestartOnlyKeys(started, next));
    LINLI_RETURN_IF_ERROR(pipeline.Apply(next));
    if (!PersistConfig(config_path, yaml)) {
      log::Warn("applied config not saved", {{"path", config_path}});
    }
    return {};
  });
#ifdef LINLI_EDGE_HAVE_ROI_STATE
  (*uplink)->AddCommand("roi.enroll",
                        [&pipeline](const Json& args) { return RoiEnrollCommand(pipeline, args); });
  (*uplink)->AddCommand("roi.examples", [&pipeline](const Json& args) {
    return RoiExamplesCommand(pipeline, args);
  });
  (*uplink)->AddCommand("roi.remove",
                        [&pipeline](const Json& args) { return RoiRemoveCommand(pipeline, args); });
#endif
  ListenAddress metrics_at;
  if (a.metrics_listen) {
    auto parsed = ParseListenAddress(*a.metrics_listen, "--metrics-listen");
    if (!parsed) return ConfigError(parsed.error());
    metrics_at = *parsed;
  } else {
    metrics_at = *ParseListenAddress(cfg->box.metrics_listen, "box.metrics_listen");
  }
  if (auto s = pipeline.Start(*cfg); !s) return ConfigError(s.error());
  auto metrics_server = StartMetrics(metrics_at, pipeline, clock);
  if (auto s = (*uplink)->Start(); !s) {
    std::cerr << "linli-edge: uplink: " << s.error().ToString() << "\n";
    metrics_server.reset();
    pipeline.Stop();
    return 1;
  }
  log::Info("linli-edge running", {{"box", cfg->box.device_id},
                                   {"cameras", std::to_string(cfg->cameras.size())},
                                   {"uplink", (*uplink)->Describe()}});
  for (;;) {
    timespec timeout{a.until_idle ? 0 : a.stats_interval_s, a.until_idle ? 200'000'000 : 0};
    int sig = sigtimedwait(&stop_signals, nullptr, &timeout);
    if (sig == SIGTERM || sig == SIGINT) {
      log::Info("stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      break;
    }
    auto stats = pipeline.Stats();
    if (a.until_idle) {
      bool idle = true;
      for (const auto& s : stats) {
        idle &= s.state == CameraState::kEnded || s.state == CameraState::kFailed ||
                s.state == CameraState::kStopped;
      }
      if (idle) break;
      continue;
    }
    for (const auto& s : stats) log::Info("camera", {{"stats", FormatStats(s)}});
  }
  for (const auto& s : pipeline.Stats()) std::cerr << "linli-edge: " << FormatStats(s) << "\n";
  metrics_server.reset();  // its scrapes read the pipeline
  pipeline.Stop();    // ends open events; renderers deliver what they held back
  (*uplink)->Stop();  // flushes what it can; the rest stays in the outbox
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linli-edge: the Linli edge analytics box"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warn or error (before the subcommand)");

  RunArgs run;
  auto* run_cmd = app.add_subcommand("run", "run the box (cameras, analytics, uplink)");
  run_cmd->add_option("--config", run.config, "box config (YAML)")->required();
  run_cmd->add_option("--events-out", run.events_out,
                      "also write every event step to this JSONL file (default box.events_jsonl; "
                      "without an uplink it is the only output, default <state_dir>/events.jsonl)");
  run_cmd->add_flag("--until-idle", run.until_idle,
                    "exit when every camera has ended or failed (files without loop)");
  run_cmd->add_option("--metrics-listen", run.metrics_listen,
                      "serve GET /metrics on HOST:PORT, or off (default box.metrics_listen, "
                      "127.0.0.1:9464)");
  run_cmd
      ->add_option("--stats-interval", run.stats_interval_s,
                   "seconds between stats log lines (default 30, 1-86400)")
      ->check(CLI::Range(1, 86400));

  AnalyzeArgs an;
  auto* an_cmd = app.add_subcommand("analyze", "run one camera's algorithms over a video file");
  an_cmd->add_option("--input", an.input, "video file")->required();
  an_cmd->add_option("--camera", an.camera_config, "camera or box config (YAML)")->required();
  an_cmd->add_option("--camera-id", an.camera_id, "which camera of a box config");
  an_cmd->add_option("--out", an.out, "events file (JSONL, replaced; - for stdout)")->required();
  an_cmd->add_flag("--all-phases", an.all_phases,
                   "write begin/update/end steps, not only end records");
  an_cmd->add_flag("--motion-gating", an.motion_gating, "gate analyzers on motion as `run` does");
  an_cmd->add_flag("--realtime", an.realtime, "pace the file to its frame rate");
  an_cmd->add_option("--snapshots", an.snapshots, "write snapshots and clips into this directory");

  std::string check_path;
  auto* check_cmd = app.add_subcommand(
      "check-config", "validate a config file as run does (uplink section included), offline");
  check_cmd->add_option("file", check_path, "config (YAML)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  log::Level level = log::Level::kInfo;
  if (!log::ParseLevel(log_level, &level)) {
    std::cerr << "linli-edge: --log-level: unknown level \"" << log_level << "\"\n";
    return 2;
  }
  log::Init(level, log::Format::kText);
  if (*run_cmd) return Run(run);
  if (*an_cmd) return Analyze(an);
  if (*check_cmd) return CheckConfig(check_path);
  return 2;
}
