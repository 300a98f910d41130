#include "uplink_wiring.h"

#include <filesystem>

#include "common/log.h"
#include "edge/jsonl_sink.h"
#ifdef LINLI_EDGE_HAVE_UPLINK
#include "edge/uplink/edge_uplink.h"
#endif

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
  void AddCommand(const std::string&, BoxCommand) override {}
  Result<void> Start() override { return {}; }
  void Stop() override {}
  std::string Describe() const override { return "jsonl:" + path_; }

 private:
  std::unique_ptr<JsonlEventWriter> writer_;
  std::string path_;
};

#ifdef LINLI_EDGE_HAVE_UPLINK
// Delivers to the outbox and, optionally, a JSONL copy (without media: the outbox takes the
// clip files over).
class TeeSink final : public MediaEventSink {
 public:
  TeeSink(MediaEventSink& primary, JsonlEventWriter* copy) : primary_(primary), copy_(copy) {}
  void Deliver(const EdgeEvent& event, const EventMedia& media) override {
    if (copy_) {
      copy_->Deliver(event, EventMedia{});
    }
    primary_.Deliver(event, media);
  }

 private:
  MediaEventSink& primary_;
  JsonlEventWriter* copy_;
};

// The real uplink: outbox (store-and-forward) → MQTT events/telemetry/commands + HTTP media.
class OutboxUplink final : public BoxUplink {
 public:
  OutboxUplink(std::unique_ptr<EdgeUplink> up, std::unique_ptr<JsonlEventWriter> copy)
      : up_(std::move(up)), copy_(std::move(copy)), tee_(up_->sink(), copy_.get()) {}
  MediaEventSink& sink() override { return tee_; }
  void SetStatsProvider(StatsProvider stats) override { up_->SetStatsProvider(std::move(stats)); }
  void SetConfigApplier(ConfigApplier apply) override { up_->SetConfigApplier(std::move(apply)); }
  void AddCommand(const std::string& name, BoxCommand command) override {
    up_->AddCommand(name, std::move(command));
  }
  Result<void> Start() override { return up_->Start(); }
  void Stop() override { up_->Stop(); }
  std::string Describe() const override { return up_->Describe(); }

 private:
  std::unique_ptr<EdgeUplink> up_;
  std::unique_ptr<JsonlEventWriter> copy_;
  TeeSink tee_;
};
#endif

}  // namespace

Result<std::unique_ptr<BoxUplink>> MakeUplinkSink(const BoxConfig& config,
                                                  const std::string& events_jsonl, Clock& clock) {
  (void)clock;
  const bool has_uplink = config.uplink && !config.uplink.IsNull();
#ifdef LINLI_EDGE_HAVE_UPLINK
  if (has_uplink) {
    LINLI_ASSIGN_OR_RETURN(auto up, EdgeUplink::Open(config, clock));
    std::unique_ptr<JsonlEventWriter> copy;
    if (!events_jsonl.empty()) {
      LINLI_ASSIGN_OR_RETURN(copy, JsonlEventWriter::OpenFile(events_jsonl, false));
    }
    return std::unique_ptr<BoxUplink>(new OutboxUplink(std::move(up), std::move(copy)));
  }
#else
  if (has_uplink) {
    log::Warn("this build has no uplink library; events go to the JSONL file only", {});
  }
#endif
  std::string path = events_jsonl;
  if (path.empty()) path = (std::filesystem::path(config.box.state_dir) / "events.jsonl").string();
  const std::string media = (std::filesystem::path(config.box.state_dir) / "events-media").string();
  LINLI_ASSIGN_OR_RETURN(auto writer, JsonlEventWriter::OpenFile(path, false, media));
  return std::unique_ptr<BoxUplink>(new JsonlOnlyUplink(std::move(writer), path));
}

}  // namespace linli::edge
