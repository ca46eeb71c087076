// The matrix products of a model alone, without attention or sampling: every weight matrix of
// every layer plus the logits, for a given number of input rows, as the forward pass calls them
// (q/k/v together, gate/up together). Reports the weight bytes streamed per second and the
// multiply-add rate, to see how close the kernels come to the rooflines that inference_bench
// measures.
//
//   matmul_bench <model.gguf> [--rows 1,16,128] [--threads N] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend/kernels/isa.h"
#include "backend/kernels/kernels.h"
#include "backend/model/ggml_type.h"
#include "backend/model/model_file.h"
#include "common/thread_pool.h"
#include "roofline.h"

namespace {

using namespace pie;
using Clock = std::chrono::steady_clock;

struct Call {
  std::vector<kernels::WeightMatrix> weights;  // sharing one input
};

// The model's matrix products as the forward pass calls them, with the weights repacked for the
// kernels in use as the CPU backend repacks them (their bytes kept in `packed`).
std::vector<Call> calls_of(ThreadPool& pool, const model::ModelFile& m,
                           std::vector<std::vector<std::byte>>& packed) {
  auto prepare = [&](const model::Tensor& t) {
    const kernels::WeightMatrix w = kernels::weight_matrix(t);
    std::optional<kernels::PackedWeights> p = kernels::pack_weights(pool, w);
    if (!p) return w;
    packed.push_back(std::move(p->bytes));
    return p->matrix;
  };
  std::vector<Call> calls;
  for (uint32_t i = 0; i < m.config().n_layers; ++i) {
    auto w = [&](const char* suffix) { return prepare(m.layer_tensor(i, suffix)); };
    calls.push_back({{w("attn_q.weight"), w("attn_k.weight"), w("attn_v.weight")}});
    calls.push_back({{w("attn_output.weight")}});
    calls.push_back({{w("ffn_gate.weight"), w("ffn_up.weight")}});
    calls.push_back({{w("ffn_down.weight")}});
  }
  calls.push_back({{prepare(m.output_weight())}});
  return calls;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: matmul_bench <model.gguf> [--rows 1,16,128] [--threads N] "
                 "[--reps N]\n");
    return 2;
  }
  std::vector<size_t> row_counts = {1, 16, 128};
  unsigned threads = 0;
  int reps = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rows") {
      row_counts.clear();
      std::stringstream s(argv[i + 1]);
      for (std::string item; std::getline(s, item, ',');) row_counts.push_back(std::stoul(item));
    } else if (a == "--threads") {
      threads = static_cast<unsigned>(std::stoul(argv[i + 1]));
    } else if (a == "--reps") {
      reps = std::stoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "matmul_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const model::ModelFile file = model::open_model(argv[1]);
  ThreadPool pool(threads);
  std::vector<std::vector<std::byte>> packed;
  const std::vector<Call> calls = calls_of(pool, file, packed);
  double bytes = 0;
  double macs_per_row = 0;
  size_t widest = 0;
  for (const Call& c : calls) {
    for (const auto& w : c.weights) {
      bytes += static_cast<double>(model::row_bytes(w.type, w.cols) * w.rows);
      macs_per_row += static_cast<double>(w.rows * w.cols);
      widest = std::max<size_t>(widest, w.rows);
    }
  }
  std::printf("%s: %zu matmul calls, %.0f MB of weights, %u threads, kernels %s\n", argv[1],
              calls.size(), bytes / 1e6, pool.size(),
              std::string(kernels::isa_name(kernels::active_isa())).c_str());
  for (const size_t rows : row_counts) {
    const size_t k_max = std::max<size_t>(file.config().ffn_dim, file.config().dim) +
                         file.config().n_heads * file.config().head_dim;
    std::vector<float> x(rows * k_max);
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0F, 1.0F);
    for (float& v : x) v = dist(rng);
    std::vector<float> y(rows * widest * 2);
    double best = 1e30;
    for (int rep = 0; rep < reps; ++rep) {
      const auto t0 = Clock::now();
      for (const Call& c : calls) {
        std::vector<kernels::MatmulOutput> outs;
        size_t offset = 0;
        for (const auto& w : c.weights) {
          outs.push_back({&w, y.data() + offset, w.rows});
          offset += rows * w.rows;
        }
        kernels::matmul(pool, x.data(), c.weights[0].cols, rows, outs);
      }
      best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    // The rooflines right after, as the load of the machine may change between row counts.
    const bench::Roofline roof = bench::measure_roofline(pool.size());
    const double gbps = bytes / best / 1e9;
    const double gflops = 2 * macs_per_row * rows / best / 1e9;
    std::printf(
        "rows %4zu: %8.1f ms  %6.1f GB/s of weights (%3.0f%% of %.1f)  %7.1f GFLOP/s (%3.0f%% "
        "of %.0f)\n",
        rows, best * 1e3, gbps, 100 * gbps / roof.read_gbps, roof.read_gbps, gflops,
        100 * gflops / roof.fma_gflops, roof.fma_gflops);
  }
  return 0;
}
