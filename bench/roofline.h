// The machine's two rooflines, measured: memory read bandwidth (wide vector loads on every core
// over a buffer much larger than the caches) and peak f32 FMA rate (independent FMA chains on
// every core). The bench reports each inference figure as a fraction of one of them.
#pragma once

namespace pie::bench {

struct Roofline {
  double read_gbps = 0;     // GB/s (1e9 bytes)
  double fma_gflops = 0;    // GFLOP/s, an FMA counting as 2
  const char* vector = "";  // the vector width used: "avx512", "avx2" or "scalar"
};

// Best of a few runs, on `threads` threads.
Roofline measure_roofline(unsigned threads);

}  // namespace pie::bench
