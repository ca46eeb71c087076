// text-completion on stories260K over the real protocol: greedy completion of "Once upon a time"
// continues llama2.c's golden text, and the streamed messages add up to the returned completion.
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

constexpr const char* kGolden = ::pie::testing::kStories260kGolden;

std::string joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

void expect_golden_completion(const std::string& inferlet) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const std::string prompt = "Once upon a time";
  const RunResult run =
      engine.run(inferlet, {"--prompt", prompt, "--max-tokens", "120", "--temperature", "0"});
  ASSERT_EQ(run.end, client::EventKind::Completed) << run.result;
  // 120 tokens of the golden story, after the prompt.
  EXPECT_GE(run.result.size(), 300U);
  EXPECT_EQ(prompt + run.result, std::string(kGolden).substr(0, prompt.size() + run.result.size()));
  EXPECT_GT(run.messages.size(), 50U);  // streamed token by token, not at the end
  EXPECT_EQ(joined(run.messages), run.result);
}

TEST(TextCompletion, GreedyContinuesTheGoldenStoryAndStreamsIt) {
  expect_golden_completion("text-completion");
}

TEST(TextCompletion, JavaScriptVersionDoesTheSame) {
  expect_golden_completion("text-completion-js");
}

// Both versions' flags (pie::Flags, pie.Flags) refuse bad values and unknown options by name.
TEST(TextCompletion, BadArgumentsEndWithAClearError) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  for (const std::string name : {"text-completion", "text-completion-js"}) {
    RunResult run = engine.run(name, {"--max-tokens", "ten"});
    EXPECT_EQ(run.end, client::EventKind::Exception) << name;
    EXPECT_NE(run.result.find(name + ": --max-tokens takes a positive integer, not ten"),
              std::string::npos)
        << run.result;
    run = engine.run(name, {"--colour", "red"});
    EXPECT_EQ(run.end, client::EventKind::Exception) << name;
    EXPECT_NE(run.result.find(name + ": unknown option --colour (options: --prompt, --system, "
                                     "--max-tokens, --temperature)"),
              std::string::npos)
        << run.result;
    run = engine.run(name, {"--prompt"});
    EXPECT_NE(run.result.find(name + ": --prompt needs a value"), std::string::npos) << run.result;
  }
}

}  // namespace
}  // namespace pie::testing
