// The ABI calls that reach a model, end to end: probe inferlet -> runtime -> the engine's model
// service -> its deterministic fake backend (page size 4, 64 pages; the output for input token i
// is (sum of the tokens it attends to + position of i) mod 1000).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "backend/chat/chat.h"
#include "common/blake3.h"
#include "engine/model_registry.h"
#include "engine/testing/fake_backend.h"
#include "runtime/runtime.h"
#include "runtime/testdata/recording_owner.h"
#include "shared_data.h"

namespace pie::runtime {
namespace {

using engine::testing::FakeBackend;
using engine::testing::FakeBackendOptions;
using server::TerminationCode;
using testing::RecordingOwner;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class ModelTest : public ::testing::Test {
 protected:
  void SetUp() override { start(engine::OutOfResourcesPolicy::Kill); }

  void start(engine::OutOfResourcesPolicy policy) {
    runtime_.reset();
    engine::ModelServiceOptions options;
    options.oom_policy = policy;
    options.oom_wait = std::chrono::seconds(20);
    registry_ = std::make_unique<engine::ModelRegistry>(options);
    FakeBackendOptions fake_options;
    fake_options.record_requests = true;
    fake_options.prompt_template = prompt_template_;
    auto fake = std::make_unique<FakeBackend>(fake_options);
    fake_ = fake.get();
    registry_->add_local(std::move(fake));
    FakeBackendOptions other;
    other.name = "other";
    registry_->add_local(std::make_unique<FakeBackend>(other));
    RuntimeOptions runtime_options;
    runtime_options.max_wasm_memory_pages = 2048;
    runtime_ = std::make_unique<Runtime>(runtime_options, *registry_);
    const auto probe = pie::testing::inferlet_file("probe");
    ASSERT_FALSE(probe.empty()) << "probe.wasm not built";
    probe_ = blake3_hex(read_file(probe));
    runtime_->add_program(probe_, read_file(probe));
  }

  std::pair<std::string, std::shared_ptr<RecordingOwner>> launch(std::vector<std::string> args) {
    auto owner = std::make_shared<RecordingOwner>();
    std::string id = runtime_->launch_instance(probe_, std::move(args), owner);
    return {id, owner};
  }
  RecordingOwner::End run(std::vector<std::string> args) {
    return launch(std::move(args)).second->wait_end();
  }
  std::string status(const std::string& key) { return runtime_->model_status().at(key); }
  std::string free_pages() { return status("fake.resource.0.available"); }

  std::string prompt_template_;  // of the first model, "fake"
  FakeBackend* fake_ = nullptr;
  std::unique_ptr<engine::ModelRegistry> registry_;
  std::unique_ptr<Runtime> runtime_;
  std::string probe_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(ModelTest, ModelsAndTheirInfo) {
  const auto end = run({"models"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  // The fake model has no prompt template and no stop tokens.
  EXPECT_EQ(end.message,
            "fake,other|fake,other||fake|deterministic test model|fake|4|0|1|1|none||");
}

// Chat rendering (pie::ChatFormatter, the engine's template engine behind one host call): the
// conversation crosses JSON with quotes, a backslash and a newline, and comes back as the
// template renders it; the generation prompt is added on request; a model without a template
// says so.
TEST_F(ModelTest, ChatIsRenderedWithTheModelsTemplate) {
  auto end = run({"chat", "prompt"});
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_TRUE(contains(end.message, "model fake has no chat template")) << end.message;

  prompt_template_ =
      "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
      "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
  start(engine::OutOfResourcesPolicy::Kill);
  const std::string turns = "<|system|>Be brief.<|end|><|user|>Say \"hi\" \\ then\nstop.<|end|>";
  end = run({"chat", "prompt"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, turns + "<|assistant|>");
  end = run({"chat"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, turns);
}

// The same through Qwen3's own template (from its tokenizer_config.json), against the template
// engine called directly.
TEST_F(ModelTest, ChatIsRenderedWithARealTemplate) {
  PIE_REQUIRE_SHARED(config, "tokenizers/qwen3/tokenizer_config.json");
  prompt_template_ = chat::Value::parse_json(read_file(config)).get("chat_template").as_string();
  start(engine::OutOfResourcesPolicy::Kill);
  const std::vector<chat::ChatMessage> messages = {
      {"system", "Be brief.", std::nullopt, {}},
      {"user", "Say \"hi\" \\ then\nstop.", std::nullopt, {}}};
  chat::ChatOptions options;
  options.add_generation_prompt = true;
  const std::string expected =
      chat::render_chat(chat::Template(prompt_template_), messages, options);
  ASSERT_TRUE(contains(expected, "<|im_start|>user\nSay \"hi\"")) << expected;
  const auto end = run({"chat", "prompt"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, expected);
}

TEST_F(ModelTest, BuilderCallsReachTheBackendTranslated) {
  // Another instance holds embeddings 0..2, so this one's virtual embeds 0, 1 are physical 3, 4.
  auto [holder, owner] = launch({"hold_embeds", "3"});
  ASSERT_TRUE(owner->wait_messages(1));
  const auto end = run({"builder"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "4,1");
  const auto requests = fake_->requests();
  ASSERT_EQ(requests.size(), 2u);
  const protocol::ForwardPassRequest& r = requests[0];
  EXPECT_EQ(r.input_tokens, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(r.input_embed_ptrs, (std::vector<uint32_t>{3}));
  EXPECT_EQ(r.input_embed_positions, (std::vector<uint32_t>{3}));
  EXPECT_EQ(r.output_embed_ptrs, (std::vector<uint32_t>{4}));
  EXPECT_EQ(r.output_embed_indices, (std::vector<uint32_t>{0}));
  EXPECT_EQ(r.output_token_indices, (std::vector<uint32_t>{0, 1, 2, 0}));
  ASSERT_EQ(r.output_token_samplers.size(), 4u);
  using protocol::SamplerKind;
  EXPECT_EQ(r.output_token_samplers[0].kind, SamplerKind::TopK);
  EXPECT_EQ(r.output_token_samplers[0].top_k, 5u);
  EXPECT_FLOAT_EQ(r.output_token_samplers[0].temperature, 0.5F);
  EXPECT_EQ(r.output_token_samplers[1].kind, SamplerKind::TopP);
  EXPECT_FLOAT_EQ(r.output_token_samplers[1].top_p, 0.9F);
  EXPECT_EQ(r.output_token_samplers[2].kind, SamplerKind::MinP);
  EXPECT_FLOAT_EQ(r.output_token_samplers[2].min_p, 0.1F);
  EXPECT_EQ(r.output_token_samplers[3].kind, SamplerKind::TopKTopP);
  EXPECT_EQ(r.output_token_samplers[3].top_k, 3u);
  EXPECT_FLOAT_EQ(r.output_token_samplers[3].top_p, 0.5F);
  EXPECT_EQ(r.adapter, 0u);
  EXPECT_EQ(r.adapter_seed, 42);
  const protocol::ForwardPassRequest& next = requests[1];
  EXPECT_EQ(next.input_tokens, (std::vector<uint32_t>{4}));
  EXPECT_TRUE(next.input_embed_ptrs.empty());
  EXPECT_EQ(next.adapter, 0u);
  EXPECT_EQ(next.adapter_seed, 42);
  EXPECT_EQ(next.kv_page_last_len, 4u);
  runtime_->signal_instance(holder, "done");
  EXPECT_EQ(owner->wait_end().code, TerminationCode::Normal);
}

TEST_F(ModelTest, VirtualIdsArePrivateToEachInstance) {
  auto [a, owner_a] = launch({"alloc", "3", "hold"});
  ASSERT_TRUE(owner_a->wait_messages(1));
  EXPECT_EQ(owner_a->messages()[0], "0,1,2");
  // Another instance gets its own ids from 0, and cannot name the first one's pages.
  EXPECT_EQ(run({"alloc", "2"}).message, "0,1");
  const auto foreign = run({"foreign", "2"});
  EXPECT_EQ(foreign.code, TerminationCode::Exception);
  EXPECT_TRUE(contains(foreign.message, "pie.fp_kv_cache: id 2 is not held by this instance"))
      << foreign.message;
  runtime_->signal_instance(a, "0");
  EXPECT_EQ(owner_a->wait_end().message, "0,1,2");
}

TEST_F(ModelTest, DeallocateIgnoresIdsNotHeldAndIdsAreReusedSmallestFirst) {
  EXPECT_EQ(run({"dealloc"}).message, "0,1,2|1,3");
  EXPECT_EQ(free_pages(), "64");
}

TEST_F(ModelTest, ForwardPassOutputsAndDistributions) {
  const auto end = run({"prefill"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  // Token 30 at position 2 attends 10 + 20 + 30: 62. Token 20 at position 1: 31 (then 32, 33 with
  // halving probabilities). Token 62 at position 3 attends 10 + 20 + 30 + 62: 125.
  EXPECT_EQ(end.message, "tok:62 dist:31:0.500000 32:0.250000 33:0.125000 next:125");
}

TEST_F(ModelTest, GreedyDecodingAcrossPages) {
  const auto end = run({"decode", "11"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  std::string expected;
  uint64_t sum = 0;
  uint32_t token = 5;
  for (uint32_t pos = 0; pos < 11; ++pos) {
    sum += token;
    token = FakeBackend::output_of(sum, pos, 1000);
    if (pos > 0) expected += ',';
    expected += std::to_string(token);
  }
  EXPECT_EQ(end.message, expected);
  EXPECT_EQ(free_pages(), "64");
}

TEST_F(ModelTest, AttentionMask) {
  // Token 300 at position 2 attends to slot 0 and itself: 100 + 300 + 2.
  EXPECT_EQ(run({"masked"}).message, "402");
  // Without a mask the pass is causal: 100 + 200 + 300 + 2.
  EXPECT_EQ(run({"unmasked"}).message, "602");
}

TEST_F(ModelTest, BadPassesTrapWithTheReason) {
  struct Case {
    const char* what;
    const char* expected;
  };
  const Case cases[] = {
      {"index", "pie.fp_execute: output index 2 is outside the 2 input tokens of the pass"},
      {"mask", "pie.fp_execute: the attention mask has 1 rows for 2 input tokens"},
      {"temperature", "pie.fp_output_tokens: temperature must be a finite number >= 0"},
      {"backend", "bad page table"},
  };
  for (const auto& c : cases) {
    const auto end = run({"bad_pass", c.what});
    EXPECT_EQ(end.code, TerminationCode::Exception) << c.what;
    EXPECT_TRUE(contains(end.message, c.expected)) << c.what << ": " << end.message;
  }
  EXPECT_EQ(free_pages(), "64");
}

TEST_F(ModelTest, ExportedPagesOutliveTheExporterAndCanBeImported) {
  EXPECT_EQ(run({"share", "prefix", "export"}).message, "exported");
  EXPECT_EQ(free_pages(), "63");  // the exported page survives its instance
  EXPECT_EQ(status("fake.resource.0.exported_count"), "1");
  // The importer attends to 7, 8 (and the page's two unused slots, 0) plus its own 9 at 4.
  EXPECT_EQ(run({"share", "prefix", "import"}).message, "prefix=1 | 28 | 0");
  EXPECT_EQ(free_pages(), "64");  // released
  const auto missing = run({"share", "absent", "import"});
  EXPECT_EQ(missing.code, TerminationCode::Exception);
  EXPECT_TRUE(contains(missing.message, "pie.import_resources:")) << missing.message;
}

TEST_F(ModelTest, QueueOperationsImagesAndAdapters) {
  const auto end = run({"queue_ops"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "pong,0,0");
  const auto calls = fake_->calls();
  for (const char* expected :
       {"query ping", "embed_image 0", "initialize_adapter 0", "update_adapter 0"}) {
    EXPECT_NE(std::find(calls.begin(), calls.end(), expected), calls.end()) << expected;
  }
  const auto failed = run({"empty_image"});
  EXPECT_EQ(failed.code, TerminationCode::Exception);
  EXPECT_TRUE(contains(failed.message, "empty image")) << failed.message;
}

TEST_F(ModelTest, NoTokenizerIsAClearError) {
  const auto end = run({"no_tokenizer"});
  EXPECT_EQ(end.code, TerminationCode::Exception);
  EXPECT_TRUE(contains(end.message, "pie.model_tokenizer: model has no tokenizer")) << end.message;
}

TEST_F(ModelTest, EveryKindOfEndFreesThePages) {
  EXPECT_EQ(run({"alloc", "10"}).code, TerminationCode::Normal);  // normal completion
  EXPECT_EQ(free_pages(), "64");
  EXPECT_EQ(run({"foreign", "9"}).code, TerminationCode::Exception);  // trap
  EXPECT_EQ(free_pages(), "64");
  for (auto code : {TerminationCode::Signal, TerminationCode::Exception}) {
    auto [id, owner] = launch({"alloc", "10", "hold"});
    ASSERT_TRUE(owner->wait_messages(1));
    EXPECT_EQ(free_pages(), "54");
    runtime_->terminate_instance(id, code, "ended from outside");
    EXPECT_EQ(owner->wait_end().code, code);
    EXPECT_EQ(free_pages(), "64");
  }
  EXPECT_EQ(status("fake.instances.active_count"), "0");
}

TEST_F(ModelTest, OutOfResourcesEndsTheNewestInstance) {
  auto [older, owner_older] = launch({"alloc", "40", "hold"});
  ASSERT_TRUE(owner_older->wait_messages(1));
  auto [newer, owner_newer] = launch({"alloc", "20", "hold"});
  ASSERT_TRUE(owner_newer->wait_messages(1));
  runtime_->signal_instance(older, "10");  // needs 10 of the 4 left: the newer instance goes
  const auto killed = owner_newer->wait_end();
  EXPECT_EQ(killed.code, TerminationCode::OutOfResources) << killed.message;
  const auto survivor = owner_older->wait_end();
  EXPECT_EQ(survivor.code, TerminationCode::Normal) << survivor.message;
  EXPECT_EQ(free_pages(), "64");
  const auto too_many = run({"alloc", "100"});
  EXPECT_NE(too_many.code, TerminationCode::Normal);
  EXPECT_TRUE(contains(too_many.message, "cannot allocate 100 KV pages")) << too_many.message;
}

TEST_F(ModelTest, AnAllocationWaitsForPagesToBeFreed) {
  start(engine::OutOfResourcesPolicy::Wait);
  auto [holder, owner_holder] = launch({"alloc", "64", "hold"});
  ASSERT_TRUE(owner_holder->wait_messages(1));
  auto [waiter, owner_waiter] = launch({"alloc", "2"});
  runtime_->terminate_instance(holder, TerminationCode::Signal, "make room");
  const auto end = owner_waiter->wait_end();
  EXPECT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "0,1");
}

TEST_F(ModelTest, JavaScriptBuilderCallsReachTheBackend) {
  const std::string js = R"(
    import * as pie from "pie";
    export async function main() {
      const q = pie.getModel("fake").createQueue();
      const [page] = await q.allocateKvPages(1);
      const embeds = await q.allocate(pie.Resource.Embed, 2);
      const [adapter] = await q.allocate(pie.Resource.Adapter, 1);
      const r = await q.forwardPass()
          .inputTokens([1, 2], [0, 1])
          .inputEmbeddings([embeds[0]], [2])
          .outputEmbeddings([embeds[1]], [1])
          .kvCache([page], 2)
          .attentionMask([[1], [2]])
          .outputTokensTopK([0], 0.5, 5)
          .outputTokensTopP([1], 0.7, 0.9)
          .outputTokensMinP([1], 0.8, 0.1)
          .outputTokensTopKTopP([0], 1, 3, 0.5)
          .setAdapter(adapter)
          .setAdapterSeed(7n)
          .execute();
      q.deallocate(pie.Resource.Embed, embeds);
      return r.tokens.join(",");
    })";
  const std::string hash = blake3_hex(js);
  runtime_->add_program(hash, js);
  auto owner = std::make_shared<RecordingOwner>();
  runtime_->launch_instance(hash, {}, owner);
  const auto end = owner->wait_end();
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "1,4,4,1");  // 1 + 0, 1 + 2 + 1 at index 1, ...
  const auto requests = fake_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const protocol::ForwardPassRequest& r = requests[0];
  EXPECT_EQ(r.input_embed_ptrs, (std::vector<uint32_t>{0}));
  EXPECT_EQ(r.output_embed_ptrs, (std::vector<uint32_t>{1}));
  EXPECT_EQ(r.mask, (std::vector<std::vector<uint32_t>>{{1}, {2}}));
  ASSERT_EQ(r.output_token_samplers.size(), 4u);
  EXPECT_EQ(r.output_token_samplers[0].kind, protocol::SamplerKind::TopK);
  EXPECT_EQ(r.output_token_samplers[2].kind, protocol::SamplerKind::MinP);
  EXPECT_FLOAT_EQ(r.output_token_samplers[2].min_p, 0.1F);
  EXPECT_EQ(r.output_token_samplers[3].top_k, 3u);
  EXPECT_EQ(r.adapter, 0u);
  EXPECT_EQ(r.adapter_seed, 7);
  EXPECT_EQ(runtime_->model_status().at("fake.resource.1.available"), "8");
}

TEST_F(ModelTest, JavaScriptDrivesTheModelToo) {
  const std::string js = R"(
    import * as pie from "pie";
    export async function main() {
      const model = pie.getModel(pie.models()[0]);
      const queue = model.createQueue();
      const pages = await queue.allocateKvPages(1);
      const r = await queue.forwardPass()
          .inputTokens([10, 20, 30], new Uint32Array([0, 1, 2]))
          .kvCache(pages, 3)
          .outputTokens([2], 0)
          .outputDistributions([1], 1, 2)
          .execute();
      await queue.synchronize();
      const none = await queue.forwardPass().inputTokens([1], [3]).kvCache(pages, 4).execute();
      queue.exportResources(pie.Resource.KvPage, pages, "js");
      const listed = queue.exported(pie.Resource.KvPage);
      queue.releaseExported(pie.Resource.KvPage, "js");
      return [r.tokens[0], r.distributions[0].ids.join("/"), none, listed[0].join("="),
              model.kvPageSize, await queue.debugQuery("ping")].join(",");
    })";
  const std::string hash = blake3_hex(js);
  runtime_->add_program(hash, js);
  auto owner = std::make_shared<RecordingOwner>();
  runtime_->launch_instance(hash, {}, owner);
  const auto end = owner->wait_end();
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, "62,31/32,,js=1,4,pong");
  EXPECT_EQ(free_pages(), "64");
}

}  // namespace
}  // namespace pie::runtime
