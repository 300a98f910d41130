#include "edge/uplink/outbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"

namespace linli::edge {
namespace {

namespace fs = std::filesystem;

constexpr int kSchemaVersion = 1;
// How long a group-commit leader waits for the appenders of the previous batch (an fsync
// costs ~4 ms here).
constexpr auto kGatherWait = std::chrono::microseconds(500);

// A prepared statement that finalises itself. Bind indexes are 1-based as in SQLite.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)), db_(o.db_) {}
  ~Stmt() {
    if (s_ != nullptr) sqlite3_finalize(s_);
  }
  static Result<Stmt> Prepare(sqlite3* db, const char* sql) {
    Stmt st;
    st.db_ = db;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st.s_, nullptr);
    if (rc != SQLITE_OK) {
      return Fail(ErrorCode::kInternal, std::string("sqlite prepare: ") + sqlite3_errmsg(db));
    }
    return st;
  }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  // SQLITE_ROW → true, SQLITE_DONE → false, else an error.
  Result<bool> Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Fail(rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_BUSY
                    ? ErrorCode::kUnavailable
                    : ErrorCode::kInternal,
                std::string("sqlite step: ") + sqlite3_errmsg(db_));
  }
  Result<void> Run() {
    LINLI_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return {};
  }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    int n = sqlite3_column_bytes(s_, col);
    return p != nullptr ? std::string(p, static_cast<size_t>(n)) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  sqlite3* db_ = nullptr;
};

std::string ExtensionFor(const std::string& content_type) {
  if (content_type == "image/jpeg") return ".jpg";
  if (content_type == "video/mp4") return ".mp4";
  if (content_type == "video/x-msvideo") return ".avi";
  return ".bin";
}

bool KnownRole(const std::string& r) {
  return r == "snapshot" || r == "snapshot_annotated" || r == "clip";
}

bool KnownContentType(const std::string& t) {
  return t == "image/jpeg" || t == "video/mp4" || t == "video/x-msvideo";
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Writes `data` to `path` and fsyncs it.
Result<void> WriteFileDurably(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, Errno("open " + path));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto e = Errno("write " + path);
      ::close(fd);
      return Fail(ErrorCode::kUnavailable, e);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto e = Errno("fsync " + path);
    ::close(fd);
    return Fail(ErrorCode::kUnavailable, e);
  }
  ::close(fd);
  return {};
}

Result<void> FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, Errno("open " + path));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(ErrorCode::kUnavailable, Errno("fsync " + path));
  return {};
}

// Copies `from` to `to` and fsyncs the copy.
Result<int64_t> CopyFileDurably(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "copy " + from + ": " + ec.message());
  LINLI_RETURN_IF_ERROR(FsyncPath(to));
  auto size = fs::file_size(to, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "stat " + to + ": " + ec.message());
  return static_cast<int64_t>(size);
}

void Unlink(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    log::Warn("outbox: cannot delete file", {{"path", path}, {"error", std::strerror(errno)}});
  }
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS entries(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  phase TEXT NOT NULL,
  camera_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  body TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  published INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS media(
  media_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  role TEXT NOT NULL,
  content_type TEXT NOT NULL,
  file TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  state INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS media_by_seq ON media(seq);
CREATE TABLE IF NOT EXISTS dead_media(
  media_id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  camera_id TEXT NOT NULL,
  role TEXT NOT NULL,
  content_type TEXT NOT NULL,
  file TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
)sql";

}  // namespace

std::string OutboxEntry::MessageId() const {
  return event_id + ":" + phase + ":" + std::to_string(seq);
}

Outbox::Outbox(OutboxOptions options, Clock& clock)
    : opts_(std::move(options)),
      clock_(clock),
      evicted_events_total_(metrics::Default().GetCounter(
          "linli_edge_outbox_evicted_events_total",
          "Queued event steps dropped by the outbox quota (oldest first)")),
      evicted_bytes_total_(metrics::Default().GetCounter(
          "linli_edge_outbox_evicted_bytes_total", "Bytes dropped by the outbox quota")),
      dead_letters_total_(metrics::Default().GetCounter(
          "linli_edge_outbox_dead_letters_total",
          "Media items the platform refused permanently (kept as dead letters)")),
      appended_total_(metrics::Default().GetCounter("linli_edge_outbox_appended_total",
                                                    "Entries stored in the outbox")),
      rejected_total_(metrics::Default().GetCounter(
          "linli_edge_outbox_rejected_total", "Entries the outbox could not store")),
      depth_gauge_(metrics::Default().GetGauge("linli_edge_outbox_entries",
                                               "Entries queued in the outbox")),
      bytes_gauge_(metrics::Default().GetGauge("linli_edge_outbox_bytes",
                                               "Bytes held by the outbox (quota accounting)")),
      oldest_gauge_(metrics::Default().GetGauge(
          "linli_edge_outbox_oldest_created_seconds",
          "Creation time (Unix seconds) of the oldest queued entry, 0 when empty; its age is "
          "time() minus this. Refreshed by Stats() (the uplink calls it every second)")),
      commits_total_(metrics::Default().GetCounter(
          "linli_edge_outbox_append_commits_total",
          "Durable commits of appended entries (one per group of concurrent appends)")) {}

Outbox::~Outbox() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<std::unique_ptr<Outbox>> Outbox::Open(const OutboxOptions& options, Clock& clock) {
  if (options.dir.empty()) return InvalidArgument("outbox.dir", "must not be empty");
  if (options.quota_bytes < 64 * 1024) {
    return InvalidArgument("outbox.quota_bytes", "must be at least 65536");
  }
  if (options.max_entries < 1) return InvalidArgument("outbox.max_entries", "must be >= 1");
  std::unique_ptr<Outbox> o(new Outbox(options, clock));
  LINLI_RETURN_IF_ERROR(o->Init());
  return o;
}

Result<void> Outbox::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    ErrorCode code = (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? ErrorCode::kFailedPrecondition
                     : (rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_BUSY)
                         ? ErrorCode::kUnavailable
                         : ErrorCode::kInternal;
    return Fail(code, "sqlite: " + msg);
  }
  return {};
}

