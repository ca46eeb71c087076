#include "protocol/backend_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "common/error.h"

namespace pie::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;

using Packer = msgpack::packer<msgpack::sbuffer>;

// Builds payloads the way Pie's Python backend (msgspec: floats as f64, ints compact) and Rust
// engine (u64 for usize, f32 for floats) write them.
struct Raw {
  msgpack::sbuffer buf;
  Packer pk{buf};
  Raw& key(std::string_view k) {
    pk.pack_str(static_cast<uint32_t>(k.size()));
    pk.pack_str_body(k.data(), static_cast<uint32_t>(k.size()));
    return *this;
  }
  Raw& u32s(std::initializer_list<uint32_t> v) {
    pk.pack_array(static_cast<uint32_t>(v.size()));
    for (uint32_t x : v) pk.pack_fix_uint64(x);
    return *this;
  }
  Raw& f64s(std::initializer_list<double> v) {
    pk.pack_array(static_cast<uint32_t>(v.size()));
    for (double x : v) pk.pack_double(x);
    return *this;
  }
  std::string bytes() const { return std::string(buf.data(), buf.size()); }
};

template <class T>
std::string decode_error(const std::string& bytes) {
  try {
    decode<T>(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "decoded without error";
  return "";
}

// The keys of an encoded map, in order.
std::vector<std::string> keys_of(const msgpack::object& o) {
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < o.via.map.size; ++i)
    keys.push_back(o.via.map.ptr[i].key.as<std::string>());
  return keys;
}

HandshakeResponse sample_handshake() {
  HandshakeResponse h;
  h.version = "0.1.0";
  h.model_name = "stories260K";
  h.model_traits = {"todo"};
  h.model_description = "tiny";
  h.prompt_template = "{{ x }}";
  h.prompt_template_type = "jinja2";
  h.prompt_stop_tokens = {"</s>"};
  h.kv_page_size = 16;
  h.resources = {{0, 1024}, {1, 128}, {2, 48}};
  h.tokenizer_merge_table = {{0, std::string("\x00\xff", 2)}, {1, "ab"}};
  h.tokenizer_special_tokens = {{"<s>", 1}};
  h.tokenizer_split_regex = "\\s+";
  h.tokenizer_escape_non_printable = true;
  return h;
}

TEST(BackendCodec, HandshakeRoundTripsWithAndWithoutExtensions) {
  HandshakeResponse h = sample_handshake();
  auto back = decode<HandshakeResponse>(encode(h));
  EXPECT_EQ(back.model_name, "stories260K");
  EXPECT_EQ(back.resources, h.resources);
  EXPECT_EQ(back.tokenizer_merge_table, h.tokenizer_merge_table);
  EXPECT_EQ(back.tokenizer_special_tokens, h.tokenizer_special_tokens);
  EXPECT_TRUE(back.tokenizer_escape_non_printable);
  EXPECT_FALSE(back.tokenizer_spec.has_value());
  EXPECT_FALSE(back.max_dist_size.has_value());

  h.tokenizer_spec = std::string("spec\0bytes", 10);
  h.max_dist_size = 64;
  back = decode<HandshakeResponse>(encode(h));
  EXPECT_EQ(back.tokenizer_spec, h.tokenizer_spec);
  EXPECT_EQ(back.max_dist_size, 64U);
  EXPECT_EQ(encode(back), encode(h));

  EXPECT_EQ(decode<HandshakeRequest>(encode(HandshakeRequest{})).version, "0.1.0");
}

TEST(BackendCodec, ResourcesAreWrittenWithIntegerKeys) {
  const std::string bytes = encode(sample_handshake());
  const auto handle = msgpack::unpack(bytes.data(), bytes.size());
  const auto& map = handle.get().via.map;
  for (uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.as<std::string>() != "resources") continue;
    const auto& res = map.ptr[i].val.via.map;
    ASSERT_EQ(res.size, 3U);
    EXPECT_EQ(res.ptr[0].key.type, msgpack::type::POSITIVE_INTEGER);
    EXPECT_EQ(res.ptr[0].val.as<uint32_t>(), 1024U);
    return;
  }
  FAIL() << "no resources key";
}

