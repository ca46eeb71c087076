#include "engine/testing/fake_backend.h"

#include "common/brle.h"
#include "common/error.h"

namespace pie::engine::testing {

using protocol::ForwardPassRequest;
using protocol::ForwardPassResponse;

FakeBackend::FakeBackend(FakeBackendOptions options) : options_(std::move(options)) {
  auto kv = options_.capacities.find(0);
  const uint32_t pages = kv == options_.capacities.end() ? 0 : kv->second;
  pages_.assign(pages, std::vector<uint64_t>(options_.page_size, 0));
}

protocol::HandshakeResponse FakeBackend::handshake(const protocol::HandshakeRequest& /*request*/) {
  protocol::HandshakeResponse h;
  h.version = "0.1.0";
  h.model_name = options_.name;
  h.model_traits = {"fake"};
  h.model_description = "deterministic test model";
  h.kv_page_size = options_.page_size;
  h.resources = options_.capacities;
  h.max_dist_size = options_.max_dist_size;
  h.prompt_template = options_.prompt_template;
  return h;
}

std::vector<ForwardPassResponse> FakeBackend::forward_pass(
    std::span<const ForwardPassRequest> batch) {
  gate_.enter();
  std::lock_guard lock(mutex_);
  BatchRecord record{batch.size(), 0};
  std::vector<ForwardPassResponse> out;
  for (const ForwardPassRequest& r : batch) {
    record.tokens += static_cast<uint32_t>(r.input_tokens.size());
    calls_.push_back("forward " + (r.input_tokens.empty() ? std::string("-")
                                                          : std::to_string(r.input_tokens[0])));
    out.push_back(run(r));
    if (options_.record_requests) requests_.push_back(r);
  }
  batches_.push_back(record);
  return out;
}

ForwardPassResponse FakeBackend::run(const ForwardPassRequest& r) {
  ForwardPassResponse out;
  const uint32_t ps = options_.page_size;
  const size_t n = r.input_tokens.size();
  if (r.kv_page_ptrs.empty() || r.kv_page_last_len == 0 || r.kv_page_last_len > ps) {
    out.error = "bad page table";
    return out;
  }
  for (uint32_t page : r.kv_page_ptrs) {
    if (page >= pages_.size()) {
      out.error = "unknown page " + std::to_string(page);
      return out;
    }
  }
  const uint64_t length = uint64_t{ps} * (r.kv_page_ptrs.size() - 1) + r.kv_page_last_len;
  if (length < n || r.input_token_positions.size() != n ||
      (!r.mask.empty() && r.mask.size() != n)) {
    out.error = "inconsistent pass";
    return out;
  }
  const uint64_t context = length - n;
  auto slot = [&](uint64_t i) -> uint64_t& { return pages_[r.kv_page_ptrs[i / ps]][i % ps]; };
  for (size_t i = 0; i < n; ++i) slot(context + i) = r.input_tokens[i];
  for (size_t j = 0; j < r.output_token_indices.size(); ++j) {
    const uint32_t i = r.output_token_indices[j];
    if (i >= n) {
      out.error = "output index out of range";
      return out;
    }
    uint64_t sum = 0;
    if (r.mask.empty()) {
      for (uint64_t k = 0; k <= context + i; ++k) sum += slot(k);
    } else {
      if (brle::length(r.mask[i]) != context + i + 1) {
        out.error = "mask row " + std::to_string(i) + " has the wrong length";
        return out;
      }
      brle::for_each_false_range(r.mask[i], [&](uint64_t begin, uint64_t end) {
        for (uint64_t k = begin; k < end; ++k) sum += slot(k);
      });
    }
    const uint32_t value = output_of(sum, r.input_token_positions[i], options_.vocab);
    const protocol::SamplerSpec& spec = r.output_token_samplers.at(j);
    if (spec.kind != protocol::SamplerKind::Distribution) {
      out.tokens.push_back(value);
      continue;
    }
    uint32_t k = spec.top_k.value_or(options_.max_dist_size.value_or(options_.vocab));
    if (options_.max_dist_size) k = std::min(k, *options_.max_dist_size);
    protocol::Distribution d;
    float p = 0.5F;
    for (uint32_t m = 0; m < k; ++m, p /= 2) {
      d.ids.push_back((value + m) % options_.vocab);
      d.probs.push_back(p);
    }
    out.dists.push_back(std::move(d));
  }
  return out;
}

protocol::QueryResponse FakeBackend::query(const protocol::QueryRequest& request) {
  std::lock_guard lock(mutex_);
  calls_.push_back("query " + request.query);
  return {request.query == "ping" ? "pong" : "echo: " + request.query};
}

void FakeBackend::embed_image(const protocol::EmbedImageRequest& request) {
  std::lock_guard lock(mutex_);
  calls_.push_back("embed_image " + (request.embed_ptrs.empty()
                                         ? std::string("-")
                                         : std::to_string(request.embed_ptrs[0])));
  if (request.image_blob.empty()) throw Error("empty image");
}

void FakeBackend::initialize_adapter(const protocol::InitializeAdapterRequest& request) {
  std::lock_guard lock(mutex_);
  calls_.push_back("initialize_adapter " + std::to_string(request.adapter_ptr));
}

void FakeBackend::update_adapter(const protocol::UpdateAdapterRequest& request) {
  std::lock_guard lock(mutex_);
  calls_.push_back("update_adapter " + std::to_string(request.adapter_ptr));
}

std::vector<ForwardPassRequest> FakeBackend::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<BatchRecord> FakeBackend::batches() const {
  std::lock_guard lock(mutex_);
  return batches_;
}

std::vector<std::string> FakeBackend::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

}  // namespace pie::engine::testing
