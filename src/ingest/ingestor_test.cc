#include "ingest/ingestor.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "common/clock.h"

namespace linli::ingest {
namespace {

namespace fs = std::filesystem;

class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("linli-ingestor-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store::SqliteOptions o;
    o.path = (dir_ / "linli.db").string();
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    model::Record d;
    d.kind = model::Kind::kDevice;
    d.id = "gas-1";
    d.compound_id = "c1";
    d.fields = {{"compound_id", "c1"}, {"kind", "gas_sensor"}};
    directory_.Load({d}, {});
    ingestor_ = std::make_unique<Ingestor>(store_.get(), &directory_, &clock_);
  }
  void TearDown() override {
    ingestor_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void Deliver(const std::string& channel, const std::string& payload, const std::string& device = "gas-1") {
    mqtt::Message m;
    m.topic = "linli/v1/c1/" + device + "/" + channel;
    m.payload = payload;
    m.qos = 1;
    ingestor_->OnMessage(m);
  }
  std::string Telemetry(int v) {
    return R"({"ts":)" + std::to_string(clock_.NowMs()) + R"(,"metrics":{"ch4_ppm":)" + std::to_string(v) + "}}";
  }
  std::string Event(const std::string& id) {
    return R"({"id":")" + id + R"(","type":"gas.leak","ts":)" + std::to_string(clock_.NowMs()) +
           R"(,"data":{"ch4_ppm":900}})";
  }
  std::vector<model::Event> Events() {
    store::EventQuery q;
    auto e = store_->QueryEvents(q);
    EXPECT_TRUE(e.has_value());
    return e.value_or(std::vector<model::Event>{});
  }

  fs::path dir_;
  SimulatedClock clock_{1'760'000'000'000};
  std::unique_ptr<store::Store> store_;
  DeviceDirectory directory_;
  std::unique_ptr<Ingestor> ingestor_;
};

TEST_F(IngestorTest, NothingIsStoredBeforeCommitAndEverythingAfter) {
  Deliver("up/telemetry", Telemetry(12));
  Deliver("up/event", Event("e-1"));
  EXPECT_TRUE(Events().empty());
  ASSERT_TRUE(ingestor_->Commit().has_value());
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, "e-1");
  EXPECT_EQ(events[0].compound_id, "c1");
  store::TelemetryQuery q;
  q.device_id = "gas-1";
  q.metric = "ch4_ppm";
  auto points = store_->QueryTelemetry(q);
  ASSERT_TRUE(points.has_value());
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ(std::get<double>((*points)[0].value), 12.0);
  EXPECT_EQ(directory_.Find("gas-1")->status, model::Presence::kOnline);
}

TEST_F(IngestorTest, RedeliveredEventIsStoredOnce) {
  Deliver("up/event", Event("e-1"));
  ASSERT_TRUE(ingestor_->Commit().has_value());
  Deliver("up/event", Event("e-1"));
  ASSERT_TRUE(ingestor_->Commit().has_value());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(IngestorTest, BadMessagesBecomeDeadLettersWithTheirReason) {
  Deliver("up/telemetry", "{not json");
  Deliver("up/telemetry", Telemetry(1), "ghost");
  Deliver("up/nonsense", Telemetry(1));
  Deliver("up/telemetry", R"({"metrics":{"bad name!":1}})");
  ASSERT_TRUE(ingestor_->Commit().has_value());
  auto dl = store_->ListDeadLetters(0, 100, 0);
  ASSERT_TRUE(dl.has_value());
  std::multiset<std::string> reasons;
  for (const auto& d : *dl) reasons.insert(d.reason);
  EXPECT_EQ(reasons.count("bad_payload"), 2u);
  EXPECT_EQ(reasons.count("unknown_device"), 1u);
  EXPECT_EQ(reasons.count("malformed_topic"), 1u);
  bool named = false;
  for (const auto& d : *dl) named = named || d.detail.find("metrics.bad name!") != std::string::npos;
  EXPECT_TRUE(named) << "the dead letter names the bad metric";
}

TEST_F(IngestorTest, AnEventAsksForACommitAfterAShortGraceNotBefore) {
  EXPECT_FALSE(ingestor_->CommitSoon());
  for (int i = 0; i < 100; ++i) Deliver("up/telemetry", Telemetry(i));
  EXPECT_FALSE(ingestor_->CommitSoon()) << "telemetry alone waits for the end of the burst";
  Deliver("up/event", Event("e-1"));
  for (int i = 0; i < Ingestor::kEventGrace - 1; ++i) {
    EXPECT_FALSE(ingestor_->CommitSoon()) << "after " << i << " more messages";
    Deliver("up/telemetry", Telemetry(i));
  }
  Deliver("up/telemetry", Telemetry(0));
  EXPECT_TRUE(ingestor_->CommitSoon());
  ASSERT_TRUE(ingestor_->Commit().has_value());
  EXPECT_FALSE(ingestor_->CommitSoon()) << "the grace starts again with the next event";
  Deliver("up/event", Event("e-2"));
  EXPECT_FALSE(ingestor_->CommitSoon());
}

// A listener that records the protocol and adds a write (a meta entry) to each commit, or a
// refused one.
class RecordingListener final : public CommitListener {
 public:
  explicit RecordingListener(store::Store* store) : store_(store) {}
  void Begin() override { calls.push_back("begin"); }
  const store::IncidentWrite* Evaluate(const CommittedBatch& b) override {
    calls.push_back("evaluate events=" + std::to_string(b.events.size()) + " acks=" + std::to_string(b.acks.size()));
    // Inside the transaction: a reader does not see the batch yet.
    visible_during = 0;
    store::EventQuery q;
    if (auto e = store_->QueryEvents(q)) visible_during = static_cast<int>(e->size());
    write = {};
    write.meta = {{refuse ? "" : "listener.seen", std::to_string(b.events.empty() ? 0 : b.events.back().seq)}};
    return &write;
  }
  void End(bool committed, const Result<void>& effects) override {
    calls.push_back(std::string("end committed=") + (committed ? "1" : "0") + " effects=" + (effects ? "ok" : "refused"));
  }
  store::Store* store_;
  std::vector<std::string> calls;
  store::IncidentWrite write;
  bool refuse = false;
  int visible_during = -1;
};

TEST_F(IngestorTest, TheListenersWritesCommitWithTheBurstAndARefusedOneDoesNotBlockIngest) {
  RecordingListener listener(store_.get());
  ingestor_->SetListener(&listener);
  Deliver("up/event", Event("e-1"));
  Deliver("up/ack", R"({"command_id":"cmd-1","ok":true})");
  ASSERT_TRUE(ingestor_->Commit().has_value());
  EXPECT_EQ(listener.calls, (std::vector<std::string>{"begin", "evaluate events=1 acks=1", "end committed=1 effects=ok"}));
  EXPECT_EQ(listener.visible_during, 0);
  ASSERT_EQ(Events().size(), 1u);
  auto seen = store_->GetMeta("listener.seen");
  ASSERT_TRUE(seen.has_value());
  EXPECT_NE(seen->value_or("0"), "0");  // the event's position, written in the same transaction

  // Acknowledgements alone still reach the listener (an empty batch with a follow-up).
  listener.calls.clear();
  Deliver("up/ack", R"({"command_id":"cmd-2","ok":true})");
  ASSERT_TRUE(ingestor_->Commit().has_value());
  EXPECT_EQ(listener.calls, (std::vector<std::string>{"begin", "evaluate events=0 acks=1", "end committed=1 effects=ok"}));

  // A refused write (an empty meta key) is reported; the burst is stored anyway.
  listener.calls.clear();
  listener.refuse = true;
  Deliver("up/event", Event("e-2"));
  ASSERT_TRUE(ingestor_->Commit().has_value());
  EXPECT_EQ(listener.calls, (std::vector<std::string>{"begin", "evaluate events=1 acks=0", "end committed=1 effects=refused"}));
  EXPECT_EQ(Events().size(), 2u);

  // Nothing to store and no acknowledgement: no transaction, no listener call.
  listener.calls.clear();
  ASSERT_TRUE(ingestor_->Commit().has_value());
  EXPECT_TRUE(listener.calls.empty());
  ingestor_->SetListener(nullptr);
}

}  // namespace
}  // namespace linli::ingest
