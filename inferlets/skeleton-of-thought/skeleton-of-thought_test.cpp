// skeleton-of-thought on stories260K: as many points as asked, each opened by a different token,
// each point's text (expanded on a fork of the prompt) equal to the same point expanded alone in
// a fresh context, and the answer the points in order.
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

TEST(SkeletonOfThoughtTest, PointsOnForksEqualIndependentRuns) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  // A prompt longer than a page, so the forks share full pages and recompute the partial one.
  const std::string prompt =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park. One day,";
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const auto run = engine.run("skeleton-of-thought", {prompt, "4", "12"});
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;
  ASSERT_EQ(run.messages.size(), 4U);
  std::string answer;
  std::vector<std::string> points;
  for (size_t k = 1; k <= 4; ++k) {
    const std::string label = std::to_string(k) + ": ";
    ASSERT_TRUE(run.messages[k - 1].starts_with(label)) << run.messages[k - 1];
    points.push_back(run.messages[k - 1].substr(label.size()));
    answer += (k == 1 ? "" : "\n") + points.back();
    const auto alone = engine.run("skeleton-of-thought", {prompt, "4", "12", std::to_string(k)});
    ASSERT_EQ(alone.end, EventKind::Completed) << alone.result;
    EXPECT_EQ(alone.messages, (std::vector<std::string>{run.messages[k - 1]}));
  }
  EXPECT_EQ(run.result, answer);
  // Different openers: the points differ from each other.
  for (size_t i = 0; i < points.size(); ++i) {
    for (size_t j = i + 1; j < points.size(); ++j) EXPECT_NE(points[i], points[j]);
  }
}

}  // namespace