Result<void> Outbox::OpenDb(bool* corrupt) {
  *corrupt = false;
  std::string path = dir_ + "/outbox.db";
  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
    return Fail(ErrorCode::kUnavailable, "open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  auto wal = Exec("PRAGMA journal_mode=WAL");
  if (!wal) {
    *corrupt = wal.error().code() == ErrorCode::kFailedPrecondition;
    return wal;
  }
  // FULL: an edge box loses power; a committed entry must survive that, not only a crash.
  LINLI_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"));
  auto schema = Exec(kSchema);
  if (!schema) {
    *corrupt = schema.error().code() == ErrorCode::kFailedPrecondition;
    return schema;
  }
  LINLI_ASSIGN_OR_RETURN(Stmt v, Stmt::Prepare(db_, "PRAGMA user_version"));
  LINLI_ASSIGN_OR_RETURN(bool row, v.Step());
  int64_t version = row ? v.Int(0) : 0;
  if (version > kSchemaVersion) {
    return Fail(ErrorCode::kFailedPrecondition,
                "outbox.db has schema version " + std::to_string(version) +
                    ", newer than this program's " + std::to_string(kSchemaVersion));
  }
  if (version < kSchemaVersion) {
    LINLI_RETURN_IF_ERROR(Exec("PRAGMA user_version=1"));
  }
  // Touch every table so that a damaged file shows up now, not at the first Append().
  auto touch = Exec("SELECT count(*) FROM entries; SELECT count(*) FROM media;"
                    "SELECT count(*) FROM dead_media; SELECT count(*) FROM meta;");
  if (!touch) *corrupt = touch.error().code() == ErrorCode::kFailedPrecondition;
  return touch;
}

Result<void> Outbox::Init() {
  dir_ = opts_.dir;
  media_dir_ = dir_ + "/media";
  std::error_code ec;
  fs::create_directories(media_dir_, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "create " + media_dir_ + ": " + ec.message());
  std::string lock_path = dir_ + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Fail(ErrorCode::kUnavailable, Errno("open " + lock_path));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                "outbox " + dir_ + " is in use by another process");
  }
  bool corrupt = false;
  auto opened = OpenDb(&corrupt);
  if (!opened && corrupt) {
    // Corrupt: keep the damaged file for inspection and start over rather than stop the box.
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
    std::string aside = dir_ + "/outbox.db.corrupt-" + std::to_string(clock_.NowMs());
    log::Error("outbox database is corrupt; moved aside and starting a new one",
               {{"path", dir_ + "/outbox.db"}, {"moved_to", aside},
                {"error", opened.error().ToString()}});
    std::rename((dir_ + "/outbox.db").c_str(), aside.c_str());
    Unlink(dir_ + "/outbox.db-wal");
    Unlink(dir_ + "/outbox.db-shm");
    opened = OpenDb(&corrupt);
  }
  if (!opened) return opened;
  LINLI_RETURN_IF_ERROR(CleanOrphans());
  LINLI_RETURN_IF_ERROR(LoadTotals());
  return {};
}

Result<void> Outbox::CleanOrphans() {
  std::set<std::string> referenced;
  for (const char* sql : {"SELECT file FROM media", "SELECT file FROM dead_media"}) {
    LINLI_ASSIGN_OR_RETURN(Stmt st, Stmt::Prepare(db_, sql));
    for (;;) {
      LINLI_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      referenced.insert(st.Text(0));
    }
  }
  int removed = 0;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(media_dir_, ec)) {
    std::string name = de.path().filename().string();
    if (!referenced.contains(name)) {
      Unlink(de.path().string());
      ++removed;
    }
  }
  if (removed > 0) {
    log::Info("outbox: removed orphan media files", {{"count", std::to_string(removed)}});
  }
  return {};
}

