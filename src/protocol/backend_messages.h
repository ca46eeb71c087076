// Engine <-> backend messages (reference §4.3-4.4). The same structs are used in process (the
// Backend interface) and on the wire (MessagePack maps keyed by field name, over ZeroMQ).
// Fields marked "extension" are ours: Pie's own backends neither send nor expect them, and a
// decoder treats them as optional.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pie::protocol {

// Handler ids of the backend protocol [WIRE].
enum class HandlerId : uint32_t {
  Handshake = 0,
  Heartbeat = 1,
  Query = 2,
  ForwardPass = 3,
  EmbedImage = 4,
  InitializeAdapter = 5,
  UpdateAdapter = 6,
};

// Resource type ids [WIRE].
enum class ResourceType : uint32_t { KvPage = 0, Embed = 1, Adapter = 2 };

struct HandshakeRequest {
  std::string version = "0.1.0";
};

struct HandshakeResponse {
  std::string version;
  std::string model_name;
  std::vector<std::string> model_traits;
  std::string model_description;
  std::string prompt_template;
  std::string prompt_template_type;
  std::vector<std::string> prompt_stop_tokens;
  uint32_t kv_page_size = 0;
  std::map<uint32_t, uint32_t> resources;  // resource type -> capacity
  // tiktoken-style tables (what Pie's Python backend sends).
  std::map<uint32_t, std::string> tokenizer_merge_table;  // rank/id -> token bytes
  std::map<std::string, uint32_t> tokenizer_special_tokens;
  std::string tokenizer_split_regex;
  bool tokenizer_escape_non_printable = false;
  // Extension: the complete tokenizer description (tokenizer::TokenizerSpec, serialised by the
  // tokenizer module). When present the engine builds its tokenizer from it instead of the tables,
  // which cannot express SentencePiece-style models.
  std::optional<std::string> tokenizer_spec;
  // Extension: largest top-k a distribution output may ask for.
  std::optional<uint32_t> max_dist_size;
};

struct HeartbeatRequest {};
struct HeartbeatResponse {};

struct QueryRequest {
  std::string query;
};
struct QueryResponse {
  std::string value;
};

// Sampler codes of `output_token_samplers` [WIRE].
enum class SamplerKind : uint32_t {
  Distribution = 0,
  Multinomial = 1,
  TopP = 2,
  TopK = 3,
  MinP = 4,
  TopKTopP = 5,
};

// One entry of `output_token_samplers`: a map with key `sampler` plus the keys its kind uses.
// Absent keys take the backend defaults of reference §4.4.3.
struct SamplerSpec {
  SamplerKind kind = SamplerKind::Distribution;
  float temperature = 1.0F;
  std::optional<uint32_t> top_k;  // Distribution: default max_dist_size; samplers: 0 = off
  float top_p = 1.0F;
  float min_p = 0.0F;
  // Extension: seed of this draw's generator, so sampling can be reproduced exactly.
  std::optional<uint64_t> seed;
};

struct ForwardPassRequest {
  std::vector<uint32_t> input_tokens;
  std::vector<uint32_t> input_token_positions;
  std::vector<uint32_t> input_embed_ptrs;
  std::vector<uint32_t> input_embed_positions;
  std::optional<uint32_t> adapter;
  std::optional<int64_t> adapter_seed;
  std::vector<std::vector<uint32_t>> mask;  // one BRLE row per input token (reference §4.8.3)
  std::vector<uint32_t> kv_page_ptrs;       // physical page ids, in sequence order
  uint32_t kv_page_last_len = 0;            // valid tokens in the last page, counting this pass
  std::vector<uint32_t> output_token_indices;
  std::vector<SamplerSpec> output_token_samplers;
  std::vector<uint32_t> output_embed_ptrs;
  std::vector<uint32_t> output_embed_indices;
};

struct Distribution {
  std::vector<uint32_t> ids;  // sorted by probability, descending
  std::vector<float> probs;   // full-softmax probabilities (not renormalised)
};

struct ForwardPassResponse {
  std::vector<uint32_t> tokens;     // sampled tokens, in output order (sampler != 0)
  std::vector<Distribution> dists;  // distributions, in output order (sampler == 0)
  // Extension: why this request could not be executed (the other requests of its batch still ran).
  std::optional<std::string> error;
};

struct EmbedImageRequest {
  std::vector<uint32_t> embed_ptrs;
  std::string image_blob;  // MessagePack bin
  uint32_t position_offset = 0;
};

struct InitializeAdapterRequest {
  uint32_t adapter_ptr = 0;
  uint32_t rank = 0;
  float alpha = 0;
  uint32_t population_size = 0;
  float mu_fraction = 0;
  float initial_sigma = 0;
};

struct UpdateAdapterRequest {
  uint32_t adapter_ptr = 0;
  std::vector<float> scores;
  std::vector<int64_t> seeds;
  float max_sigma = 0;
};

}  // namespace pie::protocol
