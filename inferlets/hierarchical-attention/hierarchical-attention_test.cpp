// hierarchical-attention on stories260K: sibling branches share one sequence and one set of
// passes but do not see each other: each branch continues exactly as when it runs alone under the
// same root (same positions).
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

TEST(HierarchicalAttentionTest, SiblingsDoNotSeeEachOther) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const std::string root = "Once upon a time, there was a little girl named Lily.";
  const std::vector<std::string> branches = {"She loved to play", "One day, a big dog",
                                             "Her mom said"};
  std::vector<std::string> args = {"16", root};
  args.insert(args.end(), branches.begin(), branches.end());
  const auto together = engine.run("hierarchical-attention", args);
  ASSERT_EQ(together.end, EventKind::Completed) << together.result;
  ASSERT_EQ(together.messages.size(), branches.size());
  // One prefill, then one pass per further token for all branches at once.
  EXPECT_EQ(together.result, "16 passes");
  for (size_t i = 0; i < branches.size(); ++i) {
    const auto alone = engine.run("hierarchical-attention", {"16", root, branches[i]});
    ASSERT_EQ(alone.end, EventKind::Completed) << alone.result;
    ASSERT_EQ(alone.messages.size(), 1U);
    EXPECT_FALSE(alone.messages[0].empty());
    EXPECT_EQ(together.messages[i], alone.messages[0]) << "branch " << i;
  }
  // The branches do differ (so the equality above is not trivial).
  EXPECT_NE(together.messages[0], together.messages[1]);
  EXPECT_NE(together.messages[1], together.messages[2]);
}

}  // namespace