Result<void> Outbox::LoadTotals() {
  LINLI_ASSIGN_OR_RETURN(Stmt a, Stmt::Prepare(db_, "SELECT count(*), coalesce(sum(bytes),0) FROM entries"));
  LINLI_RETURN_IF_ERROR(a.Step());
  total_entries_ = a.Int(0);
  total_bytes_ = a.Int(1);
  LINLI_ASSIGN_OR_RETURN(Stmt d, Stmt::Prepare(db_, "SELECT count(*), coalesce(sum(bytes),0) FROM dead_media"));
  LINLI_RETURN_IF_ERROR(d.Step());
  dead_letters_ = d.Int(0);
  total_bytes_ += d.Int(1);
  LINLI_ASSIGN_OR_RETURN(Stmt m, Stmt::Prepare(db_, "SELECT key, value FROM meta"));
  for (;;) {
    LINLI_ASSIGN_OR_RETURN(bool row, m.Step());
    if (!row) break;
    if (m.Text(0) == "evicted_events") evicted_events_ = m.Int(1);
    if (m.Text(0) == "evicted_bytes") evicted_bytes_ = m.Int(1);
  }
  depth_gauge_.Set(static_cast<double>(total_entries_));
  bytes_gauge_.Set(static_cast<double>(total_bytes_));
  return {};
}

void Outbox::SetAppendListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

Result<void> Outbox::EvictFor(int64_t need, Eviction* ev) {
  while (total_bytes_ + need > opts_.quota_bytes || total_entries_ + 1 > opts_.max_entries) {
    // Dead letters go first: they are already known to be unusable by the platform.
    if (total_bytes_ + need > opts_.quota_bytes && dead_letters_ > 0) {
      LINLI_ASSIGN_OR_RETURN(
          Stmt q, Stmt::Prepare(db_, "SELECT media_id, file, bytes FROM dead_media "
                                     "ORDER BY created_ms, rowid LIMIT 1"));
      LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) {
        std::string id = q.Text(0);
        ev->files.push_back(media_dir_ + "/" + q.Text(1));
        int64_t b = q.Int(2);
        LINLI_ASSIGN_OR_RETURN(Stmt del, Stmt::Prepare(db_, "DELETE FROM dead_media WHERE media_id=?"));
        del.Bind(1, id);
        LINLI_RETURN_IF_ERROR(del.Run());
        total_bytes_ -= b;
        --dead_letters_;
        ++ev->dead_letters;
        ev->bytes += b;
        continue;
      }
    }
    LINLI_ASSIGN_OR_RETURN(
        Stmt q, Stmt::Prepare(db_, "SELECT seq, bytes, created_ms FROM entries WHERE kind=0 "
                                   "ORDER BY seq LIMIT 1"));
    LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;  // only notices left (tiny, never evicted)
    int64_t seq = q.Int(0);
    int64_t b = q.Int(1);
    int64_t created = q.Int(2);
    LINLI_ASSIGN_OR_RETURN(Stmt files, Stmt::Prepare(db_, "SELECT file FROM media WHERE seq=?"));
    files.Bind(1, seq);
    for (;;) {
      LINLI_ASSIGN_OR_RETURN(bool frow, files.Step());
      if (!frow) break;
      ev->files.push_back(media_dir_ + "/" + files.Text(0));
    }
    LINLI_ASSIGN_OR_RETURN(Stmt dm, Stmt::Prepare(db_, "DELETE FROM media WHERE seq=?"));
    dm.Bind(1, seq);
    LINLI_RETURN_IF_ERROR(dm.Run());
    LINLI_ASSIGN_OR_RETURN(Stmt de, Stmt::Prepare(db_, "DELETE FROM entries WHERE seq=?"));
    de.Bind(1, seq);
    LINLI_RETURN_IF_ERROR(de.Run());
    total_bytes_ -= b;
    --total_entries_;
    ++ev->events;
    ev->bytes += b;
    ev->from_ms = ev->from_ms == 0 ? created : std::min(ev->from_ms, created);
    ev->to_ms = std::max(ev->to_ms, created);
  }
  return {};
}

