// `pie model info|synth|convert`.
#include <cstdio>

#include "backend/model/convert.h"
#include "backend/model/model_file.h"
#include "backend/model/model_info.h"
#include "backend/model/synth.h"
#include "commands.h"

namespace pie::cli {

namespace {

struct SynthFlags {
  std::string preset;
  std::string type = "f16";
  std::string tokenizer;
  std::string output;
  uint64_t seed = 0;
  unsigned threads = 0;
};

struct ConvertFlags {
  std::string input;
  std::string tokenizer;
  std::string output;
};

std::string preset_list() {
  std::string names;
  for (const auto& name : model::synth_preset_names()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

void synth(const SynthFlags& flags) {
  model::SynthOptions options;
  options.config = model::synth_preset(flags.preset);
  options.type = model::type_from_name(flags.type);
  options.tokenizer = flags.tokenizer;
  options.seed = flags.seed;
  options.threads = flags.threads;
  options.output = flags.output;
  std::fprintf(stderr, "pie: writing %s (%s, %s weights) ...\n", flags.output.c_str(),
               flags.preset.c_str(), flags.type.c_str());
  model::synth_model(options);
  std::fprintf(stderr, "pie: done\n");
}

// llama2.c checkpoints go through their SentencePiece tokenizer.bin; the other formats are
// rewritten as they are.
void convert(const ConvertFlags& flags) {
  model::OpenOptions open;
  open.tokenizer_path = flags.tokenizer;
  const model::ModelFile input = model::open_model(flags.input, open);
  if (input.format() == model::FileFormat::Llama2c) {
    // open_model found the tokenizer the same way when none was given.
    std::filesystem::path tokenizer = flags.tokenizer;
    const auto folder = std::filesystem::path(flags.input).parent_path();
    if (tokenizer.empty()) {
      tokenizer = folder / ("tok" + std::to_string(input.config().vocab_size) + ".bin");
    }
    if (!std::filesystem::exists(tokenizer)) tokenizer = folder / "tokenizer.bin";
    model::convert_llama2c(flags.input, tokenizer, flags.output);
  } else {
    model::write_gguf(input, flags.output);
  }
  std::fprintf(stderr, "pie: wrote %s\n", flags.output.c_str());
}

}  // namespace

void add_model(CLI::App& app) {
  CLI::App* model = app.add_subcommand("model", "Inspect, synthesise and convert model files.");
  model->require_subcommand(1);

  auto path = std::make_shared<std::string>();
  CLI::App* info = model->add_subcommand(
      "info",
      "Print what a model file holds: format, architecture, shapes, RoPE, tokenizer, chat "
      "template, tensors and metadata.");
  info->add_option("path", *path, "GGUF file, Hugging Face folder or llama2.c checkpoint")
      ->required();
  info->callback([path] { std::fputs(model::model_info(*path).c_str(), stdout); });

  auto synth_flags = std::make_shared<SynthFlags>();
  CLI::App* synth_command = model->add_subcommand(
      "synth",
      "Write a random-weight model at a real model's shapes, with a real tokenizer, as "
      "GGUF (for benchmarks: speed does not depend on the weights' values).");
  synth_command->add_option("--preset", synth_flags->preset, "Shapes of: " + preset_list())
      ->required();
  synth_command
      ->add_option("--type", synth_flags->type,
                   "Weight type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k")
      ->capture_default_str();
  synth_command
      ->add_option("--tokenizer", synth_flags->tokenizer,
                   "A folder with tokenizer.json (and tokenizer_config.json), or a llama2.c "
                   "tokenizer.bin")
      ->required();
  synth_command->add_option("-o,--output", synth_flags->output, "The GGUF file to write")
      ->required();
  synth_command->add_option("--seed", synth_flags->seed, "Seed of the weights")
      ->capture_default_str();
  synth_command->add_option("--threads", synth_flags->threads, "Threads (0: one per core)");
  synth_command->callback([synth_flags] { synth(*synth_flags); });

  auto convert_flags = std::make_shared<ConvertFlags>();
  CLI::App* convert_command = model->add_subcommand(
      "convert",
      "Write a model (llama2.c checkpoint, Hugging Face folder or GGUF) as one GGUF "
      "file with its tokenizer.");
  convert_command->add_option("input", convert_flags->input, "The model to convert")->required();
  convert_command->add_option("output", convert_flags->output, "The GGUF file to write")
      ->required();
  convert_command->add_option("--tokenizer", convert_flags->tokenizer,
                              "tokenizer.bin of a llama2.c checkpoint (default: beside it)");
  convert_command->callback([convert_flags] { convert(*convert_flags); });
}

}  // namespace pie::cli
