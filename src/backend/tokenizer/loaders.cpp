#include "backend/tokenizer/loaders.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "backend/tokenizer/byte_unicode.h"
#include "backend/tokenizer/pretokenizer.h"
#include "common/error.h"

namespace pie::tokenizer {
namespace {

using nlohmann::json;

constexpr std::string_view kSpace = "\xE2\x96\x81";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json read_json(const std::filesystem::path& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw Error(path.string() + ": invalid JSON (" + e.what() + ")");
  }
}

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 &&
         std::isxdigit(static_cast<unsigned char>(t[3])) &&
         std::isxdigit(static_cast<unsigned char>(t[4])) && t[5] == '>';
}

// A token string of tokenizer_config.json: "text", {"content": "text"} or null.
std::optional<std::string> config_token(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

// Places (id, text, type) entries into a dense vocabulary; ids nobody names become unused tokens.
struct VocabBuilder {
  std::vector<std::string> tokens;
  std::vector<TokenType> types;
  std::vector<bool> set;
  void put(uint64_t id, std::string text, TokenType type, const std::string& where) {
    if (id >= (1u << 24)) throw Error(where + ": token id " + std::to_string(id) + " is too large");
    if (id >= tokens.size()) {
      tokens.resize(id + 1);
      types.resize(id + 1, TokenType::Unused);
      set.resize(id + 1, false);
    }
    tokens[id] = std::move(text);
    types[id] = type;
    set[id] = true;
  }
  void fill_holes() {
    for (size_t id = 0; id < tokens.size(); ++id) {
      if (!set[id]) tokens[id] = "[PAD" + std::to_string(id) + "]";
    }
  }
};

// Special-token settings of tokenizer_config.json (and the post-processor) shared by both kinds.
void apply_config(const json& root, const json& config, TokenizerSpec& spec) {
  if (auto t = config_token(config, "bos_token")) spec.bos = spec.find(*t);
  if (auto t = config_token(config, "eos_token")) spec.eos = spec.find(*t);
  if (auto t = config_token(config, "pad_token")) spec.pad = spec.find(*t);
  if (auto t = config_token(config, "unk_token")) spec.unk = spec.find(*t);
  const json& model = root.at("model");
  if (auto u = model.find("unk_token"); u != model.end() && u->is_string()) {
    spec.unk = spec.find(u->get<std::string>());
  }
  // BOS is added when the config says so, or when the post-processor's template starts with it.
  if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
    spec.add_bos = config["add_bos_token"].get<bool>();
  } else if (const json& post = root.value("post_processor", json()); post.is_object()) {
    const std::string dump = post.dump();
    spec.add_bos = spec.bos && dump.find("TemplateProcessing") != std::string::npos &&
                   dump.find(spec.tokens[*spec.bos]) != std::string::npos;
  }
  if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
    spec.add_eos = config["add_eos_token"].get<bool>();
  }
}

