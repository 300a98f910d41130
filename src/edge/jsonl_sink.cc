#include "edge/jsonl_sink.h"

#include <filesystem>

#include "common/log.h"
#include "edge/event_json.h"

namespace linli::edge {
namespace {

bool WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

}  // namespace

JsonlEventWriter::JsonlEventWriter(std::ostream& out, bool end_only, std::string media_dir)
    : out_(out), end_only_(end_only), media_dir_(std::move(media_dir)) {}

JsonlEventWriter::JsonlEventWriter(std::unique_ptr<std::ofstream> file, bool end_only,
                                   std::string media_dir)
    : file_(std::move(file)), out_(*file_), end_only_(end_only), media_dir_(std::move(media_dir)) {}

Result<std::unique_ptr<JsonlEventWriter>> JsonlEventWriter::OpenFile(const std::string& path,
                                                                     bool end_only,
                                                                     std::string media_dir) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  auto f = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*f) return InvalidArgument(path, "cannot open the events file for writing");
  return std::unique_ptr<JsonlEventWriter>(
      new JsonlEventWriter(std::move(f), end_only, std::move(media_dir)));
}

void JsonlEventWriter::Deliver(const EdgeEvent& event, const EventMedia& media) {
  if (end_only_ && event.phase != EventPhase::kEnd) {
    if (!media.clip_path.empty()) std::filesystem::remove(media.clip_path);
    return;
  }
  Json j = EventToJson(event);
  if (!media_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(media_dir_, ec);
    Json m = Json::object();
    const std::string stem =
        (std::filesystem::path(media_dir_) /
         (event.id + "-" + std::string(EventPhaseName(event.phase)))).string();
    if (!media.clean_jpeg.empty() && WriteBytes(stem + ".jpg", media.clean_jpeg)) {
      m["snapshot"] = stem + ".jpg";
    }
    if (!media.annotated_jpeg.empty() && WriteBytes(stem + "-annotated.jpg", media.annotated_jpeg)) {
      m["snapshot_annotated"] = stem + "-annotated.jpg";
    }
    if (!media.clip_path.empty()) {
      std::string dest = (std::filesystem::path(media_dir_) /
                          std::filesystem::path(media.clip_path).filename()).string();
      if (dest != media.clip_path) {
        std::filesystem::rename(media.clip_path, dest, ec);
        if (ec) dest = media.clip_path;
      }
      m["clip"] = dest;
    }
    if (!m.empty()) j["media"] = std::move(m);
  } else if (!media.clip_path.empty()) {
    j["media"] = {{"clip", media.clip_path}};
  }
  std::lock_guard<std::mutex> lock(mu_);
  out_ << DumpJson(j) << '\n';
  out_.flush();
  ++written_;
  ++by_type_[event.type];
  if (!out_) log::Warn("events file write failed", {{"event", event.id}});
}

int64_t JsonlEventWriter::written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_;
}

std::map<std::string, int64_t> JsonlEventWriter::by_type() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_type_;
}

}  // namespace linli::edge
