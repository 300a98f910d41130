#include "mqtt/dynsec_config.h"

#include <gtest/gtest.h>

#include <string>

namespace linli::mqtt {
namespace {

// Written by `mosquitto_ctrl dynsec init FILE admin secretpw` (mosquitto 2.0.11): the plugin's
// own hash of "secretpw" with this salt. Our hash must match it bit for bit.
TEST(DynsecPasswordHash, MatchesWhatMosquittoWrites) {
  auto salt = Base64Decode("DIEpp2q/v2niRd7D");
  ASSERT_TRUE(salt);
  ASSERT_EQ(salt->size(), kDynsecSaltBytes);
  auto h = HashDynsecPassword("secretpw", *salt);
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_EQ(
      h->password,
      "y2B3SHAE07eArBD48aeJfQ//r+iV9Jjq60/PfAF+SC3b+IpRNg2iNLceNTKSkkeAF6d7Eb16/zhaSNrvO3xO3A==");
  EXPECT_EQ(h->salt, "DIEpp2q/v2niRd7D");
  EXPECT_EQ(h->iterations, 101);
}

TEST(DynsecPasswordHash, RandomSaltVerifies) {
  auto a = NewDynsecPasswordHash("pw-1");
  auto b = NewDynsecPasswordHash("pw-1");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->salt, b->salt);
  EXPECT_NE(a->password, b->password);
  EXPECT_TRUE(VerifyDynsecPassword(*a, "pw-1"));
  EXPECT_FALSE(VerifyDynsecPassword(*a, "pw-2"));
  DynsecPasswordHash broken = *a;
  broken.salt = "not base64!";
  EXPECT_FALSE(VerifyDynsecPassword(broken, "pw-1"));
}

TEST(DynsecPasswordHash, RejectsBadInput) {
  std::string salt(kDynsecSaltBytes, 'x');
  EXPECT_EQ(HashDynsecPassword("", salt).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(HashDynsecPassword("pw", "short").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(HashDynsecPassword("pw", salt, 0).error().code(), ErrorCode::kInvalidArgument);
}

TEST(Base64, RoundTripsAllPaddings) {
  for (std::string s : {std::string(""), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("abcd"), std::string("\0\xff\x10", 3)}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  EXPECT_FALSE(Base64Decode("YWI"));   // length
  EXPECT_FALSE(Base64Decode("YW*="));  // alphabet
}

TEST(ValidateTopicId, AcceptsOrdinaryIds) {
  EXPECT_TRUE(ValidateTopicId("dev-0001", "id"));
  EXPECT_TRUE(ValidateTopicId("gate_A.3", "id"));
  EXPECT_TRUE(ValidateTopicId("门禁-东门", "id"));
  EXPECT_TRUE(ValidateTopicId(std::string(kMaxIdBytes, 'a'), "id"));
}

TEST(ValidateTopicId, RejectsWhatWouldBreakTopicsOrAcls) {
  struct Case {
    std::string id;
    const char* why;
  } cases[] = {
      {"", "empty"},
      {"a/b", "level separator"},
      {"a+", "single-level wildcard"},
      {"#", "multi-level wildcard"},
      {"$SYS", "reserved prefix"},
      {"a\nb", "control character"},
      {std::string("a\0b", 3), "NUL"},
      {"\xff", "invalid UTF-8"},
      {"\xc0\xaf", "overlong UTF-8"},
      {"\xed\xa0\x80", "UTF-16 surrogate"},
      {"\xe4\xb8", "truncated UTF-8"},
      {std::string(kMaxIdBytes + 1, 'a'), "too long"},
  };
  for (const auto& c : cases) {
    auto r = ValidateTopicId(c.id, "devices[3].device_id");
    ASSERT_FALSE(r) << c.why;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << c.why;
    EXPECT_EQ(r.error().field(), "devices[3].device_id") << c.why;
  }
}

TEST(DeviceAcls, AllowsOnlyTheDevicesOwnTopics) {
  Json acls = DeviceAcls("c1", "d1");
  ASSERT_EQ(acls.size(), 3u);
  EXPECT_EQ(acls[0]["acltype"], "publishClientSend");
  EXPECT_EQ(acls[0]["topic"], "linli/v1/c1/d1/up/#");
  EXPECT_EQ(acls[1]["acltype"], "subscribePattern");
  EXPECT_EQ(acls[1]["topic"], "linli/v1/c1/d1/down/#");
  EXPECT_EQ(acls[2]["acltype"], "publishClientReceive");
  EXPECT_EQ(acls[2]["topic"], "linli/v1/c1/d1/down/#");
  for (const auto& a : acls) EXPECT_EQ(a["allow"], true);
  EXPECT_EQ(DeviceRoleName("d1"), "dev:d1");
}

TEST(DynsecClientJson, HasThePluginsFieldNames) {
  auto h = NewDynsecPasswordHash("pw");
  ASSERT_TRUE(h);
  Json c = DynsecClientJson("d1", "d1", *h, "dev:d1");
  EXPECT_EQ(c["username"], "d1");
  EXPECT_EQ(c["clientid"], "d1");
  EXPECT_EQ(c["roles"][0]["rolename"], "dev:d1");
  EXPECT_EQ(c["password"], h->password);
  EXPECT_EQ(c["salt"], h->salt);
  EXPECT_EQ(c["iterations"], 101);
  EXPECT_FALSE(DynsecClientJson("linlid", "", *h, "r").contains("clientid"));
}

}  // namespace
}  // namespace linli::mqtt
