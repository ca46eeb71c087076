// The host side of the pie ABI for Wasm inferlets (module "pie"; sdk/cpp/include/pie/abi.h is the
// contract): each import reads its arguments from the guest's memory, calls HostApi and writes
// the result back.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/guest.h"

namespace pie::runtime {

inline constexpr const char* kPieModule = "pie";

// PIE_ABI_VERSION of sdk/cpp/include/pie/abi.h, which this runtime implements.
uint32_t abi_version();

std::span<const HostFunction> pie_functions();

}  // namespace pie::runtime
