// prefix-caching on stories260K: the first run computes and exports the prefix (miss), the second
// imports it (hit), computes fewer prompt tokens, and continues with the same text.
#include <gtest/gtest.h>

#include <cstdlib>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

// "prompt tokens computed: <n> of <m> ..." -> n
uint64_t computed_tokens(const RunResult& run) {
  for (const auto& m : run.messages) {
    const std::string key = "prompt tokens computed: ";
    if (m.starts_with(key)) return std::strtoull(m.c_str() + key.size(), nullptr, 10);
  }
  ADD_FAILURE() << "no token count reported";
  return 0;
}

std::vector<std::string> args_named(const std::string& name) {
  return {"--prefix",
          "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
          "park. One day, she saw a big, red ball.",
          "--prompt",
          " She wanted to",
          "--name",
          name,
          "--max-tokens",
          "24"};
}

TEST(PrefixCaching, SecondRunImportsThePrefixAndContinuesTheSame) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const std::vector<std::string> args = args_named("story-start");
  const RunResult miss = engine.run("prefix-caching", args);
  ASSERT_EQ(miss.end, client::EventKind::Completed) << miss.result;
  const RunResult hit = engine.run("prefix-caching", args);
  ASSERT_EQ(hit.end, client::EventKind::Completed) << hit.result;

  ASSERT_FALSE(miss.messages.empty());
  ASSERT_FALSE(hit.messages.empty());
  EXPECT_EQ(miss.messages[0], "cache: miss");
  EXPECT_EQ(hit.messages[0], "cache: hit");
  EXPECT_EQ(hit.result, miss.result);
  EXPECT_GT(miss.result.size(), 40U);
  // The prefix holds more than two full pages of 16 tokens: those are not computed again.
  EXPECT_GE(computed_tokens(miss), computed_tokens(hit) + 32);
}

// The JavaScript version (pie.Context.exportPrefix / fromImported) stores the prefix in the C++
// version's format: each imports what the other exported, and all continue with the same text.
TEST(PrefixCaching, JavaScriptAndCppShareExports) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const RunResult cpp_alone = engine.run("prefix-caching", args_named("cpp-only"));
  ASSERT_EQ(cpp_alone.end, client::EventKind::Completed) << cpp_alone.result;
  for (const auto& [first, second] :
       {std::pair<std::string, std::string>{"prefix-caching-js", "prefix-caching"},
        {"prefix-caching", "prefix-caching-js"}}) {
    const std::vector<std::string> args = args_named("shared-by-" + first);
    const RunResult miss = engine.run(first, args);
    ASSERT_EQ(miss.end, client::EventKind::Completed) << first << ": " << miss.result;
    const RunResult hit = engine.run(second, args);
    ASSERT_EQ(hit.end, client::EventKind::Completed) << second << ": " << hit.result;
    ASSERT_FALSE(miss.messages.empty());
    ASSERT_FALSE(hit.messages.empty());
    EXPECT_EQ(miss.messages[0], "cache: miss") << first;
    EXPECT_EQ(hit.messages[0], "cache: hit") << second << " after " << first;
    EXPECT_EQ(miss.result, cpp_alone.result) << first;
    EXPECT_EQ(hit.result, cpp_alone.result) << second << " after " << first;
    EXPECT_GE(computed_tokens(miss), computed_tokens(hit) + 32) << second << " after " << first;
  }
}

}  // namespace
}  // namespace pie::testing
