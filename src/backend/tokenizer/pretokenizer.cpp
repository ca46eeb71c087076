#define PCRE2_CODE_UNIT_WIDTH 8
#include "backend/tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <array>
#include <utility>

#include "common/error.h"

namespace pie::tokenizer {
namespace {

// GPT-2's pattern, as the tokenizers of GPT-2 and many later models use it.
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3 (tokenizer.json writes the contractions as (?i:'s|'t|...), which PCRE2 accepts as is).
constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2, Qwen2.5 and Qwen3: Llama 3's pattern with single digits.
constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kNamed = {{
    {"default", kGpt2},
    {"gpt-2", kGpt2},
    {"gpt2", kGpt2},
    {"llama-bpe", kLlama3},
    {"llama3", kLlama3},
    {"qwen2", kQwen2},
    {"qwen3", kQwen2},
}};

}  // namespace

std::vector<std::string> pre_tokenizer_regexes(std::string_view name) {
  for (const auto& [n, regex] : kNamed) {
    if (n == name) return {std::string(regex)};
  }
  std::string known;
  for (const auto& [n, regex] : kNamed) known += (known.empty() ? "" : ", ") + std::string(n);
  throw Error("unknown pre-tokenizer '" + std::string(name) + "' (known: " + known + ")");
}

std::string pre_tokenizer_name(const std::vector<std::string>& regexes) {
  if (regexes.empty()) return "gpt-2";
  if (regexes.size() != 1) return "";
  for (const char* name : {"gpt-2", "llama-bpe", "qwen2"}) {
    if (pre_tokenizer_regexes(name)[0] == regexes[0]) return name;
  }
  return "";
}

struct Splitter::Pattern {
  pcre2_code* code = nullptr;
  ~Pattern() { pcre2_code_free(code); }
};

Splitter::Splitter(const std::vector<std::string>& regexes) {
  for (const std::string& regex : regexes) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto p = std::make_unique<Pattern>();
    p->code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(),
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
    if (p->code == nullptr) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(error, message.data(), message.size());
      throw Error("pre-tokenizer regex /" + regex + "/ does not compile at offset " +
                  std::to_string(offset) + ": " + reinterpret_cast<const char*>(message.data()));
    }
    // JIT is an optimisation: where it is unavailable the interpreter gives the same matches.
    pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE);
    patterns_.push_back(std::move(p));
  }
}

Splitter::~Splitter() = default;

std::vector<std::string_view> Splitter::split(std::string_view text) const {
  std::vector<std::string_view> pieces{text};
  if (text.empty()) return {};
  pcre2_match_data* match = nullptr;
  for (const auto& pattern : patterns_) {
    if (match != nullptr) pcre2_match_data_free(match);
    match = pcre2_match_data_create_from_pattern(pattern->code, nullptr);
    std::vector<std::string_view> next;
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t start = 0;
      size_t gap = 0;
      while (start < piece.size()) {
        const int rc = pcre2_match(pattern->code, subject, piece.size(), start, 0, match, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;  // the rest is one gap
        if (rc < 0) {
          std::array<PCRE2_UCHAR, 256> message{};
          pcre2_get_error_message(rc, message.data(), message.size());
          if (match != nullptr) pcre2_match_data_free(match);
          throw Error(std::string("pre-tokenizer regex failed: ") +
                      reinterpret_cast<const char*>(message.data()));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        if (ov[1] == ov[0]) {  // empty match: step over one character
          start = ov[0] + 1;
          while (start < piece.size() &&
                 (static_cast<unsigned char>(piece[start]) & 0xC0) == 0x80) {
            ++start;
          }
          continue;
        }
        if (ov[0] > gap) next.push_back(piece.substr(gap, ov[0] - gap));
        next.push_back(piece.substr(ov[0], ov[1] - ov[0]));
        gap = start = ov[1];
      }
      if (gap < piece.size()) next.push_back(piece.substr(gap));
    }
    pieces = std::move(next);
  }
  if (match != nullptr) pcre2_match_data_free(match);
  return pieces;
}

}  // namespace pie::tokenizer
