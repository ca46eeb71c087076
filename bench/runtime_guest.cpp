// The guest side of runtime_bench: times host calls from inside Wasm. Arguments: "calls" N.
#include <time.h>

#include <cstdint>
#include <string>

#include "pie/pie.h"

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

}  // namespace

PIE_MAIN(args) {
  if (args.size() < 2 || args[0] != "calls") return std::string();  // launch benchmark: no work
  const uint32_t n = static_cast<uint32_t>(std::stoul(args[1]));
  // pie_result_fetch with an empty buffer: the cheapest host call (no lookup, no copy).
  const uint64_t t0 = now_ns();
  uint32_t sink = 0;
  for (uint32_t i = 0; i < n; ++i) sink += pie_result_fetch(nullptr, 0);
  const uint64_t t1 = now_ns();
  // A call with a handle lookup and a guest buffer: the model-free part of a typical call.
  pie::Blob blob("0123456789abcdef");
  char buffer[16];
  for (uint32_t i = 0; i < n; ++i) pie_blob_read(blob.handle(), 0, buffer, sizeof buffer);
  const uint64_t t2 = now_ns();
  return std::to_string(double(t1 - t0) / n) + " " + std::to_string(double(t2 - t1) / n) + " " +
         std::to_string(sink);
}
