#include "pie/context.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace pie {

namespace {

uint32_t size32(size_t n) {
  return static_cast<uint32_t>(n);
}

// One BRLE row: runs alternating attend / skip, starting with attend, over `masked` then the token
// itself (always attended).
std::vector<uint32_t> brle_row(const std::vector<bool>& masked) {
  std::vector<uint32_t> runs;
  bool skipping = false;
  uint32_t run = 0;
  for (bool m : masked) {
    if (m != skipping) {
      runs.push_back(run);
      run = 0;
      skipping = m;
    }
    ++run;
  }
  if (skipping) {
    runs.push_back(run);
    run = 0;
  }
  runs.push_back(run + 1);
  return runs;
}

// Bytes at the end of `text` that start a UTF-8 character not yet complete.
size_t incomplete_utf8_tail(std::string_view text) {
  for (size_t back = 1; back <= std::min<size_t>(3, text.size()); ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) {
      need = 2;
    } else if ((c & 0xF0) == 0xE0) {
      need = 3;
    } else if ((c & 0xF8) == 0xF0) {
      need = 4;
    }
    return need > back ? back : 0;
  }
  return 0;
}

// Length of the longest suffix of `text` that begins one of `stops` (it may become a stop string).
size_t stop_prefix_tail(std::string_view text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const auto& s : stops) {
    for (size_t n = std::min(s.size() - 1, text.size()); n > held; --n) {
      if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        held = n;
        break;
      }
    }
  }
  return held;
}

// Text of `tokens` as it reads after `anchor` (the tokens before them): decoding them alone would
// lose the spaces SentencePiece vocabularies drop at the start of a text.
class ContinuationDecoder {
 public:
  ContinuationDecoder(const Tokenizer& tokenizer, std::span<const uint32_t> context)
      : tokenizer_(tokenizer),
        anchor_(context.end() - std::min<size_t>(context.size(), 4), context.end()),
        anchor_text_(tokenizer.detokenize(anchor_)) {}

  std::string text(std::span<const uint32_t> tokens) const {
    std::vector<uint32_t> all = anchor_;
    all.insert(all.end(), tokens.begin(), tokens.end());
    std::string full = tokenizer_.detokenize(all);
    if (full.starts_with(anchor_text_)) return full.substr(anchor_text_.size());
    return tokenizer_.detokenize(tokens);
  }

 private:
  const Tokenizer& tokenizer_;
  std::vector<uint32_t> anchor_;
  std::string anchor_text_;
};

// Cuts `text` at the first stop string found at or after `from`; true when one was found.
bool cut_at_stop(std::string& text, size_t from, const std::vector<std::string>& stops) {
  size_t cut = std::string::npos;
  for (const auto& s : stops) {
    const size_t start = from >= s.size() ? from - s.size() + 1 : 0;
    const size_t at = text.find(s, start);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut == std::string::npos) return false;
  text.resize(cut);
  return true;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string prefix_key(std::string_view name) {
  return "pie.context.prefix." + std::string(name);
}

}  // namespace

// ---- Sampler ------------------------------------------------------------------------------------

Sampler Sampler::multinomial(float temperature) {
  return {Kind::Multinomial, temperature};
}

Sampler Sampler::top_k(float temperature, uint32_t k) {
  Sampler s(Kind::TopK, temperature);
  s.k_ = k;
  return s;
}

Sampler Sampler::top_p(float temperature, float p) {
  Sampler s(Kind::TopP, temperature);
  s.p_ = p;
  return s;
}

Sampler Sampler::min_p(float temperature, float p) {
  Sampler s(Kind::MinP, temperature);
  s.p_ = p;
  return s;
}

Sampler Sampler::top_k_top_p(float temperature, uint32_t k, float p) {
  Sampler s(Kind::TopKTopP, temperature);
  s.k_ = k;
  s.p_ = p;
  return s;
}

Sampler Sampler::custom(float temperature, Pick pick, uint32_t k) {
  Sampler s(Kind::Custom, temperature);
  s.k_ = k;
  s.pick_ = std::move(pick);
  return s;
}

// ---- ChatFormatter ------------------------------------------------------------------------------

std::string ChatFormatter::to_json(std::span<const ChatMessage> messages) {
  std::string out = "[";
  for (const auto& m : messages) {
    if (out.size() > 1) out += ',';
    out += "{\"role\":";
    append_json_string(out, m.role);
    out += ",\"content\":";
    append_json_string(out, m.content);
    out += '}';
  }
  out += ']';
  return out;
}

