#include "common/uuid.h"

#include <gtest/gtest.h>

#include <set>

namespace pie {
namespace {

TEST(Uuid, RandomV4HasVersionVariantAndCanonicalForm) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = random_uuid_v4();
    ASSERT_EQ(id.size(), 36U);
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    EXPECT_EQ(canonical_uuid(id), id);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000U);
}

TEST(Uuid, AcceptsEveryFormAndCanonicalises) {
  const std::string want = "67e55044-10b1-426f-9247-bb680e5fe0c8";
  EXPECT_EQ(canonical_uuid(want), want);
  EXPECT_EQ(canonical_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8"), want);
  EXPECT_EQ(canonical_uuid("67e5504410b1426f9247bb680e5fe0c8"), want);
  EXPECT_EQ(canonical_uuid("{67e55044-10b1-426f-9247-bb680e5fe0c8}"), want);
  EXPECT_EQ(canonical_uuid("urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8"), want);
}

TEST(Uuid, RejectsWhatIsNotAUuid) {
  for (const char* bad :
       {"", "not-a-uuid", "67e55044-10b1-426f-9247-bb680e5fe0c",
        "67e55044-10b1-426f-9247-bb680e5fe0c8a", "67e55044x10b1-426f-9247-bb680e5fe0c8",
        "g7e55044-10b1-426f-9247-bb680e5fe0c8", "{67e55044-10b1-426f-9247-bb680e5fe0c8",
        "67e5504410b1426f9247bb680e5fe0cg"}) {
    EXPECT_FALSE(canonical_uuid(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace pie
