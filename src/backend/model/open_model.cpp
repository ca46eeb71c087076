#include <array>
#include <fstream>

#include "backend/model/gguf_model.h"
#include "backend/model/hf_folder.h"
#include "backend/model/llama2c.h"
#include "backend/model/model_file.h"
#include "common/error.h"

namespace pie::model {

ModelFile open_model(const std::filesystem::path& path, const OpenOptions& options) {
  if (!std::filesystem::exists(path)) throw Error("model not found: " + path.string());
  if (std::filesystem::is_directory(path)) {
    if (!std::filesystem::exists(path / "config.json")) {
      throw Error(path.string() + ": a folder without config.json is not a Hugging Face model");
    }
    return read_hf_folder(path);
  }
  std::array<char, 4> magic{};
  std::ifstream(path, std::ios::binary).read(magic.data(), magic.size());
  if (std::string_view(magic.data(), magic.size()) == "GGUF") return read_gguf(path);
  if (looks_like_llama2c(path)) {
    const auto tokenizer =
        options.tokenizer_path.empty() ? find_llama2c_tokenizer(path) : options.tokenizer_path;
    return read_llama2c(path, tokenizer);
  }
  throw Error(path.string() +
              ": not a model this build reads (expected a GGUF file, a Hugging Face folder with "
              "config.json, or a llama2.c checkpoint)");
}

}  // namespace pie::model
