// blobs over the client protocol: blobs of 0 B, 1 B, 256 KiB (one whole chunk) and 5 MiB (many
// chunks) come back byte for byte, in order.
#include <gtest/gtest.h>

#include <random>

#include "test_engine.h"

namespace {

using pie::client::EventKind;
using pie::testing::TestEngine;

std::string random_bytes(size_t size, uint32_t seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (auto& b : bytes) b = static_cast<char>(generator() & 0xFF);
  return bytes;
}

TEST(BlobsTest, EchoesBlobsOfEverySizeIntact) {
  const std::vector<std::string> blobs = {"", random_bytes(1, 1), random_bytes(256 * 1024, 2),
                                          random_bytes(5 * 1024 * 1024, 3)};
  TestEngine engine;
  auto instance = engine.launch("blobs", {std::to_string(blobs.size())});
  for (const auto& blob : blobs) instance.upload_blob(blob);
  const auto run = TestEngine::collect(instance);
  ASSERT_EQ(run.end, EventKind::Completed) << run.result;
  ASSERT_EQ(run.blobs.size(), blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    EXPECT_EQ(run.blobs[i].size(), blobs[i].size()) << "blob " << i;
    EXPECT_TRUE(run.blobs[i] == blobs[i]) << "blob " << i << " differs";
  }
  EXPECT_EQ(run.result,
            "echoed 4 blobs, " + std::to_string(1 + 256 * 1024 + 5 * 1024 * 1024) + " bytes");
}

}  // namespace
