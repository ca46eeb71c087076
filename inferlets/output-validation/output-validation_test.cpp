// output-validation on stories260K: the candidates' normalised probabilities sum to 1, the model's
// own greedy continuation wins, and a candidate's score does not depend on the other candidates
// (each one continues its own fork of the prompt).
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

struct Score {
  double p = 0;
  double logp = 0;
  std::string text;
};

// "p=<p> logp=<logp> <text>"
Score parse(const std::string& line) {
  Score s;
  const size_t logp_at = line.find(" logp=");
  const size_t text_at = line.find(' ', logp_at + 1);
  EXPECT_TRUE(line.starts_with("p=") && logp_at != std::string::npos) << line;
  s.p = std::stod(line.substr(2, logp_at - 2));
  s.logp = std::stod(line.substr(logp_at + 6, text_at - logp_at - 6));
  s.text = line.substr(text_at + 1);
  return s;
}

constexpr const char* kPrompt = "Once upon a time";
// The golden greedy text of stories260K goes on ", there was a little girl named Lily."
constexpr const char* kGreedy = ", there was a little girl named Lily.";

TEST(OutputValidationTest, ScoresCandidatesByLikelihood) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const std::vector<std::string> candidates = {" the moon sang to a green table.", kGreedy,
                                               ", there was a big dog named Max."};
  std::vector<std::string> args = {kPrompt};
  args.insert(args.end(), candidates.begin(), candidates.end());
  const auto run = engine.run("output-validation", args);
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;
  EXPECT_EQ(run.result, kGreedy);
  ASSERT_EQ(run.messages.size(), candidates.size());
  double sum = 0;
  std::vector<Score> scores;
  for (size_t i = 0; i < candidates.size(); ++i) {
    scores.push_back(parse(run.messages[i]));
    EXPECT_EQ(scores[i].text, candidates[i]);
    EXPECT_LT(scores[i].logp, 0.0);
    EXPECT_GE(scores[i].p, 0.0);
    sum += scores[i].p;
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_GT(scores[1].p, 0.5);
  EXPECT_GT(scores[1].logp, scores[2].logp);
  EXPECT_GT(scores[2].logp, scores[0].logp);

  // Alone, a candidate gets the same log-probability: forks do not disturb each other.
  const auto alone = engine.run("output-validation", {kPrompt, candidates[2]});
  ASSERT_EQ(alone.end, EventKind::Completed) << alone.result;
  ASSERT_EQ(alone.messages.size(), 1U);
  const Score single = parse(alone.messages[0]);
  EXPECT_NEAR(single.logp, scores[2].logp, 1e-3);
  EXPECT_NEAR(single.p, 1.0, 1e-6);
}

}  // namespace
