// Inference throughput of the CPU backend on random-weight models at real shapes, as a table with
// each figure against the machine's measured rooflines:
//   prefill tokens/s (one 128-token prompt)        vs peak f32 FMA rate (matmul + attention FLOPs)
//   decode tokens/s, one sequence                   vs memory bandwidth (weight bytes per token)
//   aggregate decode tokens/s, 4, 16, 64 sequences  as a multiple of the one-sequence figure
// Every figure is the fastest pass of several (one prompt, one decode step) and the rooflines the
// best of several measurements, so that other work on a shared machine disturbs them least.
//
//   inference_bench --models <folder> [--threads N] [--model NAME] [--steps N]
//
// Missing models are synthesised into <folder> first (Llama-3.2-1B Q8_0 and F16, Qwen3-0.6B Q8_0).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/kernels/isa.h"
#include "backend/model/model_file.h"
#include "backend/model/synth.h"
#include "common/log.h"
#include "roofline.h"

namespace {

using namespace pie;
using Clock = std::chrono::steady_clock;

struct BenchModel {
  const char* preset;
  model::GgmlType type;
  const char* tokenizer;  // folder under ../shared/tokenizers
};

const BenchModel kModels[] = {{"llama-3.2-1b", model::GgmlType::Q8_0, "llama3"},
                              {"llama-3.2-1b", model::GgmlType::F16, "llama3"},
                              {"qwen3-0.6b", model::GgmlType::Q8_0, "qwen3"}};

std::string model_name(const BenchModel& m) {
  return std::string(m.preset) + "-" + model::type_name(m.type);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::filesystem::path ensure_model(const BenchModel& m, const std::filesystem::path& folder,
                                   const std::filesystem::path& shared) {
  const std::filesystem::path path = folder / (model_name(m) + ".gguf");
  if (std::filesystem::exists(path)) return path;
  std::filesystem::create_directories(folder);
  std::printf("synthesising %s ...\n", path.c_str());
  std::fflush(stdout);
  const auto t0 = Clock::now();
  model::SynthOptions o;
  o.config = model::synth_preset(m.preset);
  o.type = m.type;
  o.tokenizer = shared / "tokenizers" / m.tokenizer;
  o.output = folder / (model_name(m) + ".gguf.partial");
  model::synth_model(o);
  std::filesystem::rename(o.output, path);
  std::printf("  done in %.1f s\n", seconds_since(t0));
  return path;
}

// Weight bytes every decoded token reads, and matmul FLOPs per token (logits included).
struct ModelCost {
  double bytes_per_token = 0;
  double flops_per_token = 0;
  double flops_logits = 0;
};

ModelCost cost_of(const model::ModelFile& m) {
  ModelCost c;
  const model::ModelConfig& cfg = m.config();
  for (const model::Tensor& t : m.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    c.bytes_per_token += static_cast<double>(t.nbytes);
    if (t.shape.size() == 2) c.flops_per_token += 2.0 * t.shape[0] * t.shape[1];
  }
  const model::Tensor& out = m.output_weight();
  c.bytes_per_token += static_cast<double>(out.nbytes);
  c.flops_logits = 2.0 * cfg.dim * cfg.vocab_size;
  return c;
}

// Attention FLOPs of a causal prompt of n tokens (QK^T and PV).
double attention_flops(const model::ModelConfig& c, size_t n) {
  return 4.0 * c.n_layers * c.n_heads * c.head_dim * (static_cast<double>(n) * (n + 1) / 2);
}

// Sequences as an inferlet drives them: pages taken from a free list as they grow.
class Driver {
 public:
  Driver(cpu::CpuBackend& backend, uint32_t page_size) : backend_(backend), page_size_(page_size) {
    for (uint32_t p = backend.options().kv_pages; p-- > 0;) free_.push_back(p);
  }

  struct Seq {
    std::vector<uint32_t> pages;
    uint32_t length = 0;
    uint32_t last = 0;  // the token to feed next
  };

  protocol::ForwardPassRequest step(Seq& s, const std::vector<uint32_t>& tokens) {
    protocol::ForwardPassRequest r;
    r.input_tokens = tokens;
    for (size_t i = 0; i < tokens.size(); ++i) {
      r.input_token_positions.push_back(s.length + static_cast<uint32_t>(i));
      r.mask.push_back({s.length + static_cast<uint32_t>(i) + 1});
    }
    s.length += static_cast<uint32_t>(tokens.size());
    while (s.pages.size() * page_size_ < s.length) {
      s.pages.push_back(free_.back());
      free_.pop_back();
    }
    r.kv_page_ptrs = s.pages;
    r.kv_page_last_len = s.length - (static_cast<uint32_t>(s.pages.size()) - 1) * page_size_;
    protocol::SamplerSpec greedy;
    greedy.kind = protocol::SamplerKind::Multinomial;
    greedy.temperature = 0;
    r.output_token_indices = {static_cast<uint32_t>(tokens.size() - 1)};
    r.output_token_samplers = {greedy};
    return r;
  }

  // One pass over every sequence, each with its tokens; feeds back the sampled tokens.
  void run(std::vector<Seq>& seqs, const std::vector<std::vector<uint32_t>>& tokens) {
    std::vector<protocol::ForwardPassRequest> batch;
    for (size_t i = 0; i < seqs.size(); ++i) batch.push_back(step(seqs[i], tokens[i]));
    const auto out = backend_.forward_pass(batch);
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (out[i].error) {
        std::fprintf(stderr, "forward pass failed: %s\n", out[i].error->c_str());
        std::exit(1);
      }
      seqs[i].last = out[i].tokens.at(0);
    }
  }

  void release(std::vector<Seq>& seqs) {
    for (Seq& s : seqs) free_.insert(free_.end(), s.pages.begin(), s.pages.end());
    seqs.clear();
  }

 private:
  cpu::CpuBackend& backend_;
  uint32_t page_size_;
  std::vector<uint32_t> free_;
};

std::vector<uint32_t> random_tokens(size_t n, uint32_t vocab, std::mt19937& rng) {
  std::vector<uint32_t> t(n);
  for (auto& v : t) v = rng() % std::min<uint32_t>(vocab, 30000);
  return t;
}

struct Result {
  double prefill_tps = 0;
  double decode_tps = 0;                           // the fastest pass
  double decode_mean_tps = 0;                      // over all passes
  std::vector<std::pair<size_t, double>> batched;  // (sequences, aggregate tokens/s)
};

Result run_model(cpu::CpuBackend& backend, const model::ModelConfig& cfg, int steps) {
  constexpr uint32_t kPage = 16;
  Driver d(backend, kPage);
  std::mt19937 rng(1);
  Result r;
  std::vector<Driver::Seq> seqs;

  // Warm-up: touch every weight page (the file is memory-mapped) and every code path.
  seqs.resize(1);
  d.run(seqs, {random_tokens(8, cfg.vocab_size, rng)});
  d.run(seqs, {{seqs[0].last}});
  d.release(seqs);

  // Prefill: one 128-token prompt, best of three.
  for (int rep = 0; rep < 3; ++rep) {
    seqs.resize(1);
    const auto prompt = random_tokens(128, cfg.vocab_size, rng);
    const auto t0 = Clock::now();
    d.run(seqs, {prompt});
    r.prefill_tps = std::max(r.prefill_tps, 128 / seconds_since(t0));
    d.release(seqs);
  }

  // Decode, one sequence: three runs of `steps` tokens after a 32-token prompt. Each figure is
  // the fastest pass seen (as with the rooflines: on a shared machine the fastest pass is the one
  // least disturbed by other work); the mean over all passes is kept too.
  double decode_total = 0;
  for (int rep = 0; rep < 3; ++rep) {
    seqs.resize(1);
    d.run(seqs, {random_tokens(32, cfg.vocab_size, rng)});
    for (int s = 0; s < steps; ++s) {
      const auto t0 = Clock::now();
      d.run(seqs, {{seqs[0].last}});
      const double dt = seconds_since(t0);
      decode_total += dt;
      r.decode_tps = std::max(r.decode_tps, 1 / dt);
    }
    d.release(seqs);
  }
  r.decode_mean_tps = 3 * steps / decode_total;

  // Aggregate decode over many sequences (16-token prompts, prefilled together).
  for (size_t n : {4UL, 16UL, 64UL}) {
    seqs.resize(n);
    std::vector<std::vector<uint32_t>> prompts;
    for (size_t i = 0; i < n; ++i) prompts.push_back(random_tokens(16, cfg.vocab_size, rng));
    d.run(seqs, prompts);
    const int batch_steps = std::max(4, steps * 8 / static_cast<int>(n));
    double best = 0;
    for (int s = 0; s < batch_steps; ++s) {
      std::vector<std::vector<uint32_t>> next;
      for (const auto& q : seqs) next.push_back({q.last});
      const auto t0 = Clock::now();
      d.run(seqs, next);
      best = std::max(best, static_cast<double>(n) / seconds_since(t0));
    }
    r.batched.emplace_back(n, best);
    d.release(seqs);
  }
  return r;
}

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// The 1, 5 and 15 minute load averages: how busy the machine was with other work.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(f >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path folder;
  unsigned threads = 0;
  int steps = 16;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--models") {
      folder = value();
    } else if (a == "--threads") {
      threads = static_cast<unsigned>(std::stoul(value()));
    } else if (a == "--steps") {
      steps = std::stoi(value());
    } else if (a == "--model") {
      only = value();
    } else {
      std::fprintf(stderr,
                   "usage: inference_bench --models <folder> [--threads N] [--steps N] "
                   "[--model NAME]\n");
      return 2;
    }
  }
  if (folder.empty()) {
    std::fprintf(stderr, "inference_bench: --models <folder> is required\n");
    return 2;
  }
  if (threads == 0) threads = std::max(1U, std::thread::hardware_concurrency());
  const char* shared_env = std::getenv("PIE_SHARED");
  const std::filesystem::path shared = shared_env != nullptr ? shared_env : PIE_SHARED_DEFAULT;
  log::set_level(log::Level::Warn);

  try {
    // The rooflines are measured before and after every model and the best of all is used: the
    // machine may be shared, and the figures are best-of runs too, so the fractions err low.
    bench::Roofline roof = bench::measure_roofline(threads);
    auto remeasure = [&] {
      const bench::Roofline r = bench::measure_roofline(threads);
      roof.read_gbps = std::max(roof.read_gbps, r.read_gbps);
      roof.fma_gflops = std::max(roof.fma_gflops, r.fma_gflops);
    };
    struct Row {
      std::string name;
      ModelCost cost;
      double prefill_flops;
      Result result;
    };
    std::vector<Row> rows;
    for (const BenchModel& bm : kModels) {
      if (!only.empty() && only != model_name(bm)) continue;
      const auto path = ensure_model(bm, folder, shared);
      const Clock::time_point opening = Clock::now();
      auto file = std::make_shared<const model::ModelFile>(model::open_model(path));
      cpu::CpuBackendOptions o;
      o.kv_pages = 512;
      o.threads = threads;
      o.seed = 1;
      cpu::CpuBackend backend(file, o);
      // Opening includes repacking the weights for the kernels in use (pack_weights).
      std::printf("%s: opened in %.2f s\n", model_name(bm).c_str(), seconds_since(opening));
      const model::ModelConfig& cfg = file->config();
      const ModelCost cost = cost_of(*file);
      const Result r = run_model(backend, cfg, steps);
      rows.push_back({model_name(bm), cost,
                      128 * cost.flops_per_token + attention_flops(cfg, 128) + cost.flops_logits,
                      r});
      std::printf("%s: done\n", model_name(bm).c_str());
      std::fflush(stdout);
      remeasure();
    }

    std::printf("\nmachine: %s, %u threads, kernels %s, load average %s\n", cpu_name().c_str(),
                threads, std::string(kernels::isa_name(kernels::active_isa())).c_str(),
                load_average().c_str());
    std::printf("rooflines: memory read %.1f GB/s, f32 FMA %.1f GFLOP/s (%s)\n\n", roof.read_gbps,
                roof.fma_gflops, roof.vector);
    std::printf("%-20s %22s %22s %16s %16s %16s\n", "model", "prefill tok/s (%FMA)",
                "decode tok/s (%BW)", "4 seqs tok/s", "16 seqs tok/s", "64 seqs tok/s");
    for (const Row& row : rows) {
      const Result& r = row.result;
      const double prefill_frac =
          row.prefill_flops / (128.0 / r.prefill_tps) / (roof.fma_gflops * 1e9);
      const double decode_frac = row.cost.bytes_per_token / (roof.read_gbps * 1e9) * r.decode_tps;
      char prefill[64], decode[64];
      std::snprintf(prefill, sizeof prefill, "%.1f (%.0f%%)", r.prefill_tps, 100 * prefill_frac);
      std::snprintf(decode, sizeof decode, "%.2f (%.0f%%)", r.decode_tps, 100 * decode_frac);
      std::printf("%-20s %22s %22s", row.name.c_str(), prefill, decode);
      for (const auto& [n, tps] : r.batched) {
        char cell[64];
        std::snprintf(cell, sizeof cell, "%.1f (%.1fx)", tps, tps / r.decode_tps);
        std::printf(" %16s", cell);
      }
      std::printf("\n");
      std::printf(
          "%-20s weights read per token %.0f MB, matmul %.2f GFLOP per token, decode "
          "mean of all passes %.2f tok/s\n",
          "", row.cost.bytes_per_token / 1e6, row.cost.flops_per_token / 1e9, r.decode_mean_tps);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inference_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