Result<void> Outbox::RecordNotice(const Eviction& ev) {
  int64_t now = clock_.NowMs();
  // Merge into the newest notice that has not been published yet.
  LINLI_ASSIGN_OR_RETURN(
      Stmt q, Stmt::Prepare(db_, "SELECT seq, body, bytes FROM entries WHERE kind=1 AND "
                                 "published=0 ORDER BY seq DESC LIMIT 1"));
  LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (row) {
    int64_t seq = q.Int(0);
    int64_t old_bytes = q.Int(2);
    auto parsed = ParseJson(q.Text(1));
    if (parsed && parsed->is_object() && (*parsed)["data"].is_object()) {
      Json& d = (*parsed)["data"];
      d["events"] = d.value("events", int64_t{0}) + ev.events;
      d["bytes"] = d.value("bytes", int64_t{0}) + ev.bytes;
      d["dead_letters"] = d.value("dead_letters", int64_t{0}) + ev.dead_letters;
      int64_t from = d.value("from_ms", int64_t{0});
      if (ev.from_ms != 0) d["from_ms"] = from == 0 ? ev.from_ms : std::min(from, ev.from_ms);
      d["to_ms"] = std::max(d.value("to_ms", int64_t{0}), ev.to_ms);
      (*parsed)["ts"] = now;
      std::string body = DumpJson(*parsed);
      LINLI_ASSIGN_OR_RETURN(Stmt up, Stmt::Prepare(db_, "UPDATE entries SET body=?, bytes=? WHERE seq=?"));
      up.Bind(1, body);
      up.Bind(2, static_cast<int64_t>(body.size()));
      up.Bind(3, seq);
      LINLI_RETURN_IF_ERROR(up.Run());
      total_bytes_ += static_cast<int64_t>(body.size()) - old_bytes;
      return {};
    }
  }
  Json body = {{"ts", now},
               {"type", "edge.outbox_evicted"},
               {"data",
                {{"events", ev.events},
                 {"bytes", ev.bytes},
                 {"dead_letters", ev.dead_letters},
                 {"from_ms", ev.from_ms},
                 {"to_ms", ev.to_ms},
                 {"quota_bytes", opts_.quota_bytes}}}};
  NewEntry n;
  n.kind = EntryKind::kNotice;
  n.event_id = NewUuid();
  n.phase = "notice";
  std::string text = DumpJson(body);
  LINLI_ASSIGN_OR_RETURN(int64_t seq, InsertEntry(n, text, static_cast<int64_t>(text.size()), {}));
  (void)seq;
  return {};
}

Result<int64_t> Outbox::InsertEntry(const NewEntry& e, const std::string& body, int64_t bytes,
                                    const std::vector<OutboxMedia>& media) {
  LINLI_ASSIGN_OR_RETURN(
      Stmt ins, Stmt::Prepare(db_, "INSERT INTO entries(kind, event_id, phase, camera_id, "
                                   "created_ms, body, bytes) VALUES(?,?,?,?,?,?,?)"));
  ins.Bind(1, e.kind == EntryKind::kNotice ? 1 : 0);
  ins.Bind(2, e.event_id);
  ins.Bind(3, e.phase);
  ins.Bind(4, e.camera_id);
  ins.Bind(5, clock_.NowMs());
  ins.Bind(6, body);
  ins.Bind(7, bytes);
  LINLI_RETURN_IF_ERROR(ins.Run());
  int64_t seq = sqlite3_last_insert_rowid(db_);
  for (const auto& m : media) {
    LINLI_ASSIGN_OR_RETURN(
        Stmt mi, Stmt::Prepare(db_, "INSERT INTO media(media_id, seq, role, content_type, file, "
                                    "bytes, state) VALUES(?,?,?,?,?,?,0)"));
    mi.Bind(1, m.media_id);
    mi.Bind(2, seq);
    mi.Bind(3, m.role);
    mi.Bind(4, m.content_type);
    mi.Bind(5, fs::path(m.path).filename().string());
    mi.Bind(6, m.bytes);
    LINLI_RETURN_IF_ERROR(mi.Run());
  }
  total_bytes_ += bytes;
  ++total_entries_;
  return seq;
}

