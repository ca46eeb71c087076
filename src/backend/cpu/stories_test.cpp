// CpuBackend on a real trained model, stories260K (llama2.c checkpoint): the golden greedy text,
// batch invariance, shared pages, masks and draft trees.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/test_sequence.h"
#include "backend/kernels/isa.h"
#include "backend/model/convert.h"
#include "backend/model/model_file.h"
#include "backend/tokenizer/tokenizer.h"
#include "shared_data.h"

namespace pie::cpu {
namespace {

using protocol::Distribution;
using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using testing::PagePool;
using testing::TestSequence;

constexpr const char* kGolden = ::pie::testing::kStories260kGolden;

constexpr uint32_t kBos = 1;

std::shared_ptr<const model::ModelFile> open_stories(const std::filesystem::path& path) {
  return std::make_shared<const model::ModelFile>(model::open_model(path));
}

CpuBackendOptions options(uint32_t page_size, uint32_t pages = 256) {
  CpuBackendOptions o;
  o.kv_page_size = page_size;
  o.kv_pages = pages;
  o.threads = 2;
  o.seed = 1;
  return o;
}

protocol::SamplerSpec greedy() {
  protocol::SamplerSpec s;
  s.kind = protocol::SamplerKind::Multinomial;
  s.temperature = 0;
  return s;
}

// Generates greedily from BOS as llama2.c's `-n steps` does: `steps` forward passes at positions
// 0 .. steps-1, each printing the token it produces; decoded with llama2.c's rule (the leading
// space of the token after BOS is dropped).
std::string generate(CpuBackend& backend, const tokenizer::Tokenizer& tok, uint32_t page_size,
                     int steps) {
  PagePool pages(backend.options().kv_pages, 3);
  TestSequence seq(page_size, pages);
  uint32_t token = kBos;
  std::string text;
  for (int pos = 0; pos < steps; ++pos) {
    ForwardPassRequest r = seq.append({token}, {});
    r.output_token_indices = {0};
    r.output_token_samplers = {greedy()};
    const auto out = backend.forward_pass(std::span(&r, 1));
    EXPECT_FALSE(out[0].error.has_value()) << *out[0].error;
    if (out[0].tokens.size() != 1) return text;
    const uint32_t next = out[0].tokens[0];
    if (next == kBos) break;  // llama2.c stops when the model starts a new story
    std::string piece = tok.token_bytes(next);
    if (token == kBos && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    text += piece;
    token = next;
  }
  return text;
}

class Stories : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path path =
        ::pie::testing::shared_file("models/stories260K/stories260K.bin");
    if (path.empty()) {
      if (::pie::testing::in_ci()) FAIL() << "shared file missing under CI: stories260K.bin";
      GTEST_SKIP() << "shared file missing: models/stories260K/stories260K.bin";
    }
    model_ = open_stories(path);
  }
  std::shared_ptr<const model::ModelFile> model_;
};

TEST_F(Stories, GeneratesTheGoldenTextOnEveryIsa) {
  const tokenizer::Tokenizer tok(model_->tokenizer());
  for (kernels::Isa isa : kernels::available_isas()) {
    const kernels::Isa saved = kernels::active_isa();
    kernels::force_isa(isa);
    CpuBackend backend(model_, options(16));
    EXPECT_EQ(generate(backend, tok, 16, 200), kGolden) << "isa " << kernels::isa_name(isa);
    kernels::force_isa(saved);
  }
}

// The same model converted to GGUF (its tokenizer as SentencePiece keys) generates the same text.
TEST_F(Stories, GgufConversionGeneratesTheGoldenText) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("pie_stories_gguf_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path gguf = dir / "stories260K.gguf";
  model::convert_llama2c(model_->path(), model_->path().parent_path() / "tok512.bin", gguf);
  {
    auto converted = std::make_shared<const model::ModelFile>(model::open_model(gguf));
    EXPECT_EQ(converted->format(), model::FileFormat::Gguf);
    const tokenizer::Tokenizer tok(converted->tokenizer());
    CpuBackend backend(converted, options(16));
    EXPECT_EQ(generate(backend, tok, 16, 200), kGolden);
  }
  std::filesystem::remove_all(dir);
}

TEST_F(Stories, GoldenTextWithOtherPageSizes) {
  const tokenizer::Tokenizer tok(model_->tokenizer());
  for (uint32_t page_size : {1U, 7U, 64U}) {
    CpuBackend backend(model_, options(page_size, 512));
    EXPECT_EQ(generate(backend, tok, page_size, 200), kGolden) << "page size " << page_size;
  }
}

void expect_same_dists(const std::vector<Distribution>& a, const std::vector<Distribution>& b,
                       double rel, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].ids, b[i].ids) << what << " output " << i;
    for (size_t j = 0; j < a[i].probs.size(); ++j) {
      ASSERT_NEAR(a[i].probs[j], b[i].probs[j], rel * a[i].probs[j]) << what << " output " << i;
    }
  }
}

