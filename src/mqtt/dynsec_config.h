// The data model of mosquitto's dynamic-security plugin (2.0.x) as Linli uses it: role and ACL
// layout for devices, the password hash format the plugin reads, and id validation.
//
// Shared by InitBroker (which writes the plugin's JSON file directly), ImportDevicesOffline and
// the DynsecAuthority (which sends the same objects as $CONTROL commands), so that the file and
// the live broker can never disagree about what a device may do.
//
// Device layout (credentials.h): device `d` of compound `c` is a dynsec client with
// username = client id = d (the client id is pinned, so a second connection with the same
// credentials but another client id is refused) and exactly one role "dev:d" with
//   publishClientSend    allow linli/v1/c/d/up/#
//   subscribePattern     allow linli/v1/c/d/down/#
//   publishClientReceive allow linli/v1/c/d/down/#
// Everything else falls through to defaultACLAccess, which denies publish, receive and
// subscribe.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/json.h"
#include "common/result.h"

namespace linli::mqtt {

// Usernames of the two clients `linlid broker init` creates.
inline constexpr std::string_view kAdminUsername = "linli-admin";
inline constexpr std::string_view kServiceUsername = "linlid";
inline constexpr std::string_view kAdminRole = "linli-admin";
inline constexpr std::string_view kServiceRole = "linli-service";
inline constexpr std::string_view kDeviceRolePrefix = "dev:";

// Longest device or compound id accepted (MQTT allows 65535-byte topics; ids are short).
inline constexpr size_t kMaxIdBytes = 128;

// Checks that `id` can be one topic level and a username: 1..kMaxIdBytes bytes of valid UTF-8,
// no '/', '+', '#', no control characters, not starting with '$'. InvalidArgument naming
// `field` otherwise.
Result<void> ValidateTopicId(std::string_view id, std::string_view field);

// "dev:<id>".
std::string DeviceRoleName(std::string_view device_id);

// The ACL array of a device role (see the header comment). Ids must be valid.
Json DeviceAcls(std::string_view compound_id, std::string_view device_id);

// A password in the form the plugin stores it: base64 of PBKDF2-HMAC-SHA512 (64 bytes) over the
// password with a 12-byte random salt, 101 iterations (what mosquitto 2.0.11 itself writes).
struct DynsecPasswordHash {
  std::string password;  // base64 of the 64-byte derived key
  std::string salt;      // base64 of the 12 salt bytes
  int iterations = 101;
};
inline constexpr int kDynsecIterations = 101;
inline constexpr size_t kDynsecSaltBytes = 12;

// Hashes with the given raw salt (exactly kDynsecSaltBytes bytes) — deterministic, for tests.
Result<DynsecPasswordHash> HashDynsecPassword(std::string_view password, std::string_view salt,
                                              int iterations = kDynsecIterations);
// Hashes with a fresh random salt.
Result<DynsecPasswordHash> NewDynsecPasswordHash(std::string_view password);
// True if `password` matches `hash` (constant-time comparison of the derived keys).
bool VerifyDynsecPassword(const DynsecPasswordHash& hash, std::string_view password);

// A client object for the plugin's config file: username, optional pinned clientid, roles,
// password/salt/iterations.
Json DynsecClientJson(std::string_view username, std::string_view clientid,
                      const DynsecPasswordHash& hash, std::string_view rolename);

// Standard base64 (with padding), as the plugin uses.
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace linli::mqtt
