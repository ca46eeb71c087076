// CpuBackend on small random-weight models of every supported architecture, checked against a
// direct double-precision forward pass (reference_forward.h); and the backend's protocol behaviour:
// handshake, query, validation inside a batch, embeddings, samplers.
#include "backend/cpu/cpu_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/reference_forward.h"
#include "backend/cpu/test_sequence.h"
#include "backend/model/quant.h"
#include "backend/model/synth.h"
#include "backend/tokenizer/tokenizer_spec.h"
#include "common/error.h"
#include "shared_data.h"

namespace pie::cpu {
namespace {

using model::Architecture;
using model::GgmlType;
using protocol::ForwardPassRequest;
using protocol::SamplerKind;
using protocol::SamplerSpec;
using testing::PagePool;
using testing::TestSequence;

// Where the synthesised models go: a folder of this process, removed when the tests end.
const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("pie_cpu_backend_test_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

class RemoveScratch : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(scratch_dir(), ignored);
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveScratch =
    ::testing::AddGlobalTestEnvironment(new RemoveScratch);

struct TinyModel {
  Architecture arch;
  GgmlType type;
};

std::string name_of(const TinyModel& m) {
  return std::string(model::architecture_name(m.arch)) + "_" + model::type_name(m.type);
}

// A two-layer model of the architecture with every feature it has: Llama with Llama 3 RoPE scaling
// and an untied output, Qwen2 with Q/K/V biases, Qwen3 with Q/K norms and a head size that is not
// dim / heads, Mistral. Quantised K-types need rows of 256.
model::ModelConfig tiny_config(const TinyModel& m) {
  const bool k_quant = m.type == GgmlType::Q4_K || m.type == GgmlType::Q6_K;
  model::ModelConfig c;
  c.arch = m.arch;
  c.name = "tiny-" + name_of(m);
  c.dim = k_quant ? 256 : 64;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = k_quant ? 64 : 16;
  c.ffn_dim = k_quant ? 256 : 96;
  c.vocab_size = 512;
  c.context_length = 256;
  c.rms_eps = 1e-5F;
  c.rope.theta = 10000.0F;
  c.rope.style = model::RopeStyle::Interleaved;
  switch (m.arch) {
    case Architecture::Llama:
      c.rope.llama3 = model::Llama3Scaling{8.0F, 1.0F, 4.0F, 64};
      break;
    case Architecture::Qwen2:
      c.rope.style = model::RopeStyle::HalfSplit;
      c.qkv_bias = true;
      c.tied_embeddings = true;
      break;
    case Architecture::Qwen3:
      c.rope.style = model::RopeStyle::HalfSplit;
      c.qk_norm = true;
      c.tied_embeddings = true;
      if (!k_quant) c.head_dim = 24;
      break;
    case Architecture::Mistral:
      break;
  }
  c.rope.dims = c.head_dim;
  return c;
}

std::shared_ptr<const model::ModelFile> tiny_model(const TinyModel& m,
                                                   const std::filesystem::path& tok) {
  static std::map<std::string, std::shared_ptr<const model::ModelFile>> cache;
  const std::string name = name_of(m);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  model::SynthOptions o;
  o.config = tiny_config(m);
  o.type = m.type;
  o.tokenizer = tok;
  o.seed = 17;
  // Large enough for peaked next-token distributions. Quantised models get smaller weights: with
  // large ones they are chaotic, one activation rounding the other way changes every later token.
  const bool quantised =
      m.type != GgmlType::F32 && m.type != GgmlType::F16 && m.type != GgmlType::BF16;
  o.stddev = quantised ? 0.1F : 0.25F;
  o.output = scratch_dir() / (name + ".gguf");
  model::synth_model(o);
  auto file = std::make_shared<const model::ModelFile>(model::open_model(o.output));
  cache[name] = file;
  return file;
}

CpuBackendOptions small_options(uint32_t page_size = 4) {
  CpuBackendOptions o;
  o.kv_page_size = page_size;
  o.kv_pages = 128;
  o.embed_slots = 8;
  o.max_dist_size = 32;
  o.threads = 2;
  o.seed = 5;
  return o;
}

#define REQUIRE_TOKENIZER(var)                                                                    \
  const std::filesystem::path var = ::pie::testing::shared_file("models/stories260K/tok512.bin"); \
  if (var.empty()) {                                                                              \
    if (::pie::testing::in_ci()) FAIL() << "shared file missing under CI: tok512.bin";            \
    GTEST_SKIP() << "shared file missing: models/stories260K/tok512.bin";                         \
  }

class Architectures : public ::testing::TestWithParam<TinyModel> {};

// Every token's distribution, over two passes (a causal prefill, then a draft tree with repeated
// positions), matches the reference forward pass with the same mask.
TEST_P(Architectures, MatchReferenceForward) {
  REQUIRE_TOKENIZER(tok);
  const auto model = tiny_model(GetParam(), tok);
  CpuBackend backend(model, small_options());
  PagePool pages(128, 1);
  TestSequence seq(4, pages);
  const std::vector<uint32_t> prefix = {1, 40, 77, 301, 12, 9, 250, 3};
  const std::vector<uint32_t> tree = {88, 120, 121, 400};
  const std::vector<uint32_t> tree_pos = {8, 9, 9, 10};
  const std::vector<std::vector<uint32_t>> tree_masks = {{9}, {10}, {9, 1, 1}, {10, 1, 1}};
  std::vector<protocol::Distribution> dists;
  ForwardPassRequest r = seq.append(prefix, {0, 1, 2, 3, 4, 5, 6, 7}, {}, {}, 32);
  const auto first = backend.forward_pass(std::span(&r, 1));
  r = seq.append(tree, {0, 1, 2, 3}, tree_pos, tree_masks, 32);
  const auto second = backend.forward_pass(std::span(&r, 1));
  for (const auto* out : {&first, &second}) {
    ASSERT_FALSE((*out)[0].error.has_value()) << *(*out)[0].error;
    dists.insert(dists.end(), (*out)[0].dists.begin(), (*out)[0].dists.end());
  }
  ASSERT_EQ(dists.size(), 12U);

  std::vector<uint32_t> tokens = prefix;
  tokens.insert(tokens.end(), tree.begin(), tree.end());
  std::vector<uint32_t> positions = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10};
  std::vector<std::vector<bool>> attend(12);
  for (size_t i = 0; i < 12; ++i) attend[i].assign(i + 1, true);
  attend[10][9] = false;   // b2 does not see b1
  attend[11][10] = false;  // c1 does not see b2
  const testing::ReferenceOutput ref =
      testing::reference_forward(*model, tokens, positions, attend);

  // Compared as log-probabilities: an error in the logits shifts them by the same amount at any
  // rank. Float weights: every entry within 1e-3. Quantised weights: an activation whose float
  // value sits next to a rounding boundary of its 8-bit quantisation can round the other way than
  // the double-precision reference's, and random models amplify such a step (the reference itself
  // moves by up to 0.8 under a 1e-7 relative perturbation of its activations with larger weights).
  // So for them a bound on the mean error and a looser one on the worst; a wrong scale or element
  // order gives errors of order 1 everywhere.
  const bool quantised = GetParam().type != GgmlType::F32 && GetParam().type != GgmlType::F16 &&
                         GetParam().type != GgmlType::BF16;
  const double worst_allowed = quantised ? 0.3 : 1e-3;
  double max_top = 0;
  double worst = 0;
  double total = 0;
  size_t compared = 0;
  for (size_t i = 0; i < 12; ++i) {
    const std::vector<double> p = testing::reference_softmax(ref.logits[i]);
    max_top = std::max(max_top, p[dists[i].ids[0]]);
    for (size_t j = 0; j < dists[i].ids.size(); ++j) {
      const double err = std::fabs(std::log(dists[i].probs[j]) - std::log(p[dists[i].ids[j]]));
      ASSERT_LT(err, worst_allowed) << "token " << i << " rank " << j << ": " << dists[i].probs[j]
                                    << " vs " << p[dists[i].ids[j]];
      worst = std::max(worst, err);
      total += err;
      ++compared;
    }
  }
  if (quantised) {
    EXPECT_LT(total / compared, 0.05);
  }
  RecordProperty("worst_log_prob_error", std::to_string(worst));
  RecordProperty("mean_log_prob_error", std::to_string(total / compared));
  EXPECT_GT(max_top, quantised ? 0.02 : 0.2)
      << "distributions too flat for a meaningful comparison";
}

INSTANTIATE_TEST_SUITE_P(Tiny, Architectures,
                         ::testing::Values(TinyModel{Architecture::Llama, GgmlType::F32},
                                           TinyModel{Architecture::Qwen2, GgmlType::F32},
                                           TinyModel{Architecture::Qwen3, GgmlType::F32},
                                           TinyModel{Architecture::Mistral, GgmlType::F32},
                                           TinyModel{Architecture::Llama, GgmlType::F16},
                                           TinyModel{Architecture::Qwen3, GgmlType::BF16},
                                           TinyModel{Architecture::Llama, GgmlType::Q8_0},
                                           TinyModel{Architecture::Qwen2, GgmlType::Q4_0},
                                           TinyModel{Architecture::Qwen3, GgmlType::Q4_K},
                                           TinyModel{Architecture::Llama, GgmlType::Q6_K}),
                         [](const ::testing::TestParamInfo<TinyModel>& info) {
                           return name_of(info.param);
                         });

class Backend : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TOKENIZER(tok);
    model_ = tiny_model({Architecture::Llama, GgmlType::F32}, tok);
  }
  std::shared_ptr<const model::ModelFile> model_;
};

