#include "edge/uplink/media_uploader.h"

#include <curl/curl.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>

namespace linli::edge {
namespace {

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  size_t len = size * n;
  if (out->size() < 1024) out->append(data, std::min(len, 1024 - out->size()));
  return len;
}

// Printable, bounded excerpt of a server answer for logs and dead-letter records.
std::string Excerpt(const std::string& body) {
  std::string s;
  for (char c : body) {
    if (s.size() >= 200) break;
    s.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  }
  return s;
}

class CurlMediaUploader final : public MediaUploader {
 public:
  explicit CurlMediaUploader(HttpUploaderOptions o) : opts_(std::move(o)) {
    while (!opts_.api_base.empty() && opts_.api_base.back() == '/') opts_.api_base.pop_back();
    EnsureCurlGlobalInit();
    curl_ = curl_easy_init();
  }
  ~CurlMediaUploader() override {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }

  void Cancel() override { cancelled_.store(true); }

  UploadResult Upload(const MediaUpload& m) override {
    UploadResult res;
    if (cancelled_.load()) {
      res.error = "cancelled";
      return res;
    }
    if (curl_ == nullptr) {
      res.error = "curl_easy_init failed";
      return res;
    }
    std::error_code ec;
    auto size = std::filesystem::file_size(m.path, ec);
    if (ec) {
      res.outcome = UploadOutcome::kRejected;
      res.error = "media file unreadable: " + ec.message();
      return res;
    }
    FILE* f = std::fopen(m.path.c_str(), "rb");
    if (f == nullptr) {
      res.outcome = UploadOutcome::kRejected;
      res.error = "media file unreadable";
      return res;
    }
    std::string url = opts_.api_base + "/api/v1/media/" + Escape(m.media_id) +
                      "?device=" + Escape(m.device_id) + "&event=" + Escape(m.event_id);
    std::string answer;
    curl_slist* headers = nullptr;
    std::string auth = "Authorization: Bearer " + opts_.api_key;
    std::string ctype = "Content-Type: " + m.content_type;
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, ctype.c_str());
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip

    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);  // PUT
    curl_easy_setopt(curl_, CURLOPT_READDATA, f);
    curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &CollectBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout_ms));
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME,
                     std::max(1L, static_cast<long>(opts_.stall_timeout_ms / 1000)));
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, &Progress);
    curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, &cancelled_);
    CURLcode rc = curl_easy_perform(curl_);
    std::fclose(f);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      res.outcome = UploadOutcome::kRetry;
      res.error = std::string("http: ") + curl_easy_strerror(rc);
      return res;
    }
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    res.http_status = static_cast<int>(status);
    res.outcome = ClassifyHttpStatus(res.http_status);
    if (res.outcome != UploadOutcome::kStored) {
      res.error = "HTTP " + std::to_string(status) + ": " + Excerpt(answer);
    }
    return res;
  }

 private:
  std::string Escape(const std::string& s) {
    char* e = curl_easy_escape(curl_, s.c_str(), static_cast<int>(s.size()));
    std::string out = e != nullptr ? e : "";
    curl_free(e);
    return out;
  }

  // Non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK → kRetry).
  static int Progress(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<std::atomic<bool>*>(flag)->load() ? 1 : 0;
  }

  HttpUploaderOptions opts_;
  CURL* curl_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

UploadOutcome ClassifyHttpStatus(int status) {
  if (status == 200 || status == 201 || status == 409) return UploadOutcome::kStored;
  if (status >= 500 || status == 408 || status == 429 || status < 200) return UploadOutcome::kRetry;
  return UploadOutcome::kRejected;
}

Result<std::unique_ptr<MediaUploader>> MakeCurlMediaUploader(const HttpUploaderOptions& o) {
  if (o.api_base.rfind("http://", 0) != 0 && o.api_base.rfind("https://", 0) != 0) {
    return InvalidArgument("api_base", "must start with http:// or https://");
  }
  if (o.api_key.empty()) return InvalidArgument("api_key", "must not be empty");
  for (char c : o.api_key) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return InvalidArgument("api_key", "must not contain spaces or control characters");
    }
  }
  if (o.connect_timeout_ms < 100) return InvalidArgument("connect_timeout_ms", "must be >= 100");
  if (o.stall_timeout_ms < 1000) return InvalidArgument("stall_timeout_ms", "must be >= 1000");
  auto u = std::make_unique<CurlMediaUploader>(o);
  return std::unique_ptr<MediaUploader>(std::move(u));
}

}  // namespace linli::edge
