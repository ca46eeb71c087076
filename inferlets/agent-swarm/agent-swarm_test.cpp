// agent-swarm and agent-swarm-js on stories260K: four agents chained by broadcast/subscribe hand
// the story along; the last one delivers the prompt followed by every agent's part, in pipeline
// order, to its client.
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

constexpr const char* kPrompt = "Once upon a time";
const std::vector<std::string> kCues = {"", " One day,", " Her friend", " She said, \""};

// Runs one swarm of `program` and returns the finished story.
std::string run_swarm(TestEngine& engine, const std::string& program) {
  // Downstream agents first: each says "ready" once subscribed.
  std::vector<pie::client::Instance> agents;
  for (const char* role : {"plot", "characters", "dialogue"}) {
    agents.push_back(engine.launch(program, {"tale", role}));
    const auto ready = agents.back().recv_for(std::chrono::seconds(60));
    EXPECT_TRUE(ready && ready->kind == EventKind::Message && ready->data == "ready")
        << role << " did not subscribe";
  }
  agents.insert(agents.begin(), engine.launch(program, {"tale", "idea", kPrompt}));

  std::string expected = kPrompt;
  std::string story;
  for (size_t i = 0; i < agents.size(); ++i) {
    const auto run = TestEngine::collect(agents[i]);
    if (run.end != EventKind::Completed || run.messages.empty()) {
      // The agents after it would wait for nothing: stop here (the engine ends them).
      ADD_FAILURE() << "agent " << i << " failed: " << run.result;
      return story;
    }
    const std::string& part = run.messages.back();  // "ready" (downstream agents), then its part
    EXPECT_TRUE(part.starts_with(kCues[i])) << part;
    EXPECT_GT(part.size(), kCues[i].size() + 8) << "agent " << i << " wrote too little: " << part;
    expected += part;
    // Every agent completes with the story so far.
    EXPECT_EQ(run.result, expected) << "agent " << i;
    story = run.result;
  }
  return story;
}

TEST(AgentSwarmTest, FourAgentsBuildTheStoryInPipelineOrder) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const std::string story = run_swarm(engine, "agent-swarm");
  EXPECT_TRUE(story.starts_with(kPrompt)) << story;
}

TEST(AgentSwarmTest, JavaScriptAgentsWriteTheSameStory) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  // Both generate greedily from the same text, so the stories agree token for token.
  EXPECT_EQ(run_swarm(engine, "agent-swarm-js"), run_swarm(engine, "agent-swarm"));
}

TEST(AgentSwarmTest, RejectsAnUnknownRole) {
  TestEngine engine;
  const auto run = engine.run("agent-swarm", {"tale", "narrator"});
  EXPECT_EQ(run.end, EventKind::Exception);
  EXPECT_NE(run.result.find("unknown role 'narrator'"), std::string::npos) << run.result;
}

}  // namespace
