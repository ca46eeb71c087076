// parallel-generation on stories260K: branches forked from one prefix generate exactly what
// independent runs of the same prompts generate (greedy), in C++ and in JavaScript alike.
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

// A prompt longer than a page, so the branches share a full page and recompute a partial one.
const std::vector<std::string> kArgs = {
    "--prompt",     "Once upon a time, there was a little girl named Lily. She loved to",
    "--branch",     " play with her dog",
    "--branch",     " eat a big cake",
    "--max-tokens", "24"};

TEST(ParallelGeneration, ForkedBranchesEqualIndependentRuns) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const std::vector<std::string>& args = kArgs;
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

// The JavaScript version (pie.Context: fork, generateAll, close) gives the C++ version's text,
// forked and independent.
TEST(ParallelGeneration, JavaScriptVersionDoesTheSame) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const RunResult cpp = engine.run("parallel-generation", kArgs);
  ASSERT_EQ(cpp.end, client::EventKind::Completed) << cpp.result;
  const RunResult forked = engine.run("parallel-generation-js", kArgs);
  ASSERT_EQ(forked.end, client::EventKind::Completed) << forked.result;
  std::vector<std::string> independent_args = kArgs;
  independent_args.push_back("--independent");
  const RunResult independent = engine.run("parallel-generation-js", independent_args);
  ASSERT_EQ(independent.end, client::EventKind::Completed) << independent.result;
  EXPECT_EQ(forked.messages, cpp.messages);
  EXPECT_EQ(independent.messages, cpp.messages);
  EXPECT_EQ(forked.result, cpp.result);
}

}  // namespace
}  // namespace pie::testing
