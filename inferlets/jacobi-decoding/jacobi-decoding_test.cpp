// jacobi-decoding on stories260K: from the begin-of-sequence token, its text is llama2.c's golden
// greedy text, whatever the window, and it needs fewer forward passes than tokens.
#include <gtest/gtest.h>

#include "shared_data.h"
#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

constexpr const char* kGolden = ::pie::testing::kStories260kGolden;

// "tokens=<n> passes=<p>" -> p
uint32_t passes_of(const std::string& report) {
  const size_t at = report.find("passes=");
  EXPECT_NE(at, std::string::npos) << report;
  return static_cast<uint32_t>(std::stoul(report.substr(at + 7)));
}

TEST(JacobiDecodingTest, ReproducesGreedyTextInFewerPasses) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine(pie::testing::TestEngineOptions{.model = model});
  for (const char* window : {"1", "4", "8"}) {
    const auto run = engine.run("jacobi-decoding", {"<s>", "200", window});
    ASSERT_EQ(run.end, EventKind::Completed) << run.result;
    EXPECT_EQ(run.result, kGolden) << "window " << window;
    ASSERT_EQ(run.messages.size(), 1U);
    const uint32_t passes = passes_of(run.messages[0]);
    std::printf("window %s: %s\n", window, run.messages[0].c_str());
    EXPECT_TRUE(run.messages[0].starts_with("tokens=200 ")) << run.messages[0];
    EXPECT_LE(passes, 200U);
    // Guesses left over from earlier passes sometimes turn out right, even with a window of 1.
    EXPECT_LT(passes, 200U);
  }
}

}  // namespace