Result<int64_t> Outbox::Append(NewEntry entry) {
  auto reject = [&](Error e) -> Result<int64_t> {
    rejected_total_.Inc();
    log::Warn("outbox: entry not stored",
              {{"event_id", entry.event_id}, {"error", e.ToString()}});
    return Fail(std::move(e));
  };
  auto parsed = ParseJson(entry.body);
  if (!parsed || !parsed->is_object()) {
    return reject(Error(ErrorCode::kInvalidArgument, "body is not a JSON object", "body"));
  }
  Json body = std::move(*parsed);
  if (!body.contains("data") || !body["data"].is_object()) body["data"] = Json::object();
  if (entry.event_id.empty() || entry.phase.empty()) {
    return reject(Error(ErrorCode::kInvalidArgument, "event_id and phase are required", "event_id"));
  }

  // 1. Media files first (outside the lock: unique names, no shared state).
  std::vector<OutboxMedia> media;
  std::vector<std::pair<std::string, std::string>> moved;  // (outbox path, original path)
  auto undo_files = [&] {
    for (const auto& m : media) {
      bool was_moved = false;
      for (const auto& [to, from] : moved) {
        if (to == m.path) {
          if (std::rename(to.c_str(), from.c_str()) == 0) was_moved = true;
        }
      }
      if (!was_moved) Unlink(m.path);
    }
  };
  std::set<std::string> roles;
  for (auto& nm : entry.media) {
    if (!KnownRole(nm.role) || !roles.insert(nm.role).second) {
      undo_files();
      return reject(Error(ErrorCode::kInvalidArgument, "unknown or repeated media role '" + nm.role + "'",
                          "media.role"));
    }
    if (!KnownContentType(nm.content_type)) {
      undo_files();
      return reject(Error(ErrorCode::kInvalidArgument,
                          "unsupported content type '" + nm.content_type + "'",
                          "media.content_type"));
    }
    OutboxMedia m;
    m.media_id = NewUuid();
    m.role = nm.role;
    m.content_type = nm.content_type;
    m.path = media_dir_ + "/" + m.media_id + ExtensionFor(nm.content_type);
    if (nm.source_path.empty()) {
      if (nm.bytes.empty()) {
        undo_files();
        return reject(Error(ErrorCode::kInvalidArgument, "empty media item", "media.bytes"));
      }
      auto w = WriteFileDurably(m.path, nm.bytes);
      if (!w) {
        Unlink(m.path);
        undo_files();
        return reject(w.error());
      }
      m.bytes = static_cast<int64_t>(nm.bytes.size());
    } else {
      std::error_code ec;
      auto size = fs::file_size(nm.source_path, ec);
      if (ec || size == 0) {
        undo_files();
        return reject(Error(ErrorCode::kInvalidArgument,
                            "media file " + nm.source_path + " is missing or empty",
                            "media.source_path"));
      }
      if (nm.move_source && std::rename(nm.source_path.c_str(), m.path.c_str()) == 0) {
        moved.emplace_back(m.path, nm.source_path);
        auto f = FsyncPath(m.path);
        if (!f) {
          media.push_back(m);
          undo_files();
          return reject(f.error());
        }
        m.bytes = static_cast<int64_t>(size);
      } else {
        auto c = CopyFileDurably(nm.source_path, m.path);
        if (!c) {
          Unlink(m.path);
          undo_files();
          return reject(c.error());
        }
        m.bytes = *c;
      }
    }
    media.push_back(m);
    body["data"][m.role] = m.media_id;
  }
  if (!media.empty()) {
    auto d = FsyncPath(media_dir_);
    if (!d) {
      undo_files();
      return reject(d.error());
    }
  }
  std::string text = DumpJson(body);
  int64_t bytes = static_cast<int64_t>(text.size());
  for (const auto& m : media) bytes += m.bytes;
  if (bytes > opts_.quota_bytes) {
    undo_files();
    return reject(Error(ErrorCode::kResourceExhausted,
                        "entry of " + std::to_string(bytes) + " bytes is larger than the quota",
                        "outbox.quota_bytes"));
  }

  // 2. Group commit (CommitBatch): this append and those that arrive while another commit is
  //    running share the next transaction; each returns only after that commit (and its
  //    fsync) has finished.
  PendingAppend req;
  req.entry = &entry;
  req.body = std::move(text);
  req.bytes = bytes;
  req.media = &media;
  {
    std::unique_lock<std::mutex> q(commit_mu_);
    commit_queue_.push_back(&req);
    if (committing_) commit_cv_.notify_all();  // a gathering leader may be waiting for it
    while (!req.done) {
      if (committing_) {
        commit_cv_.wait(q);
        continue;
      }
      // Leader: commit everything queued so far (this request included). When the last
      // commit carried several appends, the threads it released are likely on their way
      // back: wait a little (far less than an fsync) for as many, rather than commit alone and
      // leave them to the next fsync. A lone appender never waits (last batch of 1).
      committing_ = true;
      if (last_batch_ > 1) {
        commit_cv_.wait_for(q, kGatherWait, [&] { return commit_queue_.size() >= last_batch_; });
      }
      std::vector<PendingAppend*> batch;
      batch.swap(commit_queue_);
      last_batch_ = batch.size();
      q.unlock();
      CommitBatch(batch);
      q.lock();
      for (auto* p : batch) p->done = true;
      committing_ = false;
      commit_cv_.notify_all();
    }
  }
  if (!req.result) {
    undo_files();
    rejected_total_.Inc();
    log::Warn("outbox: entry not stored",
              {{"event_id", entry.event_id}, {"error", req.result.error().ToString()}});
    return Fail(req.result.error());
  }
  const int64_t seq = *req.result;
  Eviction& ev = req.ev;
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;
  }
  for (const auto& f : ev.files) Unlink(f);
  appended_total_.Inc();
  if (ev.events > 0 || ev.dead_letters > 0) {
    evicted_events_total_.Inc(ev.events);
    evicted_bytes_total_.Inc(ev.bytes);
    log::Warn("outbox full: evicted the oldest entries",
              {{"events", std::to_string(ev.events)},
               {"dead_letters", std::to_string(ev.dead_letters)},
               {"bytes", std::to_string(ev.bytes)},
               {"from_ms", std::to_string(ev.from_ms)},
               {"to_ms", std::to_string(ev.to_ms)},
               {"quota_bytes", std::to_string(opts_.quota_bytes)}});
  }
  if (listener) listener();
  return seq;
}

size_t Outbox::QueuedAppends() const {
  std::lock_guard<std::mutex> lock(commit_mu_);
  return commit_queue_.size();
}