TEST_F(Backend, HandshakeDescribesModelAndResources) {
  CpuBackend backend(model_, small_options());
  const protocol::HandshakeResponse h = backend.handshake({});
  EXPECT_EQ(h.model_name, model_->config().name);
  EXPECT_EQ(h.kv_page_size, 4U);
  EXPECT_EQ(h.resources.at(0), 128U);
  EXPECT_EQ(h.resources.at(1), 8U);
  EXPECT_EQ(h.resources.at(2), 0U);
  ASSERT_TRUE(h.max_dist_size.has_value());
  EXPECT_EQ(*h.max_dist_size, 32U);
  ASSERT_TRUE(h.tokenizer_spec.has_value());
  EXPECT_EQ(tokenizer::TokenizerSpec::deserialize(*h.tokenizer_spec), model_->tokenizer());
  EXPECT_EQ(h.prompt_template, model_->chat_template());
  // A SentencePiece vocabulary cannot be expressed as tiktoken tables: only the spec is sent.
  EXPECT_TRUE(h.tokenizer_merge_table.empty());

  CpuBackendOptions named = small_options();
  named.model_name = "my-model";
  EXPECT_EQ(CpuBackend(model_, named).handshake({}).model_name, "my-model");
}

TEST_F(Backend, AnswersQueries) {
  CpuBackend backend(model_, small_options());
  EXPECT_EQ(backend.query({"ping"}).value, "pong");
  EXPECT_EQ(backend.query({"what"}).value, "unknown query");
  PagePool pages(128, 1);
  TestSequence s(4, pages);
  ForwardPassRequest r = s.append({1, 2, 3}, {2});
  backend.forward_pass(std::span(&r, 1));
  const std::string stats = backend.query({"stats"}).value;
  EXPECT_NE(stats.find("\"batches\":1"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"input_tokens\":3"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"isa\":"), std::string::npos) << stats;
}

