// Outbox on a real SQLite file and real media files in a temporary directory.
#include "edge/uplink/outbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "common/json.h"
#include "common/metrics.h"

namespace linli::edge {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "outbox-test-XXXXXX").string();
    path_ = ::mkdtemp(t.data()) != nullptr ? t : "";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Jpeg(size_t n, char fill) {
  std::string s(n, fill);
  s[0] = '\xFF';
  s[1] = '\xD8';
  s[2] = '\xFF';
  return s;
}

NewEntry Step(const std::string& event_id, const std::string& phase, size_t media_bytes = 0) {
  NewEntry e;
  e.event_id = event_id;
  e.phase = phase;
  e.camera_id = "cam-1";
  e.body = DumpJson(Json{{"ts", 1}, {"type", "vision.test"}, {"data", {{"event_id", event_id}}}});
  if (media_bytes > 0) {
    e.media.push_back({"snapshot", "image/jpeg", Jpeg(media_bytes, 'a'), "", false});
  }
  return e;
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for (const auto& de : fs::directory_iterator(dir)) {
    (void)de;
    ++n;
  }
  return n;
}

class OutboxTest : public ::testing::Test {
 protected:
  std::unique_ptr<Outbox> Open(int64_t quota = 1 << 20, int64_t max_entries = 1000) {
    OutboxOptions o;
    o.dir = dir_.path() + "/outbox";
    o.quota_bytes = quota;
    o.max_entries = max_entries;
    auto r = Outbox::Open(o, clock_);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? std::move(*r) : nullptr;
  }
  std::string MediaDir() const { return dir_.path() + "/outbox/media"; }

  TempDir dir_;
  SimulatedClock clock_{1'800'000'000'000};
};

// The oldest entry's creation time is exported as a gauge (its age is what an operator
// alerts on while the uplink is down): it follows the oldest queued entry, 0 when empty.
TEST_F(OutboxTest, OldestEntryGaugeFollowsTheQueue) {
  auto& oldest = metrics::Default().GetGauge("linli_edge_outbox_oldest_created_seconds", "");
  auto ob = Open();
  ASSERT_TRUE(ob);
  ob->Stats();
  EXPECT_EQ(oldest.Value(), 0);
  auto s1 = ob->Append(Step("e1", "begin"));
  clock_.AdvanceMs(5000);
  auto s2 = ob->Append(Step("e2", "begin"));
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(ob->Stats().oldest_ms, 1'800'000'000'000);
  EXPECT_EQ(oldest.Value(), 1'800'000'000.0);
  ASSERT_TRUE(ob->Remove(std::vector<int64_t>{*s1}));
  ob->Stats();
  EXPECT_EQ(oldest.Value(), 1'800'000'005.0);
  ASSERT_TRUE(ob->Remove(std::vector<int64_t>{*s2}));
  ob->Stats();
  EXPECT_EQ(oldest.Value(), 0);
}

// What the media thread reads: only entries with media still to upload, in order; an entry
// leaves that list once each of its items is uploaded or dead-lettered. Removals with and
// without media files (the latter committed without fsync) keep the accounting and the files
// right, and the connection is back at FULL for the next Append (it survives a reopen).
TEST_F(OutboxTest, PendingMediaListAndRemovalsOfEitherDurability) {
  auto ob = Open();
  ASSERT_TRUE(ob);
  auto s1 = ob->Append(Step("e1", "begin"));
  auto s2 = ob->Append(Step("e2", "begin", 100));
  auto s3 = ob->Append(Step("e3", "begin"));
  auto s4 = ob->Append(Step("e4", "begin", 200));
  auto s5 = ob->Append(Step("e5", "begin", 300));
  ASSERT_TRUE(s1 && s2 && s3 && s4 && s5);
  auto pending = ob->WithPendingMedia(0, 10);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].seq, *s2);
  EXPECT_EQ((*pending)[1].seq, *s4);
  EXPECT_EQ((*pending)[2].seq, *s5);
  ASSERT_EQ((*pending)[0].media.size(), 1u);
  EXPECT_EQ((*pending)[0].media[0].state, MediaState::kPending);
  auto limited = ob->WithPendingMedia(*s2, 1);
  ASSERT_TRUE(limited);
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].seq, *s4);

  ASSERT_TRUE(ob->MarkMediaUploaded((*pending)[0].media[0].media_id));
  ASSERT_TRUE(ob->MarkMediaDead((*pending)[1].media[0].media_id, 400, "refused"));
  pending = ob->WithPendingMedia(0, 10);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].seq, *s5);

  // e1 and e3 have no files (a NORMAL commit); e2 has an uploaded file (FULL).
  ASSERT_TRUE(ob->Remove(std::vector<int64_t>{*s1, *s3}));
  ASSERT_TRUE(ob->Remove(std::vector<int64_t>{*s2}));
  EXPECT_EQ(ob->Stats().entries, 2);
  EXPECT_EQ(FilesIn(MediaDir()), 2u) << "e4's dead letter and e5's pending file";
  auto s6 = ob->Append(Step("e6", "begin"));
  ASSERT_TRUE(s6);
  const int64_t bytes = ob->Stats().bytes;
  ob.reset();
  ob = Open();
  ASSERT_TRUE(ob);
  EXPECT_EQ(ob->Stats().entries, 3);
  EXPECT_EQ(ob->Stats().bytes, bytes);
  auto left = ob->Next(0, 10);
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 3u);
  EXPECT_EQ((*left)[0].seq, *s4);
  EXPECT_TRUE((*left)[0].media.empty()) << "dead-lettered, reference gone";
  EXPECT_EQ((*left)[1].seq, *s5);
  EXPECT_EQ((*left)[2].seq, *s6);
}

