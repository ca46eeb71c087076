#include "backend/kv/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

#include "backend/model/quant.h"
#include "common/error.h"

namespace pie::kv {
namespace {

using model::GgmlType;

TEST(KvCache, BlocksAreDisjointAndLaidOutByLayerPageKind) {
  const KvCache cache({3, 2, 8, 4, 5, GgmlType::F32});
  EXPECT_EQ(cache.block_bytes(), 2U * 4 * 8 * 4);
  EXPECT_EQ(cache.total_bytes(), cache.block_bytes() * 2 * 5 * 3);
  std::set<const std::byte*> starts;
  for (uint32_t l = 0; l < 3; ++l) {
    for (uint32_t p = 0; p < 5; ++p) {
      starts.insert(cache.keys(l, p));
      starts.insert(cache.values(l, p));
      EXPECT_EQ(cache.values(l, p) - cache.keys(l, p), static_cast<ptrdiff_t>(cache.block_bytes()));
    }
  }
  EXPECT_EQ(starts.size(), 30U);
  EXPECT_EQ(cache.keys(1, 0) - cache.keys(0, 0),
            static_cast<ptrdiff_t>(cache.block_bytes() * 2 * 5));
}

TEST(KvCache, StoresEachHeadAtItsSlot) {
  for (GgmlType type : {GgmlType::F32, GgmlType::F16}) {
    const KvCache cache({2, 3, 4, 8, 2, type});
    std::vector<float> k(12), v(12);
    for (int i = 0; i < 12; ++i) {
      k[i] = static_cast<float>(i) + 0.5F;
      v[i] = -static_cast<float>(i);
    }
    cache.store(1, 1, 5, k.data(), v.data());
    for (uint32_t h = 0; h < 3; ++h) {
      for (uint32_t d = 0; d < 4; ++d) {
        const size_t index = (h * 8 + 5) * 4 + d;
        float kv = 0;
        float vv = 0;
        if (type == GgmlType::F16) {
          uint16_t kh = 0;
          uint16_t vh = 0;
          std::memcpy(&kh, cache.keys(1, 1) + 2 * index, 2);
          std::memcpy(&vh, cache.values(1, 1) + 2 * index, 2);
          kv = model::fp16_to_fp32(kh);
          vv = model::fp16_to_fp32(vh);
        } else {
          std::memcpy(&kv, cache.keys(1, 1) + 4 * index, 4);
          std::memcpy(&vv, cache.values(1, 1) + 4 * index, 4);
        }
        EXPECT_EQ(kv, k[h * 4 + d]);
        EXPECT_EQ(vv, v[h * 4 + d]);
      }
    }
    // Other layers and pages untouched (zero).
    for (size_t i = 0; i < cache.block_bytes(); ++i) {
      ASSERT_EQ(cache.keys(0, 1)[i], std::byte{0});
      ASSERT_EQ(cache.keys(1, 0)[i], std::byte{0});
    }
  }
}

TEST(KvCache, RejectsBadShapes) {
  EXPECT_THROW(KvCache({0, 2, 8, 4, 5, GgmlType::F32}), Error);
  EXPECT_THROW(KvCache({1, 2, 8, 0, 5, GgmlType::F32}), Error);
  EXPECT_THROW(KvCache({1, 2, 8, 4, 5, GgmlType::Q8_0}), Error);
  // Far beyond any address space.
  EXPECT_THROW(KvCache({1000000, 1000, 1000, 1000, 1000, GgmlType::F32}), Error);
}

}  // namespace
}  // namespace pie::kv
