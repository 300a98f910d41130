#include "api/router.h"

#include <charconv>

#include "api/http_errors.h"

namespace linli::api {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsParam(const std::string& seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> ApiRequest::Query(std::string_view name) const {
  std::optional<std::string> v;
  for (const auto& [k, val] : query) {
    if (k == name) v = val;
  }
  return v;
}

ApiResponse ApiResponse::FromJson(int status, const Json& j) {
  ApiResponse r;
  r.status = status;
  r.body = DumpJson(j);
  return r;
}

ApiResponse ApiResponse::FromError(const Error& e) {
  return FromJson(HttpStatusFor(e.code()), ErrorBody(e));
}

const std::string& RequestContext::Param(const std::string& name) const {
  static const std::string kEmpty;
  auto it = params.find(name);
  return it == params.end() ? kEmpty : it->second;
}

void Router::Add(std::string method, std::string path, Handler handler, RouteDoc doc) {
  Route r;
  r.method = std::move(method);
  r.segments = SplitPath(path);
  r.path = std::move(path);
  r.handler = std::move(handler);
  r.doc = std::move(doc);
  routes_.push_back(std::move(r));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match best;
  auto segs = SplitPath(path);
  for (auto& s : segs) {
    auto d = PercentDecode(s, false);
    if (!d) return best;  // a malformed escape matches nothing
    s = std::move(*d);
  }
  int best_literals = -1;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    int literals = 0;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      if (IsParam(r.segments[i])) {
        params[r.segments[i].substr(1, r.segments[i].size() - 2)] = segs[i];
      } else if (r.segments[i] == segs[i]) {
        ++literals;
      } else {
        ok = false;
      }
    }
    if (!ok) continue;
    if (r.method != method) {
      best.allowed_methods.push_back(r.method);
      continue;
    }
    if (literals > best_literals) {
      best_literals = literals;
      best.route = &r;
      best.params = std::move(params);
    }
  }
  if (best.route != nullptr) best.allowed_methods.clear();
  return best;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return std::nullopt;
      out.push_back(d);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      if (c == '\0') return std::nullopt;
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> ParseQueryString(
    std::string_view qs) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  while (i <= qs.size()) {
    size_t amp = qs.find('&', i);
    if (amp == std::string_view::npos) amp = qs.size();
    std::string_view part = qs.substr(i, amp - i);
    if (!part.empty()) {
      size_t eq = part.find('=');
      auto key = PercentDecode(part.substr(0, eq), true);
      auto val = PercentDecode(
          eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
      if (!key || !val) return std::nullopt;
      out.emplace_back(std::move(*key), std::move(*val));
    }
    i = amp + 1;
  }
  return out;
}

Result<int64_t> IntParam(const ApiRequest& req, std::string_view name, int64_t def, int64_t lo,
                         int64_t hi) {
  auto v = req.Query(name);
  if (!v) return def;
  int64_t x = 0;
  const char* b = v->data();
  const char* e = v->data() + v->size();
  auto [ptr, ec] = std::from_chars(b, e, x);
  if (v->empty() || ec != std::errc() || ptr != e)
    return InvalidArgument(std::string(name), "must be an integer");
  if (x < lo || x > hi) {
    return InvalidArgument(std::string(name),
                           "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return x;
}

Result<bool> BoolParam(const ApiRequest& req, std::string_view name, bool def) {
  auto v = req.Query(name);
  if (!v) return def;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  return InvalidArgument(std::string(name), "must be true or false");
}

}  // namespace linli::api
