// parallel-generation on stories260K: branches forked from one prefix generate exactly what
// independent runs of the same prompts generate (greedy).
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

TEST(ParallelGeneration, ForkedBranchesEqualIndependentRuns) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  // A prompt longer than a page, so the branches share a full page and recompute a partial one.
  const std::vector<std::string> args = {
      "--prompt",     "Once upon a time, there was a little girl named Lily. She loved to",
      "--branch",     " play with her dog",
      "--branch",     " eat a big cake",
      "--max-tokens", "24"};
  const RunResult forked = engine.run("parallel-generation", args);
  ASSERT_EQ(forked.end, client::EventKind::Completed) << forked.result;
  std::vector<std::string> independent_args = args;
  independent_args.push_back("--independent");
  const RunResult independent = engine.run("parallel-generation", independent_args);
  ASSERT_EQ(independent.end, client::EventKind::Completed) << independent.result;

  ASSERT_EQ(forked.messages.size(), 2U);
  EXPECT_EQ(forked.messages, independent.messages);
  EXPECT_NE(forked.messages[0], forked.messages[1]);
  EXPECT_TRUE(forked.messages[0].starts_with(" play with her dog"));
  EXPECT_GT(forked.messages[0].size(), std::string(" play with her dog").size() + 20);
}

}  // namespace
}  // namespace pie::testing
