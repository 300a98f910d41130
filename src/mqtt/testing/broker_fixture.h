// Test support: a real mosquitto broker per test, configured by InitBroker.
//
//   auto broker = linli::mqtt::testing::StartBroker(tmp_dir);   // port 0: a free port
//   ASSERT_TRUE(broker) << broker.error().ToString();
//   auto admin = linli::mqtt::MakeDynsecAuthority((*broker)->AdminOptions());
//   auto opts = (*broker)->ServiceOptions({"linli/v1/#"});
//   (*broker)->Restart();   // same port, same persistence
//
// The broker binary is $LINLI_MOSQUITTO or /usr/sbin/mosquitto; its output goes to
// DIR/mosquitto.log. Readiness is detected by polling a TCP connect with a deadline (no
// sleeps). The process is killed when the handle is destroyed, and (PR_SET_PDEATHSIG) when the
// thread that started it exits — so start brokers from the test's main thread or a fixture,
// not from a short-lived helper thread.
// Thread-safety: a handle is used by one test thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "mqtt/credentials.h"
#include "mqtt/transport.h"

namespace linli::mqtt::testing {

class BrokerProcess {
 public:
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  int Port() const { return port_; }
  const std::string& Dir() const { return dir_; }
  const BrokerConfig& Config() const { return config_; }
  bool Running() const { return pid_ > 0; }
  pid_t Pid() const { return pid_; }  // -1 when not running

  // SIGTERM and wait for exit (mosquitto writes its persistence file on the way out).
  Result<void> Stop();
  // SIGKILL and wait: a crash; persistence is only as fresh as the last autosave.
  Result<void> Kill();
  // Stop() if running, then start again on the same port with the same data dir.
  Result<void> Restart();

  // Admin credentials (for MakeDynsecAuthority) and service-client options (for the transport).
  BrokerAdminOptions AdminOptions(int timeout_ms = 5000) const;
  MosquittoOptions ServiceOptions(std::vector<std::string> subscriptions,
                                  std::string client_id = "linlid") const;

  // The last `bytes` of the broker's log, for failure messages.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  friend Result<std::unique_ptr<BrokerProcess>> StartBroker(const std::string& dir, int port);
  BrokerProcess() = default;
  Result<void> Launch();
  Result<void> Signal(int sig);

  std::string dir_;
  int port_ = 0;
  BrokerConfig config_;
  pid_t pid_ = -1;
};

// Initialises `dir` with InitBroker unless it already holds a broker (then its port is reused),
// starts mosquitto and waits until it accepts connections (10 s deadline). `port` 0 picks a free
// loopback port (retrying if another process grabs it first).
Result<std::unique_ptr<BrokerProcess>> StartBroker(const std::string& dir, int port = 0);

// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0 and read it back).
Result<int> FreeTcpPort();

// A fresh directory under $TMPDIR (or /tmp) named prefix-XXXXXX.
std::string MakeTempDir(const std::string& prefix);

}  // namespace linli::mqtt::testing
