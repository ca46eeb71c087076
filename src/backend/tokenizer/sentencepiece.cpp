// SentencePiece BPE as llama.cpp implements it (llm_tokenizer_spm): start from UTF-8 characters,
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token (leftmost on
// ties), then write each symbol as its token, or split back along its merges, or as byte tokens.
#include <algorithm>
#include <array>
#include <cstdio>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>

#include "backend/tokenizer/encoder.h"

namespace pie::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t length;
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t length;
  bool operator<(const Bigram& o) const {
    return score < o.score || (score == o.score && left > o.left);
  }
};

class SentencePieceEncoder final : public Encoder {
 public:
  explicit SentencePieceEncoder(const TokenizerSpec& spec)
      : scores_(spec.scores), unk_(spec.unk), add_space_prefix_(spec.add_space_prefix) {
    byte_tokens_.fill(-1);
    pieces_.reserve(spec.tokens.size());
    for (size_t id = 0; id < spec.tokens.size(); ++id) {
      const std::string& t = spec.tokens[id];
      const TokenType type = spec.types[id];
      if (type == TokenType::Byte) {
        unsigned value = 0;
        if (t.size() == 6 && std::sscanf(t.c_str(), "<0x%2X>", &value) == 1) {
          byte_tokens_[value] = static_cast<int64_t>(id);
        }
      } else if (type != TokenType::Control && type != TokenType::Unknown) {
        pieces_.emplace(t, static_cast<uint32_t>(id));
      }
    }
  }

  void encode(std::string_view raw, bool at_start, std::vector<uint32_t>& out) const override {
    std::string text;
    text.reserve(raw.size() + 8);
    if (add_space_prefix_ && at_start) text += kSpace;
    for (char c : raw) {
      if (c == ' ') {
        text += kSpace;
      } else {
        text += c;
      }
    }

    std::vector<Symbol> symbols;
    for (size_t i = 0; i < text.size();) {
      const size_t len = utf8_char_length(text, i);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({index - 1, index + 1, i, len});
      i += len;
    }
    if (symbols.empty()) return;
    symbols.back().next = -1;

    std::priority_queue<Bigram> queue;
    std::unordered_map<std::string, std::pair<int, int>> merged_from;
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      std::string piece =
          text.substr(symbols[left].offset, symbols[left].length + symbols[right].length);
      auto it = pieces_.find(piece);
      if (it == pieces_.end()) return;
      queue.push({left, right, scores_[it->second], piece.size()});
      merged_from[std::move(piece)] = {left, right};
    };
    for (size_t i = 1; i < symbols.size(); ++i)
      try_add(static_cast<int>(i) - 1, static_cast<int>(i));

    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Symbol& left = symbols[b.left];
      Symbol& right = symbols[b.right];
      // Skip pairs made stale by an earlier merge of one of their symbols.
      if (left.length == 0 || right.length == 0 || left.length + right.length != b.length) continue;
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = b.left;
      try_add(left.prev, b.left);
      try_add(b.left, left.next);
    }

    for (int i = 0; i >= 0; i = symbols[i].next) {
      resegment(text, symbols, merged_from, symbols[i].offset, symbols[i].length, out);
    }
  }

 private:
  void resegment(const std::string& text, const std::vector<Symbol>& symbols,
                 const std::unordered_map<std::string, std::pair<int, int>>& merged_from,
                 size_t offset, size_t length, std::vector<uint32_t>& out) const {
    const std::string piece = text.substr(offset, length);
    if (auto it = pieces_.find(piece); it != pieces_.end()) {
      out.push_back(it->second);
      return;
    }
    if (auto it = merged_from.find(piece); it != merged_from.end()) {
      const Symbol& l = symbols[it->second.first];
      const Symbol& r = symbols[it->second.second];
      const size_t left_length = r.offset - l.offset;
      resegment(text, symbols, merged_from, offset, left_length, out);
      resegment(text, symbols, merged_from, offset + left_length, length - left_length, out);
      return;
    }
    for (unsigned char c : piece) {
      if (byte_tokens_[c] >= 0) {
        out.push_back(static_cast<uint32_t>(byte_tokens_[c]));
      } else if (unk_) {
        out.push_back(*unk_);
      }
    }
  }

  std::unordered_map<std::string_view, uint32_t> pieces_;  // views of the spec's tokens
  std::vector<float> scores_;
  std::array<int64_t, 256> byte_tokens_{};
  std::optional<uint32_t> unk_;
  bool add_space_prefix_;
};

}  // namespace

std::unique_ptr<const Encoder> make_sentencepiece_encoder(const TokenizerSpec& spec) {
  return std::make_unique<SentencePieceEncoder>(spec);
}

}  // namespace pie::tokenizer
