#include "api/static_files.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>
#include <vector>

#include "api/router.h"

namespace linli::api {
namespace fs = std::filesystem;
namespace {

bool IsUnder(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (r->empty()) continue;  // trailing separator of the root
    if (q == p.end() || *r != *q) return false;
  }
  return true;
}

Result<StaticFile> Serve(const fs::path& root, const fs::path& file) {
  std::error_code ec;
  fs::path canon = fs::canonical(file, ec);
  if (ec || !IsUnder(root, canon) || !fs::is_regular_file(canon, ec)) {
    return Fail(ErrorCode::kNotFound, "no such file");
  }
  return StaticFile{canon.string(), ContentTypeFor(canon.string())};
}

}  // namespace

Result<StaticFile> ResolveStaticFile(const std::string& web_root, std::string_view raw_path) {
  if (web_root.empty()) return Fail(ErrorCode::kNotFound, "no web app configured");
  auto decoded = PercentDecode(raw_path, false);
  if (!decoded) return InvalidArgument("path", "malformed path");
  const std::string& path = *decoded;
  if (path.empty() || path[0] != '/') return InvalidArgument("path", "path must start with /");
  if (path.find('\\') != std::string::npos) return InvalidArgument("path", "malformed path");
  std::vector<std::string> segments;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string seg = path.substr(i, j - i);
    if (seg == "." || seg == "..") return InvalidArgument("path", "path traversal refused");
    if (!seg.empty()) {
      if (seg[0] == '.') return Fail(ErrorCode::kNotFound, "no such file");
      segments.push_back(seg);
    }
    i = j + 1;
  }
  std::error_code ec;
  fs::path root = fs::canonical(web_root, ec);
  if (ec) return Fail(ErrorCode::kNotFound, "web root missing");
  fs::path candidate = root;
  for (const auto& s : segments) candidate /= s;
  if (fs::is_directory(candidate, ec)) return Serve(root, candidate / "index.html");
  if (fs::exists(candidate, ec)) return Serve(root, candidate);
  bool has_extension = !segments.empty() && segments.back().find('.') != std::string::npos;
  if (has_extension) return Fail(ErrorCode::kNotFound, "no such file");
  return Serve(root, root / "index.html");
}

std::string ContentTypeFor(std::string_view path) {
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string ext(path.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  static const std::pair<const char*, const char*> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"ttf", "font/ttf"},
      {"txt", "text/plain; charset=utf-8"},
      {"wasm", "application/wasm"},
      {"mp4", "video/mp4"},
      {"webm", "video/webm"},
  };
  for (const auto& [e, t] : kTypes) {
    if (ext == e) return t;
  }
  return "application/octet-stream";
}

}  // namespace linli::api