TEST_F(OutboxTest, EntriesComeOutInOrderWithMediaReferences) {
  auto ob = Open();
  std::vector<int64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    auto s = ob->Append(Step("ev" + std::to_string(i), "begin", 100 + i));
    ASSERT_TRUE(s) << s.error().ToString();
    seqs.push_back(*s);
  }
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  auto all = ob->Next(0, 100);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const OutboxEntry& e = (*all)[i];
    EXPECT_EQ(e.seq, seqs[i]);
    EXPECT_EQ(e.event_id, "ev" + std::to_string(i));
    EXPECT_EQ(e.MessageId(), "ev" + std::to_string(i) + ":begin:" + std::to_string(e.seq));
    ASSERT_EQ(e.media.size(), 1u);
    EXPECT_EQ(e.media[0].bytes, 100 + i);
    EXPECT_EQ(e.media[0].state, MediaState::kPending);
    EXPECT_EQ(fs::file_size(e.media[0].path), static_cast<uintmax_t>(100 + i));
    auto body = ParseJson(e.body);
    ASSERT_TRUE(body);
    EXPECT_EQ((*body)["data"]["snapshot"], e.media[0].media_id);
  }
  // Paging from a cursor.
  auto tail = ob->Next(seqs[2], 10);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].seq, seqs[3]);
  EXPECT_EQ(ob->Stats().entries, 5);
}