Result<std::string> ChatFormatter::render(const Model& model, std::span<const ChatMessage> messages,
                                          bool add_generation_prompt, bool begin_of_sequence) {
  const std::string json = to_json(messages);
  const uint32_t flags = (add_generation_prompt ? PIE_CHAT_ADD_GENERATION_PROMPT : 0) |
                         (begin_of_sequence ? PIE_CHAT_BEGIN_OF_SEQUENCE : 0);
  char buffer[512];
  const uint32_t n = pie_model_render_chat(model.handle(), json.data(), size32(json.size()), flags,
                                           buffer, sizeof buffer);
  if (n == PIE_NONE) return Error{"model " + model.name() + " has no chat template"};
  if (n <= sizeof buffer) return std::string(buffer, n);
  std::string out(n, '\0');
  pie_result_fetch(out.data(), n);
  return out;
}

std::string ChatFormatter::begin_of_sequence(const Model& model) {
  // An empty conversation renders as the begin-of-sequence text, with or without a template.
  Result<std::string> text = render(model, {}, false, true);
  return text.ok() ? std::move(text.value()) : std::string();
}

std::string ChatFormatter::render_plain(std::span<const ChatMessage> messages) {
  std::string out;
  for (const auto& m : messages) out += m.role + ": " + m.content + "\n";
  return out;
}

// ---- NgramDrafter -------------------------------------------------------------------------------

std::vector<uint32_t> NgramDrafter::draft(std::span<const uint32_t> tokens, uint32_t max) {
  if (n_ == 0 || tokens.size() <= n_ || max == 0) return {};
  const auto key = tokens.subspan(tokens.size() - n_);
  // The latest earlier occurrence of the key is the likeliest to repeat.
  for (size_t start = tokens.size() - n_; start-- > 0;) {
    if (std::equal(key.begin(), key.end(), tokens.begin() + static_cast<ptrdiff_t>(start))) {
      const size_t from = start + n_;
      const size_t count = std::min<size_t>(max, tokens.size() - from);
      return {tokens.begin() + static_cast<ptrdiff_t>(from),
              tokens.begin() + static_cast<ptrdiff_t>(from + count)};
    }
  }
  return {};
}

// ---- Context: building --------------------------------------------------------------------------

Context Model::create_context() const {
  return Context(*this);
}

Context::Context(const Model& model)
    : model_(model),
      queue_(model.create_queue()),
      tokenizer_(model.tokenizer()),
      page_size_(model.kv_page_size()) {}

void Context::fill(std::string_view text) {
  fill_tokens(tokenizer_.tokenize(text));
}

void Context::fill_tokens(std::span<const uint32_t> ids) {
  for (uint32_t id : ids) {
    pending_masks_.push_back(masked_count_ == 0 ? std::nullopt
                                                : std::optional<std::vector<bool>>(slot_masked_));
    pending_ids_.push_back(id);
    token_ids_.push_back(id);
    slot_tokens_.push_back(id);
    slot_positions_.push_back(next_position_++);
    slot_masked_.push_back(false);
  }
}

void Context::fill_message(std::string_view role, std::string_view text,
                           bool add_generation_prompt) {
  const ChatMessage message{std::string(role), std::string(text)};
  auto prompt = ChatFormatter::render(model_, std::span(&message, 1), add_generation_prompt,
                                      token_ids_.empty());
  if (prompt.ok()) {
    fill(prompt.value());
    return;
  }
  if (token_ids_.empty()) fill(ChatFormatter::begin_of_sequence(model_));
  fill(ChatFormatter::render_plain(std::span(&message, 1)));
  if (add_generation_prompt) fill("assistant:");
}

void Context::ensure_pages(uint32_t slots) {
  const uint32_t needed = (slots + page_size_ - 1) / page_size_;
  if (needed <= pages_.size()) return;
  for (auto& page : queue_.allocate_kv_pages(needed - size32(pages_.size())))
    pages_.push_back(std::move(page));
}