TEST_F(Backend, BadRequestsGetErrorsAndTheRestOfTheBatchRuns) {
  CpuBackend backend(model_, small_options());
  PagePool pages(128, 2);
  TestSequence a(4, pages), b(4, pages), c(4, pages), d(4, pages);
  std::vector<ForwardPassRequest> batch = {a.append({1, 5, 9, 13, 17}, {4}), b.append({1, 7}, {1}),
                                           c.append({1, 2, 3}, {2}), d.append({1, 8, 6}, {0, 2})};
  batch[1].kv_page_ptrs[0] = 500;  // no such page
  batch[3].mask[2] = {2};          // row covers 2 slots, not 3
  const auto out = backend.forward_pass(batch);
  ASSERT_EQ(out.size(), 4U);
  ASSERT_TRUE(out[1].error.has_value());
  EXPECT_NE(out[1].error->find("KV page 500"), std::string::npos) << *out[1].error;
  ASSERT_TRUE(out[3].error.has_value());
  EXPECT_NE(out[3].error->find("mask row 2"), std::string::npos) << *out[3].error;
  EXPECT_TRUE(out[1].dists.empty());
  ASSERT_FALSE(out[0].error.has_value());
  ASSERT_FALSE(out[2].error.has_value());

  // The good requests got what they get alone.
  for (int which : {0, 2}) {
    CpuBackend fresh(model_, small_options());
    PagePool own(128, 2);
    TestSequence s(4, own);
    ForwardPassRequest r = which == 0 ? s.append({1, 5, 9, 13, 17}, {4}) : s.append({1, 2, 3}, {2});
    const auto alone = fresh.forward_pass(std::span(&r, 1));
    EXPECT_EQ(alone[0].dists[0].ids, out[which].dists[0].ids);
    EXPECT_EQ(alone[0].dists[0].probs, out[which].dists[0].probs);
  }
  const std::string stats = backend.query({"stats"}).value;
  EXPECT_NE(stats.find("\"rejected\":2"), std::string::npos) << stats;
}