void Outbox::CommitBatch(const std::vector<PendingAppend*>& batch) {
  if (opts_.on_group_commit) opts_.on_group_commit(batch.size());
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t batch_bytes = total_bytes_, batch_entries = total_entries_,
                batch_dead = dead_letters_;
  auto fail_all = [&](const Error& e) {
    for (auto* p : batch) {
      p->result = Fail(e);
      p->ev = Eviction{};
    }
    total_bytes_ = batch_bytes;
    total_entries_ = batch_entries;
    dead_letters_ = batch_dead;
  };
  if (auto b = Exec("BEGIN IMMEDIATE"); !b) {
    fail_all(b.error());
    return;
  }
  // Each entry in a savepoint of its own: one that cannot be stored does not take the others
  // of the batch with it.
  for (auto* p : batch) {
    const int64_t saved_bytes = total_bytes_, saved_entries = total_entries_,
                  saved_dead = dead_letters_;
    auto one = [&]() -> Result<int64_t> {
      LINLI_RETURN_IF_ERROR(Exec("SAVEPOINT append_entry"));
      LINLI_RETURN_IF_ERROR(EvictFor(p->bytes + 512, &p->ev));  // 512: room for a notice
      if (p->ev.events > 0 || p->ev.dead_letters > 0) {
        LINLI_RETURN_IF_ERROR(RecordNotice(p->ev));
        for (const auto& [key, value] : {std::pair<std::string, int64_t>{"evicted_events", p->ev.events},
                                         std::pair<std::string, int64_t>{"evicted_bytes", p->ev.bytes}}) {
          LINLI_ASSIGN_OR_RETURN(
              Stmt m, Stmt::Prepare(db_, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) "
                                         "DO UPDATE SET value=value+excluded.value"));
          m.Bind(1, key);
          m.Bind(2, value);
          LINLI_RETURN_IF_ERROR(m.Run());
        }
      }
      LINLI_ASSIGN_OR_RETURN(int64_t s, InsertEntry(*p->entry, p->body, p->bytes, *p->media));
      LINLI_RETURN_IF_ERROR(Exec("RELEASE append_entry"));
      return s;
    };
    p->result = one();
    if (!p->result) {
      total_bytes_ = saved_bytes;
      total_entries_ = saved_entries;
      dead_letters_ = saved_dead;
      p->ev = Eviction{};  // the evicted rows are back: their files must stay
      if (!Exec("ROLLBACK TO append_entry") || !Exec("RELEASE append_entry")) {
        const Error e = p->result.error();
        (void)Exec("ROLLBACK");
        fail_all(e);
        return;
      }
    }
  }
  if (auto c = Exec("COMMIT"); !c) {
    (void)Exec("ROLLBACK");
    fail_all(c.error());
    return;
  }
  for (auto* p : batch) {
    if (!p->result) continue;
    evicted_events_ += p->ev.events;
    evicted_bytes_ += p->ev.bytes;
  }
  depth_gauge_.Set(static_cast<double>(total_entries_));
  bytes_gauge_.Set(static_cast<double>(total_bytes_));
  commits_total_.Inc();
}

Result<std::vector<OutboxEntry>> Outbox::Next(int64_t after_seq, int limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Load("SELECT seq, kind, event_id, phase, camera_id, created_ms, body, bytes FROM "
              "entries WHERE seq>? ORDER BY seq LIMIT ?",
              after_seq, limit);
}

Result<std::vector<OutboxEntry>> Outbox::WithPendingMedia(int64_t after_seq, int limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Load("SELECT seq, kind, event_id, phase, camera_id, created_ms, body, bytes FROM "
              "entries WHERE seq IN (SELECT DISTINCT seq FROM media WHERE seq>? AND state=0 "
              "ORDER BY seq LIMIT ?) ORDER BY seq",
              after_seq, limit);
}

Result<std::vector<OutboxEntry>> Outbox::Load(const char* sql, int64_t after_seq,
                                              int limit) const {
  std::vector<OutboxEntry> out;
  LINLI_ASSIGN_OR_RETURN(Stmt q, Stmt::Prepare(db_, sql));
  q.Bind(1, after_seq);
  q.Bind(2, static_cast<int64_t>(std::max(limit, 0)));
  for (;;) {
    LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    OutboxEntry e;
    e.seq = q.Int(0);
    e.kind = q.Int(1) == 1 ? EntryKind::kNotice : EntryKind::kEvent;
    e.event_id = q.Text(2);
    e.phase = q.Text(3);
    e.camera_id = q.Text(4);
    e.created_ms = q.Int(5);
    e.body = q.Text(6);
    e.bytes = q.Int(7);
    out.push_back(std::move(e));
  }
  LINLI_ASSIGN_OR_RETURN(
      Stmt mq, Stmt::Prepare(db_, "SELECT media_id, role, content_type, file, bytes, state FROM "
                                  "media WHERE seq=? ORDER BY rowid"));
  for (auto& e : out) {
    mq.Bind(1, e.seq);
    for (;;) {
      LINLI_ASSIGN_OR_RETURN(bool row, mq.Step());
      if (!row) break;
      OutboxMedia m;
      m.media_id = mq.Text(0);
      m.role = mq.Text(1);
      m.content_type = mq.Text(2);
      m.path = media_dir_ + "/" + mq.Text(3);
      m.bytes = mq.Int(4);
      m.state = mq.Int(5) == 1 ? MediaState::kUploaded : MediaState::kPending;
      e.media.push_back(std::move(m));
    }
    mq.Reset();
  }
  return out;
}

