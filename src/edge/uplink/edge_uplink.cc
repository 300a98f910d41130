#include "edge/uplink/edge_uplink.h"

#include <cstdlib>
#include <set>

namespace linli::edge {
namespace {

// Minimal typed reader over one YAML mapping; every error names the full key.
class Section {
 public:
  Section(YAML::Node node, std::string key) : node_(std::move(node)), key_(std::move(key)) {}

  Result<void> Check(std::initializer_list<std::string_view> known) const {
    if (!node_ || node_.IsNull()) return {};
    if (!node_.IsMap()) return InvalidArgument(key_, "must be a mapping");
    std::set<std::string_view> k(known);
    for (const auto& kv : node_) {
      std::string name = kv.first.as<std::string>("");
      if (!k.contains(name)) return InvalidArgument(Key(name), "unknown key");
    }
    return {};
  }
  bool Has(const std::string& name) const {
    return node_ && node_.IsMap() && node_[name] && !node_[name].IsNull();
  }
  Section Sub(const std::string& name) const {
    return Section(Has(name) ? node_[name] : YAML::Node(), Key(name));
  }
  std::string Key(const std::string& name) const { return key_ + "." + name; }

  Result<int64_t> Int(const std::string& name, int64_t def, int64_t min, int64_t max) const {
    if (!Has(name)) return def;
    const YAML::Node n = node_[name];
    int64_t v = 0;
    try {
      if (!n.IsScalar()) return InvalidArgument(Key(name), "must be an integer");
      v = n.as<int64_t>();
    } catch (const YAML::Exception&) {
      return InvalidArgument(Key(name), "must be an integer");
    }
    if (v < min || v > max) {
      return InvalidArgument(Key(name),
                             "must be in " + std::to_string(min) + ".." + std::to_string(max));
    }
    return v;
  }
  Result<std::string> String(const std::string& name, const std::string& def) const {
    if (!Has(name)) return def;
    const YAML::Node n = node_[name];
    if (!n.IsScalar()) return InvalidArgument(Key(name), "must be a string");
    return n.Scalar();
  }
  // A secret given inline as `name`, or read from `name_file` / `name_env`; exactly one.
  Result<std::string> Secret(const std::string& name, bool required) const {
    int given = Has(name) + Has(name + "_file") + Has(name + "_env");
    if (given > 1) {
      return InvalidArgument(Key(name), "give only one of " + name + ", " + name + "_file, " +
                                            name + "_env");
    }
    std::string v;
    if (Has(name)) {
      LINLI_ASSIGN_OR_RETURN(v, String(name, ""));
    } else if (Has(name + "_file")) {
      LINLI_ASSIGN_OR_RETURN(std::string path, String(name + "_file", ""));
      auto text = ReadTextFile(path);
      if (!text) return InvalidArgument(Key(name + "_file"), "cannot read " + path);
      v = *text;
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
    } else if (Has(name + "_env")) {
      LINLI_ASSIGN_OR_RETURN(std::string var, String(name + "_env", ""));
      const char* e = std::getenv(var.c_str());
      if (e == nullptr || *e == '\0') {
        return InvalidArgument(Key(name + "_env"), "environment variable " + var + " is not set");
      }
      v = e;
    }
    if (required && v.empty()) return InvalidArgument(Key(name), "is required");
    return v;
  }

