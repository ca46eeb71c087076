// attention-sink on stories260K: the KV pages in use plateau while generation goes on (masked pages
// are freed), far below what the whole sequence would take; the JavaScript version does the same.
#include <gtest/gtest.h>

#include <cstdlib>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

TEST(AttentionSink, PageCountPlateaus) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const RunResult run = engine.run(
      "attention-sink", {"--prompt", "Once upon a time", "--max-tokens", "256", "--window", "32"});
  ASSERT_EQ(run.end, client::EventKind::Completed) << run.result;
  // "tokens <n> pages <p>", every 16 tokens.
  std::vector<uint64_t> pages;
  for (const auto& m : run.messages) {
    const size_t at = m.find(" pages ");
    ASSERT_NE(at, std::string::npos) << m;
    pages.push_back(std::strtoull(m.c_str() + at + 7, nullptr, 10));
  }
  ASSERT_EQ(pages.size(), 16U);
  // 256 tokens and the prompt would take 17 pages of 16; the window needs about 3 or 4.
  const uint64_t plateau = pages[pages.size() / 2];
  EXPECT_LE(plateau, 5U);
  for (size_t i = pages.size() / 2; i < pages.size(); ++i) EXPECT_LE(pages[i], plateau + 1) << i;
  EXPECT_GT(run.result.size(), 500U);
}

// The JavaScript version (pie.Context.maskTokenRange, dropMaskedKvPages) holds the same pages at
// every point and generates the same text.
TEST(AttentionSink, JavaScriptVersionDoesTheSame) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model});
  const std::vector<std::string> args = {
      "--prompt", "Once upon a time", "--max-tokens", "128", "--sink", "4", "--window", "20"};
  const RunResult cpp = engine.run("attention-sink", args);
  ASSERT_EQ(cpp.end, client::EventKind::Completed) << cpp.result;
  const RunResult js = engine.run("attention-sink-js", args);
  ASSERT_EQ(js.end, client::EventKind::Completed) << js.result;
  EXPECT_EQ(js.messages, cpp.messages);
  EXPECT_EQ(js.result, cpp.result);
  EXPECT_EQ(js.messages.size(), 8U);
}

}  // namespace
}  // namespace pie::testing
