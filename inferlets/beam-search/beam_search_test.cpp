// beam-search on stories260K: a single beam is greedy decoding, and several beams come back sorted
// by score, all different.
#include <gtest/gtest.h>

#include <cstdlib>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

double score_of(const std::string& message) {
  return std::strtod(message.substr(0, message.find('\t')).c_str(), nullptr);
}

const std::string kPrompt = "Once upon a time, there was a big dog";

// `inferlet` with one beam gives greedy decoding's text.
void expect_one_beam_is_greedy(TestEngine& engine, const std::string& inferlet) {
  const RunResult greedy = engine.run(
      "text-completion", {"--prompt", kPrompt, "--max-tokens", "20", "--temperature", "0"});
  ASSERT_EQ(greedy.end, client::EventKind::Completed) << greedy.result;
  const RunResult one =
      engine.run(inferlet, {"--prompt", kPrompt, "--beams", "1", "--max-tokens", "20"});
  ASSERT_EQ(one.end, client::EventKind::Completed) << one.result;
  EXPECT_EQ(one.result, greedy.result) << inferlet;
}

TEST(BeamSearch, OneBeamIsGreedyAndBeamsAreSortedByScore) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  expect_one_beam_is_greedy(engine, "beam-search");
  const std::string& prompt = kPrompt;

  const RunResult three =
      engine.run("beam-search", {"--prompt", prompt, "--beams", "3", "--max-tokens", "20"});
  ASSERT_EQ(three.end, client::EventKind::Completed) << three.result;
  ASSERT_EQ(three.messages.size(), 3U);
  for (size_t i = 1; i < three.messages.size(); ++i) {
    EXPECT_GE(score_of(three.messages[i - 1]), score_of(three.messages[i]));
    EXPECT_NE(three.messages[i - 1], three.messages[i]);
  }
  EXPECT_LT(score_of(three.messages[0]), 0.0);
  EXPECT_EQ(three.result, three.messages[0].substr(three.messages[0].find('\t') + 1));
}

// The JavaScript version (pie.Context.beamSearch): one beam is greedy, and three beams are the C++
// version's, in the same order, with the same scores up to float rounding.
TEST(BeamSearch, JavaScriptVersionDoesTheSame) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  expect_one_beam_is_greedy(engine, "beam-search-js");
  const std::vector<std::string> args = {"--prompt", kPrompt, "--beams", "3", "--max-tokens", "20"};
  const RunResult cpp = engine.run("beam-search", args);
  ASSERT_EQ(cpp.end, client::EventKind::Completed) << cpp.result;
  const RunResult js = engine.run("beam-search-js", args);
  ASSERT_EQ(js.end, client::EventKind::Completed) << js.result;
  ASSERT_EQ(js.messages.size(), cpp.messages.size());
  for (size_t i = 0; i < js.messages.size(); ++i) {
    const std::string& a = js.messages[i];
    const std::string& b = cpp.messages[i];
    EXPECT_EQ(a.substr(a.find('\t')), b.substr(b.find('\t'))) << "beam " << i;
    EXPECT_NEAR(score_of(a), score_of(b), 1e-4) << "beam " << i;
  }
  EXPECT_EQ(js.result, cpp.result);
}

}  // namespace
}  // namespace pie::testing
