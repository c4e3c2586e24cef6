#include "rules/presented.h"

#include <gtest/gtest.h>

namespace lintel::rules {
namespace {

TEST(Presented, ParsesCardArguments) {
  Presented p = ParseCardArg("h10301:101:251").value();
  EXPECT_EQ(p.format, CardFormat::kH10301);
  EXPECT_EQ(p.facility, 101u);
  EXPECT_EQ(p.number, 251u);
  p = ParseCardArg("h10302:123456789").value();
  EXPECT_EQ(p.format, CardFormat::kH10302);
  EXPECT_EQ(p.number, 123456789u);
  EXPECT_FALSE(ParseCardArg("h10301:251").ok()) << "h10301 needs a facility";
  EXPECT_FALSE(ParseCardArg("mifare:1:2").ok());
  EXPECT_FALSE(ParseCardArg("h10301:-1:2").ok());
  EXPECT_FALSE(ParseCardArg("h10301:1:2x").ok());
}

TEST(Presented, KeysOfStoredAndPresentedCredentialsAgree) {
  Credential c;
  c.type = CredentialType::kPin;
  c.pin = "0042";
  std::string why;
  EXPECT_EQ(KeyOf(c), KeyOf(PinPresented("0042"), &why));
  EXPECT_FALSE(KeyOf(c) == KeyOf(PinPresented("042"), &why)) << "leading zeros are significant";
  c.type = CredentialType::kCard;
  c.card.format = CardFormat::kC1k48;
  c.card.facility = (1u << 22) - 1;
  c.card.number = (1u << 23) - 1;
  Presented p;
  p.format = CardFormat::kC1k48;
  p.facility = c.card.facility;
  p.number = c.card.number;
  EXPECT_EQ(KeyOf(c), KeyOf(p, &why));
  p.format = CardFormat::kC1k35;
  EXPECT_TRUE(KeyOf(p, &why).empty()) << "fields too wide for c1k35";
}

TEST(Presented, DescriptionsNeverContainPinDigits) {
  EXPECT_EQ(Describe(PinPresented("8812")), "pin");
  std::string why;
  EXPECT_EQ(DescribeKey(KeyOf(PinPresented("8812"), &why)), "pin (4 digits)");
  EXPECT_EQ(DescribeKey(KeyOf(UidPresented("04ab"), &why)), "uid 04AB");
}

// Issue 10 point 20: the key's kind is an enum, one per kind of credential a reader presents.
TEST(Presented, KeysSayWhatKindOfCredentialTheyAre) {
  std::string why;
  EXPECT_EQ(KeyOf(PinPresented("8812"), &why).kind, CredentialKey::Kind::kPin);
  EXPECT_EQ(KeyOf(UidPresented("04ab"), &why).kind, CredentialKey::Kind::kUid);
  EXPECT_EQ(KeyOf(ParseCardArg("h10301:101:251").value(), &why).kind,
            CredentialKey::Kind::kFormattedCard);
  CredentialKey bad = KeyOf(PinPresented("12a"), &why);
  EXPECT_EQ(bad.kind, CredentialKey::Kind::kNone);
  EXPECT_TRUE(bad.empty());
  EXPECT_EQ(DescribeKey(bad), "none");
  EXPECT_EQ(DescribeKey(KeyOf(ParseCardArg("h10301:101:251").value(), &why)),
            "card h10301:101:251");
}

}  // namespace
}  // namespace lintel::rules