std::vector<uint32_t> tokens_of(const tokenizer::Tokenizer& tok, const std::string& text) {
  std::vector<uint32_t> ids = {kBos};
  for (uint32_t id : tok.encode(text)) ids.push_back(id);
  return ids;
}

// A sequence's distributions are the same alone and inside batches of other sequences' prefill and
// decode passes, whatever the page size and wherever its pages are.
TEST_F(Stories, DistributionsAreBatchInvariant) {
  const tokenizer::Tokenizer tok(model_->tokenizer());
  const std::vector<uint32_t> a = tokens_of(tok, "Once upon a time, a cat sat on a mat and looked");
  const std::vector<uint32_t> b = tokens_of(tok, "The dog ran to the park with his ball");
  const std::vector<uint32_t> c = tokens_of(tok, "Tim and Sue");

  // Alone: prefill of a, then three decode steps (a's own next tokens, fixed).
  const std::vector<uint32_t> a_next = {tok.encode("and")[0], tok.encode("then")[0],
                                        tok.encode("it")[0]};
  std::vector<Distribution> alone;
  {
    CpuBackend backend(model_, options(16));
    PagePool pages(256, 1);
    TestSequence sa(16, pages);
    ForwardPassRequest r = sa.append(a, {0, 5, static_cast<uint32_t>(a.size() - 1)});
    auto out = backend.forward_pass(std::span(&r, 1));
    alone = out[0].dists;
    for (uint32_t t : a_next) {
      r = sa.append({t}, {0});
      out = backend.forward_pass(std::span(&r, 1));
      alone.push_back(out[0].dists[0]);
    }
  }
  for (uint32_t page_size : {3U, 16U, 32U}) {
    CpuBackend backend(model_, options(page_size));
    PagePool pages(256, 7 + page_size);
    TestSequence sa(page_size, pages), sb(page_size, pages), sc(page_size, pages);
    std::vector<Distribution> together;
    // Pass 1: c's prefill, a's prefill, b's first half.
    std::vector<ForwardPassRequest> batch = {
        sc.append(c, {static_cast<uint32_t>(c.size() - 1)}),
        sa.append(a, {0, 5, static_cast<uint32_t>(a.size() - 1)}),
        sb.append(std::vector<uint32_t>(b.begin(), b.begin() + 4), {3})};
    auto out = backend.forward_pass(batch);
    together = out[1].dists;
    // Then a decodes while b prefills the rest and c decodes.
    for (size_t step = 0; step < a_next.size(); ++step) {
      batch.clear();
      if (step == 0)
        batch.push_back(sb.append(std::vector<uint32_t>(b.begin() + 4, b.end()), {0, 1}));
      batch.push_back(sc.append({tok.encode("went")[0]}, {0}));
      batch.push_back(sa.append({a_next[step]}, {0}));
      out = backend.forward_pass(batch);
      together.push_back(out.back().dists[0]);
      for (const auto& o : out) ASSERT_FALSE(o.error.has_value()) << *o.error;
    }
    expect_same_dists(alone, together, 1e-5, "page size " + std::to_string(page_size));
  }
}