TEST(BackendCodec, HandshakeFromPythonBackendWithExtraKeys) {
  Raw r;
  r.pk.pack_map(14);
  r.key("model_name").pk.pack(std::string("m"));
  r.key("version").pk.pack(std::string("1"));
  r.key("model_traits").pk.pack_array(0);
  r.key("model_description").pk.pack(std::string(""));
  r.key("prompt_template").pk.pack(std::string(""));
  r.key("prompt_template_type").pk.pack(std::string("jinja2"));
  r.key("prompt_stop_tokens").pk.pack_array(0);
  r.key("kv_page_size").pk.pack_fix_uint64(32);
  r.key("resources").pk.pack_map(1);
  r.pk.pack_fix_uint8(0);
  r.pk.pack_fix_uint64(500);
  r.key("tokenizer_merge_table").pk.pack_map(1);
  r.pk.pack_fix_uint16(7);
  r.pk.pack_bin(1);
  r.pk.pack_bin_body("a", 1);
  r.key("tokenizer_special_tokens").pk.pack_map(0);
  r.key("tokenizer_split_regex").pk.pack(std::string("x"));
  r.key("tokenizer_escape_non_printable").pk.pack_false();
  r.key("something_newer").pk.pack_array(0);
  const auto h = decode<HandshakeResponse>(r.bytes());
  EXPECT_EQ(h.kv_page_size, 32U);
  EXPECT_EQ(h.resources.at(0), 500U);
  EXPECT_EQ(h.tokenizer_merge_table.at(7), "a");
}

ForwardPassRequest sample_forward() {
  ForwardPassRequest f;
  f.input_tokens = {1, 2, 3};
  f.input_token_positions = {0, 1, 7};
  f.input_embed_ptrs = {4};
  f.input_embed_positions = {3};
  f.adapter = 2;
  f.adapter_seed = -5;
  f.mask = {{1}, {2}, {0, 1, 2}};
  f.kv_page_ptrs = {9, 10};
  f.kv_page_last_len = 3;
  f.output_token_indices = {1, 2};
  SamplerSpec dist;
  dist.top_k = 8;
  dist.temperature = 0.5F;
  SamplerSpec topkp;
  topkp.kind = SamplerKind::TopKTopP;
  topkp.top_k = 40;
  topkp.top_p = 0.9F;
  topkp.seed = uint64_t{1} << 40;
  f.output_token_samplers = {dist, topkp};
  f.output_embed_ptrs = {5};
  f.output_embed_indices = {2};
  return f;
}

TEST(BackendCodec, ForwardPassRequestRoundTrips) {
  const ForwardPassRequest f = sample_forward();
  const auto back = decode<ForwardPassRequest>(encode(f));
  EXPECT_EQ(back.input_tokens, f.input_tokens);
  EXPECT_EQ(back.input_token_positions, f.input_token_positions);
  EXPECT_EQ(back.input_embed_ptrs, f.input_embed_ptrs);
  EXPECT_EQ(back.input_embed_positions, f.input_embed_positions);
  EXPECT_EQ(back.adapter, 2U);
  EXPECT_EQ(back.adapter_seed, -5);
  EXPECT_EQ(back.mask, f.mask);
  EXPECT_EQ(back.kv_page_ptrs, f.kv_page_ptrs);
  EXPECT_EQ(back.kv_page_last_len, 3U);
  EXPECT_EQ(back.output_token_indices, f.output_token_indices);
  ASSERT_EQ(back.output_token_samplers.size(), 2U);
  EXPECT_EQ(back.output_token_samplers[0].kind, SamplerKind::Distribution);
  EXPECT_EQ(back.output_token_samplers[0].top_k, 8U);
  EXPECT_FLOAT_EQ(back.output_token_samplers[0].temperature, 0.5F);
  EXPECT_EQ(back.output_token_samplers[1].kind, SamplerKind::TopKTopP);
  EXPECT_EQ(back.output_token_samplers[1].top_k, 40U);
  EXPECT_FLOAT_EQ(back.output_token_samplers[1].top_p, 0.9F);
  EXPECT_EQ(back.output_token_samplers[1].seed, uint64_t{1} << 40);
  EXPECT_EQ(back.output_embed_ptrs, f.output_embed_ptrs);
  EXPECT_EQ(back.output_embed_indices, f.output_embed_indices);
  EXPECT_EQ(encode(back), encode(f));
}