std::optional<Future<ForwardResult>> Context::submit(
    const std::function<void(ForwardPass&, uint32_t)>& outputs) {
  const auto n = size32(pending_ids_.size());
  if (n == 0) fail("Context: nothing to compute: fill the context first");
  const uint32_t total = kv_slots_ + n;
  ensure_pages(total);
  const uint32_t last_page_len = total - (size32(pages_.size()) - 1) * page_size_;

  ForwardPass pass = queue_.forward_pass();
  const std::span<const uint32_t> positions(slot_positions_.data() + kv_slots_, n);
  pass.input_tokens(pending_ids_, positions).kv_cache(pages_, last_page_len);
  // The engine takes one mask row per input token, even when nothing is masked.
  std::vector<std::vector<uint32_t>> rows;
  rows.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    rows.push_back(pending_masks_[i] ? brle_row(*pending_masks_[i])
                                     : std::vector<uint32_t>{kv_slots_ + i + 1});
  }
  pass.attention_mask(rows);
  outputs(pass, n);
  auto future = pass.execute();
  ++forward_passes_;
  tokens_computed_ += n;
  kv_slots_ = total;
  pending_ids_.clear();
  pending_masks_.clear();
  unsynchronized_ = !future.has_value();
  return future;
}

void Context::flush() {
  if (pending_ids_.empty()) return;
  submit([](ForwardPass&, uint32_t) {});
}

// ---- Context: generating ------------------------------------------------------------------------

Future<ForwardResult> Context::submit_step(const Sampler& sampler) {
  return *submit([&](ForwardPass& pass, uint32_t n) {
    const uint32_t last[] = {n - 1};
    const float t = sampler.temperature();
    switch (sampler.kind()) {
      case Sampler::Kind::Multinomial:
        pass.output_tokens(last, t);
        break;
      case Sampler::Kind::TopK:
        pass.output_tokens_top_k(last, t, sampler.k());
        break;
      case Sampler::Kind::TopP:
        pass.output_tokens_top_p(last, t, sampler.p());
        break;
      case Sampler::Kind::MinP:
        pass.output_tokens_min_p(last, t, sampler.p());
        break;
      case Sampler::Kind::TopKTopP:
        pass.output_tokens_top_k_top_p(last, t, sampler.k(), sampler.p());
        break;
      case Sampler::Kind::Custom:
        pass.output_distributions(last, t, sampler.k());
        break;
    }
  });
}

uint32_t Context::sampled_token(const Sampler& sampler, const ForwardResult& result) {
  if (sampler.kind() == Sampler::Kind::Custom) {
    if (result.distributions.empty()) fail("Context: the engine returned no distribution");
    return sampler.pick()(result.distributions[0]);
  }
  if (result.tokens.empty()) fail("Context: the engine returned no token");
  return result.tokens[0];
}

uint32_t Context::decode_step(const Sampler& sampler) {
  return sampled_token(sampler, submit_step(sampler).get());
}

std::vector<std::string> Context::stop_strings(const StopCondition& stop) const {
  std::vector<std::string> stops = stop.stop_strings;
  if (stop.model_stop_tokens) {
    for (auto& s : model_.stop_tokens()) stops.push_back(std::move(s));
  }
  std::erase_if(stops, [](const std::string& s) { return s.empty(); });
  return stops;
}

std::string Context::generate(const Sampler& sampler, const StopCondition& stop) {
  return generate_streaming(sampler, stop, [](std::string_view) {});
}

// One generation in progress: the generated tokens, their text and what was streamed of it.
class Context::Generation {
 public:
  Generation(Context& context, const StopCondition& stop,
             std::function<void(std::string_view)> on_text)
      : context_(context),
        max_tokens_(stop.max_tokens),
        stops_(context.stop_strings(stop)),
        decoder_(context.tokenizer_, context.token_ids_),
        on_text_(std::move(on_text)) {
    if (context.pending_ids_.empty()) {
      fail("Context::generate: nothing to continue: fill the context first");
    }
  }
  bool done() const { return done_; }
  // Appends the next token; true when generation is over.
  bool add(uint32_t token) {
    generated_.push_back(token);
    context_.fill_token(token);
    const size_t before = text_.size();
    text_ = decoder_.text(generated_);
    done_ = cut_at_stop(text_, std::min(before, text_.size()), stops_) ||
            generated_.size() >= max_tokens_;
    const size_t safe = done_ ? text_.size()
                              : text_.size() - std::max(incomplete_utf8_tail(text_),
                                                        stop_prefix_tail(text_, stops_));
    if (safe > emitted_) {
      on_text_(std::string_view(text_).substr(emitted_, safe - emitted_));
      emitted_ = safe;
    }
    return done_;
  }
  std::string take_text() { return std::move(text_); }

 private:
  Context& context_;
  uint32_t max_tokens_;
  std::vector<std::string> stops_;
  ContinuationDecoder decoder_;
  std::function<void(std::string_view)> on_text_;
  std::vector<uint32_t> generated_;
  std::string text_;
  size_t emitted_ = 0;
  bool done_ = false;
};