// A sequence that reuses another's pages for a common prefix gets the distributions it would get
// with its own copy of that prefix.
TEST_F(Stories, SharedPrefixPagesMatchPrivateCopies) {
  const tokenizer::Tokenizer tok(model_->tokenizer());
  const std::vector<uint32_t> prefix = tokens_of(tok, "Once upon a time, there was a big red");
  ASSERT_GE(prefix.size(), 8U);
  const std::vector<uint32_t> shared(prefix.begin(), prefix.begin() + 8);  // two pages of 4
  const std::vector<uint32_t> tail1 = tok.encode("bird that sang");
  const std::vector<uint32_t> tail2 = tok.encode("fish in the sea");

  CpuBackend backend(model_, options(4));
  PagePool pages(256, 5);
  TestSequence owner(4, pages);
  ForwardPassRequest r = owner.append(shared, {});
  backend.forward_pass(std::span(&r, 1));

  TestSequence fork1(4, pages), fork2(4, pages);
  fork1.share_prefix(owner, 8);
  fork2.share_prefix(owner, 8);
  std::vector<ForwardPassRequest> batch = {fork1.append(tail1, {0, 1, 2}),
                                           fork2.append(tail2, {0, 2, 3})};
  const auto forks = backend.forward_pass(batch);

  for (int i = 0; i < 2; ++i) {
    const std::vector<uint32_t>& tail = i == 0 ? tail1 : tail2;
    std::vector<uint32_t> full = shared;
    full.insert(full.end(), tail.begin(), tail.end());
    CpuBackend fresh(model_, options(4));
    PagePool own(256, 11);
    TestSequence s(4, own);
    const std::vector<uint32_t> idx =
        i == 0 ? std::vector<uint32_t>{8, 9, 10} : std::vector<uint32_t>{8, 10, 11};
    ForwardPassRequest req = s.append(full, idx);
    const auto ref = fresh.forward_pass(std::span(&req, 1));
    expect_same_dists(ref[0].dists, forks[i].dists, 1e-5, "fork " + std::to_string(i));
  }
}

// A mask hiding a span gives the outputs of a sequence built without that span (same positions).
TEST_F(Stories, MaskHidingASpanEqualsSequenceWithoutIt) {
  const tokenizer::Tokenizer tok(model_->tokenizer());
  const std::vector<uint32_t> p = tokens_of(tok, "Once upon a time there was");
  const std::vector<uint32_t> s = tok.encode("a scary green monster");
  const std::vector<uint32_t> t = tok.encode("a little girl who liked to");
  const uint32_t np = static_cast<uint32_t>(p.size());
  const uint32_t ns = static_cast<uint32_t>(s.size());
  const uint32_t nt = static_cast<uint32_t>(t.size());

  CpuBackend backend(model_, options(8));
  PagePool pages(256, 2);
  TestSequence with(8, pages);
  ForwardPassRequest r = with.append(p, {});
  backend.forward_pass(std::span(&r, 1));
  r = with.append(s, {});
  backend.forward_pass(std::span(&r, 1));
  std::vector<uint32_t> positions;
  std::vector<std::vector<uint32_t>> masks;
  for (uint32_t i = 0; i < nt; ++i) {
    positions.push_back(np + ns + i);
    masks.push_back({np, ns, i + 1});  // attend p, skip s, attend t so far
  }
  std::vector<uint32_t> all(nt);
  for (uint32_t i = 0; i < nt; ++i) all[i] = i;
  r = with.append(t, all, positions, masks);
  const auto masked = backend.forward_pass(std::span(&r, 1));
  ASSERT_FALSE(masked[0].error.has_value()) << *masked[0].error;

  TestSequence without(8, pages);
  r = without.append(p, {});
  backend.forward_pass(std::span(&r, 1));
  r = without.append(t, all, positions);
  const auto plain = backend.forward_pass(std::span(&r, 1));
  expect_same_dists(plain[0].dists, masked[0].dists, 1e-4, "hidden span");

  // And the span did matter: without the mask the outputs differ.
  TestSequence visible(8, pages);
  r = visible.append(p, {});
  backend.forward_pass(std::span(&r, 1));
  r = visible.append(s, {});
  backend.forward_pass(std::span(&r, 1));
  r = visible.append(t, all, positions);
  const auto seen = backend.forward_pass(std::span(&r, 1));
  EXPECT_NE(seen[0].dists[nt - 1].probs, masked[0].dists[nt - 1].probs);
}