TEST_F(OutboxTest, RemoveDeletesEntryAndItsFiles) {
  auto ob = Open();
  auto s = ob->Append(Step("ev", "begin", 1000));
  ASSERT_TRUE(s);
  EXPECT_EQ(FilesIn(MediaDir()), 1u);
  ASSERT_TRUE(ob->MarkMediaUploaded(ob->Next(0, 1)->at(0).media[0].media_id));
  EXPECT_EQ(ob->Next(0, 1)->at(0).media[0].state, MediaState::kUploaded);
  ASSERT_TRUE(ob->Remove(*s));
  EXPECT_FALSE(ob->Contains(*s));
  EXPECT_EQ(FilesIn(MediaDir()), 0u);
  EXPECT_EQ(ob->Stats().entries, 0);
  EXPECT_EQ(ob->Stats().bytes, 0);
  EXPECT_TRUE(ob->Remove(*s));  // idempotent
  // A burst in one transaction, with seqs already gone mixed in.
  std::vector<int64_t> burst;
  for (int i = 0; i < 5; ++i) burst.push_back(*ob->Append(Step("b" + std::to_string(i), "begin", 10)));
  ASSERT_TRUE(ob->Remove({burst[0], *s, burst[2], burst[4], 999999}));
  auto left = ob->Next(0, 10);
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].event_id, "b1");
  EXPECT_EQ((*left)[1].event_id, "b3");
  EXPECT_EQ(ob->Stats().entries, 2);
  EXPECT_EQ(FilesIn(MediaDir()), 2u);
}

TEST_F(OutboxTest, SurvivesReopenAndRefusesASecondUser) {
  int64_t bytes = 0;
  {
    auto ob = Open();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ob->Append(Step("ev" + std::to_string(i), "end", 50)));
    bytes = ob->Stats().bytes;
    OutboxOptions o;
    o.dir = dir_.path() + "/outbox";
    auto second = Outbox::Open(o, clock_);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), ErrorCode::kFailedPrecondition);
  }
  auto ob = Open();
  EXPECT_EQ(ob->Stats().entries, 3);
  EXPECT_EQ(ob->Stats().bytes, bytes);
  auto all = ob->Next(0, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[2].event_id, "ev2");
  // Seqs keep increasing after a reopen, even when the queue was emptied.
  int64_t last = (*all)[2].seq;
  for (const auto& e : *all) ASSERT_TRUE(ob->Remove(e.seq));
  auto s = ob->Append(Step("later", "begin"));
  ASSERT_TRUE(s);
  EXPECT_GT(*s, last);
}

TEST_F(OutboxTest, QuotaEvictsOldestFirstAndQueuesANotice) {
  const int64_t quota = 64 * 1024;
  auto ob = Open(quota);
  std::vector<int64_t> seqs;
  for (int i = 0; i < 20; ++i) {
    clock_.AdvanceMs(1000);
    auto s = ob->Append(Step("ev" + std::to_string(i), "begin", 8000));
    ASSERT_TRUE(s) << s.error().ToString();
    seqs.push_back(*s);
    EXPECT_LE(ob->Stats().bytes, quota);
  }
  OutboxStats st = ob->Stats();
  EXPECT_GT(st.evicted_events, 0);
  auto all = ob->Next(0, 100);
  ASSERT_TRUE(all);
  std::vector<std::string> events;
  const OutboxEntry* notice = nullptr;
  for (const auto& e : *all) {
    if (e.kind == EntryKind::kNotice) {
      ASSERT_EQ(notice, nullptr) << "one notice absorbs all evictions while unsent";
      notice = &e;
    } else {
      events.push_back(e.event_id);
    }
  }
  // The newest entries survive, contiguous up to the last one.
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "ev19");
  size_t kept = events.size();
  EXPECT_EQ(static_cast<int64_t>(kept) + st.evicted_events, 20);
  for (size_t i = 0; i < kept; ++i) EXPECT_EQ(events[i], "ev" + std::to_string(20 - kept + i));
  // Media files of evicted entries are gone.
  EXPECT_EQ(FilesIn(MediaDir()), kept);
  ASSERT_NE(notice, nullptr);
  auto body = ParseJson(notice->body);
  ASSERT_TRUE(body);
  EXPECT_EQ((*body)["type"], "edge.outbox_evicted");
  const Json& d = (*body)["data"];
  EXPECT_EQ(d["events"].get<int64_t>(), st.evicted_events);
  EXPECT_EQ(d["bytes"].get<int64_t>(), st.evicted_bytes);
  // ev0 was stored at +1 s, the last evicted at +evicted s.
  EXPECT_EQ(d["from_ms"].get<int64_t>(), 1'800'000'001'000);
  EXPECT_EQ(d["to_ms"].get<int64_t>(), 1'800'000'000'000 + 1000 * st.evicted_events);
  EXPECT_EQ(notice->MessageId().substr(notice->MessageId().find(':')), ":notice:" + std::to_string(notice->seq));
}

