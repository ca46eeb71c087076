// The pie C++ SDK for inferlets (wasm32-wasi, -fno-exceptions). Include this one header.
//
//   #include "pie/pie.h"
//
//   PIE_MAIN(args) {
//     pie::send("hello");
//     return std::string("done");  // the Completed event's message; or return pie::Error{"..."}
//   }
#pragma once

#include "pie/context.h"
#include "pie/core.h"
#include "pie/flags.h"
#include "pie/http.h"
#include "pie/model.h"

namespace pie::detail {
// Runs the inferlet's main with the launch arguments and reports its result.
int run_main(Result<std::string> (*main)(std::vector<std::string>));
}  // namespace pie::detail

// Defines the inferlet's entry point: a function of the launch arguments returning
// pie::Result<std::string>: a value becomes the Completed event's message, an Error an Exception.
#define PIE_MAIN(args)                                                                \
  static ::pie::Result<std::string> pie_inferlet_main(std::vector<std::string> args); \
  int main() {                                                                        \
    return ::pie::detail::run_main(pie_inferlet_main);                                \
  }                                                                                   \
  static ::pie::Result<std::string> pie_inferlet_main(std::vector<std::string> args)