TEST(BackendCodec, AbsentAdapterIsWrittenAsNil) {
  ForwardPassRequest f = sample_forward();
  f.adapter.reset();
  f.adapter_seed.reset();
  const std::string bytes = encode(f);
  const auto handle = msgpack::unpack(bytes.data(), bytes.size());
  const auto keys = keys_of(handle.get());
  EXPECT_EQ(keys.size(), 13U);
  const auto& map = handle.get().via.map;
  for (uint32_t i = 0; i < map.size; ++i) {
    const auto k = map.ptr[i].key.as<std::string>();
    if (k == "adapter" || k == "adapter_seed") {
      EXPECT_EQ(map.ptr[i].val.type, msgpack::type::NIL) << k;
    }
  }
  const auto back = decode<ForwardPassRequest>(bytes);
  EXPECT_FALSE(back.adapter.has_value());
  EXPECT_FALSE(back.adapter_seed.has_value());
}

TEST(BackendCodec, SamplerMapsCarryOnlyTheKeysOfTheirKind) {
  ForwardPassRequest f;
  for (uint32_t k = 0; k <= 5; ++k) {
    SamplerSpec s;
    s.kind = static_cast<SamplerKind>(k);
    s.top_k = 5;
    f.output_token_samplers.push_back(s);
  }
  const std::string bytes = encode(f);
  const auto handle = msgpack::unpack(bytes.data(), bytes.size());
  const auto& map = handle.get().via.map;
  for (uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.as<std::string>() != "output_token_samplers") continue;
    const auto& a = map.ptr[i].val.via.array;
    ASSERT_EQ(a.size, 6U);
    EXPECT_THAT(keys_of(a.ptr[0]), ElementsAre("sampler", "temperature", "top_k"));
    EXPECT_THAT(keys_of(a.ptr[1]), ElementsAre("sampler", "temperature"));
    EXPECT_THAT(keys_of(a.ptr[2]), ElementsAre("sampler", "temperature", "top_p"));
    EXPECT_THAT(keys_of(a.ptr[3]), ElementsAre("sampler", "temperature", "top_k"));
    EXPECT_THAT(keys_of(a.ptr[4]), ElementsAre("sampler", "temperature", "min_p"));
    EXPECT_THAT(keys_of(a.ptr[5]), ElementsAre("sampler", "temperature", "top_k", "top_p"));
    EXPECT_EQ(a.ptr[0].via.map.ptr[1].val.type, msgpack::type::FLOAT32);
    return;
  }
  FAIL() << "no samplers";
}

// A request as Pie's Rust engine writes it: u64-width integers, f64 where a peer chose it, sampler
// maps missing the keys their kind does not use.
TEST(BackendCodec, ForwardPassFromAPeerWithMissingSamplerKeys) {
  Raw r;
  r.pk.pack_map(13);
  r.key("input_tokens").u32s({5, 6});
  r.key("input_token_positions").u32s({0, 1});
  r.key("input_embed_ptrs").u32s({});
  r.key("input_embed_positions").u32s({});
  r.key("adapter").pk.pack_nil();
  r.key("adapter_seed").pk.pack_nil();
  r.key("mask").pk.pack_array(2);
  r.u32s({1}).u32s({2});
  r.key("kv_page_ptrs").u32s({0});
  r.key("kv_page_last_len").pk.pack_fix_uint64(2);
  r.key("output_token_indices").u32s({1, 1, 1});
  r.key("output_token_samplers").pk.pack_array(3);
  r.pk.pack_map(1);
  r.key("sampler").pk.pack_fix_uint8(0);
  r.pk.pack_map(2);
  r.key("sampler").pk.pack_fix_uint64(2);
  r.key("top_p").pk.pack_double(0.25);
  r.pk.pack_map(3);
  r.key("sampler").pk.pack_fix_uint8(4);
  r.key("temperature").pk.pack_double(0.7);
  r.key("min_p").pk.pack_fix_uint8(0);  // a whole number written as an integer
  r.key("output_embed_ptrs").u32s({});
  r.key("output_embed_indices").u32s({});
  const auto f = decode<ForwardPassRequest>(r.bytes());
  EXPECT_THAT(f.input_tokens, ElementsAre(5, 6));
  EXPECT_EQ(f.kv_page_last_len, 2U);
  ASSERT_EQ(f.output_token_samplers.size(), 3U);
  const auto& d = f.output_token_samplers[0];
  EXPECT_EQ(d.kind, SamplerKind::Distribution);
  EXPECT_FLOAT_EQ(d.temperature, 1.0F);
  EXPECT_FALSE(d.top_k.has_value());
  EXPECT_FLOAT_EQ(d.top_p, 1.0F);
  EXPECT_FLOAT_EQ(d.min_p, 0.0F);
  EXPECT_FALSE(d.seed.has_value());
  EXPECT_EQ(f.output_token_samplers[1].kind, SamplerKind::TopP);
  EXPECT_FLOAT_EQ(f.output_token_samplers[1].top_p, 0.25F);
  EXPECT_FLOAT_EQ(f.output_token_samplers[2].temperature, 0.7F);
}

