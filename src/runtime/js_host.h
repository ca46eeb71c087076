// JavaScript inferlets: an ES module exporting `async function main(args)`, run directly in V8
// with the inferlet API as the module "pie" (sdk/js/pie.js, embedded at build time) over natives
// (the module "pie:native", implemented here on HostApi). A small event loop resolves the
// program's promises as the engine completes operations.
#pragma once

#include <v8.h>

#include "runtime/guest.h"
#include "runtime/instance.h"

namespace pie::runtime {

// Runs the instance's JavaScript program in a fresh context of `isolate` (which must use the
// explicit microtask policy): Normal with main's result, or Exception with the error.
Termination run_js_program(v8::Isolate* isolate, Instance& instance, Guest& guest);

// The source of the "pie" module (generated from sdk/js/pie.js).
extern const char* const kPieJsSource;

}  // namespace pie::runtime
