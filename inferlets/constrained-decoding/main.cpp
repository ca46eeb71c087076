// Constrained decoding: the model fills a JSON object whose shape the caller fixes. The object's
// keys, punctuation and quotes are written into the context as they are; the model writes only the
// values, through a custom sampler that takes the most likely of the 64 tokens the engine lists
// whose text keeps the value valid: letters, digits, spaces and , . ! ' in strings (a token may
// end with the closing quote), digits in integers. When no listed token fits, or a value reaches
// its length limit, the value is closed. So the output always parses, with the requested keys.
//
//   constrained-decoding <prompt> <field>...     field: <key> (a string) or <key>:int
//
// Completes with the JSON text.
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "pie/context.h"
#include "pie/pie.h"

namespace {

// The text each token stands for: SentencePiece's "▁" is a space and <0xNN> pieces are bytes.
std::vector<std::string> token_texts(const pie::Tokenizer& tokenizer) {
  std::vector<std::string> texts;
  for (auto& [id, bytes] : tokenizer.vocabulary()) {
    if (texts.size() <= id) texts.resize(id + 1);
    std::string text;
    if (bytes.size() == 6 && bytes.starts_with("<0x") && bytes.ends_with(">")) {
      unsigned value = 0;
      std::from_chars(bytes.data() + 3, bytes.data() + 5, value, 16);
      text = std::string(1, static_cast<char>(value));
    } else {
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (bytes.compare(i, 3, "\xE2\x96\x81") == 0) {
          text += ' ';
          i += 2;
        } else {
          text += bytes[i];
        }
      }
    }
    texts[id] = std::move(text);
  }
  return texts;
}

bool string_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
         c == ',' || c == '.' || c == '!' || c == '\'';
}

constexpr size_t kMaxString = 32;
constexpr size_t kMaxDigits = 6;
constexpr uint32_t kTopK = 64;

// Generates one value of `context` under the constraint; returns its text, closing quote included
// for strings.
std::string generate_value(pie::Context& context, const std::vector<std::string>& texts,
                           bool integer) {
  std::string value;
  for (;;) {
    const size_t limit = integer ? kMaxDigits : kMaxString;
    // What a token may add: whether it fits, and whether it closes the string.
    const auto fits = [&](const std::string& t, bool& closes) {
      closes = false;
      if (t.empty() || value.size() + t.size() > limit + (integer ? 0 : 1)) return false;
      for (size_t i = 0; i < t.size(); ++i) {
        if (integer ? (t[i] < '0' || t[i] > '9') : !string_char(t[i])) {
          closes = !integer && t[i] == '"' && i + 1 == t.size();
          return closes;
        }
      }
      return true;
    };
    std::optional<uint32_t> chosen;
    const auto pick = [&](const pie::Distribution& d) {
      for (uint32_t id : d.ids) {
        bool closes = false;
        if (id < texts.size() && fits(texts[id], closes)) {
          chosen = id;
          return id;
        }
      }
      return d.ids.at(0);  // not used: the value is closed instead
    };
    context.decode_step(pie::Sampler::custom(1.0F, pick, kTopK));
    if (!chosen) break;
    value += texts[*chosen];
    context.fill_token(*chosen);
    if (!integer && value.ends_with('"')) return value;
  }
  if (integer && value.empty()) value = "0";
  return integer ? value : value + '"';
}

}  // namespace

PIE_MAIN(args) {
  if (args.size() < 2) {
    return pie::Error{"usage: constrained-decoding <prompt> <field>...; field: <key> or <key>:int"};
  }
  pie::Context context(pie::Model::first());
  const std::vector<std::string> texts = token_texts(context.tokenizer());
  context.fill(args[0]);
  if (context.token_ids().empty()) return pie::Error{"the prompt is empty"};

  std::string output;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string key = args[i];
    const bool integer = key.ends_with(":int");
    if (integer) key.resize(key.size() - 4);
    if (key.empty()) return pie::Error{"field " + std::to_string(i) + " has no key"};
    for (char c : key) {
      if (!string_char(c))
        return pie::Error{"key '" + key + "' may only hold letters, digits and spaces"};
    }
    // The fixed text before the value, as the model will read it.
    const std::string lead = (i == 1 ? "{" : ", ") + ("\"" + key + "\": ") + (integer ? "" : "\"");
    output += lead;
    context.fill(lead);
    output += generate_value(context, texts, integer);
  }
  return output + "}";
}
