// Keeps docs/edge.md and examples/edge/ honest: every config the documentation shows is run
// through the same parser and validation as `linli-edge check-config` (ParseBoxConfig, then
// every analyzer's and the detector's factory) and, when this build has the uplink, through the
// uplink's own parser (which `linli-edge run` applies).
//
// Markers in docs/edge.md (the fence's info string after `yaml`):
//   ```yaml config     a complete config: must be accepted
//   ```yaml rejected   a complete config that must be refused; the very next fenced block
//                      (```text) holds the one line linli-edge prints for it
//   ```yaml            a fragment: must at least be valid YAML
// Every examples/edge/*.yaml must be accepted and be named in docs/edge.md. The program itself
// (LINLI_BIN_DIR/linli-edge, when built) must print the quoted line for every refused config.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edge/builtin.h"
#include "edge/config.h"
#include "edge/pipeline.h"
#ifdef LINLI_EDGE_HAVE_UPLINK
#include "edge/uplink/edge_uplink.h"
#endif

namespace linli::edge {
namespace {

namespace fs = std::filesystem;

struct Block {
  std::string info;  // what follows the opening backticks
  std::string body;
  int line = 0;  // 1-based line of the opening fence
};

fs::path SourceDir() {
  const char* s = std::getenv("LINLI_SOURCE_DIR");
  return s != nullptr ? fs::path(s) : fs::path(".");
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == '\n' || s[i] == ' ')) ++i;
  return s.substr(i);
}

// Fenced blocks (``` at the start of a line) in order.
std::vector<Block> FencedBlocks(const std::string& md) {
  std::vector<Block> out;
  std::istringstream in(md);
  std::string line;
  int n = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("```", 0) == 0) {
      if (open == nullptr) {
        out.push_back(Block{Trim(line.substr(3)), "", n});
        open = &out.back();
      } else {
        open = nullptr;
      }
      continue;
    }
    if (open != nullptr) open->body += line + "\n";
  }
  EXPECT_EQ(open, nullptr) << "docs/edge.md: unclosed code fence";
  return out;
}

// What `linli-edge check-config` (and `run`) would say about `yaml`: empty if it is accepted,
// else the line it prints. Mirrors ValidateBox in apps/linli-edge/main.cc.
std::string Check(const std::string& yaml, const fs::path& state_dir) {
  auto say = [](const Error& e) {
    return "linli-edge: config error: " + (e.field().empty() ? std::string() : e.field() + ": ") +
           e.message();
  };
  auto cfg = ParseBoxConfig(yaml);
  if (!cfg) return say(cfg.error());
  AnalyzerRegistry registry;
  RegisterBuiltinAnalyzers(registry);
  auto v = ValidateAnalyzers(*cfg, registry, BuiltinDetectorFactory(), state_dir.string());
  if (!v) return say(v.error());
#ifdef LINLI_EDGE_HAVE_UPLINK
  if (cfg->uplink && !cfg->uplink.IsNull()) {
    auto u = ParseUplinkConfig(cfg->uplink, cfg->box);
    if (!u) return say(u.error());
    auto uv = Uplink::Validate(u->uplink);
    if (!uv) return say(uv.error());
  }
#endif
  return "";
}

class EdgeDocs : public ::testing::Test {
 protected:
  void SetUp() override {
    state_dir_ = fs::temp_directory_path() / ("linli-edge-docs-" + std::to_string(::getpid()));
    fs::create_directories(state_dir_);
    doc_ = ReadAll(SourceDir() / "docs" / "edge.md");
    ASSERT_FALSE(doc_.empty()) << "cannot read docs/edge.md under " << SourceDir();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(state_dir_, ec);
  }
  fs::path state_dir_;
  std::string doc_;
};

TEST_F(EdgeDocs, EveryCompleteConfigIsAccepted) {
  int configs = 0;
  for (const auto& b : FencedBlocks(doc_)) {
    if (b.info != "yaml config") continue;
    ++configs;
    EXPECT_EQ(Check(b.body, state_dir_), "") << "docs/edge.md:" << b.line << ":\n" << b.body;
  }
  EXPECT_GE(configs, 8) << "the ```yaml config markers seem to be gone";
}

TEST_F(EdgeDocs, EveryRejectedConfigGivesTheQuotedError) {
  const auto blocks = FencedBlocks(doc_);
  int rejected = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].info != "yaml rejected") continue;
    ++rejected;
    ASSERT_LT(i + 1, blocks.size()) << "docs/edge.md:" << blocks[i].line;
    const Block& quoted = blocks[i + 1];
    ASSERT_EQ(quoted.info, "text") << "docs/edge.md:" << blocks[i].line
                                   << ": a rejected config must be followed by a ```text block";
