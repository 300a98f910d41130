#include "prom.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

namespace linli::sim {
namespace {

bool NameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }

std::optional<double> ParseValue(std::string_view s) {
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s.empty()) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size()) return std::nullopt;
  return v;
}

bool Matches(const PromLabels& labels, const PromLabels& match) {
  for (const auto& m : match) {
    if (std::find(labels.begin(), labels.end(), m) == labels.end()) return false;
  }
  return true;
}

}  // namespace

Result<std::vector<PromSample>> ParsePrometheusText(std::string_view text) {
  std::vector<PromSample> out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size() || line[i] == '#') continue;
    auto bad = [&](const std::string& why) {
      return InvalidArgument("line " + std::to_string(line_no), why + ": \"" + std::string(line.substr(0, 120)) + "\"");
    };
    PromSample s;
    if (!NameStart(line[i])) return bad("metric name expected");
    const size_t name_start = i;
    while (i < line.size() && NameChar(line[i])) ++i;
    s.name = std::string(line.substr(name_start, i - name_start));
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        if (i >= line.size() || !NameStart(line[i])) return bad("label name expected");
        const size_t ls = i;
        while (i < line.size() && NameChar(line[i])) ++i;
        std::string key(line.substr(ls, i - ls));
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return bad("=\" expected after label name");
        i += 2;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\' && i < line.size()) {
            char e = line[i++];
            value.push_back(e == 'n' ? '\n' : e);
          } else {
            value.push_back(c);
          }
        }
        if (!closed) return bad("unterminated label value");
        s.labels.emplace_back(std::move(key), std::move(value));
      }
    }
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t ve = i;
    while (ve < line.size() && line[ve] != ' ' && line[ve] != '\t') ++ve;
    auto v = ParseValue(line.substr(i, ve - i));
    if (!v) return bad("bad sample value");
    s.value = *v;
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<double> PromSum(const std::vector<PromSample>& samples, std::string_view name, const PromLabels& match) {
  std::optional<double> sum;
  for (const auto& s : samples) {
    if (s.name != name || !Matches(s.labels, match)) continue;
    sum = sum.value_or(0) + s.value;
  }
  return sum;
}

Result<PromHistogram> GetHistogram(const std::vector<PromSample>& samples, std::string_view name,
                                   const PromLabels& match) {
  const std::string bucket = std::string(name) + "_bucket";
  std::map<double, double> by_le;
  PromHistogram h;
  for (const auto& s : samples) {
    if (!Matches(s.labels, match)) continue;
    if (s.name == bucket) {
      auto it = std::find_if(s.labels.begin(), s.labels.end(), [](const auto& l) { return l.first == "le"; });
      if (it == s.labels.end()) return InvalidArgument(bucket, "bucket without an le label");
      auto le = ParseValue(it->second);
      if (!le || std::isnan(*le)) return InvalidArgument(bucket, "bad le \"" + it->second + "\"");
      by_le[*le] += s.value;
    } else if (s.name == std::string(name) + "_sum") {
      h.sum += s.value;
    } else if (s.name == std::string(name) + "_count") {
      h.count += s.value;
    }
  }
  if (by_le.empty()) return Fail(ErrorCode::kNotFound, "no histogram " + std::string(name), std::string(name));
  for (const auto& [le, c] : by_le) h.buckets.emplace_back(le, c);
  if (!std::isinf(h.buckets.back().first)) return InvalidArgument(bucket, "no +Inf bucket");
  if (h.count == 0) h.count = h.buckets.back().second;
  return h;
}

Result<PromHistogram> HistogramDelta(const PromHistogram& after, const PromHistogram& before) {
  if (after.buckets.size() != before.buckets.size()) return InvalidArgument("buckets", "bucket bounds differ");
  PromHistogram d;
  for (size_t i = 0; i < after.buckets.size(); ++i) {
    if (after.buckets[i].first != before.buckets[i].first) return InvalidArgument("buckets", "bucket bounds differ");
    d.buckets.emplace_back(after.buckets[i].first, after.buckets[i].second - before.buckets[i].second);
  }
  d.sum = after.sum - before.sum;
  d.count = after.count - before.count;
  return d;
}

Result<double> HistogramQuantile(const PromHistogram& h, double q) {
  if (!(q > 0 && q < 1)) return InvalidArgument("q", "must be in (0, 1)");
  if (h.buckets.empty() || h.buckets.back().second <= 0) {
    return Fail(ErrorCode::kFailedPrecondition, "histogram has no observations");
  }
  const double total = h.buckets.back().second;
  const double rank = q * total;
  double prev_bound = 0;
  double prev_count = 0;
  for (size_t i = 0; i < h.buckets.size(); ++i) {
    const auto& [le, cum] = h.buckets[i];
    if (cum >= rank) {
      if (std::isinf(le)) {
        // Beyond the last finite bound: all we know is "at least that much".
        return i > 0 ? h.buckets[i - 1].first : 0.0;
      }
      const double lower = (i == 0 && le <= 0) ? le : prev_bound;
      const double in_bucket = cum - prev_count;
      if (in_bucket <= 0) return le;
      return lower + (le - lower) * (rank - prev_count) / in_bucket;
    }
    prev_bound = le;
    prev_count = cum;
  }
  return h.buckets.back().first;
}

}  // namespace linli::sim