TEST(BackendCodec, ForwardPassResponseRoundTripsAndReadsF64Probabilities) {
  ForwardPassResponse r;
  r.tokens = {7, 8};
  r.dists = {Distribution{{3, 1}, {0.75F, 0.125F}}, Distribution{}, Distribution{{2}, {1.0F}}};
  auto back = decode<ForwardPassResponse>(encode(r));
  EXPECT_EQ(back.tokens, r.tokens);
  ASSERT_EQ(back.dists.size(), 3U);
  EXPECT_THAT(back.dists[0].ids, ElementsAre(3, 1));
  EXPECT_THAT(back.dists[0].probs, ElementsAre(FloatEq(0.75F), FloatEq(0.125F)));
  EXPECT_TRUE(back.dists[1].ids.empty());
  EXPECT_THAT(back.dists[2].probs, ElementsAre(FloatEq(1.0F)));
  // Whole-number probabilities stay floats on the wire (f32: 0xca, then 1.0f big-endian).
  EXPECT_NE(encode(r).find(std::string("\xca\x3f\x80\x00\x00", 5)), std::string::npos);
  EXPECT_FALSE(back.error.has_value());

  r.error = "mask row 2 has length 4, expected 5";
  EXPECT_EQ(decode<ForwardPassResponse>(encode(r)).error, r.error);

  Raw py;  // Python: dists = [(ids, probs)] with f64 probabilities
  py.pk.pack_map(2);
  py.key("tokens").u32s({});
  py.key("dists").pk.pack_array(1);
  py.pk.pack_array(2);
  py.u32s({9, 4}).f64s({0.5, 0.25});
  back = decode<ForwardPassResponse>(py.bytes());
  ASSERT_EQ(back.dists.size(), 1U);
  EXPECT_THAT(back.dists[0].ids, ElementsAre(9, 4));
  EXPECT_THAT(back.dists[0].probs, ElementsAre(FloatEq(0.5F), FloatEq(0.25F)));
}

TEST(BackendCodec, SmallMessagesRoundTrip) {
  EXPECT_EQ(decode<QueryRequest>(encode(QueryRequest{"ping"})).query, "ping");
  EXPECT_EQ(decode<QueryResponse>(encode(QueryResponse{"pong"})).value, "pong");
  EXPECT_EQ(encode(HeartbeatRequest{}), std::string("\x80", 1));
  EXPECT_EQ(encode(HeartbeatResponse{}), std::string("\x80", 1));
  decode<HeartbeatRequest>(encode(HeartbeatRequest{}));
  decode<HeartbeatResponse>(encode(HeartbeatResponse{}));

  const EmbedImageRequest e{{1, 2}, std::string("\x89PNG\0", 5), 4};
  const auto eb = decode<EmbedImageRequest>(encode(e));
  EXPECT_EQ(eb.embed_ptrs, e.embed_ptrs);
  EXPECT_EQ(eb.image_blob, e.image_blob);
  EXPECT_EQ(eb.position_offset, 4U);

  const InitializeAdapterRequest ia{3, 8, 16.0F, 32, 0.5F, 0.01F};
  const auto iab = decode<InitializeAdapterRequest>(encode(ia));
  EXPECT_EQ(iab.adapter_ptr, 3U);
  EXPECT_EQ(iab.rank, 8U);
  EXPECT_FLOAT_EQ(iab.alpha, 16.0F);
  EXPECT_EQ(iab.population_size, 32U);
  EXPECT_FLOAT_EQ(iab.mu_fraction, 0.5F);
  EXPECT_FLOAT_EQ(iab.initial_sigma, 0.01F);

  const UpdateAdapterRequest ua{3, {1.5F, -2.0F}, {-7, 1LL << 40}, 0.1F};
  const auto uab = decode<UpdateAdapterRequest>(encode(ua));
  EXPECT_EQ(uab.scores, ua.scores);
  EXPECT_EQ(uab.seeds, ua.seeds);
  EXPECT_FLOAT_EQ(uab.max_sigma, 0.1F);
}

