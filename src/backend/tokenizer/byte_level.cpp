// Byte-level BPE (GPT-2, Llama 3, Qwen): pre-tokenize with the regexes, write each piece's bytes in
// GPT-2's escaped form, then merge adjacent symbols lowest rank first (leftmost on ties), as
// llama.cpp's llm_tokenizer_bpe and Hugging Face's BPE model do.
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>

#include "backend/tokenizer/byte_unicode.h"
#include "backend/tokenizer/encoder.h"
#include "backend/tokenizer/normalize.h"
#include "backend/tokenizer/pretokenizer.h"
#include "common/error.h"

namespace pie::tokenizer {
namespace {

struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t length;
};

struct Candidate {
  int left;
  int right;
  uint32_t rank;
  size_t length;
  bool operator<(const Candidate& o) const {  // std::priority_queue pops the greatest
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

class ByteLevelEncoder final : public Encoder {
 public:
  explicit ByteLevelEncoder(const TokenizerSpec& spec)
      : splitter_(spec.split_regexes.empty() ? pre_tokenizer_regexes("gpt-2") : spec.split_regexes),
        by_rank_(spec.merges.empty()),
        ignore_merges_(spec.ignore_merges),
        nfc_(spec.nfc),
        unk_(spec.unk) {
    ids_.reserve(spec.tokens.size());
    for (size_t id = 0; id < spec.tokens.size(); ++id) {
      const TokenType t = spec.types[id];
      if (t == TokenType::Normal || t == TokenType::Byte || t == TokenType::Unused) {
        ids_.emplace(spec.tokens[id], static_cast<uint32_t>(id));
      }
    }
    ranks_.reserve(spec.merges.size());
    for (size_t r = 0; r < spec.merges.size(); ++r) {
      ranks_.emplace(spec.merges[r], static_cast<uint32_t>(r));
    }
  }

  void encode(std::string_view text, bool /*at_start*/, std::vector<uint32_t>& out) const override {
    std::string normalised;
    if (nfc_ && to_nfc(text, normalised)) text = normalised;
    for (std::string_view piece : splitter_.split(text)) encode_piece(escape_bytes(piece), out);
  }

 private:
  std::optional<uint32_t> pair_rank(const std::string& s, const Symbol& l, const Symbol& r) const {
    if (by_rank_) {
      auto it = ids_.find(std::string_view(s).substr(l.offset, l.length + r.length));
      if (it == ids_.end()) return std::nullopt;
      return it->second;
    }
    std::string key;
    key.reserve(l.length + r.length + 1);
    key.append(s, l.offset, l.length).append(1, ' ').append(s, r.offset, r.length);
    auto it = ranks_.find(key);
    if (it == ranks_.end()) return std::nullopt;
    return it->second;
  }

  void encode_piece(const std::string& s, std::vector<uint32_t>& out) const {
    if (ignore_merges_) {
      if (auto it = ids_.find(s); it != ids_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::vector<Symbol> symbols;
    for (size_t i = 0; i < s.size();) {
      const size_t len = utf8_char_length(s, i);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({index - 1, index + 1, i, len});
      i += len;
    }
    if (symbols.empty()) return;
    symbols.back().next = -1;

    std::priority_queue<Candidate> queue;
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      if (auto rank = pair_rank(s, symbols[left], symbols[right])) {
        queue.push({left, right, *rank, symbols[left].length + symbols[right].length});
      }
    };
    for (size_t i = 1; i < symbols.size(); ++i)
      try_add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      Symbol& left = symbols[c.left];
      Symbol& right = symbols[c.right];
      if (left.length == 0 || right.length == 0 || left.length + right.length != c.length ||
          left.next != c.right) {
        continue;
      }
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = c.left;
      try_add(left.prev, c.left);
      try_add(c.left, left.next);
    }

    for (int i = 0; i >= 0; i = symbols[i].next) {
      const std::string piece = s.substr(symbols[i].offset, symbols[i].length);
      if (auto it = ids_.find(piece); it != ids_.end()) {
        out.push_back(it->second);
        continue;
      }
      // A symbol the vocabulary lacks: fall back to its single characters (each one byte).
      for (size_t j = 0; j < piece.size();) {
        const size_t len = utf8_char_length(piece, j);
        if (auto it = ids_.find(piece.substr(j, len)); it != ids_.end()) {
          out.push_back(it->second);
        } else if (unk_) {
          out.push_back(*unk_);
        } else {
          throw Error("tokenizer: the vocabulary has no token for the byte " +
                      piece.substr(j, len));
        }
        j += len;
      }
    }
  }

  Splitter splitter_;
  bool by_rank_;
  bool ignore_merges_;
  bool nfc_;
  std::optional<uint32_t> unk_;
  // Keys view the spec's strings, which outlive the encoder (both belong to one Tokenizer).
  std::unordered_map<std::string_view, uint32_t> ids_;
  std::unordered_map<std::string_view, uint32_t> ranks_;
};

}  // namespace

std::unique_ptr<const Encoder> make_byte_level_encoder(const TokenizerSpec& spec) {
  return std::make_unique<ByteLevelEncoder>(spec);
}

}  // namespace pie::tokenizer
