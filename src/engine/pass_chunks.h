// Chunked prefill: a forward pass cut into consecutive runs of its input tokens, each a valid
// pass of its own (reference §4.8.1: the chunk ending at token b sees the sequence as it is after
// b tokens), run one after the other, with their outputs put back together in request order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/backend_messages.h"

namespace pie::engine {

// Tokens a pass costs in a batch's budget: its input tokens and input embeddings, at least 1.
uint32_t pass_tokens(const protocol::ForwardPassRequest& pass);

// Whether `pass` can be cut: a consistent page table (pages cover its tokens), one position per
// token, one mask row per token (or none), output indices inside the pass, and no input
// embeddings (their placement is the backend's business).
bool can_split(const protocol::ForwardPassRequest& pass, uint32_t page_size);

// The pass over input tokens [begin, end) of `pass` (which can_split accepted): the page table
// and last-page length as they are after `end` tokens, the mask rows of those tokens, and the
// outputs whose index falls in the range, re-indexed.
protocol::ForwardPassRequest chunk_of(const protocol::ForwardPassRequest& pass, uint32_t begin,
                                      uint32_t end, uint32_t page_size);

// Collects the responses of a pass's chunks, in chunk order, into the response of the whole pass.
class ChunkedResponse {
 public:
  explicit ChunkedResponse(const protocol::ForwardPassRequest& pass);

  // The response of chunk [begin, end). Throws pie::Error when it has the wrong number of outputs.
  void add(uint32_t begin, uint32_t end, protocol::ForwardPassResponse chunk);
  // The whole pass's response: tokens and distributions in the order the pass asked for them.
  protocol::ForwardPassResponse finish();

 private:
  struct Output {
    uint32_t index;
    bool distribution;
  };
  std::vector<Output> outputs_;
  std::vector<std::optional<uint32_t>> tokens_;
  std::vector<std::optional<protocol::Distribution>> dists_;
};

}  // namespace pie::engine
