// The one description of a model that every weight-file format is read into: its architecture and
// hyper-parameters, tokenizer, chat template, and its tensors under canonical (GGUF) names.
//
// Tensor names are GGUF's: token_embd.weight, blk.N.attn_norm.weight, blk.N.attn_q.weight,
// blk.N.attn_k.weight, blk.N.attn_v.weight, blk.N.attn_output.weight, blk.N.attn_q.bias (and k, v,
// when qkv_bias), blk.N.attn_q_norm.weight / attn_k_norm.weight (when qk_norm),
// blk.N.ffn_norm.weight, blk.N.ffn_gate.weight, blk.N.ffn_up.weight, blk.N.ffn_down.weight,
// output_norm.weight, and output.weight (absent when tied_embeddings: the output projection is then
// token_embd.weight). GGUF files with Llama 3 RoPE scaling also hold rope_freqs.weight, whose values
// are copied into rope.freq_factors.
//
// Shapes are in GGUF order: shape[0] is the contiguous dimension (the row length). A linear layer
// y = W x with W of PyTorch shape [out, in] has shape {in, out}: `out` rows of `in` elements.
//
// RoPE and the Q/K row order. Formats disagree on the order of the rows of attn_q / attn_k within a
// head: GGUF "llama" files and llama2.c checkpoints rotate interleaved pairs (x[2i], x[2i+1]);
// Hugging Face checkpoints and GGUF "qwen2"/"qwen3" files rotate the two halves
// (x[i], x[i + head_dim/2]) (the "NeoX" style). We never permute weights at load time: the
// description records the style in `rope.style` and the attention kernel applies that style.
// This keeps tensors zero-copy views of the mmap'd file. Q/K norms and biases are per element and
// follow the same row order as their weights, so they need no change either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/model/ggml_type.h"
#include "backend/tokenizer/tokenizer_spec.h"

namespace pie::model {

enum class Architecture {
  Llama,    // Llama 2 and Llama 3.x (and llama2.c checkpoints)
  Mistral,  // Llama's structure; sliding window ignored (all supported sizes fit the window)
  Qwen2,    // Qwen2 / Qwen2.5: Llama's structure with Q/K/V biases
  Qwen3,    // Qwen3: per-head RMSNorm on Q and K, no biases, explicit head_dim
};

// "llama", "mistral", "qwen2", "qwen3" (the GGUF general.architecture values).
std::string_view architecture_name(Architecture arch);
// The architecture named `name` as above; throws pie::Error naming the supported ones.
Architecture architecture_from_name(std::string_view name);

enum class RopeStyle {
  Interleaved,  // rotate (x[2i], x[2i+1]) by angle pos * theta^(-2i/rot_dims)
  HalfSplit,    // rotate (x[i], x[i + rot_dims/2]) by angle pos * theta^(-2i/rot_dims)
};

// Llama 3.1's frequency scaling (HF rope_type "llama3"). With wavelen = 2π / freq:
// wavelen < original_context / high_freq_factor: freq unchanged; wavelen > original_context /
// low_freq_factor: freq / factor; in between: smooth = (original_context / wavelen - low) / (high -
// low), freq = (1 - smooth) * freq / factor + smooth * freq.
struct Llama3Scaling {
  float factor = 1.0F;
  float low_freq_factor = 1.0F;
  float high_freq_factor = 4.0F;
  uint32_t original_context = 8192;
  bool operator==(const Llama3Scaling&) const = default;
};

struct RopeConfig {
  float theta = 10000.0F;
  RopeStyle style = RopeStyle::Interleaved;
  uint32_t dims = 0;  // rotated elements per head (the first `dims` of each head); = head_dim
  std::optional<Llama3Scaling> llama3;
  // Per rotated pair, a divisor of its frequency (GGUF's rope_freqs.weight, which is how GGUF files
  // carry Llama 3 scaling). Empty: none.
  std::vector<float> freq_factors;
  bool operator==(const RopeConfig&) const = default;
};

// The angle per position of each rotated pair i (dims / 2 of them): theta^(-2i / dims), with the
// Llama 3 scaling and the frequency factors applied. Kernels rotate pair i of a head at position p
// by p * result[i]; which elements form pair i is given by RopeStyle.
std::vector<float> rope_inverse_frequencies(const RopeConfig& rope);

struct ModelConfig {
  Architecture arch = Architecture::Llama;
  std::string name;  // general.name, or the file or folder name
  uint32_t dim = 0;  // embedding length (hidden size)
  uint32_t n_layers = 0;
  uint32_t n_heads = 0;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;  // dim / n_heads except where the model says otherwise (Qwen3)
  uint32_t ffn_dim = 0;   // feed-forward (intermediate) size
  uint32_t vocab_size = 0;
  uint32_t context_length = 0;
  float rms_eps = 1e-5F;
  RopeConfig rope;
  bool tied_embeddings = false;  // output.weight absent: the output projection is token_embd.weight
  bool qkv_bias = false;         // blk.N.attn_{q,k,v}.bias present
  bool qk_norm = false;          // blk.N.attn_{q,k}_norm.weight present (per-head RMSNorm)
  bool operator==(const ModelConfig&) const = default;
};

struct Tensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<uint64_t> shape;  // GGUF order: shape[0] is the row length
  const std::byte* data = nullptr;
  uint64_t nbytes = 0;

