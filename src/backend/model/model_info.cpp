#include "backend/model/model_info.h"

#include <fstream>
#include <map>
#include <sstream>

#include "backend/model/gguf.h"
#include "backend/model/model_file.h"

namespace pie::model {
namespace {

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? " x " : "") + std::to_string(shape[i]);
  return s;
}

std::string bytes_text(uint64_t n) {
  std::ostringstream s;
  s.precision(3);
  if (n >= (uint64_t{1} << 30)) {
    s << static_cast<double>(n) / (1 << 30) << " GiB";
  } else if (n >= (1 << 20)) {
    s << static_cast<double>(n) / (1 << 20) << " MiB";
  } else {
    s << n << " bytes";
  }
  return s.str();
}

bool is_gguf(const std::filesystem::path& path) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  return std::string_view(magic, 4) == "GGUF";
}

}  // namespace

std::string model_info(const std::filesystem::path& path) {
  const ModelFile m = open_model(path);
  const ModelConfig& c = m.config();
  std::ostringstream s;
  s << "file:          " << path.string() << "\n";
  s << "format:        " << format_name(m.format()) << "\n";
  s << "name:          " << c.name << "\n";
  s << "architecture:  " << architecture_name(c.arch) << "\n";
  s << "dim:           " << c.dim << "\n";
  s << "layers:        " << c.n_layers << "\n";
  s << "heads:         " << c.n_heads << " (kv " << c.n_kv_heads << ", head_dim " << c.head_dim
    << ")\n";
  s << "ffn dim:       " << c.ffn_dim << "\n";
  s << "vocab:         " << c.vocab_size << "\n";
  s << "context:       " << c.context_length << "\n";
  s << "rms eps:       " << c.rms_eps << "\n";
  s << "rope:          theta " << c.rope.theta << ", "
    << (c.rope.style == RopeStyle::Interleaved ? "interleaved pairs" : "half split (NeoX)") << ", "
    << c.rope.dims << " dims";
  if (c.rope.llama3) {
    s << ", llama3 scaling factor " << c.rope.llama3->factor << " low "
      << c.rope.llama3->low_freq_factor << " high " << c.rope.llama3->high_freq_factor
      << " original " << c.rope.llama3->original_context;
  }
  if (!c.rope.freq_factors.empty()) s << ", frequency factors";
  s << "\n";
  s << "embeddings:    " << (c.tied_embeddings ? "tied" : "separate output") << "\n";
  s << "qkv bias:      " << (c.qkv_bias ? "yes" : "no") << "\n";
  s << "q/k norm:      " << (c.qk_norm ? "yes" : "no") << "\n";

  const tokenizer::TokenizerSpec& t = m.tokenizer();
  s << "tokenizer:     "
    << (t.algorithm == tokenizer::Algorithm::SentencePiece ? "SentencePiece BPE" : "byte-level BPE")
    << ", " << t.tokens.size() << " tokens";
  if (!t.pre.empty()) s << ", pre " << t.pre;
  if (t.bos) s << ", bos " << *t.bos << " " << t.tokens[*t.bos];
  if (t.eos) s << ", eos " << *t.eos << " " << t.tokens[*t.eos];
  s << "\n";
  s << "chat template: "
    << (m.chat_template().empty() ? "none" : std::to_string(m.chat_template().size()) + " bytes")
    << "\n";
  if (!m.stop_strings().empty()) {
    s << "stop strings: ";
    for (const auto& stop : m.stop_strings()) s << " " << stop;
    s << "\n";
  }

  uint64_t total = 0;
  std::map<std::string, uint64_t> by_type;
  for (const Tensor& tensor : m.tensors()) {
    total += tensor.nbytes;
    by_type[type_name(tensor.type)] += tensor.elements();
  }
  s << "tensors:       " << m.tensors().size() << ", " << bytes_text(total) << " (";
  bool first = true;
  for (const auto& [type, n] : by_type) {
    s << (first ? "" : ", ") << type << " " << n << " weights";
    first = false;
  }
  s << ")\n";

  if (is_gguf(path)) {
    const GgufFile g = GgufFile::open(path);
    s << "\nGGUF version " << g.version() << ", alignment " << g.alignment() << ", "
      << g.metadata().entries.size() << " metadata keys:\n";
    for (const auto& [key, value] : g.metadata().entries) {
      s << "  " << key << " = " << value.to_text() << "\n";
    }
  }
  s << "\ntensors:\n";
  for (const Tensor& tensor : m.tensors()) {
    s << "  " << tensor.name << "  " << type_name(tensor.type) << "  [" << shape_text(tensor.shape)
      << "]\n";
  }
  return s.str();
}

}  // namespace pie::model
