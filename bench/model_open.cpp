// How long opening a Llama-3.2-1B-shaped GGUF takes: mmap + metadata + model description, and with
// the tokenizer built. The model is synthesised once (random weights) into a temporary folder.
//
//   model_open [--type=Q4_0|Q8_0|F16|...] [benchmark flags]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "backend/model/gguf.h"
#include "backend/model/model_file.h"
#include "backend/model/synth.h"
#include "backend/tokenizer/tokenizer.h"

namespace {

std::filesystem::path g_model;

void BM_GgufMetadata(benchmark::State& state) {
  for (auto _ : state) {
    auto file = pie::model::GgufFile::open(g_model);
    benchmark::DoNotOptimize(file.tensors().data());
  }
}
BENCHMARK(BM_GgufMetadata)->Unit(benchmark::kMillisecond);

void BM_OpenModel(benchmark::State& state) {
  for (auto _ : state) {
    auto model = pie::model::open_model(g_model);
    benchmark::DoNotOptimize(model.tensors().data());
  }
}
BENCHMARK(BM_OpenModel)->Unit(benchmark::kMillisecond);

void BM_OpenModelAndTokenizer(benchmark::State& state) {
  for (auto _ : state) {
    auto model = pie::model::open_model(g_model);
    pie::tokenizer::Tokenizer tokenizer(model.tokenizer());
    benchmark::DoNotOptimize(tokenizer.vocab_size());
  }
}
BENCHMARK(BM_OpenModelAndTokenizer)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  std::string type = "Q4_0";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--type=", 7) == 0) type = argv[i] + 7;
  }
  const char* shared = std::getenv("PIE_SHARED");
  const std::filesystem::path shared_dir = shared != nullptr ? shared : PIE_SHARED_DEFAULT;
  pie::model::SynthOptions options;
  options.config = pie::model::synth_preset("llama-3.2-1b");
  options.type = pie::model::type_from_name(type);
  options.tokenizer = shared_dir / "tokenizers" / "llama3";
  g_model = std::filesystem::temp_directory_path() /
            ("pie_bench_llama-3.2-1b-" + type + "-" + std::to_string(::getpid()) + ".gguf");
  options.output = g_model;
  pie::model::synth_model(options);

  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove(g_model);
  return 0;
}
