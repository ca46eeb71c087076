#include "roofline.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace pie::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Sums `bytes` bytes from p with 64-byte loads (four independent accumulators).
__attribute__((target("avx512f"))) uint64_t read_avx512(const std::byte* p, size_t bytes) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  for (size_t i = 0; i + 256 <= bytes; i += 256) {
    a = _mm512_add_epi64(a, _mm512_load_si512(p + i));
    b = _mm512_add_epi64(b, _mm512_load_si512(p + i + 64));
    c = _mm512_add_epi64(c, _mm512_load_si512(p + i + 128));
    d = _mm512_add_epi64(d, _mm512_load_si512(p + i + 192));
  }
  return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
}

__attribute__((target("avx2"))) uint64_t read_avx2(const std::byte* p, size_t bytes) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

uint64_t read_scalar(const std::byte* p, size_t bytes) {
  uint64_t s = 0;
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    uint64_t v = 0;
    std::memcpy(&v, p + i, 8);
    s += v;
  }
  return s;
}

// `iterations` x 12 independent FMA chains of 16 lanes: 384 flops per iteration.
__attribute__((target("avx512f,fma"))) float fma_avx512(uint64_t iterations) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999F);
  const __m512 a = _mm512_set1_ps(1e-7F);
  for (uint64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

// 12 chains of 8 lanes: 192 flops per iteration.
__attribute__((target("avx2,fma"))) float fma_avx2(uint64_t iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999F);
  const __m256 a = _mm256_set1_ps(1e-7F);
  for (uint64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  alignas(32) float lanes[8];
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_store_ps(lanes, s);
  return lanes[0] + lanes[7];
}

// Runs f(thread) on `threads` threads started together; returns the seconds the slowest took.
template <class F>
double timed_on_threads(unsigned threads, F f) {
  std::barrier start(static_cast<ptrdiff_t>(threads));
  std::vector<double> seconds(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      const auto t0 = Clock::now();
      f(t);
      seconds[t] = std::chrono::duration<double>(Clock::now() - t0).count();
    });
  }
  for (auto& th : pool) th.join();
  return *std::max_element(seconds.begin(), seconds.end());
}

}  // namespace

Roofline measure_roofline(unsigned threads) {
  Roofline r;
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  r.vector = avx512 ? "avx512" : avx2 ? "avx2" : "scalar";

  // Bandwidth: 1 GiB, split in one contiguous part per thread, first touched by its reader.
  const size_t total = size_t{1} << 30;
  const size_t part = total / threads / 4096 * 4096;
  auto* buffer = static_cast<std::byte*>(std::aligned_alloc(4096, part * threads));
  timed_on_threads(threads, [&](unsigned t) { std::memset(buffer + t * part, 1, part); });
  std::atomic<uint64_t> sink{0};
  for (int rep = 0; rep < 5; ++rep) {
    const double s = timed_on_threads(threads, [&](unsigned t) {
      const std::byte* p = buffer + t * part;
      sink += avx512 ? read_avx512(p, part) : avx2 ? read_avx2(p, part) : read_scalar(p, part);
    });
    r.read_gbps = std::max(r.read_gbps, static_cast<double>(part) * threads / s / 1e9);
  }
  std::free(buffer);

  // FMA rate.
  const uint64_t iterations = 20'000'000;
  const double flops_per_iteration = avx512 ? 384 : avx2 ? 192 : 0;
  if (flops_per_iteration > 0) {
    std::atomic<float> fsink{0};
    for (int rep = 0; rep < 3; ++rep) {
      const double s = timed_on_threads(threads, [&](unsigned) {
        fsink = fsink + (avx512 ? fma_avx512(iterations) : fma_avx2(iterations));
      });
      r.fma_gflops = std::max(r.fma_gflops, flops_per_iteration * iterations * threads / s / 1e9);
    }
  }
  return r;
}

}  // namespace pie::bench
