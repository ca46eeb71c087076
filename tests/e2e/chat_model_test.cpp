// A chat model end to end: a small random-weight Qwen3 carrying Qwen3's own tokenizer and chat
// template in its GGUF file, served by a real engine. text-completion (C++) and text-completion-js
// render the conversation with the file's template on the engine and generate exactly what
// plain-completion generates from the same turns rendered here by the template engine as raw text.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "backend/chat/chat.h"
#include "backend/model/model_file.h"
#include "backend/model/synth.h"
#include "shared_data.h"
#include "test_engine.h"

namespace pie::testing {
namespace {

// Qwen3-0.6B's architecture and vocabulary at a toy width.
std::filesystem::path synth_chat_model(const std::filesystem::path& tokenizer) {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("pie-chat-model-" + std::to_string(::getpid()) + ".gguf");
  model::SynthOptions o;
  o.config = model::synth_preset("qwen3-0.6b");
  o.config.name = "tiny-qwen3-chat";
  o.config.dim = 64;
  o.config.n_layers = 2;
  o.config.n_heads = 4;
  o.config.n_kv_heads = 2;
  o.config.head_dim = 16;
  o.config.ffn_dim = 96;
  o.config.rope.dims = 16;
  o.type = model::GgmlType::F32;
  o.tokenizer = tokenizer;
  o.seed = 3;
  o.stddev = 0.25F;  // peaked distributions: a text that depends on every token of the prompt
  o.output = path;
  model::synth_model(o);
  return path;
}

// `bytes` as a JavaScript string holds them: each maximal ill-formed UTF-8 subsequence replaced by
// U+FFFD (a random model's byte-level tokens can split characters, which C++ strings keep).
std::string as_javascript_text(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    size_t need = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b < 0x80) {
      out += bytes[i++];
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      lo = b == 0xE0 ? 0xA0 : 0x80;
      hi = b == 0xED ? 0x9F : 0xBF;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      lo = b == 0xF0 ? 0x90 : 0x80;
      hi = b == 0xF4 ? 0x8F : 0xBF;
    }
    size_t got = 0;  // continuation bytes that fit
    while (got < need && i + 1 + got < bytes.size()) {
      const auto c = static_cast<unsigned char>(bytes[i + 1 + got]);
      if (c < (got == 0 ? lo : 0x80) || c > (got == 0 ? hi : 0xBF)) break;
      ++got;
    }
    if (need > 0 && got == need) {
      out.append(bytes, i, need + 1);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += need > 0 && got == need ? need + 1 : got + 1;
  }
  return out;
}

// The value after "text " in plain-completion's reply (to the end of it).
std::string reply_text(const std::string& reply) {
  const size_t at = reply.find("\ntext ");
  return at == std::string::npos ? std::string() : reply.substr(at + 6);
}

TEST(ChatModel, CompletionsRenderTheFilesTemplateOnTheEngine) {
  PIE_REQUIRE_SHARED(tokenizer_json, "tokenizers/qwen3/tokenizer.json");
  const std::filesystem::path model_path = synth_chat_model(tokenizer_json.parent_path());
  struct Remove {
    std::filesystem::path path;
    ~Remove() { std::filesystem::remove(path); }
  } remove{model_path};
  const model::ModelFile file = model::open_model(model_path);
  ASSERT_FALSE(file.chat_template().empty()) << "the template was not copied into the file";

  const std::string system = "You are a terse assistant.";
  const std::string user = "Name three colours.";
  // Each turn as the SDKs' Context renders it (fill_system, then fill_user), here by the template
  // engine directly.
  const chat::Template tmpl(file.chat_template());
  chat::ChatOptions first;
  first.add_generation_prompt = false;
  const std::string system_text = chat::render_chat(tmpl, {{"system", system, {}, {}}}, first);
  const std::string user_text =
      chat::render_chat(tmpl, {{"user", user, {}, {}}}, chat::ChatOptions{});
  ASSERT_NE(system_text.find("<|im_start|>system\n" + system), std::string::npos) << system_text;
  ASSERT_NE(user_text.find("<|im_start|>assistant"), std::string::npos) << user_text;

  TestEngine engine({.model = model_path});
  const std::vector<std::string> args = {"--system", system,         "--prompt",
                                         user,       "--max-tokens", "24"};
  const RunResult cpp = engine.run("text-completion", args);
  ASSERT_EQ(cpp.end, client::EventKind::Completed) << cpp.result;
  const RunResult js = engine.run("text-completion-js", args);
  ASSERT_EQ(js.end, client::EventKind::Completed) << js.result;
  const RunResult plain = engine.run(
      "plain-completion", {"--prompt", system_text, "--prompt", user_text, "--max-tokens", "24"});
  ASSERT_EQ(plain.end, client::EventKind::Completed) << plain.result;

  EXPECT_FALSE(cpp.result.empty());
  EXPECT_EQ(cpp.result, reply_text(plain.result));
  EXPECT_EQ(js.result, as_javascript_text(cpp.result));
  // Without the system turn the prompt differs, and so does the text.
  const RunResult no_system =
      engine.run("text-completion", {"--prompt", user, "--max-tokens", "24"});
  ASSERT_EQ(no_system.end, client::EventKind::Completed) << no_system.result;
  EXPECT_NE(no_system.result, cpp.result);
}

}  // namespace
}  // namespace pie::testing
