// The high-level inferlet API: a Context is one token sequence on a model, with its KV pages,
// positions and attention mask, that grows by filling text and decoding tokens; it forks cheaply
// (full pages shared), can mask and drop pages, export and import its prefix, run beam search and
// speculative decoding. Samplers, stop conditions and chat formatting live here too.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pie/core.h"
#include "pie/model.h"

namespace pie {

// How the next token is chosen. The built-in kinds sample on the engine; custom ones receive the
// top-k distribution in the inferlet.
class Sampler {
 public:
  enum class Kind { Multinomial, TopK, TopP, MinP, TopKTopP, Custom };
  // Picks a token from a distribution (ids by decreasing probability).
  using Pick = std::function<uint32_t(const Distribution&)>;

  static Sampler greedy() { return multinomial(0.0F); }
  static Sampler multinomial(float temperature);
  static Sampler top_k(float temperature, uint32_t k);
  static Sampler top_p(float temperature, float p);
  static Sampler min_p(float temperature, float p);
  static Sampler top_k_top_p(float temperature, uint32_t k, float p);
  // The top `k` tokens after temperature scaling are handed to `pick`.
  static Sampler custom(float temperature, Pick pick, uint32_t k = 32);
  // Top-k 20, top-p 0.95, temperature 0.6.
  static Sampler reasoning() { return top_k_top_p(0.6F, 20, 0.95F); }

  Kind kind() const { return kind_; }
  float temperature() const { return temperature_; }
  uint32_t k() const { return k_; }
  float p() const { return p_; }
  const Pick& pick() const { return pick_; }

 private:
  Sampler(Kind kind, float temperature) : kind_(kind), temperature_(temperature) {}
  Kind kind_;
  float temperature_;
  uint32_t k_ = 0;
  float p_ = 0.0F;
  Pick pick_;
};

// When generation ends: whichever comes first.
struct StopCondition {
  uint32_t max_tokens = 256;
  // Stop at any of the model's stop strings (its end-of-turn tokens).
  bool model_stop_tokens = true;
  // Further strings that end generation; the text returned stops before them.
  std::vector<std::string> stop_strings;

  static StopCondition max(uint32_t tokens) {
    StopCondition stop;
    stop.max_tokens = tokens;
    return stop;
  }
};

// One turn of a conversation.
struct ChatMessage {
  std::string role;  // system, user, assistant, tool
  std::string content;
};

// Renders conversations with the model's chat template (on the engine).
class ChatFormatter {
 public:
  // The prompt text of `messages`. `begin_of_sequence` includes the template's begin-of-sequence
  // text (for the first messages of a context). An Error when the model has no chat template.
  static Result<std::string> render(const Model& model, std::span<const ChatMessage> messages,
                                    bool add_generation_prompt, bool begin_of_sequence);
  // The text a raw sequence (no chat template) starts with: the tokenizer's begin-of-sequence
  // token when it adds one to texts, else "".
  static std::string begin_of_sequence(const Model& model);
  // The fallback for models without a template: "role: content\n" per message.
  static std::string render_plain(std::span<const ChatMessage> messages);
  // Messages as the JSON array the engine takes: [{"role": ..., "content": ...}, ...].
  static std::string to_json(std::span<const ChatMessage> messages);
};

// Proposes the tokens likely to follow a sequence, for speculative decoding.
class Drafter {
 public:
  virtual ~Drafter() = default;
  // Up to `max` tokens guessed to follow `tokens` (the whole sequence so far).
  virtual std::vector<uint32_t> draft(std::span<const uint32_t> tokens, uint32_t max) = 0;
};

// Looks for the latest earlier occurrence of the sequence's last `n` tokens and proposes what
// followed it (prompt lookup decoding).
class NgramDrafter : public Drafter {
 public:
  explicit NgramDrafter(uint32_t n = 3) : n_(n) {}
  std::vector<uint32_t> draft(std::span<const uint32_t> tokens, uint32_t max) override;

 private:
  uint32_t n_;
};

// A finished beam of beam_search.
struct Beam {
  std::vector<uint32_t> tokens;
  std::string text;
  float score = 0.0F;  // sum of the log-probabilities of its tokens
};

// What speculative decoding did.
struct DraftedGeneration {
  std::string text;
  std::vector<uint32_t> tokens;
  uint32_t forward_passes = 0;
  uint32_t drafted = 0;   // draft tokens proposed
  uint32_t accepted = 0;  // draft tokens the model confirmed
};

class Context {
 public:
  // An empty context with its own queue.
  explicit Context(const Model& model);

  // A context continuing a prefix exported with export_prefix, or nothing when no such export
  // exists. Its full pages are shared with the export; the rest is recomputed.
  static std::optional<Context> from_imported(const Model& model, std::string_view name);

  // ---- Building the sequence ----
  // Appends tokens to compute (pending until the next pass).
  void fill(std::string_view text);
  void fill_tokens(std::span<const uint32_t> ids);
  void fill_token(uint32_t id) { fill_tokens(std::span(&id, 1)); }
  // Chat turns, rendered with the model's template (or "role: content" lines when it has none).
  // fill_user adds the template's generation prompt.
  void fill_system(std::string_view text) { fill_message("system", text, false); }
  void fill_user(std::string_view text) { fill_message("user", text, true); }
  void fill_assistant(std::string_view text) { fill_message("assistant", text, false); }
  // Computes the pending tokens (no output).
  void flush();

