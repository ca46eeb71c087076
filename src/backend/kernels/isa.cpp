#include "backend/kernels/isa.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace pie::kernels {

namespace {

// Linux keeps the 8 KB AMX tile state off until a process asks for it (arch_prctl
// ARCH_REQ_XCOMP_PERM for XTILEDATA); asked once, it holds for every thread of the process.
bool os_grants_amx_tiles() {
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  static const bool granted = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return granted;
}

// CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE (not every compiler's
// __builtin_cpu_supports knows them).
bool cpu_has_amx_bf16_tiles() {
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx >> 22 & 1U) != 0 && (edx >> 24 & 1U) != 0;
}

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
    case Isa::Amx:
      return cpu_has(Isa::Avx512) && cpu_has_amx_bf16_tiles() && os_grants_amx_tiles();
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
    case Isa::Amx:
      return "amx";
  }
  return "?";
}

Isa isa_from_name(std::string_view name) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Amx}) {
    if (name == isa_name(isa)) return isa;
  }
  throw Error("unknown instruction-set level '" + std::string(name) +
              "' (expected scalar, avx2, avx512 or amx)");
}

Isa detected_isa() {
  if (cpu_has(Isa::Amx)) return Isa::Amx;
  if (cpu_has(Isa::Avx512)) return Isa::Avx512;
  if (cpu_has(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Amx}) {
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
