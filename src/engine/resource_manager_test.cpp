#include "engine/resource_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"

namespace pie::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr ResourceType kKv = ResourceType::KvPage;
constexpr ResourceType kEmbed = ResourceType::Embed;
using Pools = std::map<uint32_t, uint32_t>;

bool always(const Fence&) {
  return true;
}

TEST(ResourceManager, HandsOutSmallestFreeIdsFirst) {
  ResourceManager rm(Pools{{0, 8}, {1, 2}});
  EXPECT_EQ(rm.allocate(1, kKv, 3), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(rm.allocate(2, kKv, 2), (std::vector<uint32_t>{3, 4}));
  rm.free_after(kKv, rm.disown(1, kKv, std::vector<uint32_t>{1}), Fence{1, 0});
  rm.release_passed(always);
  EXPECT_EQ(rm.allocate(2, kKv, 2), (std::vector<uint32_t>{1, 5}));
  EXPECT_EQ(rm.available(kKv), 2U);
  EXPECT_EQ(rm.owned_count(2, kKv), 4U);
  EXPECT_EQ(rm.capacity(kEmbed), 2U);
  EXPECT_FALSE(rm.has_pool(ResourceType::Adapter));
}

TEST(ResourceManager, DisownIgnoresIdsTheInstanceDoesNotOwn) {
  ResourceManager rm(Pools{{0, 4}});
  rm.allocate(1, kKv, 2);
  rm.allocate(2, kKv, 1);
  EXPECT_THAT(rm.disown(1, kKv, std::vector<uint32_t>{2, 3, 1}), ElementsAre(1));
  EXPECT_EQ(rm.owned_count(2, kKv), 1U);
  EXPECT_EQ(rm.pending(kKv), 1U);
}

TEST(ResourceManager, FencedIdsReturnOnlyOnceTheFencePasses) {
  ResourceManager rm(Pools{{0, 2}});
  rm.allocate(7, kKv, 2);
  rm.free_after(kKv, rm.disown(7, kKv, std::vector<uint32_t>{0, 1}), Fence{7, 42});
  EXPECT_EQ(rm.available(kKv), 0U);
  EXPECT_FALSE(rm.release_passed([](const Fence&) { return false; }));
  EXPECT_EQ(rm.available(kKv), 0U);
  Fence seen;
  EXPECT_TRUE(rm.release_passed([&](const Fence& f) {
    seen = f;
    return true;
  }));
  EXPECT_EQ(seen.instance, 7U);
  EXPECT_EQ(seen.seq, 42U);
  EXPECT_EQ(rm.available(kKv), 2U);
  EXPECT_EQ(rm.pending(kKv), 0U);
}

TEST(ResourceManager, ExportMovesOwnershipAndSurvivesTheCreator) {
  ResourceManager rm(Pools{{0, 8}});
  rm.allocate(1, kKv, 3);
  rm.export_ids(1, kKv, std::vector<uint32_t>{2, 0}, "prefix", Fence{});
  EXPECT_EQ(rm.owned_count(1, kKv), 1U);
  EXPECT_EQ(rm.exported_ids(kKv), 2U);
  EXPECT_EQ(rm.export_count(kKv), 1U);
  EXPECT_TRUE(rm.can_use(1, kKv, 2));  // the creator keeps using what it exported
  EXPECT_FALSE(rm.can_use(2, kKv, 2));

  auto released = rm.disown_all(1);
  EXPECT_THAT(released[kKv], ElementsAre(1));
  rm.free_after(kKv, released[kKv], Fence{1, 0});
  EXPECT_FALSE(rm.can_use(1, kKv, 2));
  EXPECT_THAT(rm.exports(kKv), ElementsAre(Pair("prefix", 2U)));

  EXPECT_EQ(rm.import_ids(2, kKv, "prefix"), (std::vector<uint32_t>{2, 0}));
  EXPECT_TRUE(rm.can_use(2, kKv, 0));
  EXPECT_EQ(rm.active_instances(), 1U);  // the importer

  const std::vector<uint32_t> unexported = rm.remove_export(kKv, "prefix");
  EXPECT_EQ(unexported, (std::vector<uint32_t>{2, 0}));
  EXPECT_FALSE(rm.can_use(2, kKv, 0));
  EXPECT_EQ(rm.active_instances(), 0U);
  EXPECT_EQ(rm.pending(kKv), 3U);
  rm.free_after(kKv, unexported, Fence{0, 0});
  rm.release_passed(always);
  EXPECT_EQ(rm.available(kKv), 8U);
}

TEST(ResourceManager, ExportErrors) {
  ResourceManager rm(Pools{{0, 8}});
  rm.allocate(1, kKv, 2);
  rm.allocate(2, kKv, 1);
  try {
    rm.export_ids(1, kKv, std::vector<uint32_t>{0, 2}, "x", Fence{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("KV page 2: it is not allocated to this instance"));
  }
  EXPECT_THROW(rm.export_ids(1, kKv, std::vector<uint32_t>{0, 0}, "x", Fence{}), Error);
  EXPECT_EQ(rm.owned_count(1, kKv), 2U);  // a refused export changes nothing
  rm.export_ids(1, kKv, std::vector<uint32_t>{0}, "x", Fence{});
  try {
    rm.export_ids(1, kKv, std::vector<uint32_t>{1}, "x", Fence{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Exported resource with name 'x' already exists");
  }
  EXPECT_THROW(rm.export_ids(2, kKv, std::vector<uint32_t>{0}, "y", Fence{}),
               Error);  // exported already
  try {
    rm.import_ids(2, kKv, "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Exported resource with name 'nope' not found");
  }
  EXPECT_THROW(rm.remove_export(kKv, "nope"), Error);
  EXPECT_THROW(rm.export_ids(1, ResourceType::Adapter, std::vector<uint32_t>{}, "z", Fence{}),
               Error);
}

TEST(ResourceManager, ExportsCarryTheFenceOfTheirWriters) {
  ResourceManager rm(Pools{{0, 8}});
  rm.allocate(1, kKv, 4);
  rm.export_ids(1, kKv, std::vector<uint32_t>{0, 1}, "a", Fence{1, 10});
  rm.export_ids(1, kKv, std::vector<uint32_t>{2}, "b", Fence{1, 12});
  std::vector<Fence> fences;
  rm.fences_for(kKv, std::vector<uint32_t>{3, 1, 0, 2}, fences);
  ASSERT_EQ(fences.size(), 2U);  // one per export, whatever the number of its ids named
  EXPECT_EQ(fences[0].seq, 10U);
  EXPECT_EQ(fences[1].seq, 12U);
  fences.clear();
  rm.fences_for(kKv, std::vector<uint32_t>{3}, fences);  // owned, not exported
  EXPECT_TRUE(fences.empty());
}

TEST(ResourceManager, VictimsAreNewerOwnersNewestFirst) {
  ResourceManager rm(Pools{{0, 16}, {1, 4}});
  rm.allocate(5, kKv, 2);
  rm.allocate(3, kKv, 1);
  rm.allocate(9, kKv, 4);
  rm.allocate(7, kEmbed, 1);  // owns no KV page
  EXPECT_THAT(rm.allocate(8, kKv, 1), ElementsAre(7));
  rm.export_ids(8, kKv, std::vector<uint32_t>{7}, "pinned", Fence{});  // 8 now owns nothing
  rm.import_ids(6, kKv, "pinned");  // imports only: nothing to reclaim
  EXPECT_THAT(rm.owners_newer_than(kKv, 3), ElementsAre(Pair(9U, 4U), Pair(5U, 2U)));
  EXPECT_THAT(rm.owners_newer_than(kKv, 9), ElementsAre());
}

}  // namespace
}  // namespace pie::engine
