#include "protocol/backend_codec.h"

#include "common/error.h"
#include "protocol/msgpack_io.h"

namespace pie::protocol {

namespace {

// Decodes `payload` as one map and hands its fields to `read`.
template <class F>
auto with_fields(std::string_view payload, const char* what, F read) {
  const auto handle = parse_msgpack(payload, what);
  return read(Fields(handle.get(), what));
}

std::string sub(const std::string& path, uint32_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// --- sampler specs (reference §4.4.3): {"sampler": kind, plus only the keys that kind uses} ---

bool uses_top_k(SamplerKind k) {
  return k == SamplerKind::Distribution || k == SamplerKind::TopK || k == SamplerKind::TopKTopP;
}
bool uses_top_p(SamplerKind k) {
  return k == SamplerKind::TopP || k == SamplerKind::TopKTopP;
}

void pack_sampler(MapWriter& w, const SamplerSpec& s) {
  const bool top_k = uses_top_k(s.kind) && s.top_k.has_value();
  const bool top_p = uses_top_p(s.kind);
  const bool min_p = s.kind == SamplerKind::MinP;
  auto& pk = w.packer();
  pk.pack_map(2 + uint32_t{top_k} + uint32_t{top_p} + uint32_t{min_p} +
              uint32_t{s.seed.has_value()});
  w.pack("sampler");
  w.pack(static_cast<uint32_t>(s.kind));
  w.pack("temperature");
  w.pack(s.temperature);
  if (top_k) {
    w.pack("top_k");
    w.pack(*s.top_k);
  }
  if (top_p) {
    w.pack("top_p");
    w.pack(s.top_p);
  }
  if (min_p) {
    w.pack("min_p");
    w.pack(s.min_p);
  }
  if (s.seed) {
    w.pack("seed");
    w.pack(*s.seed);
  }
}

SamplerSpec read_sampler(const msgpack::object& o, const std::string& path) {
  const Fields f(o, path);
  SamplerSpec s;
  const uint32_t kind = f.get<uint32_t>("sampler");
  if (kind > static_cast<uint32_t>(SamplerKind::TopKTopP)) {
    throw Error(path + ".sampler: unknown sampler " + std::to_string(kind));
  }
  s.kind = static_cast<SamplerKind>(kind);
  s.temperature = f.get_or<float>("temperature", 1.0F);
  s.top_k = f.get_optional<uint32_t>("top_k");
  s.top_p = f.get_or<float>("top_p", 1.0F);
  s.min_p = f.get_or<float>("min_p", 0.0F);
  s.seed = f.get_optional<uint64_t>("seed");
  return s;
}

// --- distributions: [[ids], [probs]] ---

Distribution read_distribution(const msgpack::object& o, const std::string& path) {
  const auto& pair = read_array(o, path);
  if (pair.size != 2) {
    throw Error(path + " must be a pair [ids, probs], got " + std::to_string(pair.size) +
                " elements");
  }
  Distribution d;
  d.ids = Read<std::vector<uint32_t>>::from(pair.ptr[0], path + "[0]");
  d.probs = Read<std::vector<float>>::from(pair.ptr[1], path + "[1]");
  if (d.ids.size() != d.probs.size()) {
    throw Error(path + ": " + std::to_string(d.ids.size()) + " ids but " +
                std::to_string(d.probs.size()) + " probabilities");
  }
  return d;
}

template <class K, class V, class ReadKey, class ReadValue>
std::map<K, V> read_map_of(const msgpack::object& o, const std::string& path, ReadKey read_key,
                           ReadValue read_value) {
  const auto& m = read_map(o, path);
  std::map<K, V> out;
  for (uint32_t i = 0; i < m.size; ++i) {
    const std::string at = sub(path, i);
    out.emplace(read_key(m.ptr[i].key, at + ".key"), read_value(m.ptr[i].val, at + ".value"));
  }
  return out;
}

uint32_t read_u32(const msgpack::object& o, const std::string& path) {
  return Read<uint32_t>::from(o, path);
}

}  // namespace

// --- Handshake ---

std::string encode(const HandshakeRequest& m) {
  return MapWriter(1).add("version", m.version).finish();
}

template <>
HandshakeRequest decode<HandshakeRequest>(std::string_view payload) {
  return with_fields(payload, "HandshakeRequest", [](const Fields& f) {
    return HandshakeRequest{f.get<std::string>("version")};
  });
}

std::string encode(const HandshakeResponse& m) {
  const uint32_t n =
      13 + uint32_t{m.tokenizer_spec.has_value()} + uint32_t{m.max_dist_size.has_value()};
  MapWriter w(n);
  w.add("version", m.version)
      .add("model_name", m.model_name)
      .add("model_traits", m.model_traits)
      .add("model_description", m.model_description)
      .add("prompt_template", m.prompt_template)
      .add("prompt_template_type", m.prompt_template_type)
      .add("prompt_stop_tokens", m.prompt_stop_tokens)
      .add("kv_page_size", m.kv_page_size)
      .add("resources", m.resources);
  w.pack("tokenizer_merge_table");
  w.packer().pack_map(static_cast<uint32_t>(m.tokenizer_merge_table.size()));
  for (const auto& [id, bytes] : m.tokenizer_merge_table) {
    w.pack(id);
    w.pack(Bin{bytes});
  }
  w.add("tokenizer_special_tokens", m.tokenizer_special_tokens)
      .add("tokenizer_split_regex", m.tokenizer_split_regex)
      .add("tokenizer_escape_non_printable", m.tokenizer_escape_non_printable);
  if (m.tokenizer_spec) w.add("tokenizer_spec", Bin{*m.tokenizer_spec});
  if (m.max_dist_size) w.add("max_dist_size", *m.max_dist_size);
  return w.finish();
}

template <>
HandshakeResponse decode<HandshakeResponse>(std::string_view payload) {
  return with_fields(payload, "HandshakeResponse", [](const Fields& f) {
    HandshakeResponse m;
    m.version = f.get<std::string>("version");
    m.model_name = f.get<std::string>("model_name");
    m.model_traits = f.get<std::vector<std::string>>("model_traits");
    m.model_description = f.get<std::string>("model_description");
    m.prompt_template = f.get<std::string>("prompt_template");
    m.prompt_template_type = f.get<std::string>("prompt_template_type");
    m.prompt_stop_tokens = f.get<std::vector<std::string>>("prompt_stop_tokens");
    m.kv_page_size = f.get<uint32_t>("kv_page_size");
    m.resources = read_map_of<uint32_t, uint32_t>(f.at("resources"), "HandshakeResponse.resources",
                                                  read_u32, read_u32);
    m.tokenizer_merge_table = read_map_of<uint32_t, std::string>(
        f.at("tokenizer_merge_table"), "HandshakeResponse.tokenizer_merge_table", read_u32,
        read_bin);
    m.tokenizer_special_tokens = read_map_of<std::string, uint32_t>(
        f.at("tokenizer_special_tokens"), "HandshakeResponse.tokenizer_special_tokens", read_str,
        read_u32);
    m.tokenizer_split_regex = f.get<std::string>("tokenizer_split_regex");
    m.tokenizer_escape_non_printable = f.get<bool>("tokenizer_escape_non_printable");
    if (f.find("tokenizer_spec") != nullptr) m.tokenizer_spec = f.get_bin("tokenizer_spec");
    m.max_dist_size = f.get_optional<uint32_t>("max_dist_size");
    return m;
  });
}

// --- Heartbeat and Query ---

std::string encode(const HeartbeatRequest&) {
  return MapWriter(0).finish();
}
std::string encode(const HeartbeatResponse&) {
  return MapWriter(0).finish();
}

template <>
HeartbeatRequest decode<HeartbeatRequest>(std::string_view payload) {
  return with_fields(payload, "HeartbeatRequest", [](const Fields&) { return HeartbeatRequest{}; });
}

template <>
HeartbeatResponse decode<HeartbeatResponse>(std::string_view payload) {
  return with_fields(payload, "HeartbeatResponse",
                     [](const Fields&) { return HeartbeatResponse{}; });
}

std::string encode(const QueryRequest& m) {
  return MapWriter(1).add("query", m.query).finish();
}
std::string encode(const QueryResponse& m) {
  return MapWriter(1).add("value", m.value).finish();
}

template <>
QueryRequest decode<QueryRequest>(std::string_view payload) {
  const auto handle = parse_msgpack(payload, "QueryRequest");
  // Pie's engine sends the bare query string instead of the map (reference Appendix B #3).
  if (handle.get().type == msgpack::type::STR) {
    return QueryRequest{read_str(handle.get(), "QueryRequest")};
  }
  return QueryRequest{Fields(handle.get(), "QueryRequest").get<std::string>("query")};
}

template <>
QueryResponse decode<QueryResponse>(std::string_view payload) {
  return with_fields(payload, "QueryResponse",
                     [](const Fields& f) { return QueryResponse{f.get<std::string>("value")}; });
}

// --- ForwardPass ---

std::string encode(const ForwardPassRequest& m) {
  MapWriter w(13);
  w.add("input_tokens", m.input_tokens)
      .add("input_token_positions", m.input_token_positions)
      .add("input_embed_ptrs", m.input_embed_ptrs)
      .add("input_embed_positions", m.input_embed_positions)
      .add("adapter", m.adapter)
      .add("adapter_seed", m.adapter_seed)
      .add("mask", m.mask)
      .add("kv_page_ptrs", m.kv_page_ptrs)
      .add("kv_page_last_len", m.kv_page_last_len)
      .add("output_token_indices", m.output_token_indices);
  w.pack("output_token_samplers");
  w.packer().pack_array(static_cast<uint32_t>(m.output_token_samplers.size()));
  for (const auto& s : m.output_token_samplers) pack_sampler(w, s);
  w.add("output_embed_ptrs", m.output_embed_ptrs)
      .add("output_embed_indices", m.output_embed_indices);
  return w.finish();
}

template <>
ForwardPassRequest decode<ForwardPassRequest>(std::string_view payload) {
  return with_fields(payload, "ForwardPassRequest", [](const Fields& f) {
    using U32s = std::vector<uint32_t>;
    ForwardPassRequest m;
    m.input_tokens = f.get<U32s>("input_tokens");
    m.input_token_positions = f.get<U32s>("input_token_positions");
    m.input_embed_ptrs = f.get<U32s>("input_embed_ptrs");
    m.input_embed_positions = f.get<U32s>("input_embed_positions");
    m.adapter = f.get_optional<uint32_t>("adapter");
    m.adapter_seed = f.get_optional<int64_t>("adapter_seed");
    m.mask = f.get<std::vector<U32s>>("mask");
    m.kv_page_ptrs = f.get<U32s>("kv_page_ptrs");
    m.kv_page_last_len = f.get<uint32_t>("kv_page_last_len");
    m.output_token_indices = f.get<U32s>("output_token_indices");
    const std::string path = "ForwardPassRequest.output_token_samplers";
    const auto& samplers = read_array(f.at("output_token_samplers"), path);
    m.output_token_samplers.reserve(samplers.size);
    for (uint32_t i = 0; i < samplers.size; ++i) {
      m.output_token_samplers.push_back(read_sampler(samplers.ptr[i], sub(path, i)));
    }
    m.output_embed_ptrs = f.get<U32s>("output_embed_ptrs");
    m.output_embed_indices = f.get<U32s>("output_embed_indices");
    return m;
  });
}

std::string encode(const ForwardPassResponse& m) {
  MapWriter w(2 + uint32_t{m.error.has_value()});
  w.add("tokens", m.tokens);
  w.pack("dists");
  w.packer().pack_array(static_cast<uint32_t>(m.dists.size()));
  for (const auto& d : m.dists) {
    w.packer().pack_array(2);
    w.pack(d.ids);
    w.pack(d.probs);
  }
  if (m.error) w.add("error", *m.error);
  return w.finish();
}

template <>
ForwardPassResponse decode<ForwardPassResponse>(std::string_view payload) {
  return with_fields(payload, "ForwardPassResponse", [](const Fields& f) {
    ForwardPassResponse m;
    m.tokens = f.get<std::vector<uint32_t>>("tokens");
    const std::string path = "ForwardPassResponse.dists";
    const auto& dists = read_array(f.at("dists"), path);
    m.dists.reserve(dists.size);
    for (uint32_t i = 0; i < dists.size; ++i) {
      m.dists.push_back(read_distribution(dists.ptr[i], sub(path, i)));
    }
    m.error = f.get_optional<std::string>("error");
    return m;
  });
}

// --- EmbedImage and adapters ---

std::string encode(const EmbedImageRequest& m) {
  return MapWriter(3)
      .add("embed_ptrs", m.embed_ptrs)
      .add("image_blob", Bin{m.image_blob})
      .add("position_offset", m.position_offset)
      .finish();
}

template <>
EmbedImageRequest decode<EmbedImageRequest>(std::string_view payload) {
  return with_fields(payload, "EmbedImageRequest", [](const Fields& f) {
    EmbedImageRequest m;
    m.embed_ptrs = f.get<std::vector<uint32_t>>("embed_ptrs");
    const msgpack::object& blob = f.at("image_blob");
    if (blob.type == msgpack::type::ARRAY) {
      // Pie's engine writes the bytes as an array of integers (reference Appendix B #17).
      const auto& a = blob.via.array;
      m.image_blob.reserve(a.size);
      for (uint32_t i = 0; i < a.size; ++i) {
        m.image_blob.push_back(static_cast<char>(
            read_uint(a.ptr[i], sub("EmbedImageRequest.image_blob", i), UINT8_MAX)));
      }
    } else {
      m.image_blob = f.get_bin("image_blob");
    }
    m.position_offset = f.get<uint32_t>("position_offset");
    return m;
  });
}

std::string encode(const InitializeAdapterRequest& m) {
  return MapWriter(6)
      .add("adapter_ptr", m.adapter_ptr)
      .add("rank", m.rank)
      .add("alpha", m.alpha)
      .add("population_size", m.population_size)
      .add("mu_fraction", m.mu_fraction)
      .add("initial_sigma", m.initial_sigma)
      .finish();
}

template <>
InitializeAdapterRequest decode<InitializeAdapterRequest>(std::string_view payload) {
  return with_fields(payload, "InitializeAdapterRequest", [](const Fields& f) {
    return InitializeAdapterRequest{
        f.get<uint32_t>("adapter_ptr"), f.get<uint32_t>("rank"),
        f.get<float>("alpha"),          f.get<uint32_t>("population_size"),
        f.get<float>("mu_fraction"),    f.get<float>("initial_sigma")};
  });
}

std::string encode(const UpdateAdapterRequest& m) {
  return MapWriter(4)
      .add("adapter_ptr", m.adapter_ptr)
      .add("scores", m.scores)
      .add("seeds", m.seeds)
      .add("max_sigma", m.max_sigma)
      .finish();
}

template <>
UpdateAdapterRequest decode<UpdateAdapterRequest>(std::string_view payload) {
  return with_fields(payload, "UpdateAdapterRequest", [](const Fields& f) {
    return UpdateAdapterRequest{f.get<uint32_t>("adapter_ptr"), f.get<std::vector<float>>("scores"),
                                f.get<std::vector<int64_t>>("seeds"), f.get<float>("max_sigma")};
  });
}

// --- frames ---

std::string encode_u32_frame(uint32_t value) {
  return std::string{static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                     static_cast<char>(value >> 8), static_cast<char>(value)};
}

uint32_t decode_u32_frame(std::string_view frame) {
  if (frame.size() != 4) {
    throw Error("expected a 4-byte big-endian id frame, got " + std::to_string(frame.size()) +
                " bytes");
  }
  uint32_t v = 0;
  for (const char c : frame) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

}  // namespace pie::protocol