TEST_F(Backend, EmptyRequestsGetEmptyResponses) {
  CpuBackend backend(model_, small_options());
  const std::vector<ForwardPassRequest> batch(2);
  const auto out = backend.forward_pass(batch);
  ASSERT_EQ(out.size(), 2U);
  for (const auto& o : out) {
    EXPECT_FALSE(o.error.has_value());
    EXPECT_TRUE(o.tokens.empty());
    EXPECT_TRUE(o.dists.empty());
  }
}

// Output embeddings hold the final post-norm hidden state.
TEST_F(Backend, OutputEmbeddingsAreFinalHiddenStates) {
  CpuBackend backend(model_, small_options());
  PagePool pages(128, 3);
  TestSequence s(4, pages);
  const std::vector<uint32_t> tokens = {1, 30, 60, 90, 120};
  ForwardPassRequest r = s.append(tokens, {});
  r.output_embed_ptrs = {6, 2};
  r.output_embed_indices = {4, 1};
  const auto out = backend.forward_pass(std::span(&r, 1));
  ASSERT_FALSE(out[0].error.has_value()) << *out[0].error;
  std::vector<std::vector<bool>> attend(5);
  for (size_t i = 0; i < 5; ++i) attend[i].assign(i + 1, true);
  const auto ref = testing::reference_forward(*model_, tokens, {0, 1, 2, 3, 4}, attend);
  for (auto [slot, index] : {std::pair<uint32_t, size_t>{6, 4}, {2, 1}}) {
    const auto e = backend.embedding(slot);
    for (size_t i = 0; i < e.size(); ++i) ASSERT_NEAR(e[i], ref.hidden[index][i], 1e-4) << slot;
  }
}

// An input embedding equal to a token's embedding row behaves exactly like the token.
TEST_F(Backend, InputEmbeddingsSpliceIntoTheSequence) {
  CpuBackend backend(model_, small_options());
  const model::Tensor& embd = model_->tensor("token_embd.weight");
  const uint32_t dim = model_->config().dim;
  std::vector<float> row(dim);
  model::dequantize_row(embd.type, embd.data + 77 * model::row_bytes(embd.type, dim), row.data(),
                        dim);
  backend.write_embedding(3, row);

  PagePool pages(128, 4);
  TestSequence with_token(4, pages), with_embed(4, pages);
  ForwardPassRequest a = with_token.append({1, 20, 77, 21}, {1, 2, 3});
  ForwardPassRequest b = with_embed.append({1, 20, 0, 21}, {1, 2, 3});
  b.input_tokens = {1, 20, 21};  // input 2 becomes the embedding
  b.input_token_positions = {0, 1, 3};
  b.input_embed_ptrs = {3};
  b.input_embed_positions = {2};
  std::vector<ForwardPassRequest> batch = {a, b};
  const auto out = backend.forward_pass(batch);
  ASSERT_FALSE(out[1].error.has_value()) << *out[1].error;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out[0].dists[i].ids, out[1].dists[i].ids);
    EXPECT_EQ(out[0].dists[i].probs, out[1].dists[i].probs);
  }
  EXPECT_THROW(backend.write_embedding(8, row), Error);
  EXPECT_THROW(backend.write_embedding(0, std::vector<float>(3)), Error);
}

