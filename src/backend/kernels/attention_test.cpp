#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "backend/kernels/kernels.h"
#include "backend/kernels/test_util.h"
#include "common/brle.h"
#include "common/error.h"

namespace pie::kernels {
namespace {

using model::GgmlType;
using testing::IsaScope;
using testing::random_vector;

struct Dims {
  size_t heads;
  size_t kv_heads;
  size_t head_dim;
};

// Keys and values of one sequence laid out in pages: logical slot s of kv head h lives in page
// order[s / page_size], at (h * page_size + s % page_size) * head_dim.
struct PagedSequence {
  std::vector<std::vector<std::byte>> storage;  // physical pages (K then V per page)
  std::vector<const std::byte*> k_pages;
  std::vector<const std::byte*> v_pages;
};

PagedSequence lay_out(const std::vector<float>& k, const std::vector<float>& v, size_t len,
                      const Dims& d, size_t page_size, GgmlType type, uint32_t shuffle_seed) {
  const size_t pages = (len + page_size - 1) / page_size;
  const size_t elem = type == GgmlType::F16 ? 2 : 4;
  const size_t block = d.kv_heads * page_size * d.head_dim * elem;
  PagedSequence p;
  // Extra physical pages, and a random choice among them, so the physical order differs from the
  // logical one.
  p.storage.assign(pages + 3, std::vector<std::byte>(2 * block, std::byte{0x7F}));
  std::vector<size_t> physical(p.storage.size());
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), std::mt19937(shuffle_seed));
  for (size_t pg = 0; pg < pages; ++pg) {
    std::byte* base = p.storage[physical[pg]].data();
    p.k_pages.push_back(base);
    p.v_pages.push_back(base + block);
    for (size_t s = pg * page_size; s < std::min(len, (pg + 1) * page_size); ++s) {
      for (size_t h = 0; h < d.kv_heads; ++h) {
        const size_t off = (h * page_size + s % page_size) * d.head_dim * elem;
        store_row(&k[(s * d.kv_heads + h) * d.head_dim], type, base + off, d.head_dim);
        store_row(&v[(s * d.kv_heads + h) * d.head_dim], type, base + block + off, d.head_dim);
      }
    }
  }
  return p;
}

struct Problem {
  Dims d;
  size_t context;
  size_t tokens;
  std::vector<float> k, v, q;                // k, v: [len][kv_heads][hd]; q: [tokens][heads][hd]
  std::vector<std::vector<uint32_t>> masks;  // empty: causal
};

Problem make_problem(Dims d, size_t context, size_t tokens, uint32_t seed) {
  Problem p{d, context, tokens, {}, {}, {}, {}};
  const size_t len = context + tokens;
  p.k = random_vector(len * d.kv_heads * d.head_dim, seed);
  p.v = random_vector(len * d.kv_heads * d.head_dim, seed + 1);
  p.q = random_vector(tokens * d.heads * d.head_dim, seed + 2);
  return p;
}

std::vector<float> run(ThreadPool& pool, const Problem& p, size_t page_size, GgmlType type,
                       uint32_t shuffle_seed = 1) {
  const PagedSequence paged =
      lay_out(p.k, p.v, p.context + p.tokens, p.d, page_size, type, shuffle_seed);
  std::vector<float> out(p.tokens * p.d.heads * p.d.head_dim, -7.0F);
  std::vector<std::span<const uint32_t>> rows(p.masks.begin(), p.masks.end());
  AttentionSequence seq{paged.k_pages, paged.v_pages, p.context, p.tokens,
                        p.q.data(),    out.data(),    rows};
  const AttentionShape shape{p.d.heads,
                             p.d.kv_heads,
                             p.d.head_dim,
                             page_size,
                             type,
                             p.d.heads * p.d.head_dim,
                             p.d.heads * p.d.head_dim,
                             1.0F / std::sqrt(static_cast<float>(p.d.head_dim))};
  attention(pool, shape, std::span(&seq, 1));
  return out;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "element " << i;
}

// A random mask row over `len` slots that always attends to the token itself.
std::vector<uint32_t> random_row(size_t len, std::mt19937& rng) {
  std::vector<bool> masked(len);
  for (size_t i = 0; i + 1 < len; ++i) masked[i] = rng() % 3 == 0;
  return Brle::from_bits(masked).runs();
}

class Attention : public testing::PerIsa {};

TEST_P(Attention, MatchesScalarReference) {
  ThreadPool pool(2);
  std::mt19937 rng(5);
  for (Dims d : {Dims{8, 4, 8}, Dims{4, 4, 64}, Dims{8, 2, 72}, Dims{16, 8, 128}}) {
    for (GgmlType type : {GgmlType::F32, GgmlType::F16}) {
      for (bool masked : {false, true}) {
        Problem p = make_problem(d, 21, 19, 7);
        if (masked) {
          for (size_t i = 0; i < p.tokens; ++i)
            p.masks.push_back(random_row(p.context + i + 1, rng));
        }
        const std::vector<float> out = run(pool, p, 5, type);
        std::vector<float> ref;
        {
          IsaScope scalar(Isa::Scalar);
          ref = run(pool, p, 5, type);
        }
        expect_close(out, ref, 2e-5);
      }
    }
  }
}

