// Test-only: a direct, unoptimised forward pass of one sequence over a ModelFile, in double
// precision with dense weights and a dense attention mask. The CPU backend's outputs are checked
// against it for every architecture.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/model/model_file.h"

namespace pie::cpu::testing {

struct ReferenceOutput {
  std::vector<std::vector<double>> hidden;  // per token: final hidden state after the output norm
  std::vector<std::vector<double>> logits;  // per token
};

// tokens[i] at positions[i]; token i attends to token j <= i when attend[i][j]. Products with
// quantised weights first round their input to 8 bits per block of 32, as the kernels do (scale
// amax / 127, round to nearest), so the comparison measures the implementation, not quantisation.
ReferenceOutput reference_forward(const model::ModelFile& model,
                                  const std::vector<uint32_t>& tokens,
                                  const std::vector<uint32_t>& positions,
                                  const std::vector<std::vector<bool>>& attend);

// softmax(logits / temperature).
std::vector<double> reference_softmax(const std::vector<double>& logits, double temperature = 1.0);

}  // namespace pie::cpu::testing
