#include "backend/model/convert.h"

#include <cstring>
#include <thread>

#include "backend/model/gguf.h"
#include "backend/model/gguf_model.h"
#include "backend/model/llama2c.h"
#include "common/error.h"

namespace pie::model {

void write_gguf(const ModelFile& model, const std::filesystem::path& output) {
  const ModelConfig& c = model.config();
  const RopeStyle gguf_style = (c.arch == Architecture::Qwen2 || c.arch == Architecture::Qwen3)
                                   ? RopeStyle::HalfSplit
                                   : RopeStyle::Interleaved;
  if (c.rope.style != gguf_style) {
    throw Error(model.path().string() + ": its Q/K rows are in the other RoPE order than GGUF " +
                std::string(architecture_name(c.arch)) +
                " files use; converting it is not supported");
  }
  GgufWriter writer;
  config_to_gguf(c, writer.metadata());
  tokenizer_to_gguf(model.tokenizer(), writer.metadata());
  if (!model.chat_template().empty()) {
    writer.metadata().set("tokenizer.chat_template", GgufValue::of_string(model.chat_template()));
  }
  for (const Tensor& t : model.tensors()) writer.add_tensor(t);
  if (c.rope.llama3 && model.find("rope_freqs.weight") == nullptr) {
    const std::vector<float> factors = rope_freq_factors(c.rope);
    writer.add_tensor("rope_freqs.weight", GgmlType::F32, {factors.size()},
                      [factors](std::byte* out) {
                        std::memcpy(out, factors.data(), factors.size() * sizeof(float));
                      });
  }
  writer.write(output, std::max(1u, std::thread::hardware_concurrency()));
}

void convert_llama2c(const std::filesystem::path& checkpoint,
                     const std::filesystem::path& tokenizer_bin,
                     const std::filesystem::path& output) {
  write_gguf(read_llama2c(checkpoint, tokenizer_bin), output);
}

}  // namespace pie::model