TEST(BackendCodec, PeerQuirksAreAccepted) {
  // A bare string as the query payload (Pie's engine at b985e8a87).
  msgpack::sbuffer s;
  Packer(s).pack(std::string("ping"));
  EXPECT_EQ(decode<QueryRequest>(std::string(s.data(), s.size())).query, "ping");

  // image_blob as an array of small integers.
  Raw r;
  r.pk.pack_map(3);
  r.key("embed_ptrs").u32s({0});
  r.key("image_blob").u32s({1, 255});
  r.key("position_offset").pk.pack_fix_uint8(0);
  EXPECT_EQ(decode<EmbedImageRequest>(r.bytes()).image_blob, std::string("\x01\xff", 2));
}

TEST(BackendCodec, MalformedPayloadsAreRejectedWithAReason) {
  EXPECT_THAT(decode_error<ForwardPassRequest>(std::string("\x80", 1)),
              HasSubstr("ForwardPassRequest: missing field 'input_tokens'"));

  const std::string bytes = encode(sample_forward());
  EXPECT_THAT(decode_error<ForwardPassRequest>(bytes.substr(0, 20)), HasSubstr("truncated"));

  Raw pair;
  pair.pk.pack_map(2);
  pair.key("tokens").u32s({});
  pair.key("dists").pk.pack_array(1);
  pair.pk.pack_array(3);
  pair.u32s({}).u32s({}).u32s({});
  EXPECT_THAT(decode_error<ForwardPassResponse>(pair.bytes()),
              HasSubstr("ForwardPassResponse.dists[0] must be a pair [ids, probs]"));

  Raw uneven;
  uneven.pk.pack_map(2);
  uneven.key("tokens").u32s({});
  uneven.key("dists").pk.pack_array(1);
  uneven.pk.pack_array(2);
  uneven.u32s({1, 2}).f64s({0.5});
  EXPECT_THAT(decode_error<ForwardPassResponse>(uneven.bytes()),
              HasSubstr("2 ids but 1 probabilities"));
}

TEST(BackendCodec, UnknownSamplerAndStringResourceKeysAreRejected) {
  ForwardPassRequest f = sample_forward();
  f.output_token_samplers.resize(1);
  std::string bytes = encode(f);
  // Rewrite the one sampler kind byte (fixint 0 right after the "sampler" key) to 9.
  const std::string key = std::string("\xa7") + "sampler";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  bytes[at + key.size()] = 9;
  EXPECT_THAT(decode_error<ForwardPassRequest>(bytes),
              HasSubstr("output_token_samplers[0].sampler: unknown sampler 9"));

  std::string hs = encode(sample_handshake());
  // resources {0: 1024, ...}: turn the first key (fixint 0) into a one-character str "0".
  const std::string res = std::string("\xa9") + "resources" + "\x83";
  const size_t r = hs.find(res);
  ASSERT_NE(r, std::string::npos);
  hs.replace(r + res.size(), 1,
             std::string("\xa1"
                         "0",
                         2));
  EXPECT_THAT(decode_error<HandshakeResponse>(hs),
              HasSubstr("HandshakeResponse.resources[0].key must be an unsigned integer, got str"));
}

TEST(BackendCodec, IdFramesAreBigEndian) {
  EXPECT_EQ(encode_u32_frame(0x01020304), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(encode_u32_frame(kHeartbeatCorrId), std::string(4, '\xff'));
  EXPECT_EQ(decode_u32_frame(std::string("\x00\x00\x01\x00", 4)), 256U);
  EXPECT_EQ(decode_u32_frame(encode_u32_frame(0xDEADBEEF)), 0xDEADBEEFU);
  EXPECT_THROW(decode_u32_frame("abc"), Error);
  EXPECT_THROW(decode_u32_frame("abcde"), Error);
}

}  // namespace
}  // namespace pie::protocol
