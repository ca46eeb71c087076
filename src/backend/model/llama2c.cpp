#include "backend/model/llama2c.h"

#include <array>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "backend/model/mapped_file.h"
#include "backend/tokenizer/loaders.h"
#include "common/error.h"

namespace pie::model {
namespace {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42"
constexpr size_t kVersionedHeaderBytes = 256;

int32_t read_i32(const std::byte* p) {
  int32_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

Llama2cHeader parse_header(const MappedFile& file) {
  const std::string where = file.path().string();
  if (file.size() < 7 * sizeof(int32_t)) throw Error(where + ": too short for a llama2.c header");
  const std::byte* p = file.data();
  Llama2cHeader h;
  uint32_t magic = 0;
  std::memcpy(&magic, p, sizeof magic);
  if (magic == kMagic) {
    if (file.size() < kVersionedHeaderBytes) throw Error(where + ": truncated llama2.c header");
    h.version = read_i32(p + 4);
    if (h.version != 1 && h.version != 2) {
      throw Error(where + ": llama2.c checkpoint version " + std::to_string(h.version) +
                  " is not supported (versions 1 and 2 are)");
    }
    p += 8;
  }
  h.dim = read_i32(p);
  h.hidden_dim = read_i32(p + 4);
  h.n_layers = read_i32(p + 8);
  h.n_heads = read_i32(p + 12);
  h.n_kv_heads = read_i32(p + 16);
  h.vocab_size = read_i32(p + 20);
  h.seq_len = read_i32(p + 24);
  if (h.version == 0) {
    // Legacy layout: the sign of vocab_size says whether the classifier is shared.
    h.shared_classifier = h.vocab_size > 0;
    if (h.vocab_size < 0) h.vocab_size = -h.vocab_size;
  } else {
    h.shared_classifier = std::to_integer<uint8_t>(p[28]) != 0;
    if (h.version == 2) h.group_size = read_i32(p + 29);
  }
  if (h.dim <= 0 || h.hidden_dim <= 0 || h.n_layers <= 0 || h.n_heads <= 0 || h.n_kv_heads <= 0 ||
      h.vocab_size <= 0 || h.seq_len <= 0 || h.dim % h.n_heads != 0 || h.dim > (1 << 16) ||
      h.hidden_dim > (1 << 18) || h.n_layers > 1024 || h.vocab_size > (1 << 22) ||
      h.seq_len > (1 << 24) || (h.version == 2 && h.group_size <= 0)) {
    throw Error(where + ": not a llama2.c checkpoint (implausible header: dim " +
                std::to_string(h.dim) + ", hidden " + std::to_string(h.hidden_dim) + ", layers " +
                std::to_string(h.n_layers) + ", heads " + std::to_string(h.n_heads) + "/" +
                std::to_string(h.n_kv_heads) + ", vocab " + std::to_string(h.vocab_size) + ")");
  }
  return h;
}

// One logical llama2.c weight: `count` stacked matrices of rows x cols (PyTorch order).
struct Block {
  std::string suffix;  // canonical name after "blk.N." or the whole name when not per layer
  bool per_layer;
  uint64_t rows;
  uint64_t cols;
};

// Walks the file, handing out tensors in the order the layout stores them.
class Builder {
 public:
  Builder(const MappedFile& file, size_t offset, const Llama2cHeader& h)
      : file_(file), offset_(offset), h_(h) {}

  // fp32 tensors stored in place.
  void fp32(const Block& b) {
    const uint64_t per = b.rows * b.cols * sizeof(float);
    const int count = b.per_layer ? h_.n_layers : 1;
    for (int l = 0; l < count; ++l) add(b, l, GgmlType::F32, take(per), per);
  }

  // Version 2: each matrix is int8 values followed by one fp32 scale per group.
  void q8(const Block& b, std::vector<std::shared_ptr<const void>>& storage) {
    const uint64_t n = b.rows * b.cols;
    if (n % static_cast<uint64_t>(h_.group_size) != 0) {
      throw Error(file_.path().string() + ": tensor size is not a multiple of the group size");
    }
    const uint64_t groups = n / static_cast<uint64_t>(h_.group_size);
    const int count = b.per_layer ? h_.n_layers : 1;
    for (int l = 0; l < count; ++l) {
      const auto* q = reinterpret_cast<const int8_t*>(take(n));
      const std::byte* s = take(groups * sizeof(float));
      auto out = std::make_shared<std::vector<float>>(n);
      for (uint64_t g = 0; g < groups; ++g) {
        float scale = 0;
        std::memcpy(&scale, s + g * sizeof(float), sizeof scale);
        for (int32_t i = 0; i < h_.group_size; ++i) {
          const uint64_t k = g * static_cast<uint64_t>(h_.group_size) + static_cast<uint64_t>(i);
          (*out)[k] = static_cast<float>(q[k]) * scale;
        }
      }
      add(b, l, GgmlType::F32, reinterpret_cast<const std::byte*>(out->data()), n * sizeof(float));
      storage.push_back(std::move(out));
    }
  }

  void skip(uint64_t bytes) { take(bytes); }
  size_t offset() const { return offset_; }
  std::vector<Tensor> take_tensors() { return std::move(tensors_); }

 private:
  const std::byte* take(uint64_t bytes) {
    if (bytes > file_.size() || offset_ > file_.size() - bytes) {
      throw Error(file_.path().string() + ": truncated llama2.c checkpoint (" +
                  std::to_string(file_.size()) + " bytes, the header implies more)");
    }
    const std::byte* p = file_.data() + offset_;
    offset_ += bytes;
    return p;
  }

  void add(const Block& b, int layer, GgmlType type, const std::byte* data, uint64_t nbytes) {
    Tensor t;
    t.name = b.per_layer ? "blk." + std::to_string(layer) + "." + b.suffix : b.suffix;
    t.type = type;
    t.shape = b.rows == 1 ? std::vector<uint64_t>{b.cols} : std::vector<uint64_t>{b.cols, b.rows};
    t.data = data;
    t.nbytes = nbytes;
    tensors_.push_back(std::move(t));
  }

  const MappedFile& file_;
  size_t offset_;
  const Llama2cHeader& h_;
  std::vector<Tensor> tensors_;
};

}  // namespace

bool looks_like_llama2c(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 28> head{};
  if (!in.read(head.data(), head.size())) return false;
  uint32_t magic = 0;
  std::memcpy(&magic, head.data(), sizeof magic);
  if (magic == kMagic) return true;
  int32_t v[7];
  std::memcpy(v, head.data(), sizeof v);
  return v[0] > 0 && v[1] > 0 && v[2] > 0 && v[3] > 0 && v[4] > 0 && v[6] > 0 && v[5] != 0 &&
         v[0] % v[3] == 0 && v[0] <= (1 << 16) && v[2] <= 1024;
}

std::filesystem::path find_llama2c_tokenizer(const std::filesystem::path& checkpoint) {
  const auto file = MappedFile::open(checkpoint);
  const Llama2cHeader h = parse_header(*file);
  const auto dir = checkpoint.parent_path();
  for (const auto& name :
       {"tok" + std::to_string(h.vocab_size) + ".bin", std::string("tokenizer.bin")}) {
    if (std::filesystem::exists(dir / name)) return dir / name;
  }
  throw Error(checkpoint.string() + ": no tokenizer given and neither tok" +
              std::to_string(h.vocab_size) + ".bin nor tokenizer.bin is beside it");
}

ModelFile read_llama2c(const std::filesystem::path& checkpoint,
                       const std::filesystem::path& tokenizer_bin) {
  auto file = MappedFile::open(checkpoint);
  const Llama2cHeader h = parse_header(*file);
  const auto dim = static_cast<uint64_t>(h.dim);
  const auto hidden = static_cast<uint64_t>(h.hidden_dim);
  const auto vocab = static_cast<uint64_t>(h.vocab_size);
  const uint64_t head_dim = dim / static_cast<uint64_t>(h.n_heads);
  const uint64_t kv_dim = head_dim * static_cast<uint64_t>(h.n_kv_heads);

  const Block embd{"token_embd.weight", false, vocab, dim};
  const Block attn_norm{"attn_norm.weight", true, 1, dim};
  const Block ffn_norm{"ffn_norm.weight", true, 1, dim};
  const Block out_norm{"output_norm.weight", false, 1, dim};
  const Block wq{"attn_q.weight", true, dim, dim};
  const Block wk{"attn_k.weight", true, kv_dim, dim};
  const Block wv{"attn_v.weight", true, kv_dim, dim};
  const Block wo{"attn_output.weight", true, dim, dim};
  const Block w1{"ffn_gate.weight", true, hidden, dim};
  const Block w2{"ffn_down.weight", true, dim, hidden};
  const Block w3{"ffn_up.weight", true, hidden, dim};
  const Block cls{"output.weight", false, vocab, dim};

  std::vector<std::shared_ptr<const void>> storage;
  Builder b(*file, h.version == 0 ? 7 * sizeof(int32_t) : kVersionedHeaderBytes, h);
  if (h.version == 0) {
    for (const Block* blk :
         {&embd, &attn_norm, &wq, &wk, &wv, &wo, &ffn_norm, &w1, &w2, &w3, &out_norm}) {
      b.fp32(*blk);
    }
    // freq_cis_real and freq_cis_imag: precomputed RoPE tables, recomputed by the kernels instead.
    b.skip(2 * static_cast<uint64_t>(h.seq_len) * (head_dim / 2) * sizeof(float));
    if (!h.shared_classifier) b.fp32(cls);
  } else {
    b.fp32(attn_norm);
    b.fp32(ffn_norm);
    b.fp32(out_norm);
    for (const Block* blk : {&embd, &wq, &wk, &wv, &wo, &w1, &w2, &w3}) {
      if (h.version == 1) {
        b.fp32(*blk);
      } else {
        b.q8(*blk, storage);
      }
    }
    if (!h.shared_classifier) {
      if (h.version == 1) {
        b.fp32(cls);
      } else {
        b.q8(cls, storage);
      }
    }
  }
  if (b.offset() != file->size()) {
    throw Error(checkpoint.string() + ": " + std::to_string(file->size() - b.offset()) +
                " bytes after the last tensor: the header does not describe this file");
  }

  ModelConfig c;
  c.arch = Architecture::Llama;
  c.name = checkpoint.stem().string();
  c.dim = static_cast<uint32_t>(h.dim);
  c.n_layers = static_cast<uint32_t>(h.n_layers);
  c.n_heads = static_cast<uint32_t>(h.n_heads);
  c.n_kv_heads = static_cast<uint32_t>(h.n_kv_heads);
  c.head_dim = static_cast<uint32_t>(head_dim);
  c.ffn_dim = static_cast<uint32_t>(h.hidden_dim);
  c.vocab_size = static_cast<uint32_t>(h.vocab_size);
  c.context_length = static_cast<uint32_t>(h.seq_len);
  c.rms_eps = 1e-5F;
  c.rope.theta = 10000.0F;
  c.rope.style = RopeStyle::Interleaved;
  c.rope.dims = c.head_dim;
  c.tied_embeddings = h.shared_classifier;

  tokenizer::TokenizerSpec tok = tokenizer::load_llama2c_tokenizer(tokenizer_bin, c.vocab_size);
  std::vector<Tensor> tensors = b.take_tensors();
  storage.push_back(std::move(file));
  return ModelFile(checkpoint, FileFormat::Llama2c, std::move(c), std::move(tensors),
                   std::move(storage), std::move(tok), "", {});
}

}  // namespace pie::model