  uint64_t elements() const;
  uint64_t rows() const;  // elements / shape[0]
};

enum class FileFormat { Gguf, HuggingFace, Llama2c };
std::string_view format_name(FileFormat format);

// An opened model. Tensors point into memory the ModelFile keeps alive (the mmap'd file, or buffers
// it owns where a format has to be converted); copies share that memory and are cheap.
class ModelFile {
 public:
  // Assembled by the format readers. `storage` keeps the memory the tensors point into alive.
  ModelFile(std::filesystem::path path, FileFormat format, ModelConfig config,
            std::vector<Tensor> tensors, std::vector<std::shared_ptr<const void>> storage,
            tokenizer::TokenizerSpec tokenizer, std::string chat_template,
            std::vector<std::string> stop_strings);

  const std::filesystem::path& path() const { return path_; }
  FileFormat format() const { return format_; }
  const ModelConfig& config() const { return config_; }

  // Every tensor, in file order.
  const std::vector<Tensor>& tensors() const { return tensors_; }
  // The tensor with this canonical name, or nullptr.
  const Tensor* find(std::string_view name) const;
  // The tensor with this canonical name; throws pie::Error naming it and the file when missing.
  const Tensor& tensor(std::string_view name) const;
  // blk.<layer>.<suffix>, e.g. layer_tensor(3, "attn_q.weight").
  const Tensor& layer_tensor(uint32_t layer, std::string_view suffix) const;
  // output.weight, or token_embd.weight when the embeddings are tied.
  const Tensor& output_weight() const;

  const tokenizer::TokenizerSpec& tokenizer() const { return tokenizer_; }
  // The Jinja chat template ("" when the file has none).
  const std::string& chat_template() const { return chat_template_; }
  // Strings that end a turn (e.g. "<|eot_id|>"), from the template's family and the eos tokens.
  const std::vector<std::string>& stop_strings() const { return stop_strings_; }

 private:
  std::filesystem::path path_;
  FileFormat format_;
  ModelConfig config_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::vector<std::shared_ptr<const void>> storage_;
  tokenizer::TokenizerSpec tokenizer_;
  std::string chat_template_;
  std::vector<std::string> stop_strings_;
};

struct OpenOptions {
  // llama2.c checkpoints keep their tokenizer in a separate file. When empty, open_model looks for
  // tok<vocab_size>.bin and then tokenizer.bin beside the checkpoint.
  std::filesystem::path tokenizer_path;
};

// Opens a GGUF file, a Hugging Face folder (config.json + *.safetensors + tokenizer.json) or a
// llama2.c checkpoint, whichever `path` is. Checks that every tensor the architecture needs is
// present with the expected shape. Throws pie::Error saying what is wrong.
ModelFile open_model(const std::filesystem::path& path, const OpenOptions& options = {});

}  // namespace pie::model
