// Identifiers and random secrets (libsodium's CSPRNG).
// Thread-safety: all functions are safe from any thread after sodium is initialised
// (InitCrypto() in crypto.h; called by these functions on first use).
#pragma once

#include <string>
#include <string_view>

namespace linli {

// A time-ordered RFC 9562 version-7 UUID in lowercase canonical form: 48 bits of Unix time in
// milliseconds (never going backwards within the process), then 74 random bits. Ids made later
// sort later, so rows keyed by them are appended to B-tree indexes instead of scattered over
// them (alarms, commands, work orders, events from the edge box). Not secret: it reveals when
// it was made; use NewRandomUuid() or RandomHex() where that matters.
std::string NewUuid();
// A random RFC 4122 version-4 UUID (122 random bits) in lowercase canonical form.
std::string NewRandomUuid();
// Event types, as the platform accepts them (docs/protocol.md): lower-case dotted names,
// [a-z0-9_] segments, at least one dot, starting with a letter, 3-64 bytes ("gas.leak").
// One rule for the platform's ingest and the edge box's config check.
bool IsValidEventType(std::string_view type);
// True if `s` is a canonical UUID (any version, case-insensitive).
bool IsUuid(std::string_view s);
// `bytes` random bytes as lowercase hex (2*bytes characters).
std::string RandomHex(size_t bytes);
// A random URL-safe password of `len` characters from [A-Za-z0-9].
std::string RandomPassword(size_t len);

}  // namespace linli
