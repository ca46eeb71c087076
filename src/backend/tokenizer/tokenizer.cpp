#include "backend/tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "backend/tokenizer/byte_unicode.h"
#include "backend/tokenizer/encoder.h"
#include "common/error.h"

namespace pie::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";

bool special_type(TokenType t) {
  return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
}

std::string sentencepiece_bytes(const std::string& piece, TokenType type) {
  if (type == TokenType::Byte) {
    unsigned value = 0;
    if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%2X>", &value) == 1) {
      return std::string(1, static_cast<char>(value));
    }
  }
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

}  // namespace

Tokenizer::Tokenizer(TokenizerSpec spec) : spec_(std::move(spec)) {
  spec_.validate();
  const bool spm = spec_.algorithm == Algorithm::SentencePiece;
  bytes_.reserve(spec_.tokens.size());
  for (size_t id = 0; id < spec_.tokens.size(); ++id) {
    const std::string& t = spec_.tokens[id];
    const TokenType type = spec_.types[id];
    if (special_type(type)) {
      bytes_.push_back(t);
      if (!t.empty()) specials_.emplace(t, static_cast<uint32_t>(id));
    } else if (spm) {
      bytes_.push_back(sentencepiece_bytes(t, type));
    } else {
      bytes_.push_back(unescape_bytes(t));
    }
  }
  for (const auto& [text, id] : specials_) specials_by_length_.push_back(id);
  std::sort(specials_by_length_.begin(), specials_by_length_.end(), [&](uint32_t a, uint32_t b) {
    const size_t la = spec_.tokens[a].size();
    const size_t lb = spec_.tokens[b].size();
    return la != lb ? la > lb : a < b;
  });
  for (uint32_t id : specials_by_length_) {
    special_first_byte_[static_cast<unsigned char>(spec_.tokens[id][0])] = true;
  }
  encoder_ = spm ? make_sentencepiece_encoder(spec_) : make_byte_level_encoder(spec_);
}

Tokenizer::~Tokenizer() = default;

bool Tokenizer::is_special(uint32_t id) const {
  return id < spec_.types.size() && special_type(spec_.types[id]);
}

std::optional<uint32_t> Tokenizer::special_id(std::string_view text) const {
  auto it = specials_.find(std::string(text));
  if (it == specials_.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::token_bytes(uint32_t id) const {
  if (id >= bytes_.size()) {
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(bytes_.size()) + " tokens");
  }
  return bytes_[id];
}

std::vector<std::pair<uint32_t, std::string>> Tokenizer::vocabulary() const {
  std::vector<std::pair<uint32_t, std::string>> out;
  out.reserve(bytes_.size());
  for (uint32_t id = 0; id < bytes_.size(); ++id) {
    if (!is_special(id)) out.emplace_back(id, bytes_[id]);
  }
  return out;
}

void Tokenizer::encode_plain(std::string_view text, bool at_start,
                             std::vector<uint32_t>& out) const {
  if (!text.empty()) encoder_->encode(text, at_start, out);
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<uint32_t> out;
  if (add_special && spec_.add_bos && spec_.bos) out.push_back(*spec_.bos);

  // Special tokens are matched greedily from the left, the longest one at each position.
  bool at_start = true;
  size_t plain_begin = 0;
  for (size_t i = 0; i < text.size();) {
    std::optional<uint32_t> match;
    if (special_first_byte_[static_cast<unsigned char>(text[i])]) {
      for (uint32_t id : specials_by_length_) {
        const std::string& s = spec_.tokens[id];
        if (text.compare(i, s.size(), s) == 0) {
          match = id;
          break;
        }
      }
    }
    if (!match) {
      ++i;
      continue;
    }
    encode_plain(text.substr(plain_begin, i - plain_begin), at_start, out);
    out.push_back(*match);
    at_start = true;
    i += spec_.tokens[*match].size();
    plain_begin = i;
  }
  encode_plain(text.substr(plain_begin), at_start, out);

  if (add_special && spec_.add_eos && spec_.eos) out.push_back(*spec_.eos);
  return out;
}

std::string Tokenizer::decode(std::span<const uint32_t> ids, bool skip_special) const {
  StreamDecoder stream(*this, skip_special);
  std::string out;
  for (uint32_t id : ids) out += stream.push(id);
  out += stream.finish();
  return out;
}

std::string StreamDecoder::push(uint32_t id) {
  const std::string& bytes = tokenizer_.token_bytes(id);
  if (tokenizer_.is_special(id)) {
    if (!skip_special_) pending_ += bytes;
  } else {
    const TokenizerSpec& spec = tokenizer_.spec_;
    const bool strip = !seen_ordinary_ && spec.algorithm == Algorithm::SentencePiece &&
                       spec.add_space_prefix && !bytes.empty() && bytes[0] == ' ';
    pending_.append(bytes, strip ? 1 : 0);
    seen_ordinary_ = true;
  }
  // Hold back a UTF-8 character whose remaining bytes may come with the next tokens.
  size_t keep = 0;
  for (size_t back = 1; back <= std::min<size_t>(3, pending_.size()); ++back) {
    const auto c = static_cast<unsigned char>(pending_[pending_.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t need = utf8_length(c);
    if (need > back && c >= 0xC2 && c <= 0xF4) keep = back;
    break;
  }
  std::string ready = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return ready;
}

std::string StreamDecoder::finish() {
  std::string rest = std::move(pending_);
  pending_.clear();
  return rest;
}

}  // namespace pie::tokenizer
