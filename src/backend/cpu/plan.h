// Checking one forward-pass request (reference §4.4.3, §4.8) and turning it into the plan the
// forward pass executes. Every way a request can be wrong is caught here, with a message saying
// which field is wrong and why; the rest of the batch is not affected.
//
// Input embeddings: a pass's inputs are its tokens in the order given, with each input embedding
// inserted before the first token whose position is greater than the embedding's position (after
// all tokens when there is none; embeddings keep their order among themselves). With positions in
// increasing order this is the order of positions. The mask rows, kv_page_last_len and the output
// indices all count these merged inputs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "protocol/backend_messages.h"

namespace pie::cpu {

struct Limits {
  uint32_t vocab_size = 0;
  uint32_t kv_pages = 0;
  uint32_t page_size = 0;
  uint32_t embed_slots = 0;
};

// One input of a pass: a token of the vocabulary or an embedding slot.
struct Input {
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t token = kNone;
  uint32_t embed_slot = kNone;
  uint32_t position = 0;
};

struct Plan {
  std::vector<Input> inputs;
  size_t context = 0;  // C: KV slots before the first input
  std::span<const uint32_t> pages;
  // Mask rows of the request, one per input (empty spans are impossible: validated).
  std::vector<std::span<const uint32_t>> masks;
};

// The plan of `request`, or the reason it cannot run.
std::variant<Plan, std::string> plan_request(const protocol::ForwardPassRequest& request,
                                             const Limits& limits);

}  // namespace pie::cpu