// A SentencePiece BPE model in tokenizer.json form. tokenizer.json keeps merges, not the scores
// SentencePiece ranks merges by; Hugging Face's converter lists merges in decreasing score of the
// merged piece, so a piece's score is minus the rank of its first merge. Pieces no merge produces
// get the lowest score.
TokenizerSpec load_hf_sentencepiece(const json& root, const json& config,
                                    const std::string& where) {
  TokenizerSpec spec;
  spec.algorithm = Algorithm::SentencePiece;
  const json& model = root.at("model");
  VocabBuilder vocab;
  for (const auto& [text, id] : model.at("vocab").items()) {
    vocab.put(id.get<uint64_t>(), text, is_byte_token(text) ? TokenType::Byte : TokenType::Normal,
              where);
  }
  for (const json& added : root.value("added_tokens", json::array())) {
    vocab.put(added.at("id").get<uint64_t>(), added.at("content").get<std::string>(),
              added.value("special", false) ? TokenType::Control : TokenType::UserDefined, where);
  }
  vocab.fill_holes();
  spec.tokens = std::move(vocab.tokens);
  spec.types = std::move(vocab.types);
  std::unordered_map<std::string, uint32_t> ids;
  for (uint32_t id = 0; id < spec.tokens.size(); ++id) ids.emplace(spec.tokens[id], id);
  spec.scores.assign(spec.tokens.size(), -1e30F);
  const json& merges = model.at("merges");
  for (size_t rank = merges.size(); rank-- > 0;) {
    const json& m = merges[rank];
    std::string merged;
    if (m.is_string()) {
      merged = m.get<std::string>();
      const size_t space = merged.find(' ');
      if (space == std::string::npos) throw Error(where + ": merge without a space: " + merged);
      merged.erase(space, 1);
    } else {
      merged = m.at(0).get<std::string>() + m.at(1).get<std::string>();
    }
    if (auto it = ids.find(merged); it != ids.end()) {
      spec.scores[it->second] = -static_cast<float>(rank);
    }
  }
  apply_config(root, config, spec);
  if (spec.unk) spec.types[*spec.unk] = TokenType::Unknown;
  const std::string normalizer = root.value("normalizer", json()).dump();
  const std::string pre = root.value("pre_tokenizer", json()).dump();
  spec.add_space_prefix = normalizer.find("Prepend") != std::string::npos ||
                          (pre.find("Metaspace") != std::string::npos &&
                           pre.find("\"prepend_scheme\":\"never\"") == std::string::npos &&
                           pre.find("\"add_prefix_space\":false") == std::string::npos);
  set_stop_ids(spec);
  spec.validate();
  return spec;
}

}  // namespace

void set_stop_ids(TokenizerSpec& spec) {
  spec.stop_ids.clear();
  if (spec.eos) spec.stop_ids.push_back(*spec.eos);
  for (const char* text : {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>",
                           "<|endoftext|>", "</s>", "<|end|>"}) {
    if (auto id = spec.find(text);
        id && spec.types[*id] == TokenType::Control &&
        std::find(spec.stop_ids.begin(), spec.stop_ids.end(), *id) == spec.stop_ids.end()) {
      spec.stop_ids.push_back(*id);
    }
  }
}

TokenizerSpec load_llama2c_tokenizer(const std::filesystem::path& path,
                                     std::optional<uint32_t> vocab_size) {
  const std::string data = read_file(path);
  const std::string where = path.string();
  size_t pos = 0;
  TokenizerSpec spec;
  spec.algorithm = Algorithm::SentencePiece;
  auto take = [&](void* out, size_t n) {
    if (data.size() - pos < n) {
      throw Error(where + ": truncated llama2.c tokenizer (at offset " + std::to_string(pos) +
                  " after " + std::to_string(spec.tokens.size()) + " tokens)");
    }
    std::memcpy(out, data.data() + pos, n);
    pos += n;
  };
  int32_t max_length = 0;
  take(&max_length, sizeof max_length);
  if (max_length <= 0 || max_length > 1 << 16) throw Error(where + ": not a llama2.c tokenizer");
  while (vocab_size ? spec.tokens.size() < *vocab_size : pos < data.size()) {
    float score = 0;
    int32_t length = 0;
    take(&score, sizeof score);
    take(&length, sizeof length);
    if (length < 0 || length > (1 << 16)) {
      throw Error(where + ": token " + std::to_string(spec.tokens.size()) + " has length " +
                  std::to_string(length));
    }
    std::string raw(static_cast<size_t>(length), '\0');
    take(raw.data(), raw.size());
    std::string text;
    if (raw == "\n<s>\n" || raw == "\n</s>\n") {
      text = raw.substr(1, raw.size() - 2);
    } else {
      for (char c : raw) {
        if (c == ' ') {
          text += kSpace;
        } else {
          text += c;
        }
      }
    }
    TokenType type = TokenType::Normal;
    if (text == "<unk>") {
      type = TokenType::Unknown;
    } else if (text == "<s>" || text == "</s>") {
      type = TokenType::Control;
    } else if (is_byte_token(text)) {
      type = TokenType::Byte;
    }
    spec.tokens.push_back(std::move(text));
    spec.scores.push_back(score);
    spec.types.push_back(type);
  }
  spec.unk = spec.find("<unk>");
  spec.bos = spec.find("<s>");
  spec.eos = spec.find("</s>");
  spec.add_bos = true;
  spec.add_space_prefix = true;
  set_stop_ids(spec);
  spec.validate();
  return spec;
}