// A tree of draft tokens verified in one pass matches verifying each branch on its own.
TEST_F(Stories, DraftTreeMatchesBranchByBranch) {
  const tokenizer::Tokenizer tok(model_->tokenizer());
  const std::vector<uint32_t> p = tokens_of(tok, "Lily went to the park and saw a");
  const uint32_t n = static_cast<uint32_t>(p.size());
  const uint32_t a = tok.encode("big")[0];
  const uint32_t b1 = tok.encode("dog")[0];
  const uint32_t b2 = tok.encode("red")[0];
  const uint32_t c1 = tok.encode("that")[0];

  CpuBackend backend(model_, options(4));
  PagePool pages(256, 9);
  TestSequence tree(4, pages);
  ForwardPassRequest r = tree.append(p, {});
  backend.forward_pass(std::span(&r, 1));
  // Slots n..n+3 hold a, b1, b2, c1; b1 and b2 are siblings at the same position.
  const std::vector<uint32_t> positions = {n, n + 1, n + 1, n + 2};
  const std::vector<std::vector<uint32_t>> masks = {
      {n + 1},         // a: prefix, itself
      {n + 2},         // b1: prefix, a, itself
      {n + 1, 1, 1},   // b2: prefix, a, skip b1, itself
      {n + 2, 1, 1}};  // c1: prefix, a, b1, skip b2, itself
  r = tree.append({a, b1, b2, c1}, {0, 1, 2, 3}, positions, masks);
  const auto verified = backend.forward_pass(std::span(&r, 1));
  ASSERT_FALSE(verified[0].error.has_value()) << *verified[0].error;

  for (const std::vector<uint32_t>& branch :
       {std::vector<uint32_t>{a, b1, c1}, std::vector<uint32_t>{a, b2}}) {
    TestSequence s(4, pages);
    r = s.append(p, {});
    backend.forward_pass(std::span(&r, 1));
    std::vector<uint32_t> idx(branch.size());
    for (uint32_t i = 0; i < branch.size(); ++i) idx[i] = i;
    r = s.append(branch, idx);
    const auto out = backend.forward_pass(std::span(&r, 1));
    const std::vector<size_t> tree_index =
        branch.size() == 3 ? std::vector<size_t>{0, 1, 3} : std::vector<size_t>{0, 2};
    std::vector<Distribution> expected;
    for (size_t i : tree_index) expected.push_back(verified[0].dists[i]);
    expect_same_dists(out[0].dists, expected, 1e-5, "branch of " + std::to_string(branch.size()));
  }
}

// F16 KV storage stays close to F32.
TEST_F(Stories, HalfPrecisionKvIsClose) {
  const tokenizer::Tokenizer tok(model_->tokenizer());
  const std::vector<uint32_t> a =
      tokens_of(tok, "One day, a boy named Tom found a shiny stone in the");
  std::vector<Distribution> f32, f16;
  for (model::GgmlType type : {model::GgmlType::F32, model::GgmlType::F16}) {
    CpuBackendOptions o = options(16);
    o.kv_type = type;
    CpuBackend backend(model_, o);
    PagePool pages(256, 1);
    TestSequence s(16, pages);
    ForwardPassRequest r = s.append(a, {static_cast<uint32_t>(a.size() - 1)}, {}, {}, 5);
    (type == model::GgmlType::F32 ? f32 : f16) = backend.forward_pass(std::span(&r, 1))[0].dists;
  }
  ASSERT_EQ(f32.size(), 1U);
  EXPECT_EQ(f32[0].ids[0], f16[0].ids[0]);
  for (size_t i = 0; i < 5; ++i) {
    if (f32[0].ids[i] != f16[0].ids[i]) break;
    EXPECT_NEAR(f32[0].probs[i], f16[0].probs[i], 0.01);
  }
}

}  // namespace
}  // namespace pie::cpu
