// libFuzzer target: the upload state machine (server/uploads.h) driven by an arbitrary sequence of
// chunks, with small limits so that every rule is reached. Checks its invariants after each step.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/blake3.h"
#include "protocol/client_messages.h"
#include "server/uploads.h"

namespace {

using pie::server::Chunk;
using pie::server::ChunkOutcome;
using pie::server::UploadKind;
using pie::server::UploadTable;

constexpr pie::server::UploadLimits kLimits{.max_uploads = 3, .max_buffered_bytes = 4096};

void check(bool ok) {
  if (!ok) std::abort();
}

// Reads the input as a tape of small integers.
struct Tape {
  const uint8_t* p;
  size_t left;
  uint32_t take(uint32_t bound) {
    if (left == 0) return 0;
    --left;
    return *p++ % bound;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Payloads come from this fixed text, so that announced hashes can match.
  static const std::string source(pie::protocol::kChunkSize + 1, 'p');
  static const std::string hashes[] = {
      pie::blake3_hex(std::string_view()), pie::blake3_hex(std::string_view(source).substr(0, 5)),
      pie::blake3_hex(std::string_view(source).substr(0, 300)), "x", "y"};
  UploadTable table(kLimits);
  Tape tape{data, size};
  UploadTable::Clock::time_point now{};
  while (tape.left > 0) {
    const auto op = tape.take(8);
    if (op == 7) {
      now += std::chrono::seconds(tape.take(4));
      table.expire(now - std::chrono::seconds(2));
    } else {
      const std::string& hash = hashes[tape.take(5)];
      const uint64_t index = tape.take(6);
      const uint64_t total = tape.take(6);
      // Op 6 sends a chunk over the protocol's size limit.
      const size_t len = op == 6 ? source.size() : tape.take(4) * 100 + tape.take(8);
      const std::string_view piece = std::string_view(source).substr(0, len);
      const ChunkOutcome out = table.add(
          Chunk{op % 2 == 0 ? UploadKind::Program : UploadKind::Blob, 1, hash, index, total, piece},
          now);
      if (out.status == ChunkOutcome::Status::Complete)
        check(pie::blake3_hex(out.data) == out.hash);
      if (out.status == ChunkOutcome::Status::Failed) check(!out.error.empty());
    }
    check(table.size() <= kLimits.max_uploads);
    check(table.buffered_bytes() <= kLimits.max_buffered_bytes);
    if (table.size() == 0) check(table.buffered_bytes() == 0);
  }
  return 0;
}
