// Which instruction-set level the kernels use. Each level has its own translation unit compiled
// with that level's flags; the one in use is picked once at start (the best the CPU has) and can
// be forced lower for tests and comparisons.
#pragma once

#include <string_view>
#include <vector>

namespace pie::kernels {

enum class Isa {
  Scalar,  // plain C++: the reference implementations, also the fallback
  Avx2,    // AVX2 + FMA + F16C
  Avx512,  // AVX-512 F/BW/VL/DQ + VNNI (Zen 4 and later, Ice Lake and later)
  Amx,     // Avx512 + AMX tiles with BF16 products (Sapphire Rapids and later), granted by the OS
};

std::string_view isa_name(Isa isa);
// The best level this CPU supports.
Isa detected_isa();
// Every level this CPU supports, lowest first.
std::vector<Isa> available_isas();
// The level in use: detected_isa(), or PIE_ISA=scalar|avx2|avx512|amx from the environment, or what
// force_isa set.
Isa active_isa();
// Uses `isa` from now on (for every thread); throws pie::Error when the CPU lacks it.
void force_isa(Isa isa);
// Parses "scalar", "avx2", "avx512", "amx"; throws pie::Error for another name.
Isa isa_from_name(std::string_view name);

}  // namespace pie::kernels
