// agent-react on stories260K: tools run and their observations are reported in order, and the
// context stays warm across the calls: every token of the final sequence was computed exactly
// once (no re-prefill), far fewer than an agent re-sending its transcript would compute.
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

// The number after `name=` in `report`.
uint64_t field(const std::string& report, const std::string& name) {
  const size_t at = report.find(name + "=");
  EXPECT_NE(at, std::string::npos) << report;
  return std::stoull(report.substr(at + name.size() + 1));
}

TEST(AgentReactTest, ToolCallsKeepTheContextWarm) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const auto run = engine.run(
      "agent-react", {"Who is Lily and how old is she?", "lookup:lily", "add:3+4", "lookup:ball"});
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;
  ASSERT_EQ(run.messages.size(), 4U);
  EXPECT_EQ(run.messages[0], "action 1: lookup:lily -> Lily is a little girl who loves the park.");
  EXPECT_EQ(run.messages[1], "action 2: add:3+4 -> 7");
  EXPECT_EQ(run.messages[2], "action 3: lookup:ball -> The ball is big and red.");
  const std::string& report = run.messages[3];
  std::printf("%s\n", report.c_str());
  // Each token once: the whole sequence, nothing recomputed.
  EXPECT_EQ(field(report, "computed"), field(report, "tokens"));
  EXPECT_LT(field(report, "computed") * 2, field(report, "stateless"));
  // The transcript holds the observations where the actions put them.
  EXPECT_NE(run.result.find("Observation: 7\nThought:"), std::string::npos) << run.result;
}

TEST(AgentReactTest, UnknownToolIsAnError) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const auto run = engine.run("agent-react", {"Why?", "search:x"});
  EXPECT_EQ(run.end, EventKind::Exception);
  EXPECT_NE(run.result.find("unknown tool 'search'"), std::string::npos) << run.result;
}

}  // namespace
