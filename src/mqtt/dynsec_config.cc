#include "mqtt/dynsec_config.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <string>

namespace linli::mqtt {
namespace {

// Returns true if `s` is well-formed UTF-8 without overlong forms or surrogates.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

Result<void> ValidateTopicId(std::string_view id, std::string_view field) {
  std::string f(field);
  if (id.empty()) return InvalidArgument(f, "must not be empty");
  if (id.size() > kMaxIdBytes) {
    return InvalidArgument(f, "longer than " + std::to_string(kMaxIdBytes) + " bytes");
  }
  if (!IsValidUtf8(id)) return InvalidArgument(f, "not valid UTF-8");
  if (id.front() == '$') return InvalidArgument(f, "must not start with '$'");
  for (char c : id) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '/' || c == '+' || c == '#') {
      return InvalidArgument(f, std::string("must not contain '") + c + "' (MQTT topic character)");
    }
    if (u < 0x20 || u == 0x7f) return InvalidArgument(f, "must not contain control characters");
  }
  return {};
}

std::string DeviceRoleName(std::string_view device_id) {
  return std::string(kDeviceRolePrefix) + std::string(device_id);
}

Json DeviceAcls(std::string_view compound_id, std::string_view device_id) {
  std::string base = "linli/v1/" + std::string(compound_id) + "/" + std::string(device_id);
  return Json::array({
      {{"acltype", "publishClientSend"}, {"topic", base + "/up/#"}, {"allow", true}},
      {{"acltype", "subscribePattern"}, {"topic", base + "/down/#"}, {"allow", true}},
      {{"acltype", "publishClientReceive"}, {"topic", base + "/down/#"}, {"allow", true}},
  });
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("", "base64 length not a multiple of 4");
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return InvalidArgument("", "invalid base64 character");
  }
  std::string out(3 * (text.size() / 4) + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return InvalidArgument("", "invalid base64");
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock does not strip the bytes that padding stands for.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

Result<DynsecPasswordHash> HashDynsecPassword(std::string_view password, std::string_view salt,
                                              int iterations) {
  if (password.empty()) return InvalidArgument("password", "must not be empty");
  if (password.size() > 65535) return InvalidArgument("password", "longer than 65535 bytes");
  if (salt.size() != kDynsecSaltBytes) return InvalidArgument("salt", "must be 12 bytes");
  if (iterations < 1) return InvalidArgument("iterations", "must be positive");
  unsigned char key[64];
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha512(), sizeof key,
                        key) != 1) {
    return Fail(ErrorCode::kInternal, "PKCS5_PBKDF2_HMAC failed");
  }
  DynsecPasswordHash h;
  h.password = Base64Encode(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
  h.salt = Base64Encode(salt);
  h.iterations = iterations;
  OPENSSL_cleanse(key, sizeof key);
  return h;
}

Result<DynsecPasswordHash> NewDynsecPasswordHash(std::string_view password) {
  unsigned char salt[kDynsecSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) {
    return Fail(ErrorCode::kInternal, "RAND_bytes failed");
  }
  return HashDynsecPassword(password, std::string_view(reinterpret_cast<char*>(salt), sizeof salt));
}

bool VerifyDynsecPassword(const DynsecPasswordHash& hash, std::string_view password) {
  auto salt = Base64Decode(hash.salt);
  if (!salt) return false;
  auto computed = HashDynsecPassword(password, *salt, hash.iterations);
  if (!computed) return false;
  if (computed->password.size() != hash.password.size()) return false;
  return CRYPTO_memcmp(computed->password.data(), hash.password.data(), hash.password.size()) == 0;
}

Json DynsecClientJson(std::string_view username, std::string_view clientid,
                      const DynsecPasswordHash& hash, std::string_view rolename) {
  Json c = {{"username", std::string(username)},
            {"roles", Json::array({{{"rolename", std::string(rolename)}}})},
            {"password", hash.password},
            {"salt", hash.salt},
            {"iterations", hash.iterations}};
  if (!clientid.empty()) c["clientid"] = std::string(clientid);
  return c;
}

}  // namespace linli::mqtt
