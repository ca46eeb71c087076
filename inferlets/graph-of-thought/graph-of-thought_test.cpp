// graph-of-thought on stories260K: as many thoughts as asked, distinct, each (grown on a fork of
// the prompt) equal to the same thought grown alone; the aggregate keeps the best-scoring ones,
// its prompt holds every chosen thought, and its refinement equals running that prompt directly.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

TEST(GraphOfThoughtTest, ThoughtsOnForksAggregateIntoOnePrompt) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  // A prompt longer than a page, so the forks share full pages and recompute the partial one.
  const std::string prompt =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park. One day,";
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const auto graph = engine.run("graph-of-thought", {prompt, "4", "2", "8", "8"});
  ASSERT_EQ(graph.end, EventKind::Completed) << graph.result;
  ASSERT_EQ(graph.messages.size(), 5U);  // 4 thoughts, then the aggregate

  std::map<std::string, std::string> texts;  // by number
  std::vector<std::pair<double, std::string>> by_score;
  for (size_t k = 1; k <= 4; ++k) {
    const std::string& message = graph.messages[k - 1];
    const std::string label = "thought " + std::to_string(k) + " ";
    ASSERT_TRUE(message.starts_with(label)) << message;
    const size_t colon = message.find(": ", label.size());
    ASSERT_NE(colon, std::string::npos) << message;
    by_score.emplace_back(-std::stod(message.substr(label.size(), colon - label.size())),
                          std::to_string(k));
    texts[std::to_string(k)] = message.substr(colon + 2);
    const auto alone =
        engine.run("graph-of-thought", {prompt, "4", "2", "8", "8", std::to_string(k)});
    ASSERT_EQ(alone.end, EventKind::Completed) << alone.result;
    EXPECT_EQ(alone.messages, (std::vector<std::string>{message}));
  }
  for (const auto& [k, text] : texts) {
    for (const auto& [other, other_text] : texts) {
      if (k != other) {
        EXPECT_NE(text, other_text);
      }
    }
  }


  // The two best scores (ties to the earlier thought) are the chosen ones, in score order.
  std::stable_sort(by_score.begin(), by_score.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::string chosen = by_score[0].second + "," + by_score[1].second;
  const std::string& aggregate = graph.messages[4];
  const std::string label = "aggregate " + chosen + ": ";
  ASSERT_TRUE(aggregate.starts_with(label)) << aggregate;
  const std::string merged = aggregate.substr(label.size());
  EXPECT_TRUE(merged.starts_with(prompt)) << merged;
  EXPECT_EQ(merged, prompt + "\n" + texts[by_score[0].second] + "\n" + texts[by_score[1].second]);

  const auto direct = engine.run("graph-of-thought", {"--merged", merged, "8"});
  ASSERT_EQ(direct.end, EventKind::Completed) << direct.result;
  EXPECT_FALSE(direct.result.empty());
  EXPECT_EQ(graph.result, direct.result);
}

}  // namespace
