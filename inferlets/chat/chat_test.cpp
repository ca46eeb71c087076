// chat on stories260K: each client message gets its reply before the next is sent, and a turn
// computes only its own new tokens, not the earlier turns again.
#include <gtest/gtest.h>

#include <cstdlib>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

struct TurnStats {
  uint64_t prefilled = 0;
  uint64_t fresh = 0;
  uint64_t context = 0;
};

// "turn <n>: prefilled <p> tokens, new <m>, context <t> tokens"
TurnStats parse_stats(const std::string& line) {
  TurnStats s;
  auto number_after = [&](const std::string& key) {
    const size_t at = line.find(key);
    EXPECT_NE(at, std::string::npos) << line;
    return at == std::string::npos ? 0 : std::strtoull(line.c_str() + at + key.size(), nullptr, 10);
  };
  s.prefilled = number_after("prefilled ");
  s.fresh = number_after("new ");
  s.context = number_after("context ");
  return s;
}

std::string next_message(client::Instance& instance) {
  const auto event = instance.recv_for(std::chrono::seconds(60));
  EXPECT_TRUE(event.has_value());
  if (!event) return {};
  EXPECT_EQ(event->kind, client::EventKind::Message) << event->data;
  return event->data;
}

TEST(Chat, EachTurnComputesOnlyItsNewTokens) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  client::Instance chat = engine.launch("chat", {"--turns", "3", "--max-tokens", "16"});
  const std::vector<std::string> turns = {"Once upon a time, there was a dog.",
                                          "The dog liked to run.", "One day it saw a cat."};
  uint64_t previous_context = 0;
  for (size_t i = 0; i < turns.size(); ++i) {
    chat.send(turns[i]);
    const std::string reply = next_message(chat);  // the reply comes before the next message
    const TurnStats stats = parse_stats(next_message(chat));
    EXPECT_TRUE(reply.size() > 0) << "turn " << i + 1;
    EXPECT_EQ(stats.prefilled, stats.fresh) << "turn " << i + 1;
    EXPECT_GT(stats.context, previous_context);
    if (i > 0) {
      // Earlier turns stay in the KV cache: only the new turn (and the last reply's final token,
      // not computed yet) goes through the model.
      EXPECT_LT(stats.prefilled, previous_context) << "turn " << i + 1;
      EXPECT_LE(stats.prefilled, stats.context - previous_context + 1) << "turn " << i + 1;
    }
    previous_context = stats.context;
  }
  const RunResult end = TestEngine::collect(chat);
  EXPECT_EQ(end.end, client::EventKind::Completed) << end.result;
  EXPECT_EQ(end.result, "conversation of 3 turns");
}

}  // namespace
}  // namespace pie::testing
