// Cryptography for Linli, all on libsodium:
//  - password hashing with Argon2id (crypto_pwhash_str);
//  - sha256 of bearer tokens and API keys (only the hash is stored);
//  - FieldCipher: authenticated encryption (XChaCha20-Poly1305 secretbox) of personal data at
//    rest plus a keyed "blind index" (BLAKE2b) so that equality lookups work on encrypted fields.
// Thread-safety: all functions and FieldCipher's const methods are safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace linli {

// Initialises libsodium once; aborts the process if it cannot (no usable RNG).
void InitCrypto();

// Argon2id hash in the PHC string format ("$argon2id$v=19$m=...").
// `interactive` selects OPSLIMIT/MEMLIMIT_INTERACTIVE (default) vs MIN (tests, bulk seeding).
Result<std::string> HashPassword(std::string_view password, bool interactive = true);
bool VerifyPassword(std::string_view phc_hash, std::string_view password);

// Lowercase hex sha256.
std::string Sha256Hex(std::string_view data);
// Lowercase hex HMAC-SHA256 of `data` under `key` (webhook signatures).
std::string HmacSha256Hex(std::string_view key, std::string_view data);

class FieldCipher {
 public:
  // `key` is 64 raw bytes: the first 32 encrypt, the last 32 key the blind index.
  static Result<FieldCipher> FromKey(std::string_view key);
  // Loads the key from `path`, creating it (mode 0600) with fresh random bytes if missing.
  static Result<FieldCipher> LoadOrCreate(const std::string& path);

  // "v1:" + base64(nonce || ciphertext).
  std::string Encrypt(std::string_view plaintext) const;
  Result<std::string> Decrypt(std::string_view sealed) const;
  // Deterministic keyed hash (hex) of the normalised value, for indexed equality search.
  std::string BlindIndex(std::string_view value) const;

 private:
  FieldCipher() = default;
  std::string enc_key_;
  std::string mac_key_;
};

}  // namespace linli
