#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <random>
#include <sstream>
#include <variant>

#include "backend/kernels/isa.h"
#include "common/error.h"
#include "common/log.h"

namespace pie::cpu {

using protocol::SamplerKind;

namespace {

uint64_t initial_seed(const std::optional<uint64_t>& seed) {
  if (seed) return *seed;
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

kv::KvCacheShape cache_shape(const model::ModelConfig& c, const CpuBackendOptions& o) {
  return {c.n_layers, c.n_kv_heads, c.head_dim, o.kv_page_size, o.kv_pages, o.kv_type};
}

// Pie's tiktoken-style tables, for byte-level vocabularies with at most one split regex (what they
// can express); other vocabularies travel only as the tokenizer spec.
void fill_tiktoken_tables(const tokenizer::TokenizerSpec& spec, protocol::HandshakeResponse& h) {
  if (spec.algorithm != tokenizer::Algorithm::ByteLevel || spec.split_regexes.size() > 1) return;
  for (uint32_t id = 0; id < spec.tokens.size(); ++id) {
    const auto type = spec.types[id];
    if (type == tokenizer::TokenType::Control || type == tokenizer::TokenType::UserDefined) {
      h.tokenizer_special_tokens[spec.tokens[id]] = id;
    } else if (type != tokenizer::TokenType::Unused) {
      h.tokenizer_merge_table[id] = spec.tokens[id];
    }
  }
  if (!spec.split_regexes.empty()) h.tokenizer_split_regex = spec.split_regexes[0];
  h.tokenizer_escape_non_printable = true;  // byte-level tokens are in GPT-2's escaped form
}

// The sampling scratch of the calling thread, at least n floats.
std::span<float> probs_scratch(size_t n) {
  thread_local std::vector<float> probs;
  if (probs.size() < n) probs.resize(n);
  return {probs.data(), n};
}

}  // namespace

CpuBackend::CpuBackend(std::shared_ptr<const model::ModelFile> model, CpuBackendOptions options)
    : model_(std::move(model)),
      options_(std::move(options)),
      pool_(options_.threads),
      transformer_(*model_, pool_),
      cache_(cache_shape(model_->config(), options_)),
      embeds_(size_t{options_.embed_slots} * model_->config().dim),
      rng_(initial_seed(options_.seed)) {
  if (options_.max_dist_size == 0) throw Error("max_dist_size must be at least 1");
  const model::ModelConfig& c = model_->config();
  limits_ = {c.vocab_size, options_.kv_pages, options_.kv_page_size, options_.embed_slots};
  const uint64_t packed_mib = transformer_.packed_bytes() >> 20;
  PIE_LOG(Info) << "CPU backend: " << c.name << " (" << model::architecture_name(c.arch) << ", "
                << c.n_layers << " layers, dim " << c.dim << "), " << pool_.size() << " threads, "
                << kernels::isa_name(kernels::active_isa()) << " kernels"
                << (packed_mib > 0
                        ? " (" + std::to_string(packed_mib) + " MiB of weights repacked for them)"
                        : std::string())
                << ", KV pool " << (cache_.total_bytes() >> 20) << " MiB";
}

protocol::HandshakeResponse CpuBackend::handshake(const protocol::HandshakeRequest& /*request*/) {
  const model::ModelConfig& c = model_->config();
  protocol::HandshakeResponse h;
  h.version = "0.1.0";
  h.model_name = options_.model_name.empty() ? c.name : options_.model_name;
  h.model_traits = {"text", std::string(model::architecture_name(c.arch))};
  std::ostringstream desc;
  desc << model::architecture_name(c.arch) << " model (" << c.n_layers << " layers, dim " << c.dim
       << ", vocabulary " << c.vocab_size << ") from " << model::format_name(model_->format())
       << ", on the CPU backend";
  h.model_description = desc.str();
  h.prompt_template = model_->chat_template();
  h.prompt_template_type = "jinja2";
  h.prompt_stop_tokens = model_->stop_strings();
  h.kv_page_size = options_.kv_page_size;
  h.resources = {{static_cast<uint32_t>(protocol::ResourceType::KvPage), options_.kv_pages},
                 {static_cast<uint32_t>(protocol::ResourceType::Embed), options_.embed_slots},
                 {static_cast<uint32_t>(protocol::ResourceType::Adapter), 0}};
  fill_tiktoken_tables(model_->tokenizer(), h);
  h.tokenizer_spec = model_->tokenizer().serialize();
  h.max_dist_size = options_.max_dist_size;
  return h;
}

protocol::QueryResponse CpuBackend::query(const protocol::QueryRequest& request) {
  if (request.query == "ping") return {"pong"};
  if (request.query == "stats") return {stats_json()};
  return {"unknown query"};
}

std::span<const float> CpuBackend::embedding(uint32_t slot) const {
  if (slot >= options_.embed_slots)
    throw Error("embedding slot " + std::to_string(slot) + " does not exist");
  const size_t dim = model_->config().dim;
  return {embeds_.data() + size_t{slot} * dim, dim};
}

void CpuBackend::write_embedding(uint32_t slot, std::span<const float> values) {
  if (slot >= options_.embed_slots)
    throw Error("embedding slot " + std::to_string(slot) + " does not exist");
  const size_t dim = model_->config().dim;
  if (values.size() != dim) {
    throw Error("an embedding has " + std::to_string(dim) + " values, not " +
                std::to_string(values.size()));
  }
  std::copy(values.begin(), values.end(),
            embeds_.begin() + static_cast<ptrdiff_t>(size_t{slot} * dim));
}

std::string CpuBackend::stats_json() const {
  std::ostringstream s;
  s << "{\"isa\":\"" << kernels::isa_name(kernels::active_isa())
    << "\",\"threads\":" << pool_.size() << ",\"kv_pages\":" << options_.kv_pages
    << ",\"kv_page_size\":" << options_.kv_page_size << ",\"kv_type\":\""
    << model::type_name(options_.kv_type) << "\""
    << ",\"kv_bytes\":" << cache_.total_bytes() << ",\"embed_slots\":" << options_.embed_slots
    << ",\"batches\":" << stats_.batches << ",\"requests\":" << stats_.requests
    << ",\"rejected\":" << stats_.rejected << ",\"input_tokens\":" << stats_.input_tokens
    << ",\"outputs\":" << stats_.outputs << ",\"busy_seconds\":" << stats_.busy.count() << "}";
  return s.str();
}

std::vector<protocol::ForwardPassResponse> CpuBackend::forward_pass(
    std::span<const protocol::ForwardPassRequest> batch) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<protocol::ForwardPassResponse> out(batch.size());
  std::vector<Plan> plans;
  std::vector<size_t> requests;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto planned = plan_request(batch[i], limits_);
    if (auto* why = std::get_if<std::string>(&planned)) {
      out[i].error = std::move(*why);
      ++stats_.rejected;
      continue;
    }
    plans.push_back(std::move(std::get<Plan>(planned)));
    requests.push_back(i);
  }
  try {
    run(batch, plans, requests, out);
  } catch (const std::exception& e) {
    PIE_LOG(Error) << "forward pass failed: " << e.what();
    for (size_t i : requests) {
      out[i] = {};
      out[i].error = std::string("forward pass failed: ") + e.what();
    }
  }
  ++stats_.batches;
  stats_.requests += batch.size();
  stats_.busy += std::chrono::steady_clock::now() - start;
  return out;
}