bool Outbox::Contains(int64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto q = Stmt::Prepare(db_, "SELECT 1 FROM entries WHERE seq=?");
  if (!q) return false;
  q->Bind(1, seq);
  auto row = q->Step();
  return row && *row;
}

Result<void> Outbox::SetCommitDurability(bool full) {
  if (full == full_sync_) return {};
  LINLI_RETURN_IF_ERROR(Exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  full_sync_ = full;
  return {};
}

Result<void> Outbox::MarkMediaUploaded(const std::string& media_id) {
  std::lock_guard<std::mutex> lock(mu_);
  // Not fsync'd: losing this mark (power cut) only repeats an idempotent upload, because the
  // file stays until its entry's removal, and that removal is a FULL commit (see Remove()),
  // which syncs this mark along with it.
  LINLI_RETURN_IF_ERROR(SetCommitDurability(false));
  LINLI_ASSIGN_OR_RETURN(Stmt q, Stmt::Prepare(db_, "UPDATE media SET state=1 WHERE media_id=?"));
  q.Bind(1, media_id);
  auto r = q.Run();
  auto back = SetCommitDurability(true);
  if (!r) return r;
  return back;
}

Result<void> Outbox::MarkMediaDead(const std::string& media_id, int http_status,
                                   const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  LINLI_ASSIGN_OR_RETURN(
      Stmt q, Stmt::Prepare(db_, "SELECT m.seq, m.role, m.content_type, m.file, m.bytes, "
                                 "e.event_id, e.camera_id, e.body, e.bytes FROM media m JOIN "
                                 "entries e ON e.seq=m.seq WHERE m.media_id=?"));
  q.Bind(1, media_id);
  LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return {};  // evicted or removed meanwhile
  int64_t seq = q.Int(0);
  std::string role = q.Text(1);
  int64_t media_bytes = q.Int(4);
  std::string body = q.Text(7);
  const int64_t old_body_size = static_cast<int64_t>(body.size());
  int64_t entry_bytes = q.Int(8);
  auto parsed = ParseJson(body);
  if (parsed && parsed->is_object() && (*parsed)["data"].is_object()) {
    (*parsed)["data"].erase(role);
    body = DumpJson(*parsed);
  }
  auto txn = [&]() -> Result<void> {
    LINLI_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    LINLI_ASSIGN_OR_RETURN(
        Stmt ins, Stmt::Prepare(db_, "INSERT OR REPLACE INTO dead_media(media_id, event_id, "
                                     "camera_id, role, content_type, file, bytes, http_status, "
                                     "error, created_ms) VALUES(?,?,?,?,?,?,?,?,?,?)"));
    ins.Bind(1, media_id);
    ins.Bind(2, q.Text(5));
    ins.Bind(3, q.Text(6));
    ins.Bind(4, role);
    ins.Bind(5, q.Text(2));
    ins.Bind(6, q.Text(3));
    ins.Bind(7, media_bytes);
    ins.Bind(8, static_cast<int64_t>(http_status));
    ins.Bind(9, error.substr(0, 1000));
    ins.Bind(10, clock_.NowMs());
    LINLI_RETURN_IF_ERROR(ins.Run());
    LINLI_ASSIGN_OR_RETURN(Stmt del, Stmt::Prepare(db_, "DELETE FROM media WHERE media_id=?"));
    del.Bind(1, media_id);
    LINLI_RETURN_IF_ERROR(del.Run());
    int64_t new_entry_bytes =
        entry_bytes - media_bytes - (old_body_size - static_cast<int64_t>(body.size()));
    LINLI_ASSIGN_OR_RETURN(Stmt up, Stmt::Prepare(db_, "UPDATE entries SET body=?, bytes=? WHERE seq=?"));
    up.Bind(1, body);
    up.Bind(2, new_entry_bytes);
    up.Bind(3, seq);
    LINLI_RETURN_IF_ERROR(up.Run());
    LINLI_RETURN_IF_ERROR(Exec("COMMIT"));
    total_bytes_ += new_entry_bytes - entry_bytes + media_bytes;
    ++dead_letters_;
    return {};
  };
  auto r = txn();
  if (!r) {
    (void)Exec("ROLLBACK");
    return r;
  }
  dead_letters_total_.Inc();
  bytes_gauge_.Set(static_cast<double>(total_bytes_));
  return {};
}

Result<void> Outbox::MarkPublished(int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  LINLI_ASSIGN_OR_RETURN(Stmt q, Stmt::Prepare(db_, "UPDATE entries SET published=1 WHERE seq=?"));
  q.Bind(1, seq);
  return q.Run();
}

Result<void> Outbox::Remove(int64_t seq) { return Remove(std::vector<int64_t>{seq}); }

Result<void> Outbox::Remove(const std::vector<int64_t>& seqs) {
  if (seqs.empty()) return {};
  std::vector<std::string> files;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t bytes = 0, entries = 0;
    // Which files go with these entries decides how durable the commit must be (the
    // connection is ours and we hold mu_, so nothing changes between this and the commit).
    auto find_files = [&]() -> Result<void> {
      LINLI_ASSIGN_OR_RETURN(Stmt f, Stmt::Prepare(db_, "SELECT file FROM media WHERE seq=?"));
      for (int64_t seq : seqs) {
        f.Reset();
        f.Bind(1, seq);
        for (;;) {
          LINLI_ASSIGN_OR_RETURN(bool frow, f.Step());
          if (!frow) break;
          files.push_back(media_dir_ + "/" + f.Text(0));
        }
      }
      return {};
    };
    if (auto ff = find_files(); !ff) return ff;
    // Removal of entries without media is committed without fsync (synchronous=NORMAL in WAL
    // mode: atomic and crash-safe, but the last commits may be lost with a power cut). That is
    // safe because an entry is removed only after the broker's PUBACK: the platform has it
    // already, and a lost removal only means that the step is sent again with the same id and
    // bytes, which the platform's id de-duplication ignores. The next FULL commit (any
    // Append) syncs the WAL up to it anyway. Removals that delete media files stay FULL: the
    // files are unlinked right after the commit, and a removal rolled back by a power cut must
    // not leave rows pointing at deleted files.
    if (auto d = SetCommitDurability(!files.empty()); !d) return d;
    auto txn = [&]() -> Result<void> {
      LINLI_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
      LINLI_ASSIGN_OR_RETURN(Stmt q, Stmt::Prepare(db_, "SELECT bytes FROM entries WHERE seq=?"));
      LINLI_ASSIGN_OR_RETURN(Stmt dm, Stmt::Prepare(db_, "DELETE FROM media WHERE seq=?"));
      LINLI_ASSIGN_OR_RETURN(Stmt de, Stmt::Prepare(db_, "DELETE FROM entries WHERE seq=?"));
      for (int64_t seq : seqs) {
        q.Reset();
        q.Bind(1, seq);
        LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) continue;  // evicted or removed already
        bytes += q.Int(0);
        ++entries;
        dm.Reset();
        dm.Bind(1, seq);
        LINLI_RETURN_IF_ERROR(dm.Run());
        de.Reset();
        de.Bind(1, seq);
        LINLI_RETURN_IF_ERROR(de.Run());
      }
      return Exec("COMMIT");
    };
    auto r = txn();
    if (!r) {
      (void)Exec("ROLLBACK");
      files.clear();
    }
    auto back = SetCommitDurability(true);  // Append() and the rest rely on FULL
    if (!r) return r;
    if (!back) return back;
    total_bytes_ -= bytes;
    total_entries_ -= entries;
    depth_gauge_.Set(static_cast<double>(total_entries_));
    bytes_gauge_.Set(static_cast<double>(total_bytes_));
  }
  for (const auto& f : files) Unlink(f);
  return {};
}

