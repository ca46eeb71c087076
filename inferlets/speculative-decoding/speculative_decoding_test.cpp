// speculative-decoding on stories260K: the n-gram drafter's output is exactly greedy decoding's
// (text-completion at temperature 0), produced in fewer forward passes than tokens.
#include <gtest/gtest.h>

#include <cstdlib>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

uint64_t reported(const RunResult& run, const std::string& key) {
  for (const auto& m : run.messages) {
    if (m.starts_with(key)) return std::strtoull(m.c_str() + key.size(), nullptr, 10);
  }
  ADD_FAILURE() << "not reported: " << key;
  return 0;
}

TEST(SpeculativeDecoding, SameTextAsGreedyInFewerPasses) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const RunResult greedy =
      engine.run("text-completion",
                 {"--prompt", "Once upon a time", "--max-tokens", "120", "--temperature", "0"});
  ASSERT_EQ(greedy.end, client::EventKind::Completed) << greedy.result;
  const RunResult drafted =
      engine.run("speculative-decoding", {"--prompt", "Once upon a time", "--max-tokens", "120"});
  ASSERT_EQ(drafted.end, client::EventKind::Completed) << drafted.result;

  EXPECT_EQ(drafted.result, greedy.result);
  EXPECT_EQ(reported(drafted, "tokens: "), 120U);
  const uint64_t passes = reported(drafted, "forward passes: ");
  EXPECT_LT(passes, 120U);
  EXPECT_GT(reported(drafted, "draft tokens accepted: "), 0U);
  // Each pass yields one token of its own plus the draft tokens it confirmed.
  EXPECT_EQ(passes + reported(drafted, "draft tokens accepted: "), 120U);
}

// The JavaScript version (pie.Context.generateWithDrafter, pie.NgramDrafter): greedy decoding's
// text, with the C++ version's passes and accepted drafts.
TEST(SpeculativeDecoding, JavaScriptVersionDoesTheSame) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const std::vector<std::string> args = {"--prompt", "Once upon a time", "--max-tokens", "120"};
  const RunResult cpp = engine.run("speculative-decoding", args);
  ASSERT_EQ(cpp.end, client::EventKind::Completed) << cpp.result;
  const RunResult js = engine.run("speculative-decoding-js", args);
  ASSERT_EQ(js.end, client::EventKind::Completed) << js.result;
  EXPECT_EQ(js.result, cpp.result);
  EXPECT_EQ(js.messages, cpp.messages);
  EXPECT_GT(reported(js, "draft tokens accepted: "), 0U);
}

}  // namespace
}  // namespace pie::testing