TEST_F(OutboxTest, PublishedNoticeIsNotChangedByLaterEvictions) {
  auto ob = Open(64 * 1024);
  auto fill = [&](int from, int n) {
    for (int i = from; i < from + n; ++i) ASSERT_TRUE(ob->Append(Step("ev" + std::to_string(i), "begin", 8000)));
  };
  fill(0, 12);
  auto notices = [&] {
    std::vector<OutboxEntry> out;
    auto all = ob->Next(0, 1000);
    for (auto& e : *all) {
      if (e.kind == EntryKind::kNotice) out.push_back(e);
    }
    return out;
  };
  auto first = notices();
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(ob->MarkPublished(first[0].seq));
  fill(12, 5);
  auto now = notices();
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].body, first[0].body) << "a published notice keeps its content";
  EXPECT_GT(ParseJson(now[1].body)->at("data").at("events").get<int64_t>(), 0);
}

TEST_F(OutboxTest, EntryLargerThanQuotaIsRefused) {
  auto ob = Open(64 * 1024);
  auto r = ob->Append(Step("big", "begin", 70 * 1024));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(FilesIn(MediaDir()), 0u);
  EXPECT_EQ(ob->Stats().entries, 0);
}

TEST_F(OutboxTest, MaxEntriesBoundsTheQueue) {
  auto ob = Open(1 << 20, 5);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(ob->Append(Step("ev" + std::to_string(i), "begin")));
  // 5 entries: the notice and the 4 newest.
  auto all = ob->Next(0, 100);
  ASSERT_TRUE(all);
  EXPECT_LE(all->size(), 6u);
  EXPECT_EQ(all->back().event_id, "ev9");
  EXPECT_EQ(ob->Stats().evicted_events + static_cast<int64_t>(all->size()) - 1, 10);
}

TEST_F(OutboxTest, DeadLetterDropsTheReferenceKeepsTheFileAndGoesFirstUnderPressure) {
  auto ob = Open(64 * 1024);
  NewEntry e = Step("ev", "begin", 20000);
  e.media.push_back({"snapshot_annotated", "image/jpeg", Jpeg(100, 'b'), "", false});
  auto s = ob->Append(e);
  ASSERT_TRUE(s);
  auto entry = ob->Next(0, 1)->at(0);
  const std::string dead_id = entry.media[0].media_id;
  const int64_t before = ob->Stats().bytes;
  ASSERT_TRUE(ob->MarkMediaDead(dead_id, 400, "HTTP 400: bad"));
  // The media bytes move to the dead letters; only the reference leaves the body.
  EXPECT_LT(ob->Stats().bytes, before);
  EXPECT_GT(ob->Stats().bytes, before - 100);
  auto after = ob->Next(0, 1)->at(0);
  ASSERT_EQ(after.media.size(), 1u);
  EXPECT_EQ(after.media[0].role, "snapshot_annotated");
  auto body = ParseJson(after.body);
  EXPECT_FALSE((*body)["data"].contains("snapshot"));
  EXPECT_TRUE((*body)["data"].contains("snapshot_annotated"));
  ASSERT_TRUE(ob->Remove(*s));
  auto dl = ob->DeadLetters();
  ASSERT_TRUE(dl);
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].media_id, dead_id);
  EXPECT_EQ((*dl)[0].http_status, 400);
  EXPECT_EQ((*dl)[0].event_id, "ev");
  EXPECT_TRUE(fs::exists((*dl)[0].path));
  EXPECT_EQ(ob->Stats().dead_letters, 1);
  // Under pressure the dead letter goes before any queued event.
  ASSERT_TRUE(ob->Append(Step("a", "begin", 20000)));
  ASSERT_TRUE(ob->Append(Step("b", "begin", 20000)));
  ASSERT_TRUE(ob->Append(Step("c", "begin", 10000)));
  EXPECT_EQ(ob->Stats().dead_letters, 0);
  EXPECT_FALSE(fs::exists((*dl)[0].path));
  std::vector<std::string> ids;
  auto rest = ob->Next(0, 10);
  for (auto& x : *rest) {
    if (x.kind == EntryKind::kEvent) ids.push_back(x.event_id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(OutboxTest, TakesOverClipFilesByMoveOrCopy) {
  auto ob = Open();
  std::string src = dir_.path() + "/clip.mp4";
  std::ofstream(src) << std::string(4, '\0') << "ftypisom-and-more";
  NewEntry e = Step("ev", "end");
  e.media.push_back({"clip", "video/mp4", "", src, true});
  ASSERT_TRUE(ob->Append(e));
  EXPECT_FALSE(fs::exists(src)) << "moved";
  std::string src2 = dir_.path() + "/clip2.avi";
  std::ofstream(src2) << "RIFF....AVI ";
  NewEntry e2 = Step("ev2", "end");
  e2.media.push_back({"clip", "video/x-msvideo", "", src2, false});
  ASSERT_TRUE(ob->Append(e2));
  EXPECT_TRUE(fs::exists(src2)) << "copied";
  auto all = ob->Next(0, 10);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].media[0].path.substr((*all)[1].media[0].path.size() - 4), ".avi");
  EXPECT_EQ(fs::file_size((*all)[1].media[0].path), 12u);
}