TokenizerSpec load_hf_tokenizer(const std::filesystem::path& tokenizer_json,
                                const std::filesystem::path& tokenizer_config) {
  const std::string where = tokenizer_json.string();
  const json root = read_json(tokenizer_json);
  const json config = tokenizer_config.empty() ? json::object() : read_json(tokenizer_config);
  TokenizerSpec spec;
  spec.algorithm = Algorithm::ByteLevel;
  try {
    const json& model = root.at("model");
    if (model.value("type", "") != "BPE") {
      throw Error(where + ": tokenizer model '" + model.value("type", "?") +
                  "' is not supported (BPE is)");
    }
    // SentencePiece models converted to tokenizer.json (Llama 2, Mistral): spaces become U+2581 in
    // the normaliser or a Metaspace pre-tokenizer, and unknown bytes fall back to <0xXX> tokens.
    const std::string normalizer = root.value("normalizer", json()).dump();
    const std::string pre = root.value("pre_tokenizer", json()).dump();
    if (model.value("byte_fallback", false) || pre.find("Metaspace") != std::string::npos ||
        normalizer.find(kSpace) != std::string::npos) {
      return load_hf_sentencepiece(root, config, where);
    }
    VocabBuilder vocab;
    for (const auto& [text, id] : model.at("vocab").items()) {
      vocab.put(id.get<uint64_t>(), text, TokenType::Normal, where);
    }
    for (const json& added : root.value("added_tokens", json::array())) {
      vocab.put(added.at("id").get<uint64_t>(), added.at("content").get<std::string>(),
                added.value("special", false) ? TokenType::Control : TokenType::UserDefined, where);
    }
    vocab.fill_holes();
    spec.tokens = std::move(vocab.tokens);
    spec.types = std::move(vocab.types);

    for (const json& m : model.at("merges")) {
      if (m.is_string()) {
        spec.merges.push_back(m.get<std::string>());
      } else {
        spec.merges.push_back(m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
      }
    }
    spec.ignore_merges = model.value("ignore_merges", false);
    spec.nfc = normalizer.find("\"NFC\"") != std::string::npos;

    // Pre-tokenizer: Split regexes (in a Sequence or alone), or ByteLevel with GPT-2's regex.
    std::function<void(const json&)> visit = [&](const json& p) {
      if (p.is_null()) return;
      const std::string type = p.value("type", "");
      if (type == "Sequence") {
        for (const json& q : p.at("pretokenizers")) visit(q);
      } else if (type == "Split") {
        const json& pattern = p.at("pattern");
        if (pattern.contains("Regex")) {
          spec.split_regexes.push_back(pattern["Regex"].get<std::string>());
        } else {
          // A literal string: match it verbatim.
          std::string literal = pattern.at("String").get<std::string>();
          spec.split_regexes.push_back("\\Q" + literal + "\\E");
        }
        if (p.value("behavior", "Isolated") != "Isolated" || p.value("invert", false)) {
          throw Error(where + ": Split pre-tokenizers other than 'Isolated' are not supported");
        }
      } else if (type == "ByteLevel") {
        if (p.value("add_prefix_space", false)) {
          throw Error(where + ": ByteLevel add_prefix_space is not supported");
        }
        if (p.value("use_regex", true)) {
          const auto gpt2 = std::string(
              R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
          spec.split_regexes.push_back(gpt2);
        }
      } else {
        throw Error(where + ": pre-tokenizer '" + type + "' is not supported");
      }
    };
    visit(root.value("pre_tokenizer", json()));

    apply_config(root, config, spec);
  } catch (const json::exception& e) {
    throw Error(where + ": unexpected tokenizer.json structure (" + e.what() + ")");
  }
  spec.add_space_prefix = false;
  set_stop_ids(spec);
  spec.validate();
  return spec;
}

TokenizerSpec load_gpt2_tokenizer(const std::filesystem::path& encoder_json,
                                  const std::filesystem::path& vocab_bpe) {
  const json encoder = read_json(encoder_json);
  if (!encoder.is_object()) throw Error(encoder_json.string() + ": not a JSON object");
  TokenizerSpec spec;
  spec.algorithm = Algorithm::ByteLevel;
  VocabBuilder vocab;
  for (const auto& [text, id] : encoder.items()) {
    if (!id.is_number_unsigned()) throw Error(encoder_json.string() + ": ids must be numbers");
    const bool special = text.size() > 4 && text.compare(0, 2, "<|") == 0 &&
                         text.compare(text.size() - 2, 2, "|>") == 0;
    vocab.put(id.get<uint64_t>(), text, special ? TokenType::Control : TokenType::Normal,
              encoder_json.string());
  }
  vocab.fill_holes();
  spec.tokens = std::move(vocab.tokens);
  spec.types = std::move(vocab.types);

  std::istringstream lines(read_file(vocab_bpe));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    if (line.find(' ') == std::string::npos) {
      throw Error(vocab_bpe.string() + ": merge line without a space: " + line);
    }
    spec.merges.push_back(line);
  }
  spec.pre = "gpt-2";
  spec.bos = spec.find("<|endoftext|>");
  spec.eos = spec.bos;
  spec.add_space_prefix = false;
  set_stop_ids(spec);
  spec.validate();
  return spec;
}

TokenizerSpec from_tiktoken_tables(const std::map<uint32_t, std::string>& merge_table,
                                   const std::map<std::string, uint32_t>& special_tokens,
                                   const std::string& split_regex, bool escape_non_printable) {
  TokenizerSpec spec;
  spec.algorithm = Algorithm::ByteLevel;
  VocabBuilder vocab;
  for (const auto& [id, bytes] : merge_table) {
    vocab.put(id, escape_non_printable ? bytes : escape_bytes(bytes), TokenType::Normal,
              "tokenizer tables");
  }
  for (const auto& [text, id] : special_tokens) {
    vocab.put(id, text, TokenType::Control, "tokenizer tables");
  }
  vocab.fill_holes();
  spec.tokens = std::move(vocab.tokens);
  spec.types = std::move(vocab.types);
  if (!split_regex.empty()) spec.split_regexes.push_back(split_regex);
  spec.ignore_merges = true;  // tiktoken looks a whole piece up before merging
  spec.add_space_prefix = false;
  for (const char* bos : {"<|begin_of_text|>", "<s>"}) {
    if (!spec.bos) spec.bos = spec.find(bos);
  }
  for (const char* eos : {"<|end_of_text|>", "<|endoftext|>", "</s>"}) {
    if (!spec.eos) spec.eos = spec.find(eos);
  }
  set_stop_ids(spec);
  spec.validate();
  return spec;
}

std::optional<TiktokenTables> to_tiktoken_tables(const TokenizerSpec& spec) {
  if (spec.algorithm != Algorithm::ByteLevel || spec.split_regexes.size() > 1) return std::nullopt;
  TiktokenTables t;
  t.split_regex =
      spec.split_regexes.empty() ? pre_tokenizer_regexes("gpt-2")[0] : spec.split_regexes[0];
  for (uint32_t id = 0; id < spec.tokens.size(); ++id) {
    switch (spec.types[id]) {
      case TokenType::Normal:
      case TokenType::Byte:
        t.merge_table.emplace(id, unescape_bytes(spec.tokens[id]));
        break;
      case TokenType::Control:
      case TokenType::UserDefined:
      case TokenType::Unknown:
        t.special_tokens.emplace(spec.tokens[id], id);
        break;
      case TokenType::Unused:
        break;
    }
  }
  return t;
}

}  // namespace pie::tokenizer
