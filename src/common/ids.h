// Identifiers and random secrets (libsodium's CSPRNG).
// Thread-safety: all functions are safe from any thread after sodium is initialised
// (InitCrypto() in crypto.h; called by these functions on first use).
#pragma once

#include <string>
#include <string_view>

namespace linli {

// A random RFC 4122 version-4 UUID in lowercase canonical form.
std::string NewUuid();
// True if `s` is a canonical UUID (any version, case-insensitive).
bool IsUuid(std::string_view s);
// `bytes` random bytes as lowercase hex (2*bytes characters).
std::string RandomHex(size_t bytes);
// A random URL-safe password of `len` characters from [A-Za-z0-9].
std::string RandomPassword(size_t len);

}  // namespace linli