void CpuBackend::run(std::span<const protocol::ForwardPassRequest> batch,
                     const std::vector<Plan>& plans, const std::vector<size_t>& requests,
                     std::vector<protocol::ForwardPassResponse>& out) {
  const size_t dim = model_->config().dim;
  const size_t vocab = model_->config().vocab_size;

  // Inputs: one row per input of every planned request, in batch order.
  std::vector<Transformer::Sequence> sequences;
  size_t rows = 0;
  for (const Plan& p : plans) {
    sequences.push_back({&p, rows});
    rows += p.inputs.size();
  }
  stats_.input_tokens += rows;
  if (x_.size() < rows * dim) x_.resize(rows * dim);
  pool_.parallel_for(sequences.size(), [&](size_t s) {
    const Plan& p = *sequences[s].plan;
    for (size_t i = 0; i < p.inputs.size(); ++i) {
      float* row = x_.data() + (sequences[s].first_row + i) * dim;
      if (p.inputs[i].token != Input::kNone) {
        transformer_.embed_token(p.inputs[i].token, row);
      } else {
        std::copy_n(embeds_.data() + size_t{p.inputs[i].embed_slot} * dim, dim, row);
      }
    }
  });
  if (rows > 0) transformer_.run_layers(pool_, cache_, sequences, x_.data(), rows);

  // Final hidden states of the rows that have outputs: token outputs first, then embeddings.
  struct TokenOutput {
    size_t request;
    const protocol::SamplerSpec* spec;
    uint64_t seed;
  };
  std::vector<size_t> hidden_rows;
  std::vector<TokenOutput> token_outputs;
  for (size_t s = 0; s < plans.size(); ++s) {
    const protocol::ForwardPassRequest& r = batch[requests[s]];
    for (size_t i = 0; i < r.output_token_indices.size(); ++i) {
      const protocol::SamplerSpec& spec = r.output_token_samplers[i];
      // Unseeded draws take their seed from the backend's generator, in batch order, so a batch's
      // draws do not depend on how the work is spread over threads.
      const bool draws = spec.kind != SamplerKind::Distribution;
      const uint64_t seed = spec.seed ? *spec.seed : draws ? rng_.next() : 0;
      token_outputs.push_back({requests[s], &spec, seed});
      hidden_rows.push_back(sequences[s].first_row + r.output_token_indices[i]);
    }
  }
  const size_t n_token_outputs = hidden_rows.size();
  for (size_t s = 0; s < plans.size(); ++s) {
    const protocol::ForwardPassRequest& r = batch[requests[s]];
    for (uint32_t index : r.output_embed_indices)
      hidden_rows.push_back(sequences[s].first_row + index);
  }
  stats_.outputs += hidden_rows.size();
  if (hidden_rows.empty()) return;
  if (hidden_.size() < hidden_rows.size() * dim) hidden_.resize(hidden_rows.size() * dim);
  transformer_.final_norm(pool_, x_.data(), hidden_rows, hidden_.data());

  // Embedding outputs (after every input embedding was read).
  size_t h = n_token_outputs;
  for (size_t s = 0; s < plans.size(); ++s) {
    const protocol::ForwardPassRequest& r = batch[requests[s]];
    for (uint32_t slot : r.output_embed_ptrs) {
      std::copy_n(hidden_.data() + h++ * dim, dim, embeds_.data() + size_t{slot} * dim);
    }
  }
  if (n_token_outputs == 0) return;

  if (logits_.size() < n_token_outputs * vocab) logits_.resize(n_token_outputs * vocab);
  transformer_.logits(pool_, hidden_.data(), n_token_outputs, logits_.data());
  std::vector<protocol::Distribution> dists(n_token_outputs);
  std::vector<uint32_t> tokens(n_token_outputs);
  pool_.parallel_for(n_token_outputs, [&](size_t i) {
    const TokenOutput& o = token_outputs[i];
    const std::span<const float> logits(logits_.data() + i * vocab, vocab);
    const std::span<float> probs = probs_scratch(vocab);
    if (o.spec->kind == SamplerKind::Distribution) {
      uint32_t k = o.spec->top_k.value_or(options_.max_dist_size);
      if (k == 0 || k > options_.max_dist_size) k = options_.max_dist_size;
      sampling::probabilities(logits, o.spec->temperature, probs);
      dists[i] = sampling::top_k(probs, k);
    } else {
      sampling::Rng rng(o.seed);
      tokens[i] = sampling::sample(*o.spec, logits, probs, rng);
    }
  });
  for (size_t i = 0; i < n_token_outputs; ++i) {
    protocol::ForwardPassResponse& resp = out[token_outputs[i].request];
    if (token_outputs[i].spec->kind == SamplerKind::Distribution) {
      resp.dists.push_back(std::move(dists[i]));
    } else {
      resp.tokens.push_back(tokens[i]);
    }
  }
}

}  // namespace pie::cpu
