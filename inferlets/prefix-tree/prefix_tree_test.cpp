// prefix-tree on stories260K: 1 -> 2 -> 4 -> 8 forks; every leaf generates what an independent run
// of its whole prompt generates (greedy), and the leaves differ.
#include <gtest/gtest.h>

#include <set>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

TEST(PrefixTree, EveryLeafEqualsAnIndependentRun) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const std::vector<std::string> args = {"--prompt",
                                         "Once upon a time, there was a little girl named Lily.",
                                         "--level",
                                         " She loved",
                                         " One day",
                                         "--level",
                                         " to play",
                                         " her mom",
                                         "--level",
                                         " in the park.",
                                         " with a ball.",
                                         "--max-tokens",
                                         "12"};
  const RunResult tree = engine.run("prefix-tree", args);
  ASSERT_EQ(tree.end, client::EventKind::Completed) << tree.result;
  std::vector<std::string> independent_args = args;
  independent_args.push_back("--independent");
  const RunResult independent = engine.run("prefix-tree", independent_args);
  ASSERT_EQ(independent.end, client::EventKind::Completed) << independent.result;

  ASSERT_EQ(tree.messages.size(), 8U);
  EXPECT_EQ(tree.result, "8 leaves");
  EXPECT_EQ(tree.messages, independent.messages);
  EXPECT_EQ(tree.messages[0].substr(0, 4), "aaa\t");
  EXPECT_EQ(tree.messages[7].substr(0, 4), "bbb\t");
  const std::set<std::string> distinct(tree.messages.begin(), tree.messages.end());
  EXPECT_EQ(distinct.size(), 8U);
}

}  // namespace
}  // namespace pie::testing
