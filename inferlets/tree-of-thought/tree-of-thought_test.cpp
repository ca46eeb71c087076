// tree-of-thought on stories260K: width^depth leaves with distinct paths, each leaf (grown on
// forks of forks) equal to the same path followed alone in a fresh context, and the best path the
// highest-scoring leaf.
#include <gtest/gtest.h>

#include <set>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

TEST(TreeOfThoughtTest, LeavesOnForksEqualTheirPathsAlone) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const std::string prompt = "Once upon a time, there was a little girl named Lily. One day,";
  const auto tree = engine.run("tree-of-thought", {prompt, "2", "3", "6"});
  ASSERT_EQ(tree.end, EventKind::Completed) << tree.result;
  ASSERT_EQ(tree.messages.size(), 8U);  // 2^3 leaves
  std::set<std::string> paths;
  std::set<std::string> texts;
  std::string best;
  double best_score = -1e300;
  for (const auto& leaf : tree.messages) {
    const std::string path = leaf.substr(0, leaf.find(' '));
    const size_t text_at = leaf.find(' ', path.size() + 1);
    const double score = std::stod(leaf.substr(path.size() + 1, text_at - path.size() - 1));
    EXPECT_EQ(path.size(), 5U) << leaf;  // three steps: a.b.c
    paths.insert(path);
    texts.insert(leaf.substr(text_at + 1));
    if (score > best_score) {
      best_score = score;
      best = path;
    }
    const auto alone = engine.run("tree-of-thought", {prompt, "2", "3", "6", path});
    ASSERT_EQ(alone.end, EventKind::Completed) << alone.result;
    EXPECT_EQ(alone.messages, (std::vector<std::string>{leaf}));
  }
  EXPECT_EQ(paths.size(), 8U);
  EXPECT_EQ(texts.size(), 8U);
  EXPECT_EQ(tree.result, best);
}

}  // namespace
