// Outbox: the edge box's local store-and-forward queue. Every event step and its media land
// here first (SQLite in WAL mode with synchronous=FULL + one file per media item), and the
// uplink sends them from here in order, removing an entry only after the broker confirmed it.
// Marks that only save work (media uploaded, entry removed without media files) are committed
// without fsync: a power cut may undo them, which repeats an idempotent upload or publish.
//
// Layout of `dir`:  outbox.db (+ -wal, -shm), media/<media id>.<ext>, LOCK (flock: one process).
//
// Guarantees:
//   - Append() returns only after the entry and its media files are durable (fsync'd files,
//     committed transaction): a process kill or power cut after Append() loses nothing.
//     Appends are group-committed: those that arrive while a commit is running (other camera
//     threads) wait for it and then share the next transaction and its fsync, each entry in a
//     savepoint of its own (one that cannot be stored fails alone). A lone append commits at
//     once; after a commit of several, the next one waits up to 0.5 ms for as many appends.
//   - Entries are handed out in `seq` order; `seq` strictly increases for the life of the
//     outbox file (SQLite AUTOINCREMENT never reuses a value).
//   - Quota: the sum of entry bytes (message body + media files) and dead-letter media bytes
//     stays <= quota_bytes, and the number of entries <= max_entries. To make room, Append()
//     evicts the oldest dead letters first, then the oldest event entries (oldest-first), and
//     records what it dropped in an `edge.outbox_evicted` notice entry, which is itself queued
//     for the platform (notices are never evicted; an unsent notice absorbs later evictions).
//     Each eviction bumps linli_edge_outbox_evicted_{events,bytes}_total and logs at WARN.
//   - Media that the platform refused permanently become dead letters: the row moves to the
//     dead-letter table and the file stays, so an operator can inspect it (DeadLetters()).
//   - A corrupt database file is moved aside (outbox.db.corrupt-<ms>) and a fresh one started,
//     logged at ERROR; orphan media files (a crash between file write and commit) are deleted
//     at Open().
//
// Ownership: the Outbox owns its SQLite connection and the files under `dir`.
// Thread-safety: every method may be called from any thread (one internal mutex); Append() from
// camera threads and the sender's calls interleave safely.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/result.h"

struct sqlite3;

namespace linli::edge {

struct OutboxOptions {
  std::string dir;                              // created if missing
  int64_t quota_bytes = 2LL * 1024 * 1024 * 1024;  // entries + dead letters
  int64_t max_entries = 1'000'000;
  // Tests: called by the committing thread before each group commit of appends, with the
  // number of appends it holds (see Append()).
  std::function<void(size_t appends)> on_group_commit;
};

// A media item to store with an entry: either `bytes` in memory or a file at `source_path`.
struct NewMedia {
  std::string role;          // "snapshot", "snapshot_annotated", "clip"
  std::string content_type;  // "image/jpeg", "video/mp4", "video/x-msvideo"
  std::string bytes;         // content, when source_path is empty
  std::string source_path;   // a file to take instead of `bytes`
  bool move_source = false;  // rename the file into the outbox (same filesystem) instead of copying
};

enum class EntryKind { kEvent, kNotice };

// What the pipeline side appends.
struct NewEntry {
  EntryKind kind = EntryKind::kEvent;
  std::string event_id;   // the event's id (a UUID); all steps of one event share it
  std::string phase;      // "begin", "update", "end"
  std::string camera_id;  // may be empty (box-level events)
  // The MQTT message without its "id": {"ts", "type", "data": {...}}. Media references are
  // filled in by Append(): data[role] = media id for every media item.
  std::string body;
  std::vector<NewMedia> media;
};

enum class MediaState { kPending = 0, kUploaded = 1 };

struct OutboxMedia {
  std::string media_id;
  std::string role;
  std::string content_type;
  std::string path;  // absolute path of the file
  int64_t bytes = 0;
  MediaState state = MediaState::kPending;
};

struct OutboxEntry {
  int64_t seq = 0;
  EntryKind kind = EntryKind::kEvent;
  std::string event_id;
  std::string phase;
  std::string camera_id;
  int64_t created_ms = 0;
  std::string body;  // with media references; see MessageId()
  int64_t bytes = 0;
  std::vector<OutboxMedia> media;
  // "<event id>:<phase>:<seq>": the MQTT message id, stable across resends.
  std::string MessageId() const;
};

struct DeadLetter {
  std::string media_id;
  std::string event_id;
  std::string camera_id;
  std::string role;
  std::string content_type;
  std::string path;
  int64_t bytes = 0;
  int http_status = 0;  // 0 when the failure was not an HTTP answer (file missing, ...)
  std::string error;
  int64_t created_ms = 0;
};

struct OutboxStats {
  int64_t entries = 0;         // queued entries (events and notices)
  int64_t bytes = 0;           // entry bytes + dead-letter bytes (what the quota counts)
  int64_t dead_letters = 0;    // media items kept as dead letters
  int64_t evicted_events = 0;  // since the outbox was created (persisted)
  int64_t evicted_bytes = 0;
  int64_t oldest_ms = 0;       // created_ms of the oldest queued entry, 0 if empty
};

class Outbox {
 public:
  // Opens or creates the outbox in options.dir. FailedPrecondition if another process holds
  // it; InvalidArgument for bad options; Unavailable for I/O errors.
  static Result<std::unique_ptr<Outbox>> Open(const OutboxOptions& options,
                                              Clock& clock = SystemClock());
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Stores an entry and its media durably; returns its seq. ResourceExhausted if the entry
  // alone is larger than the quota; InvalidArgument for a malformed body or media; Unavailable
  // on I/O errors (nothing is stored then).
  Result<int64_t> Append(NewEntry entry);

