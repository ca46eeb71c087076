// Pre-tokenization of byte-level vocabularies: the text is cut into pieces by regexes (PCRE2 with
// JIT, Unicode properties on) before BPE runs inside each piece.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pie::tokenizer {

// The regexes of a pre-tokenizer named as GGUF's tokenizer.ggml.pre names it ("gpt-2", "default",
// "llama-bpe", "qwen2", ...). Throws pie::Error naming the known ones for another name.
std::vector<std::string> pre_tokenizer_regexes(std::string_view name);
// The canonical name ("gpt-2", "llama-bpe", "qwen2") of a list of regexes, or "" when none fits.
std::string pre_tokenizer_name(const std::vector<std::string>& regexes);

// Splits text with a list of regexes: the first cuts the text into its matches and the gaps between
// them; each further regex cuts every piece again the same way.
class Splitter {
 public:
  // Compiles the regexes; throws pie::Error quoting the pattern and PCRE2's message on a bad one.
  explicit Splitter(const std::vector<std::string>& regexes);
  ~Splitter();
  Splitter(const Splitter&) = delete;
  Splitter& operator=(const Splitter&) = delete;

  // The pieces of `text`, in order; their concatenation is `text`.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Pattern;
  std::vector<std::unique_ptr<Pattern>> patterns_;
};

}  // namespace pie::tokenizer
