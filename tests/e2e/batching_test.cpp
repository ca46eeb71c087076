// Many inferlets at once on one model: their forward passes share batches, and batching changes no
// result. 32 text-completion instances run concurrently on stories260K; each output must equal the
// same prompt's solo run, and the backend must have run fewer batches than forward passes.
#include <gtest/gtest.h>

#include <cstdio>

#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

constexpr int kInstances = 32;
const std::vector<std::string> kPrompts = {
    "Once upon a time",   "Lily and Ben",    "The big dog", "One day, a bird",
    "Tom had a red ball", "The sun was hot", "Mom said",    "A little fish"};

uint64_t status_count(TestEngine& engine, const std::string& key) {
  return std::stoull(engine.model_status().at("stories260K.scheduler." + key));
}

TEST(BatchingTest, ConcurrentInferletsShareBatchesAndGetTheirSoloResults) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  TestEngine engine({.model = model, .kv_pages = 512});
  const auto args = [](const std::string& prompt) {
    return std::vector<std::string>{"--prompt", prompt, "--max-tokens", "48"};
  };

  std::vector<std::string> solo;
  for (const auto& prompt : kPrompts) {
    const RunResult r = engine.run("text-completion", args(prompt));
    ASSERT_EQ(r.end, client::EventKind::Completed) << r.result;
    ASSERT_FALSE(r.result.empty());
    solo.push_back(r.result);
  }

  const uint64_t batches_before = status_count(engine, "batches");
  const uint64_t passes_before = status_count(engine, "forward_passes");
  std::vector<client::Instance> instances;
  for (int i = 0; i < kInstances; ++i) {
    instances.push_back(engine.launch("text-completion", args(kPrompts[i % kPrompts.size()])));
  }
  for (int i = 0; i < kInstances; ++i) {
    const RunResult r = TestEngine::collect(instances[i]);
    ASSERT_EQ(r.end, client::EventKind::Completed) << r.result;
    EXPECT_EQ(r.result, solo[i % kPrompts.size()]) << "instance " << i;
  }
  const uint64_t batches = status_count(engine, "batches") - batches_before;
  const uint64_t passes = status_count(engine, "forward_passes") - passes_before;
  std::printf(
      "%d concurrent text-completion instances: %llu forward passes in %llu batches "
      "(%.1f passes per batch)\n",
      kInstances, static_cast<unsigned long long>(passes), static_cast<unsigned long long>(batches),
      static_cast<double>(passes) / static_cast<double>(batches));
  EXPECT_GE(passes, static_cast<uint64_t>(kInstances) * 48);
  EXPECT_LT(batches, passes);
  EXPECT_EQ(engine.model_status().at("stories260K.resource.0.available"), "512");
}

}  // namespace
}  // namespace pie::testing