TEST_F(OutboxTest, BadInputIsRefusedWithTheFieldNamed) {
  auto ob = Open();
  NewEntry bad_body = Step("ev", "begin");
  bad_body.body = "not json";
  auto r1 = ob->Append(bad_body);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().field(), "body");
  NewEntry bad_role = Step("ev", "begin");
  bad_role.media.push_back({"thumbnail", "image/jpeg", Jpeg(10, 'x'), "", false});
  EXPECT_EQ(ob->Append(bad_role).error().field(), "media.role");
  NewEntry bad_type = Step("ev", "begin");
  bad_type.media.push_back({"clip", "video/webm", "x", "", false});
  EXPECT_EQ(ob->Append(bad_type).error().field(), "media.content_type");
  NewEntry missing = Step("ev", "begin");
  missing.media.push_back({"clip", "video/mp4", "", dir_.path() + "/nope.mp4", true});
  EXPECT_EQ(ob->Append(missing).error().field(), "media.source_path");
  NewEntry twice = Step("ev", "begin", 10);
  twice.media.push_back({"snapshot", "image/jpeg", Jpeg(10, 'y'), "", false});
  EXPECT_EQ(ob->Append(twice).error().field(), "media.role");
  EXPECT_EQ(ob->Stats().entries, 0);
  EXPECT_EQ(FilesIn(MediaDir()), 0u) << "no file is left behind by a refused entry";
}

TEST_F(OutboxTest, OrphanFilesAreRemovedAtOpen) {
  { auto ob = Open(); ASSERT_TRUE(ob->Append(Step("ev", "begin", 10))); }
  std::ofstream(MediaDir() + "/deadbeef.jpg") << "orphan of a crash before commit";
  std::ofstream(MediaDir() + "/x.tmp") << "half written";
  auto ob = Open();
  EXPECT_EQ(FilesIn(MediaDir()), 1u);
  EXPECT_EQ(ob->Stats().entries, 1);
}