SamplerSpec sampler(SamplerKind kind, float temperature, std::optional<uint64_t> seed = {}) {
  SamplerSpec s;
  s.kind = kind;
  s.temperature = temperature;
  s.seed = seed;
  return s;
}

TEST_F(Backend, SamplersAndDistributionsInOneRequest) {
  CpuBackend backend(model_, small_options());
  PagePool pages(128, 5);
  TestSequence s(4, pages);
  ForwardPassRequest r = s.append({1, 11, 22, 33}, {});
  r.output_token_indices = {3, 3, 3, 2, 3};
  r.output_token_samplers = {
      sampler(SamplerKind::Distribution, 1.0F), sampler(SamplerKind::Multinomial, 0.0F),
      sampler(SamplerKind::TopK, 0.8F, 42), sampler(SamplerKind::Distribution, 0.5F),
      sampler(SamplerKind::TopP, 0.8F, 42)};
  r.output_token_samplers[0].top_k = 5;
  r.output_token_samplers[2].top_k = 3;
  r.output_token_samplers[3].top_k = 1000;  // clamped to max_dist_size
  r.output_token_samplers[4].top_p = 0.5F;
  const auto out = backend.forward_pass(std::span(&r, 1));
  ASSERT_FALSE(out[0].error.has_value()) << *out[0].error;
  ASSERT_EQ(out[0].dists.size(), 2U);
  ASSERT_EQ(out[0].tokens.size(), 3U);
  EXPECT_EQ(out[0].dists[0].ids.size(), 5U);
  EXPECT_EQ(out[0].dists[1].ids.size(), 32U);
  // Greedy = the distribution's most probable token.
  EXPECT_EQ(out[0].tokens[0], out[0].dists[0].ids[0]);
  // Top-3 draws from the three most probable tokens.
  const auto& top = out[0].dists[0].ids;
  EXPECT_TRUE(out[0].tokens[1] == top[0] || out[0].tokens[1] == top[1] ||
              out[0].tokens[1] == top[2]);
  // Seeded draws repeat in another pass.
  ForwardPassRequest again = r;
  again.input_tokens = {33};
  again.input_token_positions = {3};
  again.mask = {{4}};
  again.output_token_indices = {0, 0, 0, 0, 0};
  TestSequence t(4, pages);
  ForwardPassRequest first = t.append({1, 11, 22}, {});
  backend.forward_pass(std::span(&first, 1));
  ForwardPassRequest second = t.append({33}, {});
  second.output_token_indices = again.output_token_indices;
  second.output_token_samplers = again.output_token_samplers;
  const auto out2 = backend.forward_pass(std::span(&second, 1));
  EXPECT_EQ(out2[0].tokens[1], out[0].tokens[1]);
  EXPECT_EQ(out2[0].tokens[2], out[0].tokens[2]);
}

// Without per-output seeds, a backend seeded the same way draws the same tokens.
TEST_F(Backend, BackendSeedMakesUnseededDrawsReproducible) {
  auto draws = [&](uint64_t seed) {
    CpuBackendOptions o = small_options();
    o.seed = seed;
    CpuBackend backend(model_, o);
    PagePool pages(128, 6);
    TestSequence s(4, pages);
    ForwardPassRequest r = s.append({1, 11, 22, 33}, {});
    for (int i = 0; i < 20; ++i) {
      r.output_token_indices.push_back(3);
      r.output_token_samplers.push_back(sampler(SamplerKind::Multinomial, 1.5F));
    }
    return backend.forward_pass(std::span(&r, 1))[0].tokens;
  };
  EXPECT_EQ(draws(1), draws(1));
  EXPECT_NE(draws(1), draws(2));
}

TEST_F(Backend, RejectsBadOptions) {
  CpuBackendOptions o = small_options();
  o.kv_type = GgmlType::Q8_0;
  EXPECT_THROW(CpuBackend(model_, o), Error);
  o = small_options();
  o.kv_page_size = 0;
  EXPECT_THROW(CpuBackend(model_, o), Error);
  o = small_options();
  o.max_dist_size = 0;
  EXPECT_THROW(CpuBackend(model_, o), Error);
}

}  // namespace
}  // namespace pie::cpu