std::string Context::generate_streaming(const Sampler& sampler, const StopCondition& stop,
                                        const std::function<void(std::string_view)>& on_text) {
  Generation generation(*this, stop, on_text);
  if (stop.max_tokens == 0) return {};
  while (!generation.add(decode_step(sampler))) {
  }
  return generation.take_text();
}

std::vector<std::string> Context::generate_all(std::span<Context* const> contexts,
                                               const Sampler& sampler, const StopCondition& stop) {
  std::vector<Generation> generations;
  generations.reserve(contexts.size());
  for (Context* c : contexts) generations.emplace_back(*c, stop, [](std::string_view) {});
  if (stop.max_tokens > 0) {
    for (;;) {
      // Every step is submitted before any is awaited, so the engine batches them.
      std::vector<std::pair<size_t, Future<ForwardResult>>> steps;
      for (size_t i = 0; i < contexts.size(); ++i) {
        if (!generations[i].done()) steps.emplace_back(i, contexts[i]->submit_step(sampler));
      }
      if (steps.empty()) break;
      for (auto& [i, future] : steps) generations[i].add(sampled_token(sampler, future.get()));
    }
  }
  std::vector<std::string> texts;
  texts.reserve(generations.size());
  for (auto& g : generations) texts.push_back(g.take_text());
  return texts;
}

void Context::shrink_slots(uint32_t slots) {
  const uint32_t removed = kv_slots_ - slots;
  for (uint32_t i = slots; i < kv_slots_; ++i) masked_count_ -= slot_masked_[i] ? 1 : 0;
  slot_tokens_.resize(slots);
  slot_positions_.resize(slots);
  slot_masked_.resize(slots);
  token_ids_.resize(token_ids_.size() - removed);
  next_position_ -= removed;
  kv_slots_ = slots;
  pages_.erase(pages_.begin() + (slots + page_size_ - 1) / page_size_, pages_.end());
}

DraftedGeneration Context::generate_with_drafter(Drafter& drafter, const StopCondition& stop,
                                                 uint32_t max_draft) {
  if (pending_ids_.empty()) {
    fail("Context::generate_with_drafter: nothing to continue: fill the context first");
  }
  const std::vector<std::string> stops = stop_strings(stop);
  const ContinuationDecoder decoder(tokenizer_, token_ids_);
  DraftedGeneration out;
  while (out.tokens.size() < stop.max_tokens) {
    // Room for the drafted tokens and the one the model adds after them.
    const auto room = static_cast<uint32_t>(stop.max_tokens - out.tokens.size() - 1);
    const std::vector<uint32_t> draft = drafter.draft(token_ids_, std::min(max_draft, room));
    const auto n_pending = size32(pending_ids_.size());
    fill_tokens(draft);
    const uint32_t base = kv_slots_;
    auto future = submit([&](ForwardPass& pass, uint32_t) {
      std::vector<uint32_t> at(draft.size() + 1);
      for (uint32_t i = 0; i < at.size(); ++i) at[i] = n_pending - 1 + i;
      pass.output_tokens(at, 0.0F);
    });
    const ForwardResult result = future->get();
    ++out.forward_passes;
    if (result.tokens.size() != draft.size() + 1)
      fail("Context: the engine returned too few tokens");
    uint32_t accepted = 0;
    while (accepted < draft.size() && result.tokens[accepted] == draft[accepted]) ++accepted;
    out.drafted += size32(draft.size());
    out.accepted += accepted;
    // Keep the KV of the pending tokens and of the confirmed draft; the rest was a wrong guess.
    shrink_slots(base + n_pending + accepted);
    out.tokens.insert(out.tokens.end(), draft.begin(), draft.begin() + accepted);
    out.tokens.push_back(result.tokens[accepted]);
    fill_token(result.tokens[accepted]);
    const size_t before = out.text.size();
    out.text = decoder.text(out.tokens);
    if (cut_at_stop(out.text, std::min(before, out.text.size()), stops)) break;
  }
  return out;
}

