#include "ingest/directory.h"

namespace linli::ingest {
namespace {

DeviceInfo InfoFromRecord(const model::Record& d) {
  DeviceInfo info;
  info.compound_id = d.compound_id;
  info.kind = d.fields.value("kind", std::string("other"));
  auto hb = d.fields.find("heartbeat_timeout_s");
  if (hb != d.fields.end() && hb->is_number_integer()) {
    info.heartbeat_timeout_s = hb->get<int>();
  } else {
    info.heartbeat_timeout_s = model::DefaultHeartbeatTimeoutS(info.kind);
  }
  return info;
}

}  // namespace

void DeviceDirectory::AdjustCounts(const DeviceInfo& info, int delta_total, int delta_online) {
  Counts& c = per_compound_[info.compound_id];
  c.total += delta_total;
  c.online += delta_online;
}

void DeviceDirectory::Load(const std::vector<model::Record>& devices,
                           const std::vector<store::Store::DeviceState>& states) {
  std::lock_guard lock(mu_);
  devices_.clear();
  per_compound_.clear();
  devices_.reserve(devices.size());
  for (const auto& d : devices) devices_.emplace(d.id, InfoFromRecord(d));
  for (const auto& s : states) {
    auto it = devices_.find(s.device_id);
    if (it == devices_.end()) continue;
    it->second.status = s.status;
    it->second.status_ms = s.status_ms;
    it->second.last_seen_ms = s.last_seen_ms;
    it->second.persisted_seen_ms = s.last_seen_ms;
  }
  for (const auto& [id, info] : devices_) {
    AdjustCounts(info, 1, info.status == model::Presence::kOnline ? 1 : 0);
  }
}

void DeviceDirectory::Upsert(const model::Record& device) {
  std::lock_guard lock(mu_);
  DeviceInfo fresh = InfoFromRecord(device);
  auto it = devices_.find(device.id);
  if (it == devices_.end()) {
    AdjustCounts(fresh, 1, 0);
    devices_.emplace(device.id, std::move(fresh));
    return;
  }
  // Keep presence; refresh the registry attributes.
  const bool online = it->second.status == model::Presence::kOnline;
  AdjustCounts(it->second, -1, online ? -1 : 0);
  it->second.compound_id = fresh.compound_id;
  it->second.kind = fresh.kind;
  it->second.heartbeat_timeout_s = fresh.heartbeat_timeout_s;
  AdjustCounts(it->second, 1, online ? 1 : 0);
}

void DeviceDirectory::Remove(const std::string& device_id) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return;
  AdjustCounts(it->second, -1, it->second.status == model::Presence::kOnline ? -1 : 0);
  devices_.erase(it);
}

std::optional<DeviceInfo> DeviceDirectory::Find(const std::string& device_id) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> DeviceDirectory::CompoundOf(const std::string& device_id) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return std::nullopt;
  return it->second.compound_id;
}

std::vector<model::StatusChange> DeviceDirectory::Plan(const std::vector<Observation>& obs) const {
  std::lock_guard lock(mu_);
  std::unordered_map<std::string, model::Presence> overlay;
  std::vector<model::StatusChange> changes;
  for (const auto& o : obs) {
    auto it = devices_.find(o.device_id);
    if (it == devices_.end()) continue;
    model::Presence cur = it->second.status;
    if (auto ov = overlay.find(o.device_id); ov != overlay.end()) cur = ov->second;
    model::Presence next = o.status.value_or(model::Presence::kOnline);
    if (next == cur) continue;
    // Traffic from a device whose offline status is newer than the traffic (a late, queued
    // message) does not bring it back.
    if (!o.status && cur == model::Presence::kOffline && o.ts_ms < it->second.status_ms) continue;
    overlay[o.device_id] = next;
    model::StatusChange c;
    c.device_id = o.device_id;
    c.compound_id = it->second.compound_id;
    c.status = next;
    c.ts_ms = o.ts_ms;
    c.reason = o.reason;
    changes.push_back(std::move(c));
  }
  return changes;
}

std::vector<model::StatusChange> DeviceDirectory::PlanTimeouts(int64_t now_ms) const {
  std::lock_guard lock(mu_);
  std::vector<model::StatusChange> changes;
  for (const auto& [id, info] : devices_) {
    if (info.status != model::Presence::kOnline) continue;
    int64_t since = std::max(info.last_seen_ms, info.status_ms);
    if (now_ms - since <= static_cast<int64_t>(info.heartbeat_timeout_s) * 1000) continue;
    model::StatusChange c;
    c.device_id = id;
    c.compound_id = info.compound_id;
    c.status = model::Presence::kOffline;
    c.ts_ms = now_ms;
    c.reason = "heartbeat_timeout";
    changes.push_back(std::move(c));
  }
  return changes;
}

void DeviceDirectory::Apply(const std::vector<Observation>& obs,
                            const std::vector<model::StatusChange>& changes) {
  std::lock_guard lock(mu_);
  for (const auto& o : obs) {
    auto it = devices_.find(o.device_id);
    if (it == devices_.end()) continue;
    DeviceInfo& info = it->second;
    if (o.ts_ms > info.last_seen_ms) info.last_seen_ms = o.ts_ms;
    if (!info.seen_dirty && info.last_seen_ms - info.persisted_seen_ms >= persist_interval_ms_) {
      info.seen_dirty = true;
      dirty_seen_.push_back(o.device_id);
    }
  }
  for (const auto& c : changes) {
    auto it = devices_.find(c.device_id);
    if (it == devices_.end()) continue;
    const bool was_online = it->second.status == model::Presence::kOnline;
    const bool now_online = c.status == model::Presence::kOnline;
    it->second.status = c.status;
    it->second.status_ms = c.ts_ms;
    if (was_online != now_online) AdjustCounts(it->second, 0, now_online ? 1 : -1);
  }
}

std::vector<std::pair<std::string, int64_t>> DeviceDirectory::TakeLastSeenToPersist() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& id : dirty_seen_) {
    auto it = devices_.find(id);
    if (it == devices_.end()) continue;
    it->second.seen_dirty = false;
    it->second.persisted_seen_ms = it->second.last_seen_ms;
    out.emplace_back(id, it->second.last_seen_ms);
  }
  dirty_seen_.clear();
  return out;
}

DeviceDirectory::Counts DeviceDirectory::CompoundCounts(const std::string& compound_id) const {
  std::lock_guard lock(mu_);
  auto it = per_compound_.find(compound_id);
  return it == per_compound_.end() ? Counts{} : it->second;
}

DeviceDirectory::Counts DeviceDirectory::TotalCounts() const {
  std::lock_guard lock(mu_);
  Counts total;
  for (const auto& [id, c] : per_compound_) {
    total.total += c.total;
    total.online += c.online;
  }
  return total;
}

std::vector<std::string> DeviceDirectory::CompoundIds() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, c] : per_compound_) ids.push_back(id);
  return ids;
}

std::vector<std::pair<std::string, DeviceInfo>> DeviceDirectory::Snapshot() const {
  std::lock_guard lock(mu_);
  return {devices_.begin(), devices_.end()};
}

}  // namespace linli::ingest
