#include "common/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace linli {

void InitCrypto() {
  static const bool ok = [] { return sodium_init() >= 0; }();
  if (!ok) {
    std::fputs("fatal: libsodium could not be initialised\n", stderr);
    std::abort();
  }
}

Result<std::string> HashPassword(std::string_view password, bool interactive) {
  InitCrypto();
  char out[crypto_pwhash_STRBYTES];
  unsigned long long ops = interactive ? crypto_pwhash_OPSLIMIT_INTERACTIVE : crypto_pwhash_OPSLIMIT_MIN;
  size_t mem = interactive ? crypto_pwhash_MEMLIMIT_INTERACTIVE : crypto_pwhash_MEMLIMIT_MIN;
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops, mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Fail(ErrorCode::kResourceExhausted, "out of memory while hashing password");
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view phc_hash, std::string_view password) {
  InitCrypto();
  std::string h(phc_hash);
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::string Sha256Hex(std::string_view data) {
  InitCrypto();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  InitCrypto();
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return hex;
}

Result<FieldCipher> FieldCipher::FromKey(std::string_view key) {
  InitCrypto();
  if (key.size() != 64) {
    return Fail(ErrorCode::kInvalidArgument, "field key must be 64 bytes", "key");
  }
  FieldCipher c;
  c.enc_key_ = std::string(key.substr(0, 32));
  c.mac_key_ = std::string(key.substr(32, 32));
  return c;
}

Result<FieldCipher> FieldCipher::LoadOrCreate(const std::string& path) {
  InitCrypto();
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    return FromKey(ss.str());
  }
  std::string key(64, '\0');
  randombytes_buf(key.data(), key.size());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Fail(ErrorCode::kFailedPrecondition, "cannot create key file " + path);
  bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return Fail(ErrorCode::kFailedPrecondition, "cannot write key file " + path);
  return FromKey(key);
}

std::string FieldCipher::Encrypt(std::string_view plaintext) const {
  std::string buf(crypto_secretbox_xchacha20poly1305_NONCEBYTES + crypto_secretbox_xchacha20poly1305_MACBYTES +
                      plaintext.size(),
                  '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(buf.data());
  randombytes_buf(nonce, crypto_secretbox_xchacha20poly1305_NONCEBYTES);
  crypto_secretbox_xchacha20poly1305_easy(
      nonce + crypto_secretbox_xchacha20poly1305_NONCEBYTES,
      reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(), nonce,
      reinterpret_cast<const unsigned char*>(enc_key_.data()));
  size_t b64_len = sodium_base64_encoded_len(buf.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string b64(b64_len, '\0');
  sodium_bin2base64(b64.data(), b64_len, reinterpret_cast<const unsigned char*>(buf.data()), buf.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  b64.resize(b64_len - 1);
  return "v1:" + b64;
}

Result<std::string> FieldCipher::Decrypt(std::string_view sealed) const {
  if (sealed.substr(0, 3) != "v1:") return Fail(ErrorCode::kInternal, "unknown cipher version");
  sealed.remove_prefix(3);
  std::string raw(sealed.size(), '\0');
  size_t raw_len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), sealed.data(),
                        sealed.size(), nullptr, &raw_len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Fail(ErrorCode::kInternal, "corrupt ciphertext");
  }
  const size_t overhead = crypto_secretbox_xchacha20poly1305_NONCEBYTES + crypto_secretbox_xchacha20poly1305_MACBYTES;
  if (raw_len < overhead) return Fail(ErrorCode::kInternal, "short ciphertext");
  std::string plain(raw_len - overhead, '\0');
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw.data());
  if (crypto_secretbox_xchacha20poly1305_open_easy(
          reinterpret_cast<unsigned char*>(plain.data()),
          nonce + crypto_secretbox_xchacha20poly1305_NONCEBYTES,
          raw_len - crypto_secretbox_xchacha20poly1305_NONCEBYTES, nonce,
          reinterpret_cast<const unsigned char*>(enc_key_.data())) != 0) {
    return Fail(ErrorCode::kInternal, "ciphertext does not authenticate");
  }
  return plain;
}

std::string FieldCipher::BlindIndex(std::string_view value) const {
  unsigned char out[16];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(value.data()), value.size(),
                     reinterpret_cast<const unsigned char*>(mac_key_.data()), mac_key_.size());
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return hex;
}

}  // namespace linli
