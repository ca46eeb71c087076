// Locating the shared models and test data, and the built inferlets, from tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace pie::testing {

// llama2.c's greedy output for stories260K (`run stories260K.bin -z tok512.bin -t 0`, see
// ../shared/README.md): the begin-of-sequence token, then 200 generated tokens.
inline constexpr const char* kStories260kGolden =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She "
    "said, \"I want to play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to "
    "do.\"\n"
    "Lily didn't want to help her mom, so she";

// The shared data folder: $PIE_SHARED, else the default CMake configured (../shared beside the
// checkout).
std::filesystem::path shared_dir();

// A file under the shared folder, or an empty path when it is missing.
std::filesystem::path shared_file(const std::string& relative);

// A built inferlet (<build>/inferlets/<name>.wasm), or an empty path when it is missing.
std::filesystem::path inferlet_file(const std::string& name);
// The folder built inferlets are in.
std::filesystem::path inferlet_dir();

// The folder holding the project's executables (<build>/bin).
std::filesystem::path bin_dir();

// True when running under CI (CI=true), where missing shared data is a failure, not a skip.
bool in_ci();

}  // namespace pie::testing

// Binds `var` to the shared file `relative`; skips the test when it is missing, or fails under CI.
#define PIE_REQUIRE_SHARED(var, relative)                                  \
  const std::filesystem::path var = ::pie::testing::shared_file(relative); \
  if (var.empty()) {                                                       \
    if (::pie::testing::in_ci()) {                                         \
      FAIL() << "shared file missing under CI: " << (relative);            \
    }                                                                      \
    GTEST_SKIP() << "shared file missing: " << (relative);                 \
  }
