// recursion-of-thought on stories260K, 2 sub-problems per problem, 3 levels deep: 1, 2, 4 and 8
// calls at depths 0 to 3, each leaf (solved on forks of forks) equal to the same leaf solved alone
// in a fresh context, and the answer the bottom-up combination of the calls' openers and leaves.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

// "<kind> <path>: <text>" split into its parts.
struct Call {
  std::string kind;
  std::string path;
  std::string text;
};

Call parse(const std::string& message) {
  const size_t space = message.find(' ');
  const size_t colon = message.find(": ");
  if (space == std::string::npos || colon == std::string::npos || colon < space) return {};
  return {message.substr(0, space), message.substr(space + 1, colon - space - 1),
          message.substr(colon + 2)};
}

// What the answer of `path` must be: leaves as sent, problems "<opener>(<sub> | <sub>)".
std::string combination(const std::string& path, const std::map<std::string, std::string>& openers,
                        const std::map<std::string, std::string>& leaves) {
  if (leaves.contains(path)) return leaves.at(path);
  return openers.at(path) + "(" + combination(path + ".1", openers, leaves) + " | " +
         combination(path + ".2", openers, leaves) + ")";
}

TEST(RecursionOfThoughtTest, LeavesOnForksEqualTheirPathsAloneAndCombineBottomUp) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  const std::string prompt = "Once upon a time, there was a little girl named Lily. One day,";
  const auto run = engine.run("recursion-of-thought", {prompt, "2", "3", "5"});
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;

  std::map<std::string, std::string> openers;  // per solved path
  std::map<std::string, std::string> leaves;
  std::map<size_t, size_t> calls_at_depth;
  for (const std::string& message : run.messages) {
    const Call call = parse(message);
    if (call.kind == "solve") {
      EXPECT_TRUE(openers.emplace(call.path, call.text).second) << "solved twice: " << message;
      calls_at_depth[std::count(call.path.begin(), call.path.end(), '.')]++;
    } else {
      ASSERT_EQ(call.kind, "leaf") << message;
      // A leaf is answered right after it is called, and its answer opens with its opener.
      ASSERT_TRUE(openers.contains(call.path)) << message;
      EXPECT_TRUE(call.text.starts_with(openers[call.path])) << message;
      EXPECT_GT(call.text.size(), openers[call.path].size()) << message;
      leaves[call.path] = call.text;
      const auto alone = engine.run("recursion-of-thought", {prompt, "2", "3", "5", call.path});
      ASSERT_EQ(alone.end, EventKind::Completed) << alone.result;
      EXPECT_EQ(alone.messages, (std::vector<std::string>{message}));
      EXPECT_EQ(alone.result, call.text);
    }
  }
  EXPECT_EQ(calls_at_depth, (std::map<size_t, size_t>{{0, 1}, {1, 2}, {2, 4}, {3, 8}}));
  ASSERT_EQ(leaves.size(), 8U);
  for (const auto& [path, text] : leaves) EXPECT_EQ(path.size(), 7U) << path;  // r.a.b.c
  EXPECT_EQ(openers.at("r"), "");
  EXPECT_EQ(run.result, combination("r", openers, leaves));
}

}  // namespace
