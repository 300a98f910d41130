#include "uplink_wiring.h"

#include <filesystem>

#include "common/log.h"
#include "edge/jsonl_sink.h"

namespace linli::edge {
namespace {

// No uplink: every step (all phases) with its media goes to a JSONL file and a media folder.
class JsonlOnlyUplink final : public BoxUplink {
 public:
  JsonlOnlyUplink(std::unique_ptr<JsonlEventWriter> writer, std::string path)
      : writer_(std::move(writer)), path_(std::move(path)) {}
  MediaEventSink& sink() override { return *writer_; }
  void SetStatsProvider(StatsProvider) override {}
  void SetConfigApplier(ConfigApplier) override {}
  Result<void> Start() override { return {}; }
  void Stop() override {}
  std::string Describe() const override { return "jsonl:" + path_; }

 private:
  std::unique_ptr<JsonlEventWriter> writer_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<BoxUplink>> MakeUplinkSink(const BoxConfig& config,
                                                  const std::string& events_jsonl, Clock& clock) {
  (void)clock;
  std::string path = events_jsonl;
  if (path.empty()) path = (std::filesystem::path(config.box.state_dir) / "events.jsonl").string();
  if (config.uplink && !config.uplink.IsNull()) {
    log::Warn("this build has no uplink library; events go to the JSONL file only",
              {{"path", path}});
  }
  const std::string media = (std::filesystem::path(config.box.state_dir) / "events-media").string();
  LINLI_ASSIGN_OR_RETURN(auto writer, JsonlEventWriter::OpenFile(path, false, media));
  return std::unique_ptr<BoxUplink>(new JsonlOnlyUplink(std::move(writer), path));
}

}  // namespace linli::edge