std::vector<Beam> Context::beam_search(uint32_t beam_size, uint32_t max_tokens) {
  if (beam_size == 0) fail("Context::beam_search: the beam size must be at least 1");
  if (pending_ids_.empty())
    fail("Context::beam_search: nothing to continue: fill the context first");
  struct Live {
    Context context;
    Beam beam;
  };
  const ContinuationDecoder decoder(tokenizer_, token_ids_);
  std::vector<Live> beams;
  beams.push_back({fork(), {}});
  for (uint32_t step = 0; step < max_tokens; ++step) {
    // Every beam's pass is submitted before any is awaited, so the engine batches them.
    std::vector<Future<ForwardResult>> futures;
    futures.reserve(beams.size());
    for (auto& live : beams) {
      futures.push_back(*live.context.submit([&](ForwardPass& pass, uint32_t n) {
        const uint32_t last[] = {n - 1};
        pass.output_distributions(last, 1.0F, beam_size);
      }));
    }
    struct Candidate {
      float score;
      size_t beam;
      uint32_t token;
    };
    std::vector<Candidate> candidates;
    for (size_t b = 0; b < beams.size(); ++b) {
      const ForwardResult result = futures[b].get();
      if (result.distributions.empty()) fail("Context: the engine returned no distribution");
      const Distribution& d = result.distributions[0];
      for (size_t i = 0; i < d.ids.size(); ++i) {
        const float p = std::max(d.probs[i], 1e-30F);
        candidates.push_back({beams[b].beam.score + std::log(p), b, d.ids[i]});
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    candidates.resize(std::min<size_t>(candidates.size(), beam_size));
    std::vector<Live> next;
    next.reserve(candidates.size());
    for (const Candidate& c : candidates) {
      Live child{beams[c.beam].context.fork(), beams[c.beam].beam};
      child.context.fill_token(c.token);
      child.beam.tokens.push_back(c.token);
      child.beam.score = c.score;
      next.push_back(std::move(child));
    }
    beams = std::move(next);
  }
  std::vector<Beam> out;
  out.reserve(beams.size());
  for (auto& live : beams) {
    live.beam.text = decoder.text(live.beam.tokens);
    out.push_back(std::move(live.beam));
  }
  return out;
}

// ---- Context: sharing and memory ----------------------------------------------------------------

Context Context::fork() {
  if (unsynchronized_) {
    // The child reads pages a pass on this queue may still be writing.
    queue_.synchronize().get();
    unsynchronized_ = false;
  }
  Context child(model_);
  const uint32_t full = kv_slots_ / page_size_;
  child.pages_.assign(pages_.begin(), pages_.begin() + full);
  child.kv_slots_ = full * page_size_;
  child.token_ids_ = token_ids_;
  child.slot_tokens_ = slot_tokens_;
  child.slot_positions_ = slot_positions_;
  child.slot_masked_ = slot_masked_;
  child.masked_count_ = masked_count_;
  child.next_position_ = next_position_;
  // The tokens of the partial last page are recomputed into a page of the child's own.
  for (uint32_t i = child.kv_slots_; i < kv_slots_; ++i) {
    child.pending_ids_.push_back(slot_tokens_[i]);
    std::vector<bool> before(slot_masked_.begin(), slot_masked_.begin() + i);
    const bool any = std::find(before.begin(), before.end(), true) != before.end();
    child.pending_masks_.push_back(any ? std::optional(std::move(before)) : std::nullopt);
  }
  child.pending_ids_.insert(child.pending_ids_.end(), pending_ids_.begin(), pending_ids_.end());
  child.pending_masks_.insert(child.pending_masks_.end(), pending_masks_.begin(),
                              pending_masks_.end());
  return child;
}

void Context::mask_token_range(uint32_t start, uint32_t end, bool masked) {
  if (start > end || end > slot_masked_.size()) {
    fail("Context::mask_token_range: [" + std::to_string(start) + ", " + std::to_string(end) +
         ") is outside the sequence of " + std::to_string(slot_masked_.size()));
  }
  for (uint32_t i = start; i < end; ++i) {
    if (slot_masked_[i] != masked) {
      slot_masked_[i] = masked;
      masked_count_ += masked ? 1 : -1;
    }
  }
}

void Context::mask_tokens(std::span<const uint32_t> indices, bool masked) {
  for (uint32_t i : indices) mask_token_range(i, i + 1, masked);
}

void Context::drop_masked_kv_pages() {
  if (pages_.size() < 2) return;
  // Pages wholly computed and wholly masked, except the last page; from the back so the slot
  // indices of the pages still to check do not move.
  for (size_t p = pages_.size() - 1; p-- > 0;) {
    const uint32_t begin = size32(p) * page_size_;
    const uint32_t end = begin + page_size_;
    if (end > kv_slots_) continue;
    if (!std::all_of(slot_masked_.begin() + begin, slot_masked_.begin() + end,
                     [](bool m) { return m; })) {
      continue;
    }
    pages_.erase(pages_.begin() + static_cast<ptrdiff_t>(p));
    slot_tokens_.erase(slot_tokens_.begin() + begin, slot_tokens_.begin() + end);
    slot_positions_.erase(slot_positions_.begin() + begin, slot_positions_.begin() + end);
    slot_masked_.erase(slot_masked_.begin() + begin, slot_masked_.begin() + end);
    masked_count_ -= page_size_;
    kv_slots_ -= page_size_;
    for (auto& mask : pending_masks_) {
      if (mask) mask->erase(mask->begin() + begin, mask->begin() + end);
    }
  }
}

// The token state kept in the store beside an export: numbers separated by spaces.
// "1 <page size> <full pages> <next position> <slots> (<token> <position> <masked>)... <tokens>
// <token>..."
void Context::export_prefix(std::string_view name) {
  flush();
  if (unsynchronized_) {
    queue_.synchronize().get();
    unsynchronized_ = false;
  }
  const uint32_t full = kv_slots_ / page_size_;
  if (full > 0) queue_.export_slots<Resource::KvPage>(std::span(pages_).first(full), name);
  std::string state = "1 " + std::to_string(page_size_) + " " + std::to_string(full) + " " +
                      std::to_string(next_position_) + " " + std::to_string(slot_tokens_.size());
  for (size_t i = 0; i < slot_tokens_.size(); ++i) {
    state += " " + std::to_string(slot_tokens_[i]) + " " + std::to_string(slot_positions_[i]) +
             (slot_masked_[i] ? " 1" : " 0");
  }
  state += " " + std::to_string(token_ids_.size());
  for (uint32_t id : token_ids_) state += " " + std::to_string(id);
  store::set(prefix_key(name), state);
}

void Context::release_prefix(const Model& model, std::string_view name) {
  const Queue queue = model.create_queue();
  for (const auto& [export_name, count] : queue.exported(Resource::KvPage)) {
    if (export_name == name) queue.release_exported(Resource::KvPage, name);
  }
  store::remove(prefix_key(name));
}

std::optional<Context> Context::from_imported(const Model& model, std::string_view name) {
  const auto state = store::get(prefix_key(name));
  if (!state) return std::nullopt;
  std::vector<uint32_t> numbers;
  const char* p = state->c_str();
  char* end = nullptr;
  for (unsigned long v = std::strtoul(p, &end, 10); end != p; v = std::strtoul(p, &end, 10)) {
    numbers.push_back(static_cast<uint32_t>(v));
    p = end;
  }
  size_t at = 0;
  auto next = [&]() {
    if (at >= numbers.size())
      fail("Context::from_imported: the stored state of a prefix is damaged");
    return numbers[at++];
  };
  if (next() != 1) fail("Context::from_imported: unknown state version");
  Context context(model);
  if (next() != context.page_size_) fail("Context::from_imported: the page size changed");
  const uint32_t full = next();
  context.next_position_ = next();
  const uint32_t slots = next();
  for (uint32_t i = 0; i < slots; ++i) {
    context.slot_tokens_.push_back(next());
    context.slot_positions_.push_back(next());
    context.slot_masked_.push_back(next() != 0);
    context.masked_count_ += context.slot_masked_.back() ? 1 : 0;
  }
  const uint32_t tokens = next();
  for (uint32_t i = 0; i < tokens; ++i) context.token_ids_.push_back(next());
  if (full * context.page_size_ > slots) fail("Context::from_imported: the state is damaged");
  if (full > 0) {
    bool exported = false;
    for (const auto& [export_name, count] : context.queue_.exported(Resource::KvPage)) {
      exported = exported || (export_name == name && count == full);
    }
    if (!exported) return std::nullopt;
    context.pages_ = context.queue_.import <Resource::KvPage>(name);
  }
  context.kv_slots_ = full * context.page_size_;
  // Tokens past the shared pages are recomputed (the imported pages are never written).
  for (uint32_t i = context.kv_slots_; i < slots; ++i) {
    context.pending_ids_.push_back(context.slot_tokens_[i]);
    std::vector<bool> before(context.slot_masked_.begin(), context.slot_masked_.begin() + i);
    const bool any = std::find(before.begin(), before.end(), true) != before.end();
    context.pending_masks_.push_back(any ? std::optional(std::move(before)) : std::nullopt);
  }
  return context;
}

}  // namespace pie
