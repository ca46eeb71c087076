#include "engine/pass_chunks.h"

#include <algorithm>

#include "common/error.h"

namespace pie::engine {

using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;
using protocol::SamplerKind;

uint32_t pass_tokens(const ForwardPassRequest& pass) {
  const size_t n = pass.input_tokens.size() + pass.input_embed_ptrs.size();
  return static_cast<uint32_t>(std::max<size_t>(n, 1));
}

namespace {

// Tokens in the sequence once the whole pass has run (reference §4.8.1).
uint64_t sequence_length(const ForwardPassRequest& pass, uint32_t page_size) {
  return uint64_t{page_size} * (pass.kv_page_ptrs.size() - 1) + pass.kv_page_last_len;
}

}  // namespace

bool can_split(const ForwardPassRequest& pass, uint32_t page_size) {
  const size_t n = pass.input_tokens.size();
  if (n < 2 || page_size == 0 || !pass.input_embed_ptrs.empty()) return false;
  if (pass.kv_page_ptrs.empty() || pass.kv_page_last_len == 0 ||
      pass.kv_page_last_len > page_size) {
    return false;
  }
  if (sequence_length(pass, page_size) < n) return false;
  if (pass.input_token_positions.size() != n) return false;
  if (!pass.mask.empty() && pass.mask.size() != n) return false;
  if (pass.output_token_samplers.size() != pass.output_token_indices.size()) return false;
  if (pass.output_embed_ptrs.size() != pass.output_embed_indices.size()) return false;
  auto inside = [n](uint32_t i) { return i < n; };
  return std::all_of(pass.output_token_indices.begin(), pass.output_token_indices.end(), inside) &&
         std::all_of(pass.output_embed_indices.begin(), pass.output_embed_indices.end(), inside);
}

ForwardPassRequest chunk_of(const ForwardPassRequest& pass, uint32_t begin, uint32_t end,
                            uint32_t page_size) {
  const size_t n = pass.input_tokens.size();
  // The sequence as it is after `end` of the pass's tokens.
  const uint64_t length = sequence_length(pass, page_size) - (n - end);
  const uint64_t pages = (length + page_size - 1) / page_size;

  ForwardPassRequest chunk;
  chunk.input_tokens.assign(pass.input_tokens.begin() + begin, pass.input_tokens.begin() + end);
  chunk.input_token_positions.assign(pass.input_token_positions.begin() + begin,
                                     pass.input_token_positions.begin() + end);
  if (!pass.mask.empty()) {
    chunk.mask.assign(pass.mask.begin() + begin, pass.mask.begin() + end);
  }
  chunk.adapter = pass.adapter;
  chunk.adapter_seed = pass.adapter_seed;
  chunk.kv_page_ptrs.assign(pass.kv_page_ptrs.begin(),
                            pass.kv_page_ptrs.begin() + static_cast<ptrdiff_t>(pages));
  chunk.kv_page_last_len = static_cast<uint32_t>(length - uint64_t{page_size} * (pages - 1));
  for (size_t j = 0; j < pass.output_token_indices.size(); ++j) {
    const uint32_t i = pass.output_token_indices[j];
    if (i < begin || i >= end) continue;
    chunk.output_token_indices.push_back(i - begin);
    chunk.output_token_samplers.push_back(pass.output_token_samplers[j]);
  }
  for (size_t j = 0; j < pass.output_embed_indices.size(); ++j) {
    const uint32_t i = pass.output_embed_indices[j];
    if (i < begin || i >= end) continue;
    chunk.output_embed_indices.push_back(i - begin);
    chunk.output_embed_ptrs.push_back(pass.output_embed_ptrs[j]);
  }
  return chunk;
}

ChunkedResponse::ChunkedResponse(const ForwardPassRequest& pass)
    : tokens_(pass.output_token_indices.size()), dists_(pass.output_token_indices.size()) {
  for (size_t j = 0; j < pass.output_token_indices.size(); ++j) {
    outputs_.push_back(Output{pass.output_token_indices[j],
                              pass.output_token_samplers[j].kind == SamplerKind::Distribution});
  }
}

void ChunkedResponse::add(uint32_t begin, uint32_t end, ForwardPassResponse chunk) {
  auto in_chunk = [&](const Output& o) { return o.index >= begin && o.index < end; };
  size_t want_tokens = 0;
  size_t want_dists = 0;
  for (const Output& o : outputs_) {
    if (in_chunk(o)) (o.distribution ? want_dists : want_tokens) += 1;
  }
  if (chunk.tokens.size() != want_tokens || chunk.dists.size() != want_dists) {
    throw Error("the backend answered a forward pass with " + std::to_string(chunk.tokens.size()) +
                " tokens and " + std::to_string(chunk.dists.size()) + " distributions instead of " +
                std::to_string(want_tokens) + " and " + std::to_string(want_dists));
  }
  size_t next_token = 0;
  size_t next_dist = 0;
  for (size_t j = 0; j < outputs_.size(); ++j) {
    if (!in_chunk(outputs_[j])) continue;
    if (outputs_[j].distribution) {
      dists_[j] = std::move(chunk.dists[next_dist++]);
    } else {
      tokens_[j] = chunk.tokens[next_token++];
    }
  }
}

ForwardPassResponse ChunkedResponse::finish() {
  ForwardPassResponse out;
  for (size_t j = 0; j < outputs_.size(); ++j) {
    if (outputs_[j].distribution) {
      if (dists_[j]) out.dists.push_back(std::move(*dists_[j]));
    } else if (tokens_[j]) {
      out.tokens.push_back(*tokens_[j]);
    }
  }
  return out;
}

}  // namespace pie::engine
