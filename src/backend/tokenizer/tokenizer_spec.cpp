#include "backend/tokenizer/tokenizer_spec.h"

#include <map>
#include <msgpack.hpp>

#include "common/error.h"

namespace pie::tokenizer {
namespace {

constexpr uint32_t kFormatVersion = 1;

template <class Packer>
void pack_optional(Packer& p, const std::optional<uint32_t>& v) {
  if (v) {
    p.pack(*v);
  } else {
    p.pack_nil();
  }
}

std::optional<uint32_t> unpack_optional(const msgpack::object& o) {
  if (o.is_nil()) return std::nullopt;
  return o.as<uint32_t>();
}

std::vector<std::string> unpack_strings(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY) throw msgpack::type_error();
  std::vector<std::string> out;
  out.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const msgpack::object& e = o.via.array.ptr[i];
    if (e.type == msgpack::type::STR) {
      out.emplace_back(e.via.str.ptr, e.via.str.size);
    } else if (e.type == msgpack::type::BIN) {
      out.emplace_back(e.via.bin.ptr, e.via.bin.size);
    } else {
      throw msgpack::type_error();
    }
  }
  return out;
}

}  // namespace

std::optional<uint32_t> TokenizerSpec::find(std::string_view text) const {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == text) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

void TokenizerSpec::validate() const {
  const size_t n = tokens.size();
  if (n == 0) throw Error("tokenizer: the vocabulary is empty");
  if (types.size() != n) {
    throw Error("tokenizer: " + std::to_string(types.size()) + " token types for " +
                std::to_string(n) + " tokens");
  }
  if (algorithm == Algorithm::SentencePiece && scores.size() != n) {
    throw Error("tokenizer: " + std::to_string(scores.size()) + " scores for " + std::to_string(n) +
                " tokens");
  }
  for (const auto& id : {bos, eos, unk, pad}) {
    if (id && *id >= n) {
      throw Error("tokenizer: special token id " + std::to_string(*id) +
                  " is outside the vocabulary of " + std::to_string(n));
    }
  }
  for (uint32_t id : stop_ids) {
    if (id >= n) throw Error("tokenizer: stop token id " + std::to_string(id) + " is out of range");
  }
  for (TokenType t : types) {
    if (t < TokenType::Normal || t > TokenType::Byte) {
      throw Error("tokenizer: unknown token type " + std::to_string(static_cast<int>(t)));
    }
  }
}

std::string TokenizerSpec::serialize() const {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> p(buffer);
  p.pack_map(18);
  p.pack("format_version");
  p.pack(kFormatVersion);
  p.pack("algorithm");
  p.pack(static_cast<uint32_t>(algorithm));
  p.pack("tokens");
  p.pack(tokens);
  p.pack("types");
  p.pack_bin(static_cast<uint32_t>(types.size()));
  p.pack_bin_body(reinterpret_cast<const char*>(types.data()), static_cast<uint32_t>(types.size()));
  p.pack("scores");
  p.pack_array(static_cast<uint32_t>(scores.size()));
  for (float s : scores) p.pack_float(s);
  p.pack("merges");
  p.pack(merges);
  p.pack("split_regexes");
  p.pack(split_regexes);
  p.pack("pre");
  p.pack(pre);
  p.pack("ignore_merges");
  p.pack(ignore_merges);
  p.pack("nfc");
  p.pack(nfc);
  p.pack("bos");
  pack_optional(p, bos);
  p.pack("eos");
  pack_optional(p, eos);
  p.pack("unk");
  pack_optional(p, unk);
  p.pack("pad");
  pack_optional(p, pad);
  p.pack("stop_ids");
  p.pack(stop_ids);
  p.pack("add_bos");
  p.pack(add_bos);
  p.pack("add_eos");
  p.pack(add_eos);
  p.pack("add_space_prefix");
  p.pack(add_space_prefix);
  return {buffer.data(), buffer.size()};
}

TokenizerSpec TokenizerSpec::deserialize(std::string_view bytes) {
  TokenizerSpec s;
  try {
    // Every element takes at least one byte: damaged lengths cannot make the parser allocate more
    // than the input justifies.
    const size_t n = bytes.size();
    const msgpack::unpack_limit limit(n, n, n, n, n, 16);
    const msgpack::object_handle handle = msgpack::unpack(bytes.data(), n, nullptr, nullptr, limit);
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::MAP) throw Error("tokenizer spec: not a MessagePack map");
    std::map<std::string, const msgpack::object*> fields;
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      fields[root.via.map.ptr[i].key.as<std::string>()] = &root.via.map.ptr[i].val;
    }
    auto field = [&](const char* name) -> const msgpack::object& {
      auto it = fields.find(name);
      if (it == fields.end())
        throw Error(std::string("tokenizer spec: field '") + name + "' missing");
      return *it->second;
    };
    const auto version = field("format_version").as<uint32_t>();
    if (version != kFormatVersion) {
      throw Error("tokenizer spec: format version " + std::to_string(version) +
                  " is not supported (this build reads version " + std::to_string(kFormatVersion) +
                  ")");
    }
    const auto algorithm = field("algorithm").as<uint32_t>();
    if (algorithm > static_cast<uint32_t>(Algorithm::ByteLevel)) {
      throw Error("tokenizer spec: unknown algorithm " + std::to_string(algorithm));
    }
    s.algorithm = static_cast<Algorithm>(algorithm);
    s.tokens = unpack_strings(field("tokens"));
    const msgpack::object& types = field("types");
    if (types.type != msgpack::type::BIN) throw msgpack::type_error();
    s.types.resize(types.via.bin.size);
    for (uint32_t i = 0; i < types.via.bin.size; ++i) {
      s.types[i] = static_cast<TokenType>(static_cast<uint8_t>(types.via.bin.ptr[i]));
    }
    s.scores = field("scores").as<std::vector<float>>();
    s.merges = unpack_strings(field("merges"));
    s.split_regexes = unpack_strings(field("split_regexes"));
    s.pre = field("pre").as<std::string>();
    s.ignore_merges = field("ignore_merges").as<bool>();
    if (fields.count("nfc") != 0) s.nfc = fields["nfc"]->as<bool>();
    s.bos = unpack_optional(field("bos"));
    s.eos = unpack_optional(field("eos"));
    s.unk = unpack_optional(field("unk"));
    s.pad = unpack_optional(field("pad"));
    s.stop_ids = field("stop_ids").as<std::vector<uint32_t>>();
    s.add_bos = field("add_bos").as<bool>();
    s.add_eos = field("add_eos").as<bool>();
    s.add_space_prefix = field("add_space_prefix").as<bool>();
  } catch (const msgpack::type_error&) {
    throw Error("tokenizer spec: a field has the wrong type");
  } catch (const msgpack::unpack_error& e) {
    throw Error(std::string("tokenizer spec: malformed MessagePack (") + e.what() + ")");
  }
  s.validate();
  return s;
}

}  // namespace pie::tokenizer