OutboxStats Outbox::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  OutboxStats s;
  s.entries = total_entries_;
  s.bytes = total_bytes_;
  s.dead_letters = dead_letters_;
  s.evicted_events = evicted_events_;
  s.evicted_bytes = evicted_bytes_;
  auto q = Stmt::Prepare(db_, "SELECT created_ms FROM entries ORDER BY seq LIMIT 1");
  if (q) {
    auto row = q->Step();
    if (row && *row) s.oldest_ms = q->Int(0);
  }
  oldest_gauge_.Set(static_cast<double>(s.oldest_ms) / 1000.0);
  return s;
}

Result<std::vector<DeadLetter>> Outbox::DeadLetters(int limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  LINLI_ASSIGN_OR_RETURN(
      Stmt q, Stmt::Prepare(db_, "SELECT media_id, event_id, camera_id, role, content_type, file, "
                                 "bytes, http_status, error, created_ms FROM dead_media ORDER BY "
                                 "created_ms, rowid LIMIT ?"));
  q.Bind(1, static_cast<int64_t>(limit));
  std::vector<DeadLetter> out;
  for (;;) {
    LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    DeadLetter d;
    d.media_id = q.Text(0);
    d.event_id = q.Text(1);
    d.camera_id = q.Text(2);
    d.role = q.Text(3);
    d.content_type = q.Text(4);
    d.path = media_dir_ + "/" + q.Text(5);
    d.bytes = q.Int(6);
    d.http_status = static_cast<int>(q.Int(7));
    d.error = q.Text(8);
    d.created_ms = q.Int(9);
    out.push_back(std::move(d));
  }
  return out;
}

Result<int64_t> Outbox::PurgeDeadLetters() {
  std::vector<std::string> files;
  int64_t n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    LINLI_ASSIGN_OR_RETURN(Stmt q, Stmt::Prepare(db_, "SELECT file, bytes FROM dead_media"));
    int64_t bytes = 0;
    for (;;) {
      LINLI_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      files.push_back(media_dir_ + "/" + q.Text(0));
      bytes += q.Int(1);
      ++n;
    }
    LINLI_RETURN_IF_ERROR(Exec("DELETE FROM dead_media"));
    total_bytes_ -= bytes;
    dead_letters_ = 0;
    bytes_gauge_.Set(static_cast<double>(total_bytes_));
  }
  for (const auto& f : files) Unlink(f);
  return n;
}

}  // namespace linli::edge
