// linli-bench-util: small helpers for bench/ingest/run, so that the script needs neither jq nor
// python:
//   linli-bench-util prom-sum FILE NAME [label=value ...]      sum of matching samples
//   linli-bench-util prom-quantile BEFORE AFTER NAME Q [Q ...] quantiles (seconds) of the
//                                                              histogram's growth between scrapes
//   linli-bench-util json-get FILE KEY[.KEY...]                 a string or number
//   linli-bench-util median X [X ...]                           median of numbers
//   linli-bench-util free-port                                  a free loopback TCP port
// Prints the value(s) on one line; exits 1 with a message on stderr when it cannot.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "prom.h"

namespace {

using namespace linli;
using namespace linli::sim;

int Usage() {
  std::fprintf(stderr,
               "usage: linli-bench-util prom-sum FILE NAME [label=value ...]\n"
               "       linli-bench-util prom-quantile BEFORE AFTER NAME Q [Q ...]\n"
               "       linli-bench-util json-get FILE KEY[.KEY...]\n"
               "       linli-bench-util median X [X ...]\n"
               "       linli-bench-util free-port\n");
  return 2;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "linli-bench-util: cannot read %s\n", path.c_str());
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool Scrape(const std::string& path, std::vector<PromSample>* out) {
  std::string text;
  if (!ReadFile(path, &text)) return false;
  auto s = ParsePrometheusText(text);
  if (!s) {
    std::fprintf(stderr, "linli-bench-util: %s: %s\n", path.c_str(), s.error().ToString().c_str());
    return false;
  }
  *out = std::move(*s);
  return true;
}

bool ParseDouble(const char* s, double* v) {
  char* end = nullptr;
  *v = std::strtod(s, &end);
  return end != s && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string cmd = argv[1];
  if (cmd == "prom-sum" && argc >= 4) {
    std::vector<PromSample> samples;
    if (!Scrape(argv[2], &samples)) return 1;
    PromLabels match;
    for (int i = 4; i < argc; ++i) {
      std::string kv = argv[i];
      auto eq = kv.find('=');
      if (eq == std::string::npos) return Usage();
      match.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    auto v = PromSum(samples, argv[3], match);
    if (!v) {
      std::fprintf(stderr, "linli-bench-util: no samples of %s in %s\n", argv[3], argv[2]);
      return 1;
    }
    std::printf("%.17g\n", *v);
    return 0;
  }
  if (cmd == "prom-quantile" && argc >= 6) {
    std::vector<PromSample> before, after;
    if (!Scrape(argv[2], &before) || !Scrape(argv[3], &after)) return 1;
    auto hb = GetHistogram(before, argv[4]);
    auto ha = GetHistogram(after, argv[4]);
    if (!ha) {
      std::fprintf(stderr, "linli-bench-util: %s\n", ha.error().ToString().c_str());
      return 1;
    }
    PromHistogram h = *ha;
    if (hb) {
      auto d = HistogramDelta(*ha, *hb);
      if (!d) {
        std::fprintf(stderr, "linli-bench-util: %s\n", d.error().ToString().c_str());
        return 1;
      }
      h = *d;
    }
    std::string line;
    for (int i = 5; i < argc; ++i) {
      double q;
      if (!ParseDouble(argv[i], &q)) return Usage();
      auto v = HistogramQuantile(h, q);
      if (!v) {
        std::fprintf(stderr, "linli-bench-util: %s\n", v.error().ToString().c_str());
        return 1;
      }
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%.6f", line.empty() ? "" : " ", *v);
      line += buf;
    }
    std::printf("%s\n", line.c_str());
    return 0;
  }
  if (cmd == "json-get" && argc == 4) {
    std::string text;
    if (!ReadFile(argv[2], &text)) return 1;
    auto j = ParseJson(text);
    if (!j) {
      std::fprintf(stderr, "linli-bench-util: %s: %s\n", argv[2], j.error().ToString().c_str());
      return 1;
    }
    // A dotted path: "service.username".
    const Json* node = &*j;
    std::stringstream path(argv[3]);
    std::string key;
    while (std::getline(path, key, '.')) {
      if (!node->is_object() || !node->contains(key)) {
        std::fprintf(stderr, "linli-bench-util: %s has no key %s\n", argv[2], argv[3]);
        return 1;
      }
      node = &(*node)[key];
    }
    const Json& v = *node;
    if (v.is_string()) {
      std::printf("%s\n", v.get<std::string>().c_str());
    } else if (v.is_number() || v.is_boolean()) {
      std::printf("%s\n", v.dump().c_str());
    } else {
      std::fprintf(stderr, "linli-bench-util: %s is not a string or number\n", argv[3]);
      return 1;
    }
    return 0;
  }
  if (cmd == "median" && argc >= 3) {
    std::vector<double> v;
    for (int i = 2; i < argc; ++i) {
      double x;
      if (!ParseDouble(argv[i], &x)) {
        std::fprintf(stderr, "linli-bench-util: not a number: %s\n", argv[i]);
        return 1;
      }
      v.push_back(x);
    }
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    std::printf("%.6g\n", n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
    return 0;
  }
  if (cmd == "free-port" && argc == 2) {
    // Bind port 0 on loopback and report what the kernel picked.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::fprintf(stderr, "linli-bench-util: cannot bind a loopback port\n");
      return 1;
    }
    close(fd);
    std::printf("%d\n", ntohs(a.sin_port));
    return 0;
  }
  return Usage();
}