TEST_F(OutboxTest, CorruptDatabaseIsMovedAsideAndANewOneStarted) {
  fs::create_directories(dir_.path() + "/outbox");
  {
    std::ofstream f(dir_.path() + "/outbox/outbox.db", std::ios::binary);
    f << std::string(8192, 'Z');
  }
  auto ob = Open();
  ASSERT_NE(ob, nullptr);
  EXPECT_TRUE(ob->Append(Step("ev", "begin")));
  bool aside = false;
  for (const auto& de : fs::directory_iterator(dir_.path() + "/outbox")) {
    aside |= de.path().filename().string().rfind("outbox.db.corrupt-", 0) == 0;
  }
  EXPECT_TRUE(aside);
}

// Group commit: appends that arrive while a commit runs wait for it and then share the next
// transaction; each returns only after its own commit, and all of them are there after a
// reopen. (The first commit is held by the test hook until five more appends are queued.)
TEST_F(OutboxTest, ConcurrentAppendsShareOneGroupCommitAndAreAllDurable) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<size_t> batches;
  OutboxOptions o;
  o.dir = dir_.path() + "/outbox";
  o.on_group_commit = [&](size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    batches.push_back(n);
    cv.notify_all();
    if (batches.size() == 1) cv.wait(lock, [&] { return release; });
  };
  auto& commits = metrics::Default().GetCounter("linli_edge_outbox_append_commits_total", "");
  const int64_t commits_before = commits.Value();
  {
    auto r = Outbox::Open(o, clock_);
    ASSERT_TRUE(r) << r.error().ToString();
    auto ob = std::move(*r);
    Result<int64_t> first = 0;
    std::thread a([&] { first = ob->Append(Step("ev-a", "begin")); });
    {
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return !batches.empty(); }));
    }
    std::vector<Result<int64_t>> rest(5, 0);
    std::vector<std::thread> others;
    for (int i = 0; i < 5; ++i) {
      others.emplace_back([&, i] { rest[i] = ob->Append(Step("ev-b" + std::to_string(i), "begin", 100)); });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (ob->QueuedAppends() < 5 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    EXPECT_EQ(ob->QueuedAppends(), 5u) << "the five wait for the running commit";
    {
      std::lock_guard<std::mutex> lock(mu);
      release = true;
      cv.notify_all();
    }
    a.join();
    for (auto& t : others) t.join();
    ASSERT_TRUE(first) << first.error().ToString();
    std::set<int64_t> seqs{*first};
    for (const auto& r2 : rest) {
      ASSERT_TRUE(r2) << r2.error().ToString();
      EXPECT_GT(*r2, *first);
      seqs.insert(*r2);
    }
    EXPECT_EQ(seqs.size(), 6u);
    EXPECT_EQ(batches, (std::vector<size_t>{1, 5}));
    EXPECT_EQ(commits.Value() - commits_before, 2);
    EXPECT_EQ(ob->Stats().entries, 6);
  }
  auto ob = Open();
  EXPECT_EQ(ob->Stats().entries, 6);
  EXPECT_EQ(FilesIn(MediaDir()), 5u);
}

// Many threads appending at once into a small quota: evictions inside a group commit keep the
// accounting and the files right.
TEST_F(OutboxTest, ConcurrentAppendsUnderQuotaPressureKeepTheAccounting) {
  const int64_t quota = 64 * 1024;
  auto ob = Open(quota);
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (!ob->Append(Step("ev" + std::to_string(t) + "-" + std::to_string(i), "begin", 8000))) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  OutboxStats st = ob->Stats();
  EXPECT_LE(st.bytes, quota);
  auto all = ob->Next(0, 100);
  ASSERT_TRUE(all);
  int64_t events = 0;
  for (const auto& e : *all) events += e.kind == EntryKind::kEvent;
  EXPECT_EQ(events + st.evicted_events, 40);
  EXPECT_EQ(FilesIn(MediaDir()), static_cast<size_t>(events));
  ob.reset();
  ob = Open(quota);
  EXPECT_EQ(ob->Stats().entries, st.entries);
  EXPECT_EQ(ob->Stats().bytes, st.bytes);
}

}  // namespace
}  // namespace linli::edge