#ifndef LINLI_EDGE_HAVE_UPLINK
    // Without the uplink library nothing reads the uplink section's own keys.
    if (Trim(quoted.body).starts_with("linli-edge: config error: uplink.")) continue;
#endif
    EXPECT_EQ(Check(blocks[i].body, state_dir_), Trim(quoted.body))
        << "docs/edge.md:" << blocks[i].line << ":\n"
        << blocks[i].body;
  }
  EXPECT_GE(rejected, 5) << "the ```yaml rejected markers seem to be gone";
}

TEST_F(EdgeDocs, EveryYamlFragmentIsYaml) {
  for (const auto& b : FencedBlocks(doc_)) {
    if (b.info.rfind("yaml", 0) != 0) continue;
    try {
      YAML::Load(b.body);
    } catch (const YAML::Exception& e) {
      ADD_FAILURE() << "docs/edge.md:" << b.line << ": not YAML: " << e.what();
    }
  }
}

TEST_F(EdgeDocs, EveryExampleIsAcceptedAndDocumented) {
  const fs::path dir = SourceDir() / "examples" / "edge";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    const std::string name = "examples/edge/" + entry.path().filename().string();
    EXPECT_NE(doc_.find(name), std::string::npos) << name << " is not mentioned in docs/edge.md";
    const std::string text = ReadAll(entry.path());
    // The examples play videos of Debian's opencv-doc (roi_state also enrols from one).
    if (text.find("/usr/share/doc/opencv-doc/") != std::string::npos &&
        !fs::is_directory("/usr/share/doc/opencv-doc/examples/data")) {
      std::cerr << "skipping " << name << ": opencv-doc is not installed\n";
      continue;
    }
    EXPECT_EQ(Check(text, state_dir_), "") << name;
  }
  EXPECT_GE(files, 7);
}

// ---- the linli-edge program ----

struct Proc {
  int status = -1;
  std::string err;
};

fs::path EdgeBinary() {
  const char* bin = std::getenv("LINLI_BIN_DIR");
  return fs::path(bin != nullptr ? bin : "bin") / "linli-edge";
}

Proc RunEdge(const std::string& args, const fs::path& dir) {
  const fs::path err = dir / "stderr";
  std::string cmd = EdgeBinary().string() + " " + args + " >/dev/null 2>" + err.string();
  Proc p;
  int rc = std::system(cmd.c_str());
  p.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  p.err = ReadAll(err);
  return p;
}

// `linli-edge check-config` refuses the documented refusals of the uplink section with the
// quoted line: check-config validates everything `run` validates. (The other refusals go
// through the same library calls, checked above; one process per block would be slow.)
TEST_F(EdgeDocs, CheckConfigProgramPrintsTheQuotedErrors) {
#ifndef LINLI_EDGE_HAVE_UPLINK
  GTEST_SKIP() << "this build has no uplink library";
#endif
  if (!fs::exists(EdgeBinary())) GTEST_SKIP() << EdgeBinary() << " is not built";
  const auto blocks = FencedBlocks(doc_);
  int checked = 0;
  for (size_t i = 0; i + 1 < blocks.size(); ++i) {
    if (blocks[i].info != "yaml rejected") continue;
    const std::string quoted = Trim(blocks[i + 1].body);
    if (!quoted.starts_with("linli-edge: config error: uplink.")) continue;
    const fs::path file = state_dir_ / ("rejected-" + std::to_string(blocks[i].line) + ".yaml");
    std::ofstream(file) << blocks[i].body;
    auto p = RunEdge("check-config " + file.string(), state_dir_);
    EXPECT_EQ(p.status, 2) << "docs/edge.md:" << blocks[i].line << "\n" << p.err;
    EXPECT_NE(p.err.find(quoted + "\n"), std::string::npos)
        << "docs/edge.md:" << blocks[i].line << ": expected\n" << quoted << "\ngot\n" << p.err;
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

// A stats interval below one second would make `run` log continuously: refused as bad usage.
TEST_F(EdgeDocs, RunRefusesAStatsIntervalBelowOneSecond) {
  if (!fs::exists(EdgeBinary())) GTEST_SKIP() << EdgeBinary() << " is not built";
  const fs::path file = state_dir_ / "box.yaml";
  std::ofstream(file) << "box: {device_id: edge-box-01}\ncameras: []\n";
  for (const char* bad : {"0", "-5"}) {
    auto p = RunEdge("run --config " + file.string() + " --until-idle --stats-interval " + bad,
                     state_dir_);
    EXPECT_EQ(p.status, 2) << bad << ": " << p.err;
    EXPECT_NE(p.err.find("--stats-interval"), std::string::npos) << p.err;
  }
}

}  // namespace
}  // namespace linli::edge
