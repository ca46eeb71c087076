#include "engine/pass_chunks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "engine/testing/fake_backend.h"

namespace pie::engine {
namespace {

using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using protocol::SamplerKind;
using protocol::SamplerSpec;
using ::testing::ElementsAre;

constexpr uint32_t kPage = 4;

// A pass of `n` tokens after `context` tokens already in pages 10, 11, ...
ForwardPassRequest pass(uint32_t context, uint32_t n) {
  ForwardPassRequest r;
  const uint32_t length = context + n;
  const uint32_t pages = (length + kPage - 1) / kPage;
  for (uint32_t p = 0; p < pages; ++p) r.kv_page_ptrs.push_back(10 + p);
  r.kv_page_last_len = length - kPage * (pages - 1);
  for (uint32_t i = 0; i < n; ++i) {
    r.input_tokens.push_back(100 + i);
    r.input_token_positions.push_back(context + i);
  }
  return r;
}

SamplerSpec sampler(SamplerKind kind, uint32_t top_k = 0) {
  SamplerSpec s;
  s.kind = kind;
  if (top_k != 0) s.top_k = top_k;
  return s;
}

TEST(PassChunks, TokensOfAPass) {
  EXPECT_EQ(pass_tokens(pass(3, 5)), 5U);
  EXPECT_EQ(pass_tokens(ForwardPassRequest{}), 1U);
  ForwardPassRequest with_embeds = pass(0, 2);
  with_embeds.input_embed_ptrs = {1, 2, 3};
  EXPECT_EQ(pass_tokens(with_embeds), 5U);
}

TEST(PassChunks, OnlyConsistentPassesAreCut) {
  EXPECT_TRUE(can_split(pass(2, 9), kPage));
  EXPECT_FALSE(can_split(pass(2, 1), kPage));  // nothing to cut
  ForwardPassRequest r = pass(2, 9);
  r.input_embed_ptrs = {0};
  r.input_embed_positions = {0};
  EXPECT_FALSE(can_split(r, kPage));
  r = pass(2, 9);
  r.kv_page_ptrs.pop_back();
  EXPECT_FALSE(can_split(r, kPage));  // pages do not hold the tokens
  r = pass(2, 9);
  r.input_token_positions.pop_back();
  EXPECT_FALSE(can_split(r, kPage));
  r = pass(2, 9);
  r.mask.resize(3);
  EXPECT_FALSE(can_split(r, kPage));
  r = pass(2, 9);
  r.output_token_indices = {9};
  r.output_token_samplers = {sampler(SamplerKind::Multinomial)};
  EXPECT_FALSE(can_split(r, kPage));
  r.kv_page_last_len = 5;
  EXPECT_FALSE(can_split(r, kPage));
}

TEST(PassChunks, AChunkSeesTheSequenceAsItIsAfterItsLastToken) {
  ForwardPassRequest r = pass(2, 9);  // 11 tokens: pages 10, 11, 12, last page holds 3
  r.mask.resize(9);
  for (uint32_t i = 0; i < 9; ++i) r.mask[i] = {2 + i + 1};
  r.output_token_indices = {8, 1, 4};
  r.output_token_samplers = {sampler(SamplerKind::TopK, 5), sampler(SamplerKind::Distribution),
                             sampler(SamplerKind::Multinomial)};
  r.output_embed_ptrs = {3, 4};
  r.output_embed_indices = {0, 7};
  r.adapter = 1;

  ForwardPassRequest a = chunk_of(r, 0, 3, kPage);  // sequence of 5
  EXPECT_THAT(a.input_tokens, ElementsAre(100, 101, 102));
  EXPECT_THAT(a.input_token_positions, ElementsAre(2, 3, 4));
  EXPECT_THAT(a.kv_page_ptrs, ElementsAre(10, 11));
  EXPECT_EQ(a.kv_page_last_len, 1U);
  ASSERT_EQ(a.mask.size(), 3U);
  EXPECT_THAT(a.mask[2], ElementsAre(5));
  EXPECT_THAT(a.output_token_indices, ElementsAre(1));
  EXPECT_EQ(a.output_token_samplers[0].kind, SamplerKind::Distribution);
  EXPECT_THAT(a.output_embed_ptrs, ElementsAre(3));
  EXPECT_THAT(a.output_embed_indices, ElementsAre(0));
  EXPECT_EQ(a.adapter, 1U);

  ForwardPassRequest b = chunk_of(r, 3, 9, kPage);  // the whole sequence
  EXPECT_THAT(b.input_tokens, ElementsAre(103, 104, 105, 106, 107, 108));
  EXPECT_THAT(b.kv_page_ptrs, ElementsAre(10, 11, 12));
  EXPECT_EQ(b.kv_page_last_len, 3U);
  EXPECT_THAT(b.output_token_indices, ElementsAre(5, 1));
  EXPECT_THAT(b.output_embed_indices, ElementsAre(4));
}

TEST(PassChunks, ResponsesComeBackInRequestOrder) {
  ForwardPassRequest r = pass(0, 8);
  r.output_token_indices = {7, 1, 5, 2};
  r.output_token_samplers = {sampler(SamplerKind::Multinomial), sampler(SamplerKind::Distribution),
                             sampler(SamplerKind::Multinomial), sampler(SamplerKind::Distribution)};
  ChunkedResponse assembled(r);
  ForwardPassResponse first;  // chunk [0, 4): outputs 1 (dist) then 3 (dist)
  first.dists = {protocol::Distribution{{11}, {0.5F}}, protocol::Distribution{{22}, {0.5F}}};
  assembled.add(0, 4, first);
  ForwardPassResponse second;  // chunk [4, 8): outputs 0 then 2 (tokens)
  second.tokens = {70, 50};
  assembled.add(4, 8, second);
  ForwardPassResponse whole = assembled.finish();
  EXPECT_THAT(whole.tokens, ElementsAre(70, 50));
  ASSERT_EQ(whole.dists.size(), 2U);
  EXPECT_THAT(whole.dists[0].ids, ElementsAre(11));
  EXPECT_THAT(whole.dists[1].ids, ElementsAre(22));

  ChunkedResponse short_answer(r);
  EXPECT_THROW(short_answer.add(0, 4, ForwardPassResponse{}), Error);
}

// Running the chunks one after the other gives what the whole pass gives.
TEST(PassChunks, ChunksComputeWhatTheWholePassComputes) {
  testing::FakeBackendOptions options;
  options.page_size = kPage;
  testing::FakeBackend whole_backend(options);
  testing::FakeBackend chunked_backend(options);

  // A first pass fills 6 tokens, the second (13 tokens) is cut into 4 + 5 + 4.
  ForwardPassRequest prefix = pass(0, 6);
  ForwardPassRequest r = pass(6, 13);
  for (uint32_t i = 0; i < 13; ++i) {
    r.output_token_indices.push_back(12 - i);
    r.output_token_samplers.push_back(
        sampler(i % 3 == 0 ? SamplerKind::Distribution : SamplerKind::Multinomial, 3));
  }
  ASSERT_TRUE(can_split(r, kPage));
  whole_backend.forward_pass(std::vector{prefix});
  chunked_backend.forward_pass(std::vector{prefix});
  const ForwardPassResponse expected = whole_backend.forward_pass(std::vector{r})[0];
  ASSERT_FALSE(expected.error);

  ChunkedResponse assembled(r);
  const uint32_t cuts[] = {0, 4, 9, 13};
  for (int c = 0; c < 3; ++c) {
    ForwardPassResponse part =
        chunked_backend.forward_pass(std::vector{chunk_of(r, cuts[c], cuts[c + 1], kPage)})[0];
    ASSERT_FALSE(part.error) << *part.error;
    assembled.add(cuts[c], cuts[c + 1], part);
  }
  const ForwardPassResponse got = assembled.finish();
  EXPECT_EQ(got.tokens, expected.tokens);
  ASSERT_EQ(got.dists.size(), expected.dists.size());
  for (size_t i = 0; i < got.dists.size(); ++i) EXPECT_EQ(got.dists[i].ids, expected.dists[i].ids);
}

}  // namespace
}  // namespace pie::engine
