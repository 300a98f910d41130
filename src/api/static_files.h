// Static files of the web app (web_root) for non-API GET paths: path resolution with traversal
// refused, the single-page-app fallback to index.html, and content types.
// Thread-safety: pure functions (they read the file system).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace linli::api {

struct StaticFile {
  std::string path;          // absolute file path to serve
  std::string content_type;  // e.g. "text/html; charset=utf-8"
};

// Maps the raw URL path (percent-encoded, no query) to a file under `web_root`:
//   "/" and directories → their index.html; an existing regular file → itself; a missing path
//   whose last segment has no extension → web_root/index.html (client-side routes).
// InvalidArgument for malformed escapes, NUL bytes, backslashes and "." / ".." segments;
// NotFound for missing files, hidden files (".name") and anything that resolves (through
// symlinks) outside web_root.
Result<StaticFile> ResolveStaticFile(const std::string& web_root, std::string_view raw_path);

// Content type by file extension (".js" → "text/javascript; charset=utf-8");
// "application/octet-stream" for unknown ones.
std::string ContentTypeFor(std::string_view path);

}  // namespace linli::api
