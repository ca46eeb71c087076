// The whole chain on a real model: probe inferlet -> runtime -> model service -> CPU backend with
// stories260K. Greedy generation reproduces llama2.c's golden text (../shared/README.md), and the
// tokenizer calls work on the model's vocabulary.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "backend/cpu/cpu_backend.h"
#include "backend/model/model_file.h"
#include "common/blake3.h"
#include "engine/model_registry.h"
#include "runtime/runtime.h"
#include "runtime/testdata/recording_owner.h"
#include "shared_data.h"

namespace pie::runtime {
namespace {

using server::TerminationCode;
using testing::RecordingOwner;

constexpr const char* kGolden = ::pie::testing::kStories260kGolden;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class StoriesTest : public ::testing::Test {
 protected:
  void start(const std::filesystem::path& model_path) {
    auto model = std::make_shared<const model::ModelFile>(model::open_model(model_path));
    cpu::CpuBackendOptions options;
    options.kv_page_size = 16;
    options.kv_pages = 64;
    options.threads = 2;
    options.seed = 1;
    registry_.add_local(std::make_unique<cpu::CpuBackend>(model, options), "stories");
    runtime_ = std::make_unique<Runtime>(RuntimeOptions{}, registry_);
    const auto probe = pie::testing::inferlet_file("probe");
    ASSERT_FALSE(probe.empty()) << "probe.wasm not built";
    probe_ = blake3_hex(read_file(probe));
    runtime_->add_program(probe_, read_file(probe));
  }
  RecordingOwner::End run(std::vector<std::string> args) {
    auto owner = std::make_shared<RecordingOwner>();
    runtime_->launch_instance(probe_, std::move(args), owner);
    return owner->wait_end(std::chrono::seconds(300));
  }

  engine::ModelRegistry registry_;
  std::unique_ptr<Runtime> runtime_;
  std::string probe_;
};

TEST_F(StoriesTest, GreedyGenerationMatchesLlama2c) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  start(model);
  const auto end = run({"story", "200"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  EXPECT_EQ(end.message, kGolden);
  EXPECT_EQ(runtime_->model_status().at("stories.resource.0.available"), "64");
}

TEST_F(StoriesTest, TokenizerCalls) {
  PIE_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  start(model);
  const auto end = run({"tokens", "Once upon a time"});
  ASSERT_EQ(end.code, TerminationCode::Normal) << end.message;
  // ids | the text back | size of the ordinary vocabulary (512 minus <unk>, <s>, </s>).
  const std::string message = end.message;
  const size_t bar = message.find('|');
  ASSERT_NE(bar, std::string::npos);
  EXPECT_FALSE(message.substr(0, bar).empty());
  EXPECT_EQ(message.substr(bar), "|Once upon a time|509");
}

}  // namespace
}  // namespace pie::runtime