// The result is bit-identical whatever the page size and wherever the pages are.
TEST_P(Attention, IndependentOfPagingAndPlacement) {
  ThreadPool pool(2);
  std::mt19937 rng(9);
  for (GgmlType type : {GgmlType::F32, GgmlType::F16}) {
    Problem p = make_problem(Dims{8, 2, 64}, 37, 11, 11);
    for (size_t i = 0; i < p.tokens; ++i) p.masks.push_back(random_row(p.context + i + 1, rng));
    const std::vector<float> base = run(pool, p, 16, type, 1);
    for (size_t page_size : {1UL, 3UL, 16UL, 64UL}) {
      for (uint32_t placement : {2U, 3U}) {
        EXPECT_EQ(run(pool, p, page_size, type, placement), base)
            << "page size " << page_size << " placement " << placement;
      }
    }
  }
}

// A token's output depends only on its own row: computed with other tokens of its pass or alone
// (as a pass of one token over the same slots), it is the same.
TEST_P(Attention, TokensAreIndependentOfTheirPass) {
  ThreadPool pool(2);
  Problem p = make_problem(Dims{8, 4, 64}, 30, 20, 13);
  const std::vector<float> all = run(pool, p, 8, GgmlType::F32);
  const size_t row = p.d.heads * p.d.head_dim;
  for (size_t t : {0UL, 7UL, 19UL}) {
    Problem one = p;
    one.context = p.context + t;
    one.tokens = 1;
    one.k.resize((one.context + 1) * p.d.kv_heads * p.d.head_dim);
    one.v.resize(one.k.size());
    one.q.assign(p.q.begin() + t * row, p.q.begin() + (t + 1) * row);
    const std::vector<float> alone = run(pool, one, 8, GgmlType::F32);
    for (size_t i = 0; i < row; ++i) ASSERT_EQ(alone[i], all[t * row + i]) << "token " << t;
  }
}

// An explicit all-attend mask gives the causal result, and masks are honoured for single-token
// passes too.
TEST_P(Attention, MaskFormsAndDecodeMasks) {
  ThreadPool pool(1);
  Problem p = make_problem(Dims{4, 2, 32}, 10, 3, 17);
  const std::vector<float> causal = run(pool, p, 4, GgmlType::F32);
  for (size_t i = 0; i < p.tokens; ++i)
    p.masks.push_back({static_cast<uint32_t>(p.context + i + 1), 0});
  EXPECT_EQ(run(pool, p, 4, GgmlType::F32), causal);

  Problem d = make_problem(Dims{4, 2, 32}, 10, 1, 19);
  const std::vector<float> full = run(pool, d, 4, GgmlType::F32);
  d.masks = {{0, 4, 7}};  // skip the first four slots
  const std::vector<float> skipped = run(pool, d, 4, GgmlType::F32);
  EXPECT_NE(skipped, full);
  // Same as a sequence that never had those four slots.
  Problem e = d;
  e.masks.clear();
  e.context = 6;
  e.k.erase(e.k.begin(), e.k.begin() + 4 * 2 * 32);
  e.v.erase(e.v.begin(), e.v.begin() + 4 * 2 * 32);
  expect_close(skipped, run(pool, e, 4, GgmlType::F32), 1e-6);
}

// Several sequences in one call give each its own result.
TEST_P(Attention, SequencesInOneCallAreIndependent) {
  ThreadPool pool(2);
  const Dims d{8, 4, 64};
  std::vector<Problem> problems = {make_problem(d, 0, 12, 21), make_problem(d, 40, 1, 23),
                                   make_problem(d, 7, 5, 25)};
  std::vector<PagedSequence> paged;
  std::vector<std::vector<float>> outs;
  std::vector<AttentionSequence> seqs;
  for (const Problem& p : problems) {
    paged.push_back(lay_out(p.k, p.v, p.context + p.tokens, d, 4, GgmlType::F32, 3));
    outs.emplace_back(p.tokens * d.heads * d.head_dim);
  }
  for (size_t i = 0; i < problems.size(); ++i) {
    seqs.push_back({paged[i].k_pages,
                    paged[i].v_pages,
                    problems[i].context,
                    problems[i].tokens,
                    problems[i].q.data(),
                    outs[i].data(),
                    {}});
  }
  const AttentionShape shape{d.heads,       d.kv_heads,           d.head_dim,           4,
                             GgmlType::F32, d.heads * d.head_dim, d.heads * d.head_dim, 0.125F};
  attention(pool, shape, seqs);
  for (size_t i = 0; i < problems.size(); ++i) {
    EXPECT_EQ(outs[i], run(pool, problems[i], 4, GgmlType::F32, 3)) << "sequence " << i;
  }
}

TEST_P(Attention, RejectsBadShapesAndMasks) {
  ThreadPool pool(1);
  Problem p = make_problem(Dims{4, 2, 16}, 3, 2, 27);
  p.masks = {{4}, {4}};  // second row should cover 5 slots
  EXPECT_THROW(run(pool, p, 4, GgmlType::F32), Error);
  p.masks = {{4}};  // one row for two tokens
  EXPECT_THROW(run(pool, p, 4, GgmlType::F32), Error);
  p.masks.clear();
  p.d = Dims{3, 2, 16};  // 3 query heads over 2 kv heads
  EXPECT_THROW(run(pool, p, 4, GgmlType::F32), Error);
  p.d = Dims{4, 2, 16};
  EXPECT_THROW(run(pool, p, 4, GgmlType::Q8_0), Error);
}

PIE_INSTANTIATE_PER_ISA(Attention);

}  // namespace
}  // namespace pie::kernels