 private:
  YAML::Node node_;
  std::string key_;
};

}  // namespace

Result<BoxUplinkConfig> ParseUplinkConfig(const YAML::Node& node, const BoxIdentity& box) {
  BoxUplinkConfig c;
  Section u(node, "uplink");
  LINLI_RETURN_IF_ERROR(u.Check({"mqtt", "api", "outbox", "telemetry_interval_s",
                                 "inflight_window", "backoff_min_ms", "backoff_max_ms",
                                 "snapshot"}));
  c.uplink.box_id = box.device_id;
  c.uplink.compound_id = box.compound_id;

  Section m = u.Sub("mqtt");
  LINLI_RETURN_IF_ERROR(m.Check({"host", "port", "keepalive_s", "password", "password_file",
                                 "password_env", "connect_timeout_ms"}));
  LINLI_ASSIGN_OR_RETURN(c.uplink.mqtt_host, m.String("host", "127.0.0.1"));
  LINLI_ASSIGN_OR_RETURN(int64_t port, m.Int("port", 1883, 1, 65535));
  c.uplink.mqtt_port = static_cast<int>(port);
  LINLI_ASSIGN_OR_RETURN(int64_t ka, m.Int("keepalive_s", 30, 5, 65535));
  c.uplink.keepalive_s = static_cast<int>(ka);
  LINLI_ASSIGN_OR_RETURN(int64_t cto, m.Int("connect_timeout_ms", 5000, 100, 600000));
  c.uplink.connect_timeout_ms = static_cast<int>(cto);
  LINLI_ASSIGN_OR_RETURN(c.uplink.mqtt_password, m.Secret("password", /*required=*/true));

  if (u.Has("api")) {
    Section a = u.Sub("api");
    LINLI_RETURN_IF_ERROR(a.Check({"base_url", "api_key", "api_key_file", "api_key_env",
                                   "connect_timeout_ms", "stall_timeout_ms"}));
    HttpUploaderOptions h;
    LINLI_ASSIGN_OR_RETURN(h.api_base, a.String("base_url", ""));
    while (!h.api_base.empty() && h.api_base.back() == '/') h.api_base.pop_back();
    if (h.api_base.rfind("http://", 0) != 0 && h.api_base.rfind("https://", 0) != 0) {
      return InvalidArgument(a.Key("base_url"), "must be an http:// or https:// URL");
    }
    LINLI_ASSIGN_OR_RETURN(h.api_key, a.Secret("api_key", /*required=*/true));
    LINLI_ASSIGN_OR_RETURN(int64_t ct, a.Int("connect_timeout_ms", 5000, 100, 600000));
    h.connect_timeout_ms = static_cast<int>(ct);
    LINLI_ASSIGN_OR_RETURN(int64_t st, a.Int("stall_timeout_ms", 30000, 1000, 3600000));
    h.stall_timeout_ms = static_cast<int>(st);
    c.http = h;
  }

  Section o = u.Sub("outbox");
  LINLI_RETURN_IF_ERROR(o.Check({"dir", "quota_mb", "max_entries"}));
  LINLI_ASSIGN_OR_RETURN(c.outbox.dir, o.String("dir", box.state_dir + "/outbox"));
  if (c.outbox.dir.empty()) return InvalidArgument(o.Key("dir"), "must not be empty");
  LINLI_ASSIGN_OR_RETURN(int64_t quota, o.Int("quota_mb", 2048, 1, 16LL * 1024 * 1024));
  c.outbox.quota_bytes = quota * 1024 * 1024;
  LINLI_ASSIGN_OR_RETURN(c.outbox.max_entries, o.Int("max_entries", 1'000'000, 1, 1'000'000'000));

  LINLI_ASSIGN_OR_RETURN(int64_t ti, u.Int("telemetry_interval_s", 30, 1, 86400));
  c.uplink.telemetry_interval_ms = static_cast<int>(ti * 1000);
  LINLI_ASSIGN_OR_RETURN(int64_t w, u.Int("inflight_window", 32, 1, 1000));
  c.uplink.inflight_window = static_cast<int>(w);
  LINLI_ASSIGN_OR_RETURN(int64_t bmin, u.Int("backoff_min_ms", 200, 10, 3600000));
  LINLI_ASSIGN_OR_RETURN(int64_t bmax, u.Int("backoff_max_ms", 30000, 10, 3600000));
  if (bmax < bmin) return InvalidArgument(u.Key("backoff_max_ms"), "must be >= backoff_min_ms");
  c.uplink.backoff_min_ms = static_cast<int>(bmin);
  c.uplink.backoff_max_ms = static_cast<int>(bmax);

  Section s = u.Sub("snapshot");
  LINLI_RETURN_IF_ERROR(s.Check({"jpeg_quality", "max_width"}));
  LINLI_ASSIGN_OR_RETURN(int64_t q, s.Int("jpeg_quality", 85, 1, 100));
  c.sink.jpeg_quality = static_cast<int>(q);
  LINLI_ASSIGN_OR_RETURN(int64_t mw, s.Int("max_width", 0, 0, 16384));
  c.sink.max_width = static_cast<int>(mw);

  auto v = Uplink::Validate(c.uplink);
  if (!v) {
    // The identity comes from box:, the rest from uplink:.
    std::string f = v.error().field();
    if (f == "uplink.box_id") return InvalidArgument("box.device_id", v.error().message());
    if (f == "uplink.compound_id") return InvalidArgument("box.compound_id", v.error().message());
    return Fail(v.error());
  }
  return c;
}

Result<std::unique_ptr<EdgeUplink>> EdgeUplink::Open(const BoxConfig& config, Clock& clock) {
  LINLI_ASSIGN_OR_RETURN(BoxUplinkConfig c, ParseUplinkConfig(config.uplink, config.box));
  return Open(c, clock);
}

Result<std::unique_ptr<EdgeUplink>> EdgeUplink::Open(const BoxUplinkConfig& config, Clock& clock) {
  LINLI_RETURN_IF_ERROR(Uplink::Validate(config.uplink));
  std::unique_ptr<EdgeUplink> b(new EdgeUplink(config, clock));
  LINLI_ASSIGN_OR_RETURN(b->outbox_, Outbox::Open(config.outbox, clock));
  b->sink_ = std::make_unique<OutboxSink>(*b->outbox_, config.sink, clock);
  return b;
}

EdgeUplink::~EdgeUplink() { Stop(); }

Result<void> EdgeUplink::Start() { return Start(hooks_); }

std::string EdgeUplink::Describe() const {
  const auto& u = config_.uplink;
  std::string s = "mqtt://" + u.mqtt_host + ":" + std::to_string(u.mqtt_port) + " as " +
                  u.box_id + " (outbox " + config_.outbox.dir + ")";
  if (config_.http) s += ", media " + config_.http->api_base;
  return s;
}

Result<void> EdgeUplink::Start(UplinkHooks hooks) {
  if (uplink_ != nullptr) return Fail(ErrorCode::kFailedPrecondition, "uplink already started");
  std::unique_ptr<MediaUploader> uploader;
  if (config_.http) {
    LINLI_ASSIGN_OR_RETURN(uploader, MakeCurlMediaUploader(*config_.http));
  }
  uplink_ = std::make_unique<Uplink>(config_.uplink, *outbox_, std::move(uploader),
                                     std::move(hooks), clock_);
  auto r = uplink_->Start();
  if (!r) uplink_.reset();
  return r;
}

void EdgeUplink::Stop() {
  if (uplink_ != nullptr) uplink_->Stop();
}

}  // namespace linli::edge