  // ---- Generating ----
  // Computes the pending tokens (there must be some) and returns the next token, which is not
  // appended: fill_token it to continue.
  uint32_t decode_step(const Sampler& sampler);
  // Decodes until `stop`; the generated tokens are appended (the last one pending). Returns the
  // generated text, without the stop string that ended it.
  std::string generate(const Sampler& sampler, const StopCondition& stop);
  // The same, calling `on_text` with each new piece of text as soon as it is certain (the pieces
  // concatenate to the returned text).
  std::string generate_streaming(const Sampler& sampler, const StopCondition& stop,
                                 const std::function<void(std::string_view)>& on_text);
  // Generates in every context at once (each step of all of them is submitted before any is
  // awaited, so the engine batches them); the texts, in order. The contexts must differ.
  static std::vector<std::string> generate_all(std::span<Context* const> contexts,
                                               const Sampler& sampler, const StopCondition& stop);
  // Greedy generation sped up by a drafter: each pass verifies the drafted tokens and keeps the
  // longest confirmed prefix; the KV of rejected tokens is dropped. Same text as greedy.
  DraftedGeneration generate_with_drafter(Drafter& drafter, const StopCondition& stop,
                                          uint32_t max_draft = 4);
  // Beam search of `max_tokens` tokens: the beams, best score first. This context is unchanged.
  std::vector<Beam> beam_search(uint32_t beam_size, uint32_t max_tokens);

  // ---- Sharing and memory ----
  // A new context with the same sequence (and its own queue). Full pages are shared; the tokens
  // of a partial last page are recomputed by the child.
  Context fork();
  // Masks (excludes from attention) or unmasks positions [start, end) of the sequence held in KV
  // plus pending tokens (indices as in sequence_length()). Affects tokens filled afterwards.
  void mask_token_range(uint32_t start, uint32_t end, bool masked);
  void mask_tokens(std::span<const uint32_t> indices, bool masked);
  // Frees the pages all of whose tokens are masked (not the last page); later tokens keep their
  // positions.
  void drop_masked_kv_pages();
  // Publishes the full pages under `name` (they outlive this instance) and stores the token state
  // in the key-value store, for from_imported. Computes pending tokens first.
  void export_prefix(std::string_view name);
  // Deletes an export made by export_prefix.
  static void release_prefix(const Model& model, std::string_view name);

  // ---- State ----
  const Model& model() const { return model_; }
  const Queue& queue() const { return queue_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  // Every token of the context, in order (including tokens whose pages were dropped).
  const std::vector<uint32_t>& token_ids() const { return token_ids_; }
  const std::vector<uint32_t>& pending_token_ids() const { return pending_ids_; }
  std::string text() const { return tokenizer_.detokenize(token_ids_); }
  // Slots held in KV plus pending tokens: what attention masks index.
  uint32_t sequence_length() const { return static_cast<uint32_t>(slot_masked_.size()); }
  uint32_t kv_page_count() const { return static_cast<uint32_t>(pages_.size()); }
  uint32_t page_size() const { return page_size_; }
  // Forward passes run and input tokens computed by this context (not its forks).
  uint32_t forward_passes() const { return forward_passes_; }
  uint64_t tokens_computed() const { return tokens_computed_; }

 private:
  // Submits the pending tokens, `outputs` adding what to request; returns the future when
  // outputs are requested.
  std::optional<Future<ForwardResult>> submit(
      const std::function<void(ForwardPass&, uint32_t n_inputs)>& outputs);
  class Generation;
  Future<ForwardResult> submit_step(const Sampler& sampler);
  static uint32_t sampled_token(const Sampler& sampler, const ForwardResult& result);
  void ensure_pages(uint32_t slots);
  void fill_message(std::string_view role, std::string_view text, bool add_generation_prompt);
  void shrink_slots(uint32_t slots);
  std::vector<std::string> stop_strings(const StopCondition& stop) const;

  Model model_;
  Queue queue_;
  Tokenizer tokenizer_;
  uint32_t page_size_;

  std::vector<uint32_t> token_ids_;  // all tokens, committed and pending
  std::vector<KvPage> pages_;
  uint32_t kv_slots_ = 0;  // slots of pages_ holding computed tokens
  // Per slot (computed, then pending): token, position, masked.
  std::vector<uint32_t> slot_tokens_;
  std::vector<uint32_t> slot_positions_;
  std::vector<bool> slot_masked_;
  uint32_t masked_count_ = 0;
  // Pending tokens: ids and the mask each saw when filled (nothing: no slot was masked).
  std::vector<uint32_t> pending_ids_;
  std::vector<std::optional<std::vector<bool>>> pending_masks_;
  uint32_t next_position_ = 0;
  bool unsynchronized_ = false;  // a pass without outputs may still be running
  uint32_t forward_passes_ = 0;
  uint64_t tokens_computed_ = 0;
};

// Shorthand for Context(model).
inline Context create_context(const Model& model) {
  return Context(model);
}

}  // namespace pie
