#include "backend/kernels/isa.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace pie::kernels {

namespace {

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::Avx512:
      return cpu_has(Isa::Avx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

Isa initial_isa() {
  if (const char* env = std::getenv("PIE_ISA"); env != nullptr && *env != '\0') {
    const Isa isa = isa_from_name(env);
    if (!cpu_has(isa)) {
      throw Error("PIE_ISA=" + std::string(env) + ": this CPU does not support that level");
    }
    return isa;
  }
  return detected_isa();
}

std::atomic<Isa>& active() {
  static std::atomic<Isa> isa{initial_isa()};
  return isa;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "?";
}

Isa isa_from_name(std::string_view name) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (name == isa_name(isa)) return isa;
  }
  throw Error("unknown instruction-set level '" + std::string(name) +
              "' (expected scalar, avx2 or avx512)");
}

Isa detected_isa() {
  if (cpu_has(Isa::Avx512)) return Isa::Avx512;
  if (cpu_has(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (cpu_has(isa)) out.push_back(isa);
  }
  return out;
}

Isa active_isa() {
  return active().load(std::memory_order_relaxed);
}

void force_isa(Isa isa) {
  if (!cpu_has(isa)) {
    throw Error("this CPU does not support the " + std::string(isa_name(isa)) + " kernels");
  }
  active().store(isa, std::memory_order_relaxed);
}

}  // namespace pie::kernels