  // Up to `limit` queued entries with seq > after_seq, in seq order.
  Result<std::vector<OutboxEntry>> Next(int64_t after_seq, int limit) const;
  // The same, but only entries with at least one media item still to upload.
  Result<std::vector<OutboxEntry>> WithPendingMedia(int64_t after_seq, int limit) const;
  // Whether an entry is still queued (not sent-and-removed, not evicted).
  bool Contains(int64_t seq) const;

  Result<void> MarkMediaUploaded(const std::string& media_id);
  // Moves a media item to the dead letters (its file stays) and removes its reference from
  // the entry's body, so that the event is published without it.
  Result<void> MarkMediaDead(const std::string& media_id, int http_status,
                             const std::string& error);
  // Notices only: once published, a notice no longer absorbs later evictions (its content
  // must not change under an id the platform may already have).
  Result<void> MarkPublished(int64_t seq);
  // Removes a confirmed entry with its uploaded media files. Succeeds if it is already gone.
  // Not power-cut durable when no media file goes with it (see outbox.cc): a removal lost to a
  // power cut makes the step go out again with the same id, which the platform ignores.
  Result<void> Remove(int64_t seq);
  // The same for several entries in one transaction (group commit for a burst of PUBACKs).
  Result<void> Remove(const std::vector<int64_t>& seqs);

  // Also sets the linli_edge_outbox_oldest_created_seconds gauge.
  OutboxStats Stats() const;
  // Appends waiting for the group commit after the one running now.
  size_t QueuedAppends() const;
  Result<std::vector<DeadLetter>> DeadLetters(int limit = 1000) const;
  // Deletes dead letters (and their files); returns how many.
  Result<int64_t> PurgeDeadLetters();

  // Called (without the outbox lock held) after every successful Append(); the sender uses it
  // to wake up. Set before concurrent use.
  void SetAppendListener(std::function<void()> listener);

  const std::string& dir() const { return dir_; }

 private:
  Outbox(OutboxOptions options, Clock& clock);
  Result<void> Init();
  Result<void> OpenDb(bool* corrupt);
  Result<void> Exec(const char* sql);
  // synchronous=FULL (every commit fsync'd: the default, what Append() promises) or NORMAL (no
  // fsync at commit; for marks whose loss only causes a harmless resend). Outside transactions.
  Result<void> SetCommitDurability(bool full);
  Result<void> CleanOrphans();
  // Runs `sql` (binds: after_seq, limit; selects the entry columns) and loads each entry's
  // media. Caller holds mu_.
  Result<std::vector<OutboxEntry>> Load(const char* sql, int64_t after_seq, int limit) const;
  Result<void> LoadTotals();
  // Inside an open transaction: evicts until `need` more bytes and one more entry fit.
  struct Eviction {
    int64_t events = 0;
    int64_t bytes = 0;
    int64_t dead_letters = 0;
    int64_t from_ms = 0;
    int64_t to_ms = 0;
    std::vector<std::string> files;  // to unlink after commit
  };
  Result<void> EvictFor(int64_t need, Eviction* ev);
  Result<void> RecordNotice(const Eviction& ev);
  Result<int64_t> InsertEntry(const NewEntry& e, const std::string& body, int64_t bytes,
                              const std::vector<OutboxMedia>& media);
  // An append waiting for (or in) a group commit; lives on the appending thread's stack.
  struct PendingAppend {
    const NewEntry* entry = nullptr;
    std::string body;  // with media references
    int64_t bytes = 0;
    const std::vector<OutboxMedia>* media = nullptr;
    Result<int64_t> result = 0;
    Eviction ev;
    bool done = false;  // commit_mu_
  };
  // One transaction (takes mu_) for the whole batch; fills each request's result and eviction.
  void CommitBatch(const std::vector<PendingAppend*>& batch);

  const OutboxOptions opts_;
  Clock& clock_;
  std::string dir_;
  std::string media_dir_;
  int lock_fd_ = -1;

  mutable std::mutex mu_;
  sqlite3* db_ = nullptr;
  bool full_sync_ = true;  // the connection's synchronous setting (FULL after OpenDb)
  int64_t total_bytes_ = 0;
  int64_t total_entries_ = 0;
  int64_t dead_letters_ = 0;
  int64_t evicted_events_ = 0;
  int64_t evicted_bytes_ = 0;
  std::function<void()> listener_;

  // Group commit of appends: the queue of requests waiting for the next commit, and whether a
  // thread (the leader) is committing. Lock order: commit_mu_ is never held while taking mu_.
  mutable std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::vector<PendingAppend*> commit_queue_;
  bool committing_ = false;
  size_t last_batch_ = 0;  // size of the last group commit

  metrics::Counter& evicted_events_total_;
  metrics::Counter& evicted_bytes_total_;
  metrics::Counter& dead_letters_total_;
  metrics::Counter& appended_total_;
  metrics::Counter& rejected_total_;
  metrics::Gauge& depth_gauge_;
  metrics::Gauge& bytes_gauge_;
  metrics::Gauge& oldest_gauge_;
  metrics::Counter& commits_total_;
};

}  // namespace linli::edge
