// The subset of WASI preview 1 (module "wasi_snapshot_preview1") a C++ inferlet needs: stdout and
// stderr, clocks, random bytes, sleeping, exit. There is no file system, no environment and no
// command-line arguments (arguments come from the pie ABI); every other WASI function answers
// ENOSYS.
#pragma once

#include <span>

#include "runtime/guest.h"

namespace pie::runtime {

inline constexpr const char* kWasiModule = "wasi_snapshot_preview1";

// Every preview 1 function, implemented or answering ENOSYS.
std::span<const HostFunction> wasi_functions();

}  // namespace pie::runtime
