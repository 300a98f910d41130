#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/ids.h"
#include "model/registry.h"
#include "store/blob_store.h"

namespace linli::store {
namespace {

namespace fs = std::filesystem;

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(fs::path dir) : dir_(std::move(dir)) {}

  Result<void> Put(const std::string& id, std::string_view bytes) override {
    LINLI_ASSIGN_OR_RETURN(fs::path path, PathOf(id));
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return Fail(ErrorCode::kUnavailable, "cannot create " + path.parent_path().string() + ": " + ec.message());
    const fs::path tmp = path.string() + ".tmp-" + RandomHex(6);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) return Fail(ErrorCode::kUnavailable, "cannot write media: " + std::string(std::strerror(errno)));
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        const std::string err = std::strerror(errno);
        ::close(fd);
        fs::remove(tmp, ec);
        return Fail(errno == ENOSPC ? ErrorCode::kResourceExhausted : ErrorCode::kUnavailable,
                    "cannot write media: " + err);
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
      fs::remove(tmp, ec);
      return Fail(ErrorCode::kUnavailable, "cannot sync media: " + std::string(std::strerror(errno)));
    }
    fs::rename(tmp, path, ec);
    if (ec) {
      fs::remove(tmp, ec);
      return Fail(ErrorCode::kUnavailable, "cannot store media: " + ec.message());
    }
    return {};
  }

  Result<std::string> Get(const std::string& id) override {
    LINLI_ASSIGN_OR_RETURN(fs::path path, PathOf(id));
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(ErrorCode::kNotFound, "no media bytes for '" + id + "'");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return Fail(ErrorCode::kUnavailable, "cannot read media '" + id + "'");
    return data;
  }

  Result<void> Delete(const std::string& id) override {
    LINLI_ASSIGN_OR_RETURN(fs::path path, PathOf(id));
    std::error_code ec;
    if (!fs::remove(path, ec) && !ec) return Fail(ErrorCode::kNotFound, "no media bytes for '" + id + "'");
    if (ec) return Fail(ErrorCode::kUnavailable, "cannot delete media: " + ec.message());
    return {};
  }

  Result<int64_t> TotalBytes() override {
    std::error_code ec;
    int64_t total = 0;
    for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
    }
    if (ec) return Fail(ErrorCode::kUnavailable, "cannot scan media: " + ec.message());
    return total;
  }

 private:
  Result<fs::path> PathOf(const std::string& id) const {
    if (!model::ValidateId(id)) return InvalidArgument("id", "must be 1-64 of [A-Za-z0-9_-]");
    return dir_ / id.substr(0, 2) / id;
  }

  fs::path dir_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kFailedPrecondition, "cannot create media directory " + dir + ": " + ec.message());
  return std::unique_ptr<BlobStore>(new FileBlobStore(dir));
}

}  // namespace linli::store
